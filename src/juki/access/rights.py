"""Rights per user, per section, per function (SEC-2, PRF-11): requested, approved by a business owner,
revoked; the daily staff roster; the user list for periodic review.

A right (``rights`` row) is a role in a section, requested by someone (typically the system
administrator).  It takes effect only when a **business owner** -- a user with an effective
``business_owner`` right in that section or in ``*`` -- other than the requester and other than the
grantee approves it (``right_approvals``).  A revocation (``right_revocations``) ends it.  All three
tables are insert-only.

Refusals: ``SEC-2/rights.approve`` (approver is no business owner), ``SEC-2/self-approval`` (approver is
the requester or the grantee), ``SEC-2/separation`` (incompatible roles for one user, see
:data:`juki.access.roles.INCOMPATIBLE`), ``SEC-2/duplicate``, ``SEC-2/role``, ``SEC-2/section``.

The first business owner is created with :func:`bootstrap_owner`, which works only while no effective
business owner exists (its approval is recorded as by ``(bootstrap)``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from juki.adapters.db.engine import read_only
from juki.clock import Clock, utcnow
from juki.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem, Problems, RuleViolation

from .model import Grant
from .roles import ALL_SECTIONS, BUSINESS_OWNER, ROLES, SYSTEM_ADMIN, WILDCARD_ROLES, incompatible_with
from .store import disable_account, end_sessions, load_grants, revoke_grants
from .tables import right_approvals, rights, staff

BOOTSTRAP = "(bootstrap)"


def _now(clock: Clock | None) -> dt.datetime:
    now = (clock or utcnow)()
    return now if now.tzinfo else now.replace(tzinfo=dt.UTC)


def _staff(conn: Connection, user_id: str) -> Any:
    row = conn.execute(sa.select(staff).where(staff.c.user_id == user_id)).first()
    if row is None:
        raise NotFound(Problem("user_id", "SEC-2/unknown-user", f"利用者ID {user_id} はありません。", f"No user id {user_id}."))
    return row


def _separation(role: str, held: Iterable[str], user_id: str) -> None:
    clash = incompatible_with(role, held)
    if clash:
        names = ", ".join(sorted(clash))
        raise RuleViolation(
            Problem(
                "role",
                "SEC-2/separation",
                f"{user_id} は {names} の権限を持つため、{role} を併せて持つことはできません (職務分離)。",
                f"{user_id} holds {names}, which cannot be combined with {role} (separation of duties).",
            )
        )


def _is_owner_for(conn: Connection, user_id: str, section: str) -> bool:
    return any(
        g.effective and g.section in (section, ALL_SECTIONS)
        for g in load_grants(conn, user_ids=[user_id], role=BUSINESS_OWNER)
    )


def request_right(
    engine: Engine,
    *,
    user_id: str,
    role: str,
    section: str,
    requested_by: str,
    reason: str = "",
    clock: Clock | None = None,
) -> int:
    """Request ``role`` in ``section`` for ``user_id``; returns the grant id (not yet effective)."""
    problems = Problems()
    if role not in ROLES:
        problems.add(
            "role", "SEC-2/role", f"役割 {role} はありません。", f"Unknown role {role!r} (known: {', '.join(sorted(ROLES))})."
        )
    if not section or not section.strip():
        problems.add("section", "SEC-2/section", "所属を指定してください。", "The section is required.")
    elif section == ALL_SECTIONS and role not in WILDCARD_ROLES:
        problems.add(
            "section",
            "SEC-2/section",
            f"{role} は所属ごとに付与してください (* は使えません)。",
            f"{role} is granted per section; '*' is not allowed.",
        )
    problems.raise_if_any()
    with engine.begin() as conn:
        row = _staff(conn, user_id)
        if row.status == "disabled":
            raise RuleViolation(
                Problem(
                    "user_id",
                    "SEC-2/disabled",
                    f"利用者ID {user_id} は無効化されています。",
                    f"User id {user_id} is disabled.",
                )
            )
        open_grants = [g for g in load_grants(conn, user_ids=[user_id]) if g.status != "revoked"]
        if any(g.role == role and g.section == section for g in open_grants):
            raise Conflict(
                Problem(
                    "role",
                    "SEC-2/duplicate",
                    f"{user_id} には既に {section} の {role} が申請または付与されています。",
                    f"{user_id} already has {role} in {section}, requested or granted.",
                )
            )
        _separation(role, {g.role for g in open_grants}, user_id)
        res = conn.execute(
            rights.insert().values(
                user_id=user_id,
                role=role,
                section=section,
                requested_by=requested_by,
                requested_at=_now(clock),
                reason=reason,
            )
        )
        key = res.inserted_primary_key
        assert key is not None
        return int(key[0])


def _grant_or_404(conn: Connection, grant_id: int) -> Grant:
    found = load_grants(conn, grant_id=grant_id)
    if not found:
        raise NotFound(Problem("grant_id", "SEC-2/unknown-grant", f"権限申請 {grant_id} はありません。", f"No grant {grant_id}."))
    return found[0]


def approve_right(engine: Engine, grant_id: int, *, approved_by: str, clock: Clock | None = None) -> Grant:
    """Approve a requested right.  The approver must be an active business owner for the grant's
    section (or ``*``), and neither the requester nor the grantee."""
    with engine.begin() as conn:
        g = _grant_or_404(conn, grant_id)
        if g.status == "revoked":
            raise RuleViolation(
                Problem("grant_id", "SEC-2/revoked", f"権限申請 {grant_id} は取り消されています。", f"Grant {grant_id} was revoked.")
            )
        if g.status == "effective":
            raise Conflict(
                Problem("grant_id", "SEC-2/approved", f"権限申請 {grant_id} は承認済みです。", f"Grant {grant_id} is already approved.")
            )
        if approved_by in (g.requested_by, g.user_id):
            raise Forbidden(
                Problem(
                    "approved_by",
                    "SEC-2/self-approval",
                    "自分が申請した、または自分に対する権限は承認できません。",
                    "You cannot approve a right you requested or one granted to yourself.",
                )
            )
        approver = conn.execute(sa.select(staff.c.status).where(staff.c.user_id == approved_by)).scalar()
        approver_roles = {x.role for x in load_grants(conn, user_ids=[approved_by]) if x.effective}
        if approver != "active" or SYSTEM_ADMIN in approver_roles or not _is_owner_for(conn, approved_by, g.section):
            raise Forbidden(
                Problem(
                    "approved_by",
                    "SEC-2/rights.approve",
                    f"{g.section} の権限を承認できるのは業務主管課の承認者だけです。",
                    f"Only a business owner for {g.section} may approve this right.",
                )
            )
        grantee = _staff(conn, g.user_id)
        if grantee.status == "disabled":
            raise RuleViolation(
                Problem("user_id", "SEC-2/disabled", f"利用者ID {g.user_id} は無効化されています。", f"User id {g.user_id} is disabled.")
            )
        held = {x.role for x in load_grants(conn, user_ids=[g.user_id]) if x.effective}
        _separation(g.role, held, g.user_id)
        try:
            with conn.begin_nested():
                conn.execute(right_approvals.insert().values(grant_id=grant_id, approved_by=approved_by, approved_at=_now(clock)))
        except IntegrityError:
            raise Conflict(
                Problem("grant_id", "SEC-2/approved", f"権限申請 {grant_id} は承認済みです。", f"Grant {grant_id} is already approved.")
            ) from None
        return _grant_or_404(conn, grant_id)


def revoke_right(
    engine: Engine, grant_id: int, *, revoked_by: str, reason: str, clock: Clock | None = None
) -> Grant:
    """Revoke a pending or effective right (a reason is required)."""
    if not reason or not reason.strip():
        raise InvalidInput(Problem("reason", "SEC-2/reason", "取消理由を入力してください。", "A reason is required."))
    with engine.begin() as conn:
        g = _grant_or_404(conn, grant_id)
        if g.status == "revoked":
            raise Conflict(
                Problem("grant_id", "SEC-2/revoked", f"権限申請 {grant_id} は取り消し済みです。", f"Grant {grant_id} is already revoked.")
            )
        revoke_grants(conn, [grant_id], now=_now(clock), revoked_by=revoked_by, reason=reason.strip())
        return _grant_or_404(conn, grant_id)


def grants(engine: Engine, user_id: str | None = None) -> list[Grant]:
    """Every right ever requested (for ``user_id``), with approval and revocation."""
    with read_only(engine.connect()) as conn:
        return load_grants(conn, user_ids=None if user_id is None else [user_id])


def effective_rights(engine: Engine, user_id: str) -> list[Grant]:
    """The rights of ``user_id`` in effect now (approved, not revoked)."""
    return [g for g in grants(engine, user_id) if g.effective]


def bootstrap_owner(engine: Engine, user_id: str, *, actor: str, clock: Clock | None = None) -> int:
    """Make ``user_id`` business owner for every section, approved as ``(bootstrap)``.  Refused once
    any effective business owner exists (rule ``SEC-2/bootstrap``)."""
    with engine.begin() as conn:
        if any(g.effective for g in load_grants(conn, role=BUSINESS_OWNER)):
            raise RuleViolation(
                Problem(
                    "user_id",
                    "SEC-2/bootstrap",
                    "業務主管課の承認者は既に存在します。通常の申請・承認を行ってください。",
                    "A business owner already exists: request and approve rights the normal way.",
                )
            )
        row = _staff(conn, user_id)
        held = {g.role for g in load_grants(conn, user_ids=[user_id]) if g.status != "revoked"}
        _separation(BUSINESS_OWNER, held, user_id)
        if row.status != "active":
            raise RuleViolation(
                Problem("user_id", "SEC-2/disabled", f"利用者ID {user_id} は利用できません。", f"User id {user_id} is not active.")
            )
        now = _now(clock)
        res = conn.execute(
            rights.insert().values(
                user_id=user_id, role=BUSINESS_OWNER, section=ALL_SECTIONS, requested_by=actor, requested_at=now,
                reason="bootstrap",
            )
        )
        key = res.inserted_primary_key
        assert key is not None
        gid = int(key[0])
        conn.execute(right_approvals.insert().values(grant_id=gid, approved_by=BOOTSTRAP, approved_at=now))
        return gid


# --- the daily roster (人事異動・退職の日次確認) -----------------------------------------------------

ACTIVE_WORDS = {"active", "在籍", "在職"}
LEFT_WORDS = {"left", "退職", "retired", "離任", "disabled"}


@dataclass(frozen=True)
class RosterRow:
    user_id: str
    name: str
    section: str
    status: str  # active | left


@dataclass
class RosterReport:
    today: dt.date
    disabled: list[str] = field(default_factory=list)  # left or absent from the roster
    moved: dict[str, tuple[str, str]] = field(default_factory=dict)  # user → (old section, new section)
    renamed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # on the roster, no account (nothing done)
    revoked_grants: list[int] = field(default_factory=list)
    ended_sessions: list[str] = field(default_factory=list)
    unchanged: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "disabled": self.disabled,
            "moved": {u: list(v) for u, v in self.moved.items()},
            "renamed": self.renamed,
            "unknown": self.unknown,
            "revoked_grants": self.revoked_grants,
            "ended_sessions": len(self.ended_sessions),
            "unchanged": self.unchanged,
        }


def read_roster(source: str | Path | Iterable[Mapping[str, str]]) -> list[RosterRow]:
    """Parse the roster: a CSV file (UTF-8, BOM allowed; header ``user_id,name,section,status``) or rows.
    Status ``active``/在籍 or ``left``/退職.  Refused whole (every fault named) if any row is bad."""
    if isinstance(source, str | Path):
        text = Path(source).read_text(encoding="utf-8-sig")
        raw: list[Mapping[str, str]] = list(csv.DictReader(io.StringIO(text)))
    else:
        raw = list(source)
    problems = Problems()
    rows: list[RosterRow] = []
    seen: set[str] = set()
    for i, r in enumerate(raw, start=1):
        at = f"rows[{i}]"
        uid = (r.get("user_id") or "").strip()
        status = (r.get("status") or "active").strip()
        section = (r.get("section") or "").strip()
        if not uid:
            problems.add(f"{at}.user_id", "SEC-2/roster", "利用者IDがありません。", "The user id is missing.")
            continue
        if uid in seen:
            problems.add(f"{at}.user_id", "SEC-2/roster", f"{uid} が重複しています。", f"{uid} appears twice.")
        seen.add(uid)
        if status.lower() in ACTIVE_WORDS or status in ACTIVE_WORDS:
            status = "active"
        elif status.lower() in LEFT_WORDS or status in LEFT_WORDS:
            status = "left"
        else:
            problems.add(f"{at}.status", "SEC-2/roster", f"状態 {status} が不明です (在籍/退職)。", f"Unknown status {status!r} (active/left).")
        if status == "active" and not section:
            problems.add(f"{at}.section", "SEC-2/roster", "所属がありません。", "The section is missing.")
        rows.append(RosterRow(uid, (r.get("name") or "").strip(), section, status))
    if not raw:
        problems.add("rows", "SEC-2/roster", "名簿が空です。", "The roster is empty.")
    problems.raise_if_any()
    return rows


def apply_roster(
    engine: Engine,
    source: str | Path | Iterable[Mapping[str, str]],
    *,
    today: dt.date,
    actor: str,
    clock: Clock | None = None,
    max_disable_fraction: float = 0.2,
    force: bool = False,
    dry_run: bool = False,
) -> RosterReport:
    """The daily job (SEC-2): disable whoever left or is absent from the staff roster (sessions end,
    rights revoked, the id stays), revoke the old section's rights of whoever moved (their sessions end,
    ``staff.section`` follows the roster), update names.

    A roster that would disable more than ``max_disable_fraction`` of the active accounts is refused
    (rule ``SEC-2/roster-guard``: a truncated file must not lock the whole office out) unless ``force``.
    ``dry_run`` reports without changing anything."""
    rows = {r.user_id: r for r in read_roster(source)}
    now = _now(clock)
    report = RosterReport(today)
    with engine.begin() as conn:
        accounts = {r.user_id: r for r in conn.execute(sa.select(staff))}
        report.unknown = sorted(u for u in rows if u not in accounts)
        active_ids = [u for u, a in accounts.items() if a.status != "disabled"]
        leaving = sorted(u for u in active_ids if u not in rows or rows[u].status == "left")
        if active_ids and len(leaving) > max_disable_fraction * len(active_ids) and not force:
            raise RuleViolation(
                Problem(
                    "rows",
                    "SEC-2/roster-guard",
                    f"名簿により {len(leaving)} / {len(active_ids)} 人が無効化されます。名簿が正しいか確認してください。",
                    f"The roster would disable {len(leaving)} of {len(active_ids)} accounts; check the file (or force).",
                )
            )
        reason = f"roster {today.isoformat()}"
        for uid in leaving:
            report.disabled.append(uid)
            if not dry_run:
                ended, revoked = disable_account(conn, uid, now=now, actor=actor, reason=f"{reason}: left")
                report.ended_sessions += ended
                report.revoked_grants += revoked
        for uid, r in rows.items():
            a = accounts.get(uid)
            if a is None or a.status == "disabled" or r.status != "active":
                continue
            changed = False
            if r.section and r.section != a.section:
                changed = True
                report.moved[uid] = (a.section, r.section)
                if not dry_run:
                    old = [
                        g.grant_id
                        for g in load_grants(conn, user_ids=[uid])
                        if g.status != "revoked" and g.section == a.section
                    ]
                    report.revoked_grants += revoke_grants(
                        conn, old, now=now, revoked_by=actor, reason=f"{reason}: moved {a.section} → {r.section}"
                    )
                    report.ended_sessions += end_sessions(conn, now=now, reason="roster-moved", user_id=uid)
                    conn.execute(staff.update().where(staff.c.user_id == uid).values(section=r.section))
            if r.name and r.name != a.name:
                changed = True
                report.renamed.append(uid)
                if not dry_run:
                    conn.execute(staff.update().where(staff.c.user_id == uid).values(name=r.name))
            if not changed:
                report.unchanged += 1
    return report


# --- export for periodic review (棚卸し) ------------------------------------------------------------

EXPORT_COLUMNS = (
    "user_id",
    "name",
    "section",
    "kind",
    "status",
    "locked_reason",
    "created_at",
    "last_login_at",
    "password_changed_at",
    "grant_id",
    "role",
    "role_section",
    "grant_status",
    "requested_by",
    "requested_at",
    "approved_by",
    "approved_at",
)


def _iso(v: dt.datetime | None) -> str:
    return v.isoformat() if v is not None else ""


def export_users(engine: Engine, *, include_revoked: bool = False) -> str:
    """The user list with rights, as CSV (one line per right; a user without rights gets one line
    with empty right columns), for the periodic review.  Pending rights are listed as ``pending``."""
    with read_only(engine.connect()) as conn:
        users = list(conn.execute(sa.select(staff).order_by(staff.c.user_id)))
        by_user: dict[str, list[Grant]] = {}
        for grant in load_grants(conn):
            if include_revoked or grant.status != "revoked":
                by_user.setdefault(grant.user_id, []).append(grant)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(EXPORT_COLUMNS)
    for u in users:
        base = [
            u.user_id,
            u.name,
            u.section,
            u.kind,
            u.status,
            u.locked_reason or "",
            _iso(u.created_at),
            _iso(u.last_login_at),
            _iso(u.password_changed_at),
        ]
        gs: list[Grant | None] = list(by_user.get(u.user_id, [])) or [None]
        for g in gs:
            if g is None:
                w.writerow([*base, "", "", "", "", "", "", "", ""])
            else:
                w.writerow(
                    [
                        *base,
                        g.grant_id,
                        g.role,
                        g.section,
                        g.status,
                        g.requested_by,
                        _iso(g.requested_at),
                        g.approved_by or "",
                        _iso(g.approved_at),
                    ]
                )
    return out.getvalue()
