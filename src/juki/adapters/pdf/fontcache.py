"""Read the font file's bytes once per process instead of once per PDF (a WeasyPrint speed-up).

For every PDF it writes, WeasyPrint copies the whole font file out of HarfBuzz into a Python ``bytes``
(``weasyprint.pdf.fonts.Font.__init__`` → ``get_hb_object_data(face)``) before subsetting it.  IPAmj明朝
is 46 MB, so that copy alone is about a fifth of a 4-person 住民票の写し's rendering time
(docs/benchmarks-certificates.md).  :func:`install` wraps that function so that the bytes of a *large*
face blob are copied once and reused:

* the cache key is the HarfBuzz blob's address and length, and the cache **holds a reference** to the
  blob (``hb_blob_reference``), so the blob cannot be freed and its address cannot be reused by another
  font while the entry exists;
* only blobs over :data:`MIN_BYTES` are cached (the installed font and its pre-built subset, :mod:`juki.adapters.pdf.fontsubset`); the small per-document subsets are not;
* at most :data:`MAX_ENTRIES` fonts are kept.

If WeasyPrint's internals change shape, :func:`install` does nothing (and says so in :data:`STATUS`): the
output is the same either way, only slower.  ``tests/integration/test_certificate_pdf.py`` checks that
a PDF rendered with and without the cache is byte-for-byte identical.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

MIN_BYTES = 1024 * 1024
MAX_ENTRIES = 4
STATUS = "not installed"

_lock = threading.Lock()
_original: Callable[..., Any] | None = None
_cache: OrderedDict[tuple[int, int], tuple[Any, bytes]] = OrderedDict()


def install() -> bool:
    """Install the cache (idempotent); False when WeasyPrint does not look as expected."""
    global _original, STATUS
    with _lock:
        if _original is not None:
            return True
        try:
            from weasyprint.pdf import fonts as pdf_fonts  # type: ignore[import-untyped]
            from weasyprint.text.ffi import ffi, harfbuzz  # type: ignore[import-untyped]
        except ImportError as exc:
            STATUS = f"unavailable: {exc}"
            return False
        original = getattr(pdf_fonts, "get_hb_object_data", None)
        needed = ("hb_face_reference_blob", "hb_blob_get_length", "hb_blob_destroy")
        if original is None or not all(hasattr(harfbuzz, name) for name in needed):
            STATUS = "unavailable: WeasyPrint internals changed"
            return False
        cache = _cache

        def get_hb_object_data(hb_object: Any, ot_color: Any = None, glyph: Any = None) -> Any:
            if ot_color is not None or glyph is not None:
                return original(hb_object, ot_color, glyph)
            blob = harfbuzz.hb_face_reference_blob(hb_object)
            length = int(harfbuzz.hb_blob_get_length(blob))
            if length < MIN_BYTES:
                harfbuzz.hb_blob_destroy(blob)
                return original(hb_object)
            key = (int(ffi.cast("uintptr_t", blob)), length)
            with _lock:
                hit = cache.get(key)
                if hit is not None:
                    cache.move_to_end(key)
                    harfbuzz.hb_blob_destroy(blob)  # the cache holds its own reference
                    return hit[1]
            data = original(hb_object)
            with _lock:
                cache[key] = (blob, data)  # keeps the reference taken above: the blob stays alive
                while len(cache) > MAX_ENTRIES:
                    old_blob, _ = cache.popitem(last=False)[1]
                    harfbuzz.hb_blob_destroy(old_blob)
            return data

        pdf_fonts.get_hb_object_data = get_hb_object_data
        _original = original
        STATUS = "installed"
        return True


def uninstall() -> None:
    """Restore WeasyPrint's own function (benchmarks and tests compare both)."""
    global _original, STATUS
    with _lock:
        if _original is None:
            return
        from weasyprint.pdf import fonts as pdf_fonts
        from weasyprint.text.ffi import harfbuzz

        pdf_fonts.get_hb_object_data = _original
        _original = None
        while _cache:
            blob, _ = _cache.popitem()[1]
            harfbuzz.hb_blob_destroy(blob)
        STATUS = "not installed"
