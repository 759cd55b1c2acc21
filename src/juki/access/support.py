"""DV 支援措置 (SEC-8) storage: register, end, load.  The decisions are in :mod:`juki.access.policy`
(:func:`~juki.access.policy.screen`, :func:`~juki.access.policy.requires_manual_handling`).

A measure protects one person (宛名番号) from a named offender -- known by 宛名番号 if on the register, else
by name (kanji and/or kana) and birth date -- from ``valid_from`` to ``valid_to`` (inclusive; by default
one year, the usual term of a 支援措置, renewed by registering a new measure).  It is registered by one
user and approved by another (four eyes).  An early end is a separate insert-only row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from juki.adapters.db.engine import read_only
from juki.clock import JST, Clock, utcnow
from juki.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem, Problems

from .model import SupportMeasure
from .tables import support_measure_ends, support_measures


def _now(clock: Clock | None) -> dt.datetime:
    now = (clock or utcnow)()
    return now if now.tzinfo else now.replace(tzinfo=dt.UTC)


def default_valid_to(valid_from: dt.date) -> dt.date:
    """One year, inclusive (2024-04-01 → 2025-03-31)."""
    try:
        return valid_from.replace(year=valid_from.year + 1) - dt.timedelta(days=1)
    except ValueError:  # 29 February
        return valid_from.replace(year=valid_from.year + 1, day=28)


def register_measure(
    engine: Engine,
    *,
    person_id: str,
    offender_name: str,
    valid_from: dt.date,
    registered_by: str,
    approved_by: str,
    offender_name_kana: str | None = None,
    offender_birth_date: dt.date | None = None,
    offender_person_id: str | None = None,
    valid_to: dt.date | None = None,
    case_ref: str = "",
    clock: Clock | None = None,
) -> int:
    """Record a 支援措置; returns its id."""
    problems = Problems()
    if not person_id:
        problems.add("person_id", "SEC-8/required", "保護対象者の宛名番号を入力してください。", "The protected person's id is required.")
    if not (offender_name or "").strip() and not (offender_name_kana or "").strip() and not offender_person_id:
        problems.add("offender_name", "SEC-8/required", "加害者の氏名を入力してください。", "The offender's name is required.")
    if offender_person_id and offender_person_id == person_id:
        problems.add(
            "offender_person_id", "SEC-8/offender", "加害者と保護対象者が同じです。", "The offender is the protected person."
        )
    end = valid_to or default_valid_to(valid_from)
    if end < valid_from:
        problems.add("valid_to", "SEC-8/period", "終了日が開始日より前です。", "valid_to is before valid_from.")
    problems.raise_if_any()
    if registered_by == approved_by:
        raise Forbidden(
            Problem(
                "approved_by",
                "SEC-8/four-eyes",
                "支援措置の登録者と承認者は別の職員にしてください。",
                "A support measure must be approved by someone other than who registers it.",
            )
        )
    with engine.begin() as conn:
        res = conn.execute(
            support_measures.insert().values(
                person_id=person_id,
                offender_name=(offender_name or "").strip(),
                offender_name_kana=offender_name_kana,
                offender_birth_date=offender_birth_date,
                offender_person_id=offender_person_id,
                valid_from=valid_from,
                valid_to=end,
                case_ref=case_ref,
                registered_by=registered_by,
                approved_by=approved_by,
                registered_at=_now(clock),
            )
        )
        key = res.inserted_primary_key
        assert key is not None
        return int(key[0])


def end_measure(engine: Engine, measure_id: int, *, ended_by: str, reason: str, clock: Clock | None = None) -> None:
    """End a measure early (from today, JST)."""
    if not (reason or "").strip():
        raise InvalidInput(Problem("reason", "SEC-8/reason", "終了理由を入力してください。", "A reason is required."))
    with engine.begin() as conn:
        exists = conn.execute(
            sa.select(support_measures.c.measure_id).where(support_measures.c.measure_id == measure_id)
        ).first()
        if exists is None:
            raise NotFound(Problem("measure_id", "SEC-8/unknown", f"支援措置 {measure_id} はありません。", f"No measure {measure_id}."))
        ended = conn.execute(
            sa.select(support_measure_ends.c.measure_id).where(support_measure_ends.c.measure_id == measure_id)
        ).first()
        if ended is not None:
            raise Conflict(Problem("measure_id", "SEC-8/ended", f"支援措置 {measure_id} は終了済みです。", f"Measure {measure_id} has ended."))
        conn.execute(
            support_measure_ends.insert().values(
                measure_id=measure_id, ended_by=ended_by, ended_at=_now(clock), reason=reason.strip()
            )
        )


def _measure(row: Any) -> SupportMeasure:
    return SupportMeasure(
        measure_id=int(row.measure_id),
        person_id=row.person_id,
        offender_name=row.offender_name,
        offender_name_kana=row.offender_name_kana,
        offender_birth_date=row.offender_birth_date,
        offender_person_id=row.offender_person_id,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        ended_on=row.ended_at.astimezone(JST).date() if row.ended_at is not None else None,
        case_ref=row.case_ref,
        registered_by=row.registered_by,
        approved_by=row.approved_by,
    )


def load_measures(
    engine: Engine, *, person_ids: Iterable[str] | None = None, on: dt.date | None = None
) -> list[SupportMeasure]:
    """Measures (for ``person_ids``), all of them or only those active ``on`` a date."""
    q = (
        sa.select(support_measures, support_measure_ends.c.ended_at)
        .select_from(
            support_measures.outerjoin(
                support_measure_ends, support_measure_ends.c.measure_id == support_measures.c.measure_id
            )
        )
        .order_by(support_measures.c.measure_id)
    )
    if person_ids is not None:
        ids = list(dict.fromkeys(person_ids))
        if not ids:
            return []
        q = q.where(support_measures.c.person_id.in_(ids))
    if on is not None:
        q = q.where(support_measures.c.valid_from <= on, sa.or_(support_measures.c.valid_to.is_(None), support_measures.c.valid_to >= on))
    with read_only(engine.connect()) as conn:
        found = [_measure(r) for r in conn.execute(q)]
    return [m for m in found if on is None or m.active_on(on)]


def is_protected(engine: Engine, person_id: str, *, on: dt.date) -> bool:
    """Whether an active 支援措置 protects ``person_id`` (everything about them goes to manual handling)."""
    return bool(load_measures(engine, person_ids=[person_id], on=on))
