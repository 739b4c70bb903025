// NovaMed staff console: the little the pages need beyond HTML and htmx.
// Loaded from this server only (the Content-Security-Policy allows no
// inline script); everything works without it except the conveniences.
(function () {
  "use strict";

  // Timestamps: the page carries UTC; show the browser's time zone, UTC on hover.
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      el.textContent = d.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric",
        hour: "2-digit", minute: "2-digit", timeZoneName: "short"
      });
    });
  }

  // Copy buttons: data-copy names the id of the element whose text is copied.
  function copyButtons(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (btn) {
      if (btn.dataset.bound) return;
      btn.dataset.bound = "1";
      btn.addEventListener("click", function () {
        var src = document.getElementById(btn.dataset.copy);
        var status = document.getElementById(btn.dataset.copy + "-status");
        if (!src) return;
        var text = (src.value !== undefined ? src.value : src.textContent).trim();
        navigator.clipboard.writeText(text).then(function () {
          if (status) status.textContent = "Copied to the clipboard.";
        }, function () {
          if (status) status.textContent = "Copying failed: select the text and copy it yourself.";
        });
      });
    });
  }

  // Confirmations for plain forms (htmx forms use hx-confirm).
  function confirmForms(root) {
    root.querySelectorAll("form[data-confirm]").forEach(function (f) {
      if (f.dataset.bound) return;
      f.dataset.bound = "1";
      f.addEventListener("submit", function (e) {
        if (!window.confirm(f.dataset.confirm)) e.preventDefault();
      });
    });
  }

  // Idle log-off: the server ends the session after the idle limit; the
  // page follows it there so PHI does not stay on an unattended screen.
  var idleTimer = null;
  function armIdle() {
    var ms = parseInt(document.body.dataset.idleMs || "0", 10);
    if (!ms) return;
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(function () {
      window.location.assign((document.body.dataset.loginUrl || "/console/login") + "?reason=idle");
    }, ms + 1000);
  }

  function init(root) {
    localTimes(root);
    copyButtons(root);
    confirmForms(root);
  }

  document.addEventListener("DOMContentLoaded", function () {
    init(document);
    armIdle();
    document.body.addEventListener("htmx:afterSwap", function (e) {
      init(e.detail.target || document);
      armIdle();
    });
  });
})();
