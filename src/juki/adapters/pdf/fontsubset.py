"""A pre-built subset of IPAmj明朝 for the characters certificates print most (a WeasyPrint speed-up, issue 4).

For every PDF, WeasyPrint subsets each font it used down to the glyphs on the page.  With the whole
IPAmj明朝 (61,179 glyphs, 46 MB) that costs about 13 ms per certificate however few glyphs are printed
(docs/benchmarks-certificates.md); subsetting a font of 11,000 glyphs costs about a tenth of that.  So
certificates are printed with a font stack::

    font-family: "IPAmjMincho Juki", "IPAmj明朝"

* **IPAmjMincho Juki** (:data:`FAMILY`) is IPAmj明朝 cut down, once, to :func:`charset`: JIS X 0208
  (every 常用/人名用 kanji and the kana), the NEC/IBM extensions of Windows-31J that name registers use
  most (髙, 﨑, ...), ASCII, half-width kana and the form's fixed text (the template), **with every
  variation sequence (IVS) of IPAmj明朝 whose base character is kept** (so 葛󠄂 = 葛 U+E0102 still prints the
  MJ glyph it selects).  The glyphs are IPAmj明朝's own outlines and metrics, unchanged; only the names
  differ, so that fontconfig can never take one font for the other;
* **IPAmj明朝** itself follows: Pango takes any other character (a rare 外字 such as 𠮷 U+20BB7, or an
  ideograph outside JIS X 0208 with its IVS) from the full font, exactly as before.

The subset is built at first use (fontTools, about 3 s) into :func:`cache_dir` (``JUKI_FONT_CACHE_DIR``,
default ``$XDG_CACHE_HOME/juki/fonts``), named after a hash of the source font file and the character
set, and written atomically (several processes may build it at once; the last rename wins and all
copies are identical).  It is not committed: it is 4 MB, and derived from the installed font.  If the
source font cannot be found or the build fails, :func:`subset_font` returns None and certificates are
printed with the full IPAmj明朝 alone (slower, same output).

``tests/integration/test_certificate_pdf.py`` checks that pages printed with and without the subset are
pixel-identical, a 外字 outside the subset and an IVS sequence included.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from importlib import resources
from pathlib import Path

FAMILY = "IPAmjMincho Juki"
"""The subset's family name (also its PDF font name, ``IPAmjMincho-Juki``)."""
SOURCE_FAMILY = "IPAmj明朝"
BUILD_VERSION = "1"
"""Changes whenever the build below changes what it writes (part of the file name)."""

_LOG = logging.getLogger(__name__)
_lock = threading.Lock()
_built: dict[Path, Path | None] = {}


def cache_dir() -> Path:
    """Where built subsets are kept: ``JUKI_FONT_CACHE_DIR``, else ``$XDG_CACHE_HOME/juki/fonts``."""
    explicit = os.environ.get("JUKI_FONT_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "juki" / "fonts"


def source_font() -> Path | None:
    """The installed IPAmj明朝 file: ``JUKI_IPAMJ_FONT``, else what fontconfig gives for the family."""
    explicit = os.environ.get("JUKI_IPAMJ_FONT")
    if explicit:
        return Path(explicit)
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    found = subprocess.run([fc_match, "--format=%{family}\n%{file}", SOURCE_FAMILY], capture_output=True,
                           text=True, check=False)
    families, _, file = found.stdout.partition("\n")
    if found.returncode != 0 or "IPAmj" not in families or not file:
        return None  # fontconfig substituted another font: IPAmj明朝 is not installed
    return Path(file).resolve()


def _two_byte(codec: str, leads: range | list[int], trails: range) -> set[str]:
    chars = set()
    for lead in leads:
        for trail in trails:
            try:
                chars.add(bytes((lead, trail)).decode(codec))
            except UnicodeDecodeError:
                pass
    return chars


def charset() -> frozenset[int]:
    """The code points the subset maps: see the module docstring."""
    chars = _two_byte("euc_jp", range(0xA1, 0xFF), range(0xA1, 0xFF))  # JIS X 0208
    chars |= _two_byte("cp932", [*range(0x81, 0xA0), *range(0xE0, 0xFD)], range(0x40, 0xFD))  # + NEC/IBM
    templates = resources.files("juki.adapters.pdf") / "templates"
    for name in ("certificate.html", "certificate.css"):
        chars |= set(templates.joinpath(name).read_text(encoding="utf-8"))
    points = {ord(c) for c in chars if len(c) == 1 and ord(c) >= 0x20}
    points |= set(range(0x20, 0x7F)) | set(range(0xFF61, 0xFFA0)) | set(range(0x3000, 0x3100))
    points |= set(range(0xFE00, 0xFE10)) | set(range(0xE0100, 0xE01F0))  # variation selectors: keeps IVS
    return frozenset(points)


def _key(source: Path, points: frozenset[int]) -> str:
    stat = source.stat()
    h = hashlib.sha256(f"{BUILD_VERSION}\n{source}\n{stat.st_size}\n{stat.st_mtime_ns}\n".encode())
    h.update(",".join(map(str, sorted(points))).encode())
    return h.hexdigest()[:16]


def build(source: Path, target: Path, points: frozenset[int]) -> None:
    """Write the subset of ``source`` for ``points`` (with their variation sequences) to ``target``."""
    from fontTools import subset  # type: ignore[import-untyped]  # WeasyPrint's own dependency
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

    options = subset.Options()
    options.layout_features = ["*"]  # shaping (vert, ...) as with the full font
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.name_legacy = True
    options.notdef_outline = True
    options.hinting = False  # WeasyPrint drops hinting from embedded fonts anyway
    options.recalc_bounds = False
    options.recalc_timestamp = False
    options.prune_unicode_ranges = False
    options.prune_codepage_ranges = False
    options.drop_tables = []
    options.passthrough_tables = True
    font = TTFont(str(source))
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(points))
    subsetter.subset(font)
    for record in font["name"].names:
        text = record.toUnicode()
        if record.nameID == 6:
            record.string = FAMILY.replace(" ", "-")
        elif record.nameID in (1, 3, 4, 16, 18):
            record.string = text.replace("IPAmjMincho", FAMILY).replace("IPAmj明朝", "IPAmj明朝 Juki")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        font.save(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def subset_font() -> Path | None:
    """The subset's file, built on first use; None when IPAmj明朝 is missing or the build failed."""
    source = source_font()
    if source is None or not source.is_file():
        return None
    with _lock:
        if source in _built:
            return _built[source]
        points = charset()
        target = cache_dir() / f"ipamjm-juki-{_key(source, points)}.ttf"
        result: Path | None = target
        if not target.is_file():
            try:
                build(source, target, points)
            except Exception:  # any failure: print with the full font (slower, same output)
                _LOG.exception("could not build the IPAmj明朝 subset into %s; using the full font", target)
                result = None
        _built[source] = result
        return result
