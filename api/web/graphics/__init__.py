"""Server-rendered SVG graphics for the console: pure functions from figures to markup.

Nothing here touches the database, the network or the request: each renderer takes the rows a
page already has plus the translated words, and returns SVG that needs no script and no inline
style (the console's Content-Security-Policy forbids both)."""
