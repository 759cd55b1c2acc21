"""Errors of the register, bilingual (Japanese first) and naming the field and the rule.

Every refusal in juki is a :class:`JukiError` carrying one or more :class:`Problem` s.  A problem names
the field it is about (a dotted path into the request, ``""`` when it concerns the whole request), the
rule that refused it (a requirement id such as ``REG-R1`` with a short suffix), and a message in
Japanese and in English.  Entry points map the error classes to HTTP status codes or exit codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One reason a request was refused (エラー内容)."""

    field: str
    rule: str
    ja: str
    en: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message_ja": self.ja, "message_en": self.en}

    def at(self, prefix: str) -> Problem:
        """The same problem with its field placed under ``prefix`` (``persons[0]`` + ``birth_date``)."""
        field = f"{prefix}.{self.field}" if self.field else prefix
        return Problem(field, self.rule, self.ja, self.en)


class JukiError(Exception):
    """Base of every refusal.  ``kind`` is a stable machine-readable category."""

    kind = "error"

    def __init__(self, problems: Problem | Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = (
            (problems,) if isinstance(problems, Problem) else tuple(problems)
        )
        if not self.problems:
            raise ValueError("a JukiError needs at least one problem")
        super().__init__("; ".join(f"{p.field or '-'}: {p.ja} / {p.en} [{p.rule}]" for p in self.problems))

    @classmethod
    def one(cls, field: str, rule: str, ja: str, en: str) -> JukiError:
        return cls(Problem(field, rule, ja, en))


class InvalidInput(JukiError):
    """The request is malformed: a wrong check digit, an impossible date, a missing item (入力誤り)."""

    kind = "invalid_input"


class RuleViolation(JukiError):
    """The request is well formed but the register's rules refuse it (REG-R1 論理チェック etc.)."""

    kind = "rule_violation"


class NotFound(JukiError):
    """The person, household or change named does not exist (該当なし)."""

    kind = "not_found"


class Conflict(JukiError):
    """Someone else changed the same household first (排他エラー); reload and enter again."""

    kind = "conflict"


class Forbidden(JukiError):
    """The acting user may not do this (権限なし)."""

    kind = "forbidden"


class Unavailable(JukiError):
    """Another node this request needs cannot be reached now (通信障害): nothing was done; try again later."""

    kind = "unavailable"


class Problems:
    """Collects problems so that a request is checked whole and every fault is reported at once."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, field: str, rule: str, ja: str, en: str) -> None:
        self.items.append(Problem(field, rule, ja, en))

    def extend(self, problems: Iterable[Problem], prefix: str = "") -> None:
        self.items.extend(p.at(prefix) if prefix else p for p in problems)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self, cls: type[JukiError] = InvalidInput) -> None:
        if self.items:
            raise cls(self.items)
