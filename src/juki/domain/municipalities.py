"""Municipalities juki knows by name (地方公共団体コード with check digit; 政令指定都市 with their wards).

The register is configured with one of these (``JUKI_MUNICIPALITY``); any other code can be used with
its name given explicitly.
"""

from __future__ import annotations

from .identifiers import with_lg_check_digit
from .register import Jurisdiction


def _wards(prefix3: str, first: int, last: int) -> frozenset[str]:
    return frozenset(with_lg_check_digit(f"{prefix3}{n:02d}") for n in range(first, last + 1))


KNOWN: dict[str, Jurisdiction] = {
    j.lg_code: j
    for j in (
        Jurisdiction("011002", "札幌市", "北海道", _wards("011", 1, 10)),
        Jurisdiction("121002", "千葉市", "千葉県", _wards("121", 1, 6)),
        Jurisdiction("142051", "藤沢市", "神奈川県"),
        Jurisdiction("012025", "函館市", "北海道"),
    )
}


def jurisdiction(lg_code: str) -> Jurisdiction:
    try:
        return KNOWN[lg_code]
    except KeyError:
        raise LookupError(f"unknown municipality {lg_code}; known: {', '.join(sorted(KNOWN))}") from None


def register_code(lg_code: str) -> str:
    """The municipality whose register covers ``lg_code``: a 政令指定都市's ward (011011 中央区) → the city
    (011002 札幌市); any other code is itself."""
    for j in KNOWN.values():
        if lg_code == j.lg_code or lg_code in j.ward_codes:
            return j.lg_code
    return lg_code


def name_of(lg_code: str) -> str:
    """The municipality's name when juki knows it, else its code."""
    j = KNOWN.get(register_code(lg_code))
    return j.name if j is not None else lg_code
