"""The counter (窓口) web UI (CTR-1, CTR-3, SEC-1, SEC-2): server-rendered, Japanese first, on the same
app, access rules and audit log as the API (see :mod:`juki.web.routes`)."""
