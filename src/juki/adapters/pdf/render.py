"""Certificates as PDF: the content of :func:`juki.domain.certificates.content`, laid out by an HTML/CSS
template (Jinja2) and printed by WeasyPrint in IPAmj明朝, A4 portrait.

The template only lays out what the domain says is printed; it chooses nothing.  The characters are
printed exactly as stored (外字 such as 髙 and 﨑, IVS sequences such as 葛 U+E0102): Pango/HarfBuzz shape
the variation selectors with IPAmj明朝, which carries the 文字情報基盤 (MJ) glyphs and the Moji_Joho IVD
collection (a sequence of another collection, e.g. Adobe-Japan1's 葛 U+E0100, prints the default glyph).

Speed (docs/benchmarks-certificates.md): the font configuration, the parsed stylesheet and the compiled
template are built once per :class:`Renderer` and reused for every document; the stylesheet uses one font
weight and fixed table layout; whitespace between tags is dropped; the QR code is a one-pixel-per-module
PNG encoded by zxing-cpp; the 46 MB font file is copied out of HarfBuzz once per process
(:mod:`juki.adapters.pdf.fontcache`) instead of once per PDF; the characters most names and addresses use
come from a pre-built subset of IPAmj明朝 (:mod:`juki.adapters.pdf.fontsubset`: same glyphs, a tenth of the
subsetting work), the full font printing every other character; and the user-agent stylesheet leaves out
the rules for list markers and footnotes, which the form never has (:func:`ua_stylesheet`).
"""

from __future__ import annotations

import base64
import math
import os
import re
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2
import weasyprint  # type: ignore[import-untyped]
import zxingcpp
from weasyprint.text.fonts import FontConfiguration  # type: ignore[import-untyped]

from juki.domain.certificates import PNG_SIGNATURE, CertificateKind, Content, Document, Line, Sheet, content

from . import fontcache, fontsubset
from .png import png
from .signing import ATTACHMENT_NAME

WIDE_KEYS = frozenset({
    "name", "address", "address_before_move_in", "address_before_change", "honseki", "moved_out_to",
    "destination", "former_surname", "alias", "foreign_category", "residence_status",
})
"""Lines that take a whole row of the form; the others are printed two to a row."""
_BETWEEN_TAGS = re.compile(r">[ \t\r\n]+<")  # ASCII whitespace only: U+3000 in a value stays
QR_ERROR = "M"  # 15 % of the symbol may be lost (a fold, a stamp) and it still reads


@dataclass(frozen=True)
class Cell:
    key: str
    label: str
    value: str
    ruby: str
    span: int


def _rows(lines: tuple[Line, ...]) -> list[list[Cell]]:
    rows: list[list[Cell]] = []
    pending: Cell | None = None
    for line in lines:
        if line.key in WIDE_KEYS:
            if pending is not None:
                rows.append([Cell(pending.key, pending.label, pending.value, pending.ruby, 3)])
                pending = None
            rows.append([Cell(line.key, line.label, line.value, line.ruby, 3)])
        elif pending is None:
            pending = Cell(line.key, line.label, line.value, line.ruby, 1)
        else:
            rows.append([pending, Cell(line.key, line.label, line.value, line.ruby, 1)])
            pending = None
    if pending is not None:
        rows.append([Cell(pending.key, pending.label, pending.value, pending.ruby, 3)])
    return rows


def _koin(municipality: str) -> list[list[str]]:
    """The characters of 「○○市長之印」 in the seal's grid: columns of three read right to left."""
    text = f"{municipality}長之印"
    cols = max(1, math.ceil(len(text) / 3))
    columns = [text[i * 3:(i + 1) * 3].ljust(3, "　") for i in range(cols)]
    return [[columns[c][r] for c in reversed(range(cols))] for r in range(3)]


KOIN_ENV = "JUKI_KOIN_IMAGE"
KOIN_MAX_BYTES = 1_000_000
KOIN_MAX_PIXELS = 2000


class KoinImageError(ValueError):
    """The configured 公印 image cannot be used (the message names the setting, in Japanese and English)."""


def load_koin_image(path: str | os.PathLike[str]) -> bytes:
    """The municipality's 公印 (市区町村長の職印) as a PNG to print beside the issuer line instead of the drawn
    「○○市長之印」: at most :data:`KOIN_MAX_BYTES` and :data:`KOIN_MAX_PIXELS` pixels a side.  Raises
    :class:`KoinImageError` naming ``JUKI_KOIN_IMAGE`` and the rule."""
    try:
        with open(path, "rb") as f:
            data = f.read(KOIN_MAX_BYTES + 1)
    except OSError as e:
        raise KoinImageError(f"{KOIN_ENV}: 公印の画像を読めません（{path}: {e.strerror}） / cannot read the official "
                             f"seal image ({path}: {e.strerror})") from e
    if len(data) > KOIN_MAX_BYTES:
        raise KoinImageError(f"{KOIN_ENV}: 公印の画像は {KOIN_MAX_BYTES // 1000} KB 以下にしてください / the official seal "
                             f"image must be at most {KOIN_MAX_BYTES // 1000} KB")
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 24:
        raise KoinImageError(f"{KOIN_ENV}: 公印の画像は PNG にしてください / the official seal image must be a PNG")
    width, height = struct.unpack(">II", data[16:24])
    if not (0 < width <= KOIN_MAX_PIXELS and 0 < height <= KOIN_MAX_PIXELS):
        raise KoinImageError(f"{KOIN_ENV}: 公印の画像は一辺 {KOIN_MAX_PIXELS} 画素以下にしてください（{width}×{height}） / "
                             f"the official seal image must be at most {KOIN_MAX_PIXELS} pixels a side ({width}x{height})")
    return data


def qr_png(text: str) -> bytes:
    """The QR code (model 2, error level M, quiet zone included) as a PNG with one pixel per module; the
    stylesheet scales it up without interpolation (``image-rendering: pixelated``).  Encoded by
    zxing-cpp, which also reads it back in :mod:`juki.adapters.pdf.verify` (an SVG would be drawn path
    segment by path segment, and a pure-Python encoder costs more than the rest of the page)."""
    symbol = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level=QR_ERROR)
    image = symbol.to_image(scale=1, add_quiet_zones=True)
    height, width = image.shape
    return png(width, height, memoryview(image).tobytes())  # type: ignore[arg-type]  # a buffer


UNUSED_UA_PSEUDO = ("marker", "footnote-call", "footnote-marker", "note-call", "note-marker", "note-callback")
"""Pseudo-elements of WeasyPrint's HTML user-agent stylesheet that a certificate never shows (no list items,
no footnotes).  Their rules select every element (``::marker { ... }``), so WeasyPrint computes six styles
for each element of the form, about a tenth of a certificate's rendering time, only to find no box uses
them."""
_UA_RULE = re.compile(r"(?m)^::(" + "|".join(UNUSED_UA_PSEUDO) + r") \{[^}]*\}\n")


def ua_stylesheet() -> Any | None:
    """WeasyPrint's HTML user-agent stylesheet without the rules of :data:`UNUSED_UA_PSEUDO` (None if
    WeasyPrint no longer looks as expected: then its own stylesheet is used, slower, same output)."""
    try:
        from weasyprint import html as ua
    except ImportError:
        return None
    source, counters = getattr(ua, "UA", None), getattr(ua, "UA_COUNTER_STYLE", None)
    if not isinstance(source, str) or counters is None or not callable(getattr(weasyprint.HTML, "_ua_stylesheets", None)):
        return None
    trimmed, removed = _UA_RULE.subn("", source)
    if removed != len(UNUSED_UA_PSEUDO):
        return None
    return weasyprint.CSS(string=trimmed, counter_style=counters)


class _CertificateHTML(weasyprint.HTML):  # type: ignore[misc]
    """An HTML document laid out with a given user-agent stylesheet."""

    def __init__(self, *, string: str, ua: Any) -> None:
        super().__init__(string=string)
        self._juki_ua = ua

    def _ua_stylesheets(self, forms: bool = False) -> list[Any]:
        return [self._juki_ua] if not forms else super()._ua_stylesheets(forms)


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _sheet_view(sheet: Sheet, last: bool) -> dict[str, Any]:
    persons = []
    blocks = []
    for block in sheet.blocks:
        values = {line.key: line.value for line in block.lines}
        persons.append({"name": values.get("name", ""), "address": values.get("address", "")})
        blocks.append({"rows": _rows(block.lines), "history": block.history})
    return {"number": sheet.number, "header": _rows(sheet.header), "blocks": blocks, "persons": persons, "last": last}


class Printer:
    """An HTML/CSS template printed by WeasyPrint in IPAmj明朝 (the certificates, the 案内文書): build one
    and reuse it (it caches fonts, CSS and the template).

    WeasyPrint's font configuration is not safe to share between threads at once, so printing is
    serialized per printer; run one per process for parallel work.  ``common_subset`` prints with
    :mod:`~juki.adapters.pdf.fontsubset`'s font stack and ``lean_ua`` with :func:`ua_stylesheet`; both (and
    ``font_cache``) change the speed only, never the output (tests compare)."""

    def __init__(self, template: str, stylesheet: str, *, font_cache: bool = True, common_subset: bool = True,
                 lean_ua: bool = True) -> None:
        templates = resources.files("juki.adapters.pdf") / "templates"
        self._env = jinja2.Environment(autoescape=True, trim_blocks=False, lstrip_blocks=False,
                                       undefined=jinja2.StrictUndefined)
        self._template = self._env.from_string(templates.joinpath(template).read_text(encoding="utf-8"))
        self.font_config = FontConfiguration()
        css = templates.joinpath(stylesheet).read_text(encoding="utf-8")
        self.subset_font = fontsubset.subset_font() if common_subset else None
        if self.subset_font is not None:
            family = f'"{fontsubset.SOURCE_FAMILY}"'
            css = (f'@font-face {{ font-family: "{fontsubset.FAMILY}"; src: url("{self.subset_font.as_uri()}"); }}\n'
                   + css.replace(f"font-family: {family}", f'font-family: "{fontsubset.FAMILY}", {family}'))
        self._css = weasyprint.CSS(string=css, font_config=self.font_config)
        self._ua = ua_stylesheet() if lean_ua else None
        self._lock = threading.Lock()
        if font_cache:
            fontcache.install()

    def page(self, **context: Any) -> str:
        """The template filled in, without whitespace-only text nodes (fewer boxes to lay out)."""
        return _BETWEEN_TAGS.sub("><", self._template.render(**context))

    def pdf(self, page: str, attachments: Sequence[Any] = ()) -> bytes:
        """The PDF of an HTML ``page`` (with WeasyPrint ``attachments``)."""
        with self._lock:
            html = weasyprint.HTML(string=page) if self._ua is None else _CertificateHTML(string=page, ua=self._ua)
            rendered = html.render(font_config=self.font_config, stylesheets=[self._css])
            pdf = rendered.write_pdf(attachments=list(attachments))
        assert pdf is not None
        return bytes(pdf)


class Renderer(Printer):
    """Renders certificates (:class:`~juki.domain.certificates.Document`) to PDF bytes."""

    def __init__(self, *, font_cache: bool = True, common_subset: bool = True, lean_ua: bool = True,
                 koin_png: bytes | None = None) -> None:
        """``koin_png`` is the 公印 to print (:func:`load_koin_image`); without it the 「○○市長之印」 is drawn
        in red.  For the other options see :class:`Printer`."""
        super().__init__("certificate.html", "certificate.css", font_cache=font_cache, common_subset=common_subset,
                         lean_ua=lean_ua)
        self._koin_uri = _data_uri("image/png", koin_png) if koin_png else ""

    def html(self, document: Document, *, qr: str = "", printed: Content | None = None) -> str:
        c = printed if printed is not None else content(document)
        seal_uri = ""
        if document.kind is CertificateKind.SEAL and document.seal is not None:
            seal_uri = _data_uri("image/png", document.seal.image_png)
        sheets = [_sheet_view(s, i == len(c.sheets) - 1) for i, s in enumerate(c.sheets)]
        qr_uri = _data_uri("image/png", qr_png(qr)) if qr else ""
        return self.page(c=c, sheets=sheets, qr_uri=qr_uri, seal_uri=seal_uri, koin=_koin(document.municipality),
                         koin_uri=self._koin_uri, koin_alt=f"{document.municipality}長之印",
                         notice=document.kind is CertificateKind.CODE_NOTICE)

    def render(self, document: Document, *, qr: str = "", attachment: bytes | None = None,
               printed: Content | None = None) -> bytes:
        """The PDF of ``document``; ``qr`` is the text of its verification QR code (none when empty) and
        ``attachment`` the canonical content JSON to embed (see :mod:`juki.adapters.pdf.signing`)."""
        attachments = [weasyprint.Attachment(string=attachment, name=ATTACHMENT_NAME,
                                             description="証明内容 (canonical JSON)")] if attachment is not None else []
        return self.pdf(self.html(document, qr=qr, printed=printed), attachments)


_default: Renderer | None = None
_default_lock = threading.Lock()


def default_renderer() -> Renderer:
    global _default
    with _default_lock:
        if _default is None:
            koin = os.environ.get(KOIN_ENV, "").strip()
            _default = Renderer(koin_png=load_koin_image(koin) if koin else None)
        return _default


def render(document: Document, *, qr: str = "") -> bytes:
    """The PDF of ``document`` (with the process-wide renderer).  Unsigned: use
    :func:`juki.adapters.pdf.signing.issue` for a certificate someone can verify."""
    return default_renderer().render(document, qr=qr)
