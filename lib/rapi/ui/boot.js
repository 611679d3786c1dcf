// Loaded (as a classic script) before each page's module.  A page's code
// is a graph of ES modules; when one of them cannot be fetched (a network
// change aborts the browser's requests, the RAPI restarts), none of it
// runs and the page would keep its first text ("Loading…") for good.
// Reload the page once, then, if the modules fail again, say so.
(function () {
  "use strict";
  const KEY = "ganeti-ui-reload:" + location.pathname + location.search;
  const RELOAD_AFTER_MS = 10000;  // at most one automatic reload in 10 s

  function tell() {
    const box = document.getElementById("message");
    if (!box) return;
    box.textContent = "The page's scripts could not be loaded " +
      "(network error or the server restarted); reload the page.";
    box.className = "error";
    box.hidden = false;
  }

  window.addEventListener("error", (ev) => {
    const target = ev.target;
    if (!(target instanceof HTMLScriptElement) || target.type !== "module") {
      return;
    }
    let last = 0;
    try { last = Number(sessionStorage.getItem(KEY)) || 0; } catch (e) { /* none */ }
    if (Date.now() - last > RELOAD_AFTER_MS) {
      try { sessionStorage.setItem(KEY, String(Date.now())); } catch (e) { /* none */ }
      location.reload();
      return;
    }
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", tell);
    } else {
      tell();
    }
  }, true);  // capture: a script's error event does not bubble
})();
