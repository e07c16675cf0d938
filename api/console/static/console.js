// The console's live refresh: every data-refresh seconds, fetch this page again and
// swap its <main> in place, so figures move without a reload (and without a flash).
// Paused while a form field has focus, so nobody loses what they are typing.
"use strict";
(function () {
  const seconds = Number(document.body.dataset.refresh || 0);
  if (!seconds) return;
  async function refresh() {
    const busy = document.activeElement && document.activeElement.closest("form");
    if (document.hidden || busy) return;
    let response;
    try {
      response = await fetch(window.location.href, { credentials: "same-origin" });
    } catch (error) {
      return; // the API is restarting: try again at the next tick
    }
    if (response.redirected || !response.ok) {
      window.location.reload(); // signed out, or an error page: show it as it is
      return;
    }
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("live");
    const live = document.getElementById("live");
    if (fresh && live) live.replaceWith(fresh);
  }
  window.setInterval(refresh, seconds * 1000);
})();
