"""The 案内文書 (guidance letter) of a 総合受付 as PDF (CTR-2): :class:`juki.domain.life_events.GuidanceLetter`
laid out by an HTML/CSS template and printed by WeasyPrint in IPAmj明朝, A4 portrait.

It shares the certificates' printing set-up (:mod:`juki.adapters.pdf.render`): the same font stack (the
pre-built subset of IPAmj明朝, then the full font, so every 外字 in a name prints as registered), the process'
font cache and the lean user-agent stylesheet.  The template prints only what the letter holds: the
受付番号 and date, the event, the names of the persons concerned, and the procedures done, accepted and
still to do with their 窓口 and 持ち物.  It is not a certificate: no 公印, no signature, and it says so.
"""

from __future__ import annotations

import re
import threading
from importlib import resources

import jinja2
import weasyprint  # type: ignore[import-untyped]
from weasyprint.text.fonts import FontConfiguration  # type: ignore[import-untyped]

from juki.domain.life_events import GuidanceLetter

from . import fontcache, fontsubset
from .render import _CertificateHTML, ua_stylesheet

_BETWEEN_TAGS = re.compile(r">[ \t\r\n]+<")


class GuidanceRenderer:
    """Renders letters to PDF bytes; build one and reuse it (fonts, CSS and template are built once).
    Rendering is serialized per renderer (WeasyPrint's font configuration is not thread-safe)."""

    def __init__(self) -> None:
        templates = resources.files("juki.adapters.pdf") / "templates"
        self._env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
        self._template = self._env.from_string(templates.joinpath("guidance.html").read_text(encoding="utf-8"))
        self.font_config = FontConfiguration()
        css = templates.joinpath("guidance.css").read_text(encoding="utf-8")
        subset = fontsubset.subset_font()
        if subset is not None:
            family = f'"{fontsubset.SOURCE_FAMILY}"'
            css = (f'@font-face {{ font-family: "{fontsubset.FAMILY}"; src: url("{subset.as_uri()}"); }}\n'
                   + css.replace(f"font-family: {family}", f'font-family: "{fontsubset.FAMILY}", {family}'))
        self._css = weasyprint.CSS(string=css, font_config=self.font_config)
        self._ua = ua_stylesheet()
        self._lock = threading.Lock()
        fontcache.install()

    def html(self, letter: GuidanceLetter) -> str:
        return _BETWEEN_TAGS.sub("><", self._template.render(letter=letter))

    def render(self, letter: GuidanceLetter) -> bytes:
        page = self.html(letter)
        with self._lock:
            html = weasyprint.HTML(string=page) if self._ua is None else _CertificateHTML(string=page, ua=self._ua)
            pdf = html.render(font_config=self.font_config, stylesheets=[self._css]).write_pdf()
        assert pdf is not None
        return bytes(pdf)


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
