"""Connection-level reads and writes of the access tables, shared by auth, rights and the roster job.
Callers own the transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .model import Grant
from .tables import right_approvals, right_revocations, rights, sessions, staff


def _grant(row: Any) -> Grant:
    return Grant(
        grant_id=int(row.grant_id),
        user_id=row.user_id,
        role=row.role,
        section=row.section,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        reason=row.reason,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        revoked_by=row.revoked_by,
        revoked_at=row.revoked_at,
        revoke_reason=row.revoke_reason,
    )


def grants_query() -> sa.Select[Any]:
    return (
        sa.select(
            rights,
            right_approvals.c.approved_by,
            right_approvals.c.approved_at,
            right_revocations.c.revoked_by,
            right_revocations.c.revoked_at,
            right_revocations.c.reason.label("revoke_reason"),
        )
        .select_from(
            rights.outerjoin(right_approvals, right_approvals.c.grant_id == rights.c.grant_id).outerjoin(
                right_revocations, right_revocations.c.grant_id == rights.c.grant_id
            )
        )
        .order_by(rights.c.grant_id)
    )


def load_grants(
    conn: Connection,
    *,
    user_ids: Iterable[str] | None = None,
    grant_id: int | None = None,
    role: str | None = None,
) -> list[Grant]:
    q = grants_query()
    if user_ids is not None:
        q = q.where(rights.c.user_id.in_(list(user_ids)))
    if grant_id is not None:
        q = q.where(rights.c.grant_id == grant_id)
    if role is not None:
        q = q.where(rights.c.role == role)
    return [_grant(r) for r in conn.execute(q)]


def effective_grant_pairs(conn: Connection, user_id: str) -> frozenset[tuple[str, str]]:
    return frozenset((g.role, g.section) for g in load_grants(conn, user_ids=[user_id]) if g.effective)


def end_sessions(
    conn: Connection, *, now: dt.datetime, reason: str, user_id: str | None = None, terminal_id: str | None = None,
    except_session: str | None = None,
) -> list[str]:
    """End every open session of ``user_id`` (or on ``terminal_id``); return the session ids ended."""
    cond: list[sa.ColumnElement[bool]] = [sessions.c.ended_at.is_(None)]
    if user_id is not None:
        cond.append(sessions.c.user_id == user_id)
    if terminal_id is not None:
        cond.append(sessions.c.terminal_id == terminal_id)
    if except_session is not None:
        cond.append(sessions.c.session_id != except_session)
    ids = [r[0] for r in conn.execute(sa.select(sessions.c.session_id).where(*cond))]
    if ids:
        conn.execute(
            sessions.update()
            .where(sessions.c.session_id.in_(ids), sessions.c.ended_at.is_(None))
            .values(ended_at=now, end_reason=reason)
        )
    return ids


def end_session(conn: Connection, session_id: str, *, now: dt.datetime, reason: str) -> bool:
    res = conn.execute(
        sessions.update()
        .where(sessions.c.session_id == session_id, sessions.c.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    )
    return res.rowcount == 1


def revoke_grants(
    conn: Connection, grant_ids: Iterable[int], *, now: dt.datetime, revoked_by: str, reason: str
) -> list[int]:
    ids = list(grant_ids)
    if ids:
        conn.execute(
            right_revocations.insert(),
            [{"grant_id": g, "revoked_by": revoked_by, "revoked_at": now, "reason": reason} for g in ids],
        )
    return ids


def disable_account(
    conn: Connection, user_id: str, *, now: dt.datetime, actor: str, reason: str
) -> tuple[list[str], list[int]]:
    """Disable ``user_id`` (the id stays, SEC-9), end their sessions and revoke their open rights.
    Returns (sessions ended, grants revoked)."""
    conn.execute(
        staff.update()
        .where(staff.c.user_id == user_id)
        .values(status="disabled", disabled_at=now, disabled_by=actor, locked_reason=reason)
    )
    ended = end_sessions(conn, now=now, reason="account-disabled", user_id=user_id)
    open_grants = [g.grant_id for g in load_grants(conn, user_ids=[user_id]) if g.status != "revoked"]
    revoked = revoke_grants(conn, open_grants, now=now, revoked_by=actor, reason=reason)
    return ended, revoked
