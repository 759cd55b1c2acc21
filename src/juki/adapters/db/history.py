"""History reads the change service needs inside its transaction (REG-R1 date order, REG-E11 取消)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa

from juki.domain.model import household_from_json
from juki.domain.register import CancellationTarget

from .schema import events, household_versions, person_versions
from .store import Reads


def last_change_dates(r: Reads, person_ids: Iterable[str], household_ids: Iterable[str]) -> dict[str, dt.date]:
    """The latest 異動日 (valid_from) of each record: a new change may not be dated before it."""
    out: dict[str, dt.date] = {}
    for table, key, ids in ((person_versions, person_versions.c.person_id, list(person_ids)),
                            (household_versions, household_versions.c.household_id, list(household_ids))):
        for start in range(0, len(ids), 500):
            rows = r.connection.execute(
                sa.select(key, sa.func.max(table.c.valid_from)).where(key.in_(ids[start:start + 500])).group_by(key))
            out.update({rid: d for rid, d in rows})
    return out


def _changed_after(conn: sa.Connection, event_seq: sa.ColumnElement[int], *where: sa.ColumnElement[bool]) -> bool:
    """Whether a later version of the record comes from a change that still stands: neither a 取消
    itself nor a change that a 取消 has cancelled (those leave the record as the earlier change made it)."""
    cancelled = sa.select(events.c.cancels_seq).where(events.c.cancels_seq.is_not(None))
    standing = (
        sa.select(events.c.seq)
        .where(events.c.seq == event_seq, events.c.cancels_seq.is_(None), events.c.seq.not_in(cancelled))
        .exists()
    )
    version_table = event_seq.table
    return conn.execute(sa.select(sa.literal(1)).select_from(version_table).where(*where, standing).limit(1)).first() is not None


def cancellation_target(r: Reads, seq: int) -> CancellationTarget | None:
    """The change ``seq`` with the versions before and after it, and whether later changes touch them."""
    event = r.event(seq)
    if event is None:
        return None
    conn = r.connection
    pv = person_versions.c
    cols = (pv.person_id, pv.version_no, pv.snapshot, pv.number_ciphertext, pv.number_key_id)
    after_rows = conn.execute(sa.select(*cols).where(pv.event_seq == seq)).all()
    persons_after = {row.person_id: r._person(row) for row in after_rows}
    persons_before = {}
    changed: list[str] = []
    for row in after_rows:
        before = r.person_version(row.person_id, row.version_no - 1) if row.version_no > 1 else None
        persons_before[row.person_id] = before
        if _changed_after(conn, pv.event_seq, pv.person_id == row.person_id, pv.version_no > row.version_no):
            changed.append(row.person_id)
    hv = household_versions.c
    h_rows = conn.execute(sa.select(hv.household_id, hv.version_no, hv.snapshot).where(hv.event_seq == seq)).all()
    households_after = {h.household_id: household_from_json(h.snapshot) for h in h_rows}
    households_before = {}
    for h in h_rows:
        prev = conn.execute(sa.select(hv.snapshot).where(hv.household_id == h.household_id,
                                                         hv.version_no == h.version_no - 1)).scalar()
        households_before[h.household_id] = household_from_json(prev) if prev is not None else None
        if _changed_after(conn, hv.event_seq, hv.household_id == h.household_id, hv.version_no > h.version_no):
            changed.append(h.household_id)
    cancelled = conn.execute(sa.select(events.c.seq).where(events.c.cancels_seq == seq)).first() is not None
    return CancellationTarget(
        seq=seq, kind=event.kind, effective_date=event.effective_date,
        persons_before=persons_before, households_before=households_before,
        persons_after=persons_after, households_after=households_after,
        changed_since=tuple(changed), already_cancelled=cancelled,
    )
