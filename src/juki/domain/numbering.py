"""個人番号の生成 (番号法8条, NET-7): the national server derives a 個人番号 from a 住民票コード.

What the law and the seeds ask of the number (番号法8条2項, 001 別添1-9/10):

* it is derived from the 住民票コード, yet **cannot be turned back into it** (「住民票コードを復元する
  ことのできる規則性を備えるものでないこと」);
* it is **unique**: no two persons ever hold the same number, and a number once given is never given
  to anyone else (a changed number is retired, not recycled);
* its 12th digit is the check digit of 番号法施行令8条 (:func:`juki.domain.identifiers.individual_number_check_digit`).

How juki does it:

* :func:`derive_individual_number` is a keyed one-way function: HMAC-SHA256 under the national secret
  (機構の秘密鍵, never leaves the national node) over the 住民票コード and an attempt counter, reduced to
  11 decimal digits, plus the check digit.  Without the secret nobody can compute the number of a
  code; even with it, going back from a number to a code means trying every code (10¹⁰), because HMAC
  is one-way.
* Uniqueness is kept by the national node's table of given numbers; :func:`allocate` walks attempts 0,
  1, 2, … and takes the first number the table does not hold yet (a collision is retried with the next
  attempt).  For 10⁸ numbers in a space of 10¹¹ a collision happens about once in a thousand requests.
* The same 住民票コード asked twice gets the same answer: the node looks up the code first (idempotent
  生成要求).  A 変更要求 (番号法7条2項) retires the current number and continues with the next attempt.

The messages between the municipality (市町村CS) and the national server are plain dataclasses here:
the 生成要求 (:class:`GenerationRequest`) carries the 住民票コード and the municipality's 依頼管理番号;
the answer (:class:`NumberResult`, 生成結果 / 変更結果) is matched to the request by both before the
municipality designates the number (:func:`match_result`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from . import identifiers
from .errors import InvalidInput, Problem, Problems, RuleViolation

DERIVATION_LABEL = b"juki/kojin-bango/v1"
"""Domain separation for the HMAC input (a new label makes a new, unrelated numbering)."""

MAX_ATTEMPTS = 1000
"""Attempts :func:`allocate` makes before giving up (reaching it means the table is nearly full or
broken: with 10¹¹ numbers the chance of 1000 collisions in a row is nil)."""

MIN_SECRET_BYTES = 32


def derive_individual_number(secret: bytes, juminhyo_code: str, attempt: int) -> str:
    """The 個人番号 for ``juminhyo_code`` at ``attempt`` (0 for the first number, 1… after collisions
    or changes): 11 digits from HMAC-SHA256(secret, label ‖ code ‖ attempt) plus the check digit."""
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the numbering secret must have at least {MIN_SECRET_BYTES} bytes")
    if attempt < 0:
        raise ValueError("attempt must be ≥ 0")
    identifiers.juminhyo_code(juminhyo_code)
    message = b"|".join((DERIVATION_LABEL, juminhyo_code.encode("ascii"), str(attempt).encode("ascii")))
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    first11 = f"{int.from_bytes(digest[:16], 'big') % 10**11:011d}"  # bias ≤ 10¹¹/2¹²⁸: none to speak of
    return first11 + identifiers.individual_number_check_digit(first11)


@dataclass(frozen=True)
class Allocation:
    """A number found free: the number and the attempt that produced it."""

    individual_number: str
    attempt: int


def allocate(secret: bytes, juminhyo_code: str, taken: Callable[[str], bool], start: int = 0) -> Allocation:
    """The first number for ``juminhyo_code`` from attempt ``start`` on that ``taken`` says is free.

    ``taken`` is the national node's uniqueness check (a look-up in its table of given numbers, retired
    ones included).  The caller inserts the result under a unique constraint, so that two concurrent
    allocations of one number cannot both succeed; the loser calls again from the next attempt."""
    for attempt in range(start, start + MAX_ATTEMPTS):
        number = derive_individual_number(secret, juminhyo_code, attempt)
        if not taken(number):
            return Allocation(number, attempt)
    raise RuntimeError(f"no free individual number after {MAX_ATTEMPTS} attempts")  # pragma: no cover


# --- messages -----------------------------------------------------------------------------------


class RequestKind:
    GENERATE = "generate"  # 個人番号生成要求 (出生, 国外からの転入, 職権記載 …)
    CHANGE = "change"  # 個人番号変更要求 (番号法7条2項: 漏えいして不正に用いられるおそれ)


REQUEST_KIND_JA = {RequestKind.GENERATE: "個人番号生成要求", RequestKind.CHANGE: "個人番号変更要求"}


def request_ref(lg_code: str, serial: int) -> str:
    """依頼管理番号: the municipality's code and its own serial, unique across the nation."""
    return f"{lg_code}-{serial:010d}"


def request_ref_problem(value: object, field: str = "request_ref") -> Problem | None:
    ok = (isinstance(value, str) and len(value) == 17 and value[6] == "-" and value[:6].isdigit()
          and value[7:].isdigit() and value.isascii() and identifiers.lg_code_problem(value[:6]) is None)
    if ok:
        return None
    return Problem(field, "NET-7/request-ref", "依頼管理番号は「地方公共団体コード-10桁の連番」で指定してください。",
                   "The request reference must be 'local government code-10 digit serial'.")


@dataclass(frozen=True)
class GenerationRequest:
    """個人番号生成要求 / 変更要求 from a municipality's CS to 機構 (NET-7).

    The 生成要求 carries the 住民票コード only (never a name: the number depends on the code alone).  A
    変更要求 also names the current number, which the national node checks against its own record, and
    the reason (番号法7条2項)."""

    kind: str
    request_ref: str  # 依頼管理番号
    lg_code: str  # requesting municipality (市町村コード)
    juminhyo_code: str
    current_number: str = ""  # 変更要求 only
    reason: str = ""  # 変更要求 only

    def problems(self) -> list[Problem]:
        """Everything wrong with the request (format checks, NET-3), empty when it is well formed."""
        problems = Problems()
        if self.kind not in REQUEST_KIND_JA:
            problems.add("kind", "NET-7/kind", "要求種別は generate か change です。", "The kind must be generate or change.")
        for p in (request_ref_problem(self.request_ref),
                  identifiers.lg_code_problem(self.lg_code),
                  identifiers.juminhyo_code_problem(self.juminhyo_code)):
            if p:
                problems.extend([p])
        if self.request_ref[:6] != self.lg_code and request_ref_problem(self.request_ref) is None:
            problems.add("request_ref", "NET-7/request-ref", "依頼管理番号の地方公共団体コードが要求元と異なります。",
                         "The request reference does not belong to the requesting municipality.")
        if self.kind == RequestKind.CHANGE:
            if (p := identifiers.individual_number_problem(self.current_number, "current_number")) is not None:
                problems.extend([p])
            if not self.reason.strip():
                problems.add("reason", "NET-7/reason", "変更の理由を入力してください。", "Give the reason for the change.")
        elif self.current_number or self.reason:
            problems.add("current_number", "REG-R2", "生成要求では現在の個人番号・理由は指定しません。",
                         "A generation request carries no current number or reason.")
        return list(problems.items)

    def check(self) -> GenerationRequest:
        problems = self.problems()
        if problems:
            raise InvalidInput(problems)
        return self


@dataclass(frozen=True)
class NumberResult:
    """個人番号生成結果 / 変更結果: 機構's answer, naming the request it answers."""

    request_ref: str
    juminhyo_code: str
    individual_number: str
    kind: str = RequestKind.GENERATE
    repeated: bool = False  # the national node had answered this code (or request) before


def match_result(request: GenerationRequest, result: NumberResult) -> str:
    """The number to designate, once the answer is proven to answer ``request`` (NET-7: 「生成要求の
    住民票コードと突合して指定」); a mismatch or a malformed number is refused and nothing is designated."""
    problems = Problems()
    if result.request_ref != request.request_ref:
        problems.add("request_ref", "NET-7/match", "回答の依頼管理番号が要求と一致しません。",
                     "The answer's request reference does not match the request.")
    if result.juminhyo_code != request.juminhyo_code:
        problems.add("juminhyo_code", "NET-7/match", "回答の住民票コードが要求と一致しません。",
                     "The answer's resident record code does not match the request.")
    if result.kind != request.kind:
        problems.add("kind", "NET-7/match", "回答の種別が要求と一致しません。", "The answer's kind does not match the request.")
    if (p := identifiers.individual_number_problem(result.individual_number)) is not None:
        problems.extend([p])
    if request.kind == RequestKind.CHANGE and result.individual_number == request.current_number:
        problems.add("individual_number", "NET-7/changed", "変更結果の個人番号が変更前と同じです。",
                     "The changed number equals the old one.")
    problems.raise_if_any(RuleViolation)
    return result.individual_number
