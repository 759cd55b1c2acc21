"""What the access layer hands to the rest of juki: the authenticated :class:`Principal`, the
:class:`Requester` a request is made for, a DV 支援措置 (:class:`SupportMeasure`), a right (:class:`Grant`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .roles import ALL_SECTIONS, permissions_for


@dataclass(frozen=True)
class Principal:
    """The authenticated user behind one request: who, from which terminal, in which session, and
    what they may do.  ``roles`` are the effective (approved, unrevoked) roles in ``section`` (the
    user's section) and in ``*``; ``grants`` are all effective (role, section) pairs."""

    user_id: str
    terminal_id: str
    session_id: str
    section: str
    roles: frozenset[str]
    permissions: frozenset[str]
    kind: str = "staff"  # staff | contractor
    grants: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def build(
        cls,
        *,
        user_id: str,
        terminal_id: str,
        session_id: str,
        section: str,
        grants: frozenset[tuple[str, str]] | set[tuple[str, str]],
        kind: str = "staff",
    ) -> Principal:
        """A principal whose roles and permissions are derived from ``grants`` (the only way the
        access layer makes one; tests may use it too)."""
        grants = frozenset(grants)
        roles = frozenset(r for r, s in grants if s in (section, ALL_SECTIONS))
        held = {r for r, _ in grants}
        return cls(
            user_id=user_id,
            terminal_id=terminal_id,
            session_id=session_id,
            section=section,
            roles=roles,
            permissions=permissions_for(roles, also_held=held),
            kind=kind,
            grants=grants,
        )


@dataclass(frozen=True)
class Requester:
    """Whom a search or certificate request is made for or by (請求者 / 対象者の関係者), as far as known:
    the 宛名番号 if they are on the register, else name (kanji and/or kana) and birth date."""

    person_id: str | None = None
    name: str | None = None
    name_kana: str | None = None
    birth_date: dt.date | None = None


@dataclass(frozen=True)
class SupportMeasure:
    """A DV 支援措置 (SEC-8): ``person_id`` is protected from the named offender between ``valid_from``
    and ``valid_to`` (inclusive; None = open) unless ended earlier (``ended_on``)."""

    measure_id: int
    person_id: str
    offender_name: str
    offender_name_kana: str | None = None
    offender_birth_date: dt.date | None = None
    offender_person_id: str | None = None
    valid_from: dt.date = dt.date.min
    valid_to: dt.date | None = None
    ended_on: dt.date | None = None
    case_ref: str = ""
    registered_by: str = ""
    approved_by: str = ""

    def active_on(self, day: dt.date) -> bool:
        return day >= self.valid_from and not self.over_by(day)

    def over_by(self, day: dt.date) -> bool:
        """Expired or ended by ``day``: it protects no one on that day or any later one."""
        return (self.valid_to is not None and day > self.valid_to) or (self.ended_on is not None and day >= self.ended_on)


@dataclass(frozen=True)
class Grant:
    """One right as recorded, with its approval and revocation (if any)."""

    grant_id: int
    user_id: str
    role: str
    section: str
    requested_by: str
    requested_at: dt.datetime
    reason: str = ""
    approved_by: str | None = None
    approved_at: dt.datetime | None = None
    revoked_by: str | None = None
    revoked_at: dt.datetime | None = None
    revoke_reason: str | None = None

    @property
    def status(self) -> str:
        """'pending', 'effective' or 'revoked'."""
        if self.revoked_at is not None:
            return "revoked"
        return "effective" if self.approved_at is not None else "pending"

    @property
    def effective(self) -> bool:
        return self.status == "effective"
