// juki counter UI: WebAuthn (生体認証 / FIDO2).  A form with data-webauthn="get" (login) or "create"
// (registration) carries the server's options as JSON in data-webauthn-options; when it is submitted the
// browser asks the authenticator (the user verifies with fingerprint, face or PIN), the answer goes into
// the form's "credential" field as JSON, and the form is sent.  Elements marked data-webauthn-offer are
// shown only where the browser offers WebAuthn; elsewhere the TOTP code is the way in.
(function () {
  "use strict";
  var supported = !!(window.PublicKeyCredential && navigator.credentials);

  function fromB64(text) {
    var s = text.replace(/-/g, "+").replace(/_/g, "/");
    var bin = atob(s + "===".slice((s.length + 3) % 4));
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }
  function toB64(buffer) {
    var bytes = new Uint8Array(buffer), bin = "";
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function decode(options, mode) {
    options.challenge = fromB64(options.challenge);
    var list = mode === "create" ? options.excludeCredentials : options.allowCredentials;
    (list || []).forEach(function (c) { c.id = fromB64(c.id); });
    if (mode === "create") { options.user.id = fromB64(options.user.id); }
    return options;
  }
  function encode(cred, mode) {
    var r = cred.response;
    var out = { id: cred.id, rawId: toB64(cred.rawId), type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64(r.clientDataJSON) } };
    if (cred.authenticatorAttachment) { out.authenticatorAttachment = cred.authenticatorAttachment; }
    if (mode === "create") {
      out.response.attestationObject = toB64(r.attestationObject);
      if (r.getTransports) { out.response.transports = r.getTransports(); }
    } else {
      out.response.authenticatorData = toB64(r.authenticatorData);
      out.response.signature = toB64(r.signature);
      if (r.userHandle) { out.response.userHandle = toB64(r.userHandle); }
    }
    return out;
  }
  // One ceremony: the options as the server sent them (JSON) in, the answer as JSON out.
  function run(mode, options) {
    var publicKey = decode(JSON.parse(JSON.stringify(options)), mode);
    var asked = mode === "create" ? navigator.credentials.create({ publicKey: publicKey })
                                  : navigator.credentials.get({ publicKey: publicKey });
    return asked.then(function (cred) { return JSON.stringify(encode(cred, mode)); });
  }
  window.jukiWebAuthn = { supported: supported, run: run };

  document.querySelectorAll("[data-webauthn-offer]").forEach(function (el) { el.hidden = !supported; });
  var form = document.querySelector("form[data-webauthn]");
  if (!form) { return; }
  var status = document.getElementById("webauthn-status");
  function say(text) { status.textContent = text; status.hidden = false; status.focus(); }
  if (!supported) {
    say("このブラウザでは認証器を使えません。ワンタイムパスワードでログインしてください。");
    form.querySelector("button").disabled = true;
    return;
  }
  var busy = false;
  form.addEventListener("submit", function (ev) {
    if (form.elements.credential.value) { return; }
    ev.preventDefault();
    if (busy) { return; }
    busy = true;
    var mode = form.getAttribute("data-webauthn");
    run(mode, JSON.parse(form.getAttribute("data-webauthn-options"))).then(function (answer) {
      form.elements.credential.value = answer;
      form.submit();
    }).catch(function (err) {
      busy = false;
      say((err && err.name === "InvalidStateError" && mode === "create")
        ? "この認証器は既に登録されています。"
        : "認証器で確認できませんでした（取り消されたか、時間切れか、登録された認証器ではありません）。もう一度押してください。");
    });
  });
  // ready: the button (rendered disabled, so that a press before this script posts no empty answer) works now
  var button = form.querySelector("button");
  button.disabled = false;
  button.focus();
})();
