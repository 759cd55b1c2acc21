// juki counter UI: the screen lock (SEC-1) and focus on the error summary.  Everything works without
// this script; it only locks the screen at the moment the server would, and keeps a working clerk
// from being locked out while typing a long form.
(function () {
  "use strict";
  var body = document.body;
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
  // A one-shot button (data-once: 交付する) sends its form once: a double click would otherwise send it
  // twice.  The server issues once per preview anyway (CTR-1); this keeps the second click from
  // reaching it.  Disabled after the submit event, so that the first submission still carries the button.
  document.addEventListener("submit", function (ev) {
    var button = ev.submitter;
    if (!button || !button.hasAttribute("data-once")) { return; }
    if (button.getAttribute("aria-disabled") === "true") { ev.preventDefault(); return; }
    button.setAttribute("aria-disabled", "true");
    window.setTimeout(function () { button.disabled = true; }, 0);
  });
  var lockAfter = parseInt(body.getAttribute("data-lock-after") || "0", 10) * 1000;
  var csrf = body.getAttribute("data-csrf");
  var overlay = document.getElementById("lock-overlay");
  if (!lockAfter || !csrf || !overlay) { return; }
  var lastContact = Date.now();   // the page load reached the server
  var lastActivity = lastContact;
  var timer = null;
  var locked = false;
  var REPORT_EVERY = 15000;

  function post(url, data) {
    return fetch(url, { method: "POST", credentials: "same-origin",
      headers: { "X-Juki-CSRF": csrf, "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(data || {}) });
  }
  function schedule() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(lock, Math.max(0, lastContact + lockAfter - Date.now()));
  }
  function lock() {
    if (locked) { return; }
    locked = true;
    body.classList.add("locked");
    overlay.hidden = false;
    document.getElementById("lock-password").focus();
    post("/ui/lock");
  }
  function activity() {
    if (locked) { return; }
    lastActivity = Date.now();
    if (lastActivity - lastContact >= REPORT_EVERY) {
      lastContact = lastActivity;   // the server is told, so both clocks restart together
      schedule();
      post("/ui/activity").then(function (r) { if (r.status === 423) { lock(); } });
    }
  }
  ["keydown", "pointerdown", "input"].forEach(function (ev) { document.addEventListener(ev, activity, true); });
  document.getElementById("lock-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var pw = document.getElementById("lock-password");
    var err = document.getElementById("lock-error");
    post("/ui/unlock", { password: pw.value }).then(function (r) {
      if (r.status === 204) {
        locked = false; pw.value = ""; err.hidden = true;
        overlay.hidden = true; body.classList.remove("locked");
        lastContact = Date.now(); schedule();
      } else if (r.status === 401) {
        r.text().then(function (t) { err.textContent = t; err.hidden = false; pw.value = ""; pw.focus(); });
      } else {
        window.location.href = "/ui/login?reason=SEC-1/session";
      }
    });
  });
  document.addEventListener("keydown", function (ev) {   // keep keyboard focus inside the lock box
    if (!locked || ev.key !== "Tab") { return; }
    var items = overlay.querySelectorAll("input:not([type=hidden]), button");
    var first = items[0], last = items[items.length - 1];
    if (ev.shiftKey && document.activeElement === first) { ev.preventDefault(); last.focus(); }
    else if (!ev.shiftKey && document.activeElement === last) { ev.preventDefault(); first.focus(); }
  });
  schedule();
})();
