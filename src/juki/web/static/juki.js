// juki counter UI: the screen lock (SEC-1), focus on the error summary, and 郵便番号 → 住所.  Everything works without
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
  // 郵便番号から住所を入力 (CTR-1): the address fields of the section are filled from Japan Post's data on
  // the server (/ui/postcode); the clerk sees and can correct what was filled, and the register checks
  // the address anyway.  A 郵便番号 shared by several 町域 offers a button per 町域.
  Array.prototype.forEach.call(document.querySelectorAll("button.postcode-lookup"), function (button) {
    var input = document.getElementById(button.getAttribute("data-postcode"));
    var status = document.getElementById(input.id + "-status");
    var base = button.getAttribute("data-fields");
    var choices = null;
    button.hidden = false;
    function field(name) { return document.getElementById(base + "-" + name); }
    function say(text) { status.textContent = text; }
    function clearChoices() { if (choices) { choices.remove(); choices = null; } }
    function apply(area) {
      var lg = field("lg_code"), pref = field("prefecture"), city = field("city"), town = field("town");
      var place = area.prefecture + area.city;
      if (lg && lg.tagName === "SELECT") {
        if (!area.local) { say("郵便番号 " + area.postcode + " は" + place + "です（この市の住所ではありません）。"); input.focus(); return; }
        lg.value = area.lg_code;
      } else if (lg) { lg.value = area.lg_code; }
      if (pref) { pref.value = area.prefecture; }
      if (city) { city.value = area.city; }
      if (town) { town.value = area.town; }
      say(place + (area.town || "") + (area.note ? "（" + area.note + "）" : "") + " を入力しました。" +
          (area.town ? "丁目・番地を続けて入力してください。" : "町域を入力してください。"));
      (area.town ? field("block") : town || input).focus();
    }
    button.addEventListener("click", function () {
      clearChoices();
      say("検索しています…");
      fetch("/ui/postcode?code=" + encodeURIComponent(input.value), { credentials: "same-origin",
        headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); })
        .then(function (res) {
          if (!res.ok) {
            say(res.data.problems && res.data.problems.length ? res.data.problems[0].message_ja : "郵便番号を確認できませんでした。");
            input.focus();
            return;
          }
          var areas = res.data.areas;
          if (areas.length === 1) { apply(areas[0]); return; }
          say("郵便番号 " + res.data.postcode + " には町域が " + areas.length + " 件あります。選んでください。");
          choices = document.createElement("ul");
          choices.className = "postcode-choices";
          areas.forEach(function (area) {
            var item = document.createElement("li");
            var choose = document.createElement("button");
            choose.type = "button";
            choose.className = "button-secondary";
            choose.textContent = area.prefecture + area.city + (area.town || "（町域の記載なし）");
            choose.addEventListener("click", function () { clearChoices(); apply(area); });
            item.appendChild(choose);
            choices.appendChild(item);
          });
          status.parentNode.insertBefore(choices, status.nextSibling);
          choices.querySelector("button").focus();
        })
        .catch(function () { say("郵便番号を確認できませんでした（通信できません）。"); input.focus(); });
    });
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
