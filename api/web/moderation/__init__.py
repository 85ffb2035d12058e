"""Helpers of the console's moderation pages (the routes are in api/web/routes/)."""
