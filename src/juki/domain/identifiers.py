"""Identifiers of the register and their check digits (REQUIREMENTS §2).

The three national check-digit rules differ and each lives in exactly one function here:

* 個人番号 (My Number, 12 digits): weights 6,5,4,3,2,7,6,5,4,3,2 over the first 11 digits read left to
  right; r = Σ mod 11; check = 0 if r ≤ 1 else 11 − r (番号法施行令8条, 総務省令).
* 住民票コード (11 digits): weights 5,4,3,2,7,6,5,4,3,2; r = Σ mod 11; check = 0 if r ≤ 1 else 11 − r.
  The 告示 (平成14年総務省告示第436号) is not at hand; this is the probable rule, kept replaceable in
  :data:`JUMINHYO_CODE_WEIGHTS` / :func:`juminhyo_code_check_digit`.
* 地方公共団体コード (6 digits): weights 6,5,4,3,2 over the 5-digit JIS X 0402 code;
  check = (11 − Σ mod 11) mod 10, so remainder 0 gives 1 and remainder 1 gives 0.

宛名番号 (person id) and 世帯番号 (household id) are the municipality's internal ids: ten digits here,
allocated by the register itself.
"""

from __future__ import annotations

import random

from .errors import InvalidInput, Problem

INDIVIDUAL_NUMBER_WEIGHTS = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
JUMINHYO_CODE_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
LG_CODE_WEIGHTS = (6, 5, 4, 3, 2)


def _weighted(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True))


def individual_number_check_digit(first11: str) -> str:
    """個人番号の検査用数字 for the first 11 digits."""
    r = _weighted(first11, INDIVIDUAL_NUMBER_WEIGHTS) % 11
    return "0" if r <= 1 else str(11 - r)


def juminhyo_code_check_digit(first10: str) -> str:
    """住民票コードの検査用数字 for the first 10 digits (probable rule of 告示436号, see module doc)."""
    r = _weighted(first10, JUMINHYO_CODE_WEIGHTS) % 11
    return "0" if r <= 1 else str(11 - r)


def lg_code_check_digit(first5: str) -> str:
    """地方公共団体コードの検査数字 for the 5-digit JIS X 0402 code."""
    return str((11 - _weighted(first5, LG_CODE_WEIGHTS) % 11) % 10)


def _digits_problem(value: object, length: int, field: str, rule: str, ja_name: str, en_name: str) -> Problem | None:
    if not isinstance(value, str) or len(value) != length or not value.isascii() or not value.isdigit():
        return Problem(
            field,
            rule,
            f"{ja_name}は半角数字{length}桁で入力してください。",
            f"The {en_name} must be exactly {length} ASCII digits.",
        )
    return None


def individual_number_problem(value: object, field: str = "individual_number") -> Problem | None:
    """Why ``value`` is not a valid 個人番号, or None when it is."""
    p = _digits_problem(value, 12, field, "ID-INDIVIDUAL-NUMBER", "個人番号", "individual number (My Number)")
    if p:
        return p
    assert isinstance(value, str)
    if individual_number_check_digit(value[:11]) != value[11]:
        return Problem(
            field,
            "ID-INDIVIDUAL-NUMBER/check-digit",
            "個人番号の検査用数字が正しくありません。",
            "The check digit of the individual number (My Number) is wrong.",
        )
    return None


def juminhyo_code_problem(value: object, field: str = "juminhyo_code") -> Problem | None:
    """Why ``value`` is not a valid 住民票コード, or None when it is."""
    p = _digits_problem(value, 11, field, "ID-JUMINHYO-CODE", "住民票コード", "resident record code")
    if p:
        return p
    assert isinstance(value, str)
    if juminhyo_code_check_digit(value[:10]) != value[10]:
        return Problem(
            field,
            "ID-JUMINHYO-CODE/check-digit",
            "住民票コードの検査用数字が正しくありません。",
            "The check digit of the resident record code is wrong.",
        )
    return None


def lg_code_problem(value: object, field: str = "lg_code") -> Problem | None:
    """Why ``value`` is not a valid 地方公共団体コード, or None when it is."""
    p = _digits_problem(value, 6, field, "ID-LG-CODE", "地方公共団体コード", "local government code")
    if p:
        return p
    assert isinstance(value, str)
    if lg_code_check_digit(value[:5]) != value[5]:
        return Problem(
            field,
            "ID-LG-CODE/check-digit",
            "地方公共団体コードの検査数字が正しくありません。",
            "The check digit of the local government code is wrong.",
        )
    return None


def _require(problem: Problem | None, value: str) -> str:
    if problem:
        raise InvalidInput(problem)
    return value


def individual_number(value: str, field: str = "individual_number") -> str:
    """The 個人番号 itself if valid, else :class:`InvalidInput` naming ``field``."""
    return _require(individual_number_problem(value, field), value)


def juminhyo_code(value: str, field: str = "juminhyo_code") -> str:
    return _require(juminhyo_code_problem(value, field), value)


def lg_code(value: str, field: str = "lg_code") -> str:
    return _require(lg_code_problem(value, field), value)


def with_lg_check_digit(jis5: str) -> str:
    """The 6-digit 地方公共団体コード for a 5-digit JIS X 0402 code."""
    return jis5 + lg_code_check_digit(jis5)


def new_juminhyo_code(rng: random.Random) -> str:
    """A random 住民票コード with its check digit (issued by 機構 in production; see NET-7)."""
    first = f"{rng.randrange(10**10):010d}"
    return first + juminhyo_code_check_digit(first)


def new_individual_number(rng: random.Random) -> str:
    """A random valid 個人番号 (the national server derives it from the 住民票コード; NET-7)."""
    first = f"{rng.randrange(10**11):011d}"
    return first + individual_number_check_digit(first)


def person_id_problem(value: object, field: str = "person_id") -> Problem | None:
    """宛名番号 / 世帯番号 are ten ASCII digits."""
    return _digits_problem(value, 10, field, "ID-INTERNAL", "宛名番号・世帯番号", "person or household id")
