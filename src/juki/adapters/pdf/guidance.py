"""The 案内文書 (guidance letter) of a 総合受付 as PDF (CTR-2): :class:`juki.domain.life_events.GuidanceLetter`
laid out by an HTML/CSS template and printed by WeasyPrint in IPAmj明朝, A4 portrait.

It shares the certificates' printing set-up (:mod:`juki.adapters.pdf.render`): the same font stack (the
pre-built subset of IPAmj明朝, then the full font, so every 外字 in a name prints as registered), the process'
font cache and the lean user-agent stylesheet.  The template prints only what the letter holds: the
受付番号 and date, the event, the names of the persons concerned, and the procedures done, accepted and
still to do with their 窓口 and 持ち物.  It is not a certificate: no 公印, no signature, and it says so.
"""

from __future__ import annotations

import threading

from juki.domain.life_events import GuidanceLetter

from .render import Printer


class GuidanceRenderer(Printer):
    """Renders letters to PDF bytes; build one and reuse it (see :class:`~juki.adapters.pdf.render.Printer`)."""

    def __init__(self) -> None:
        super().__init__("guidance.html", "guidance.css")

    def html(self, letter: GuidanceLetter) -> str:
        return self.page(letter=letter)

    def render(self, letter: GuidanceLetter) -> bytes:
        return self.pdf(self.html(letter))


_default: GuidanceRenderer | None = None
_default_lock = threading.Lock()


def render_guidance(letter: GuidanceLetter) -> bytes:
    """The PDF of ``letter`` (with the process-wide renderer)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = GuidanceRenderer()
        renderer = _default
    return renderer.render(letter)
