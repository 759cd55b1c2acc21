"""The hash chain: canonical form of an entry and its SHA-256 (no I/O).

``hash = sha256(prev_hash + "\\n" + canonical_json(fields))`` in hex, where ``fields`` are seq, at (UTC,
microseconds, ``Z``), user_id, terminal, session_id, action, outcome, subject_ids and detail.  The first
entry's ``prev_hash`` is :data:`~juki.audit.schema.GENESIS_HASH` (64 zeros).  Because ``seq`` is inside
the hash, swapping two entries' contents (reordering) breaks the chain at the first of them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

from juki.adapters.db.engine import json_default
from juki.domain.errors import InvalidInput, Problem
from juki.domain.identifiers import individual_number_check_digit

_TWELVE_DIGITS = re.compile(r"(?<!\d)(\d{12})(?!\d)")
_NUMBER_KEYS = ("individual_number", "my_number", "kojin_bango", "個人番号")


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept (the exact text stored and hashed)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=json_default)


def format_at(at: dt.datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    prev_hash: str,
    *,
    seq: int,
    at: dt.datetime,
    user_id: str,
    terminal: str,
    session_id: str | None,
    action: str,
    outcome: str,
    subject_ids: str,
    detail: str,
) -> str:
    """The SHA-256 (hex) of an entry; ``subject_ids`` and ``detail`` are the stored canonical JSON texts."""
    body = canonical_json(
        {
            "seq": int(seq),
            "at": format_at(at),
            "user_id": user_id,
            "terminal": terminal,
            "session_id": session_id,
            "action": action,
            "outcome": outcome,
            "subject_ids": json.loads(subject_ids),
            "detail": json.loads(detail),
        }
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def _looks_like_individual_number(text: str) -> bool:
    for m in _TWELVE_DIGITS.finditer(text):
        digits = m.group(1)
        if individual_number_check_digit(digits[:11]) == digits[11]:
            return True
    return False


def no_individual_number(value: Any, path: str = "detail") -> None:
    """Refuse a 個人番号 anywhere in an audit field: a key that names it with a string or number value
    (a flag such as ``included_individual_number: true`` is fine), or a 12-digit string that has a
    valid 個人番号 check digit (a false positive costs a reworded detail; a leak into an insert-only log
    cannot be undone)."""
    problem: Problem | None = None
    if isinstance(value, dict):
        for k, v in value.items():
            if any(n in str(k).lower() for n in _NUMBER_KEYS) and isinstance(v, str | int) and not isinstance(v, bool):
                problem = Problem(f"{path}.{k}", "SEC-3/no-individual-number",
                                  "監査ログに個人番号を記録することはできません。",
                                  "The audit log must never contain an individual number (My Number).")
                break
            no_individual_number(v, f"{path}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            no_individual_number(v, f"{path}[{i}]")
    elif isinstance(value, str | int) and not isinstance(value, bool):
        if _looks_like_individual_number(str(value)):
            problem = Problem(path, "SEC-3/no-individual-number",
                              "監査ログに個人番号らしき12桁の番号を記録することはできません。",
                              "The audit log must never contain an individual number (a 12-digit number with a valid check digit).")
    if problem:
        raise InvalidInput(problem)


def subject_list(subject_ids: Iterable[str]) -> list[str]:
    """The subjects as given (order kept, duplicates dropped), as strings."""
    return list(dict.fromkeys(str(s) for s in subject_ids))
