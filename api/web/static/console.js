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
document.addEventListener("DOMContentLoaded", () => {
  // After a moderation form, the page says what was done: read that first, then Tab on to
  // the next item (without this script, Tab starts from the top as on any page).
  const notice = document.getElementById("notice");
  if (notice) {
    notice.focus();
  }
});
