"""Search keys derived from names and addresses (REG-SEARCH).  Never the other way round.

Stored names are never normalised (even NFC rewrites U+FA19 神 to U+795E 神).  Only the search keys made
here are: a kana key that is insensitive to hiragana/katakana, full/half width, spaces, small kana and
voicing (清音化: ガ→カ, パ→ハ, ッ→ツ, ー dropped), and a kanji key that drops spaces and variation
selectors (IVS) and folds width.  Both sides of a comparison go through the same function.
"""

from __future__ import annotations

import unicodedata

_SMALL = str.maketrans("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ")
_SPACES = {" ", "\u3000", "\t", "・", "･", "=", "＝"}
_DROP_MARKS = {"\u3099", "\u309a"}  # combining (han)dakuten after NFD


def _is_variation_selector(ch: str) -> bool:
    o = ord(ch)
    return 0xFE00 <= o <= 0xFE0F or 0xE0100 <= o <= 0xE01EF


def to_katakana(text: str) -> str:
    """Hiragana → katakana, half width → full width (NFKC), nothing else."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in text)


def kana_key(text: str | None) -> str:
    """清音化カナ検索キー: the key a kana name or a kana prefix is searched by."""
    if not text:
        return ""
    kata = "".join(c for c in to_katakana(text) if c not in _SPACES and c != "ー")
    decomposed = unicodedata.normalize("NFD", kata)
    plain = "".join(c for c in decomposed if c not in _DROP_MARKS)
    return unicodedata.normalize("NFC", plain).translate(_SMALL).upper()


def name_key(text: str | None) -> str:
    """漢字氏名検索キー: spaces and variation selectors dropped, width folded (NFKC on the key only)."""
    if not text:
        return ""
    stripped = "".join(c for c in text if not _is_variation_selector(c))
    return "".join(c for c in unicodedata.normalize("NFKC", stripped) if c not in _SPACES)


def address_key(text: str | None) -> str:
    """住所検索キー: width folded, spaces dropped, hyphen variants unified to '-'."""
    if not text:
        return ""
    t = unicodedata.normalize("NFKC", text)
    for dash in ("‐", "−", "―", "—", "–", "－"):
        t = t.replace(dash, "-")
    return "".join(c for c in t if c not in _SPACES)
