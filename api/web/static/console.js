// Plainsight console: progressive enhancement only. Every page works without this file.
"use strict";
document.addEventListener("submit", (event) => {
  // Forms that cannot be undone ask once, in the page's language (data-confirm holds the text).
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
