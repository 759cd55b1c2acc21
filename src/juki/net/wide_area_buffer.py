"""NET-12: the 住基ネット中間サーバ's buffer of what a 広域交付 answer needs, for when the register is offline.

Sapporo's 住基ネット中間サーバ (seed 001, システム3) 「既存住基システムで発生した異動データを受領する」 and keeps
「住民票広域交付用住基情報 … 既存住基システム稼働時間外に住民票広域交付があった場合に、住基ネットと連携するために」.
Here the municipality node keeps that buffer in a **database of its own** (``wide-area-buffer.db`` in the
node's directory, or ``JUKI_WIDE_AREA_BUFFER_URL``): the node's own database *is* the register's, so
a buffer inside it would be down with it.

**What it holds** (every personal item AES-GCM encrypted with the register's key ring, SEC-5; the key file
is outside both databases):

* ``buffer_persons`` -- each **current resident**: the 住民票 with 本籍・筆頭者, 住民票コード, 個人番号,
  備考, 選挙 items and 転出先 removed (what :func:`juki.domain.wide_area.wide_area_person` may send, and
  the 12条の4 facts: status, 世帯, foreign or not), and the 異動履歴 lines from the person's own versions
  (:func:`juki.issuance.service.subject_history`).  In clear only the 宛名番号 and 世帯番号 (internal
  numbers the send record names too) and two HMAC blind indexes (the key ring's index key): of the
  **住民票コード** (the lookup key of a request naming it) and of the **生年月日** (a request by 氏名 +
  生年月日 + 住所: every resident born that day is decrypted and matched as the register's search would);
* ``buffer_households`` -- each 世帯 with members: 世帯主, members in order, address;
* ``buffer_state`` -- the DV 支援措置 (SEC-8) that are active or will be (protected person, offender's
  name, kana, birth date, 宛名番号, the period; not the case reference or who registered them),
  encrypted as one set; the buffer's id; ``seen_at`` and ``synced_at`` (below);
* ``buffer_sends`` -- the idempotency mirror: each answer sent (from the register or from the buffer)
  within the answers' keeping period, encrypted, so that a request id repeated while the register is
  offline gets the same answer;
* ``buffer_journal`` -- what happened while the register was offline and is not yet in the register's
  send record and audit log: answers sent, repeats and refusals (encrypted), replayed by
  :meth:`juki.net.wide_area.WideAreaService.reconcile` when the register is back.

**Kept current** by :meth:`WideAreaBuffer.sync` (the node's worker ``wide_area_buffer``, every few
seconds): the register's committed events not yet taken by this buffer -- an anti-join on
``wide_area_buffer_intake`` in the register's database, as the CS intake does on ``cs_intake``, so
``events.seq`` gaps and late commits on PostgreSQL do not matter -- are taken in event order; for each,
the persons and 世帯 the event wrote are re-read **as they are now** and written to the buffer (a person
no longer resident, or a 世帯 without members, is removed), then the event is marked taken.  Each round
also replaces the 支援措置 set (support measures change outside the event stream).  A new or lost
buffer gets a new id and is rebuilt from the first event.

**What it guarantees** (the answer says ``source: buffer`` and ``synced_at``):

* ``seen_at`` -- the start of the last round that reached the register; ``synced_at`` -- the start of the
  last round that took *every* event the register had committed when it started, and the 支援措置 after
  it.  An answer from the buffer reflects every change (and every 支援措置) committed before
  ``synced_at``; a change committed after it may be missing.
* The buffer refuses to answer (``NET-12/buffer-behind``, 503, nothing issued) unless
  ``seen_at - synced_at <= max_lag`` (``JUKI_WIDE_AREA_BUFFER_MAX_LAG_SECONDS``, default 300): while the
  worker is healthy the two are the same round and the gap is only the changes committed after the last
  round before the outage (one poll period); a buffer that fell behind while the register was up (the
  worker failing, a backlog) does not answer for a register it no longer mirrors.  A buffer that has
  never completed a round does not answer either.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from juki.access import policy
from juki.access.model import Requester, SupportMeasure
from juki.access.support import load_measures
from juki.adapters.db.engine import make_engine
from juki.adapters.db.schema import Json, Serial, UTCDateTime, events, household_versions, person_versions
from juki.adapters.db.store import Store
from juki.adapters.keys import Keyring
from juki.clock import Clock, jst_date
from juki.config import env_int
from juki.domain.certificates import HistoryLine
from juki.domain.changes import from_json
from juki.domain.errors import Problem, Unavailable
from juki.domain.events import ChangeKind
from juki.domain.model import (
    Eligibility,
    HouseholdRecord,
    PersonRecord,
    Status,
    household_from_json,
    person_from_json,
    to_json,
)
from juki.domain.wide_area import PersonKey

from .wide_area_tables import wide_area_buffer_intake

log = logging.getLogger("juki.net.wide_area_buffer")

DEFAULT_MAX_LAG = dt.timedelta(seconds=300)
BATCH = 200
"""Events taken per round at most (a bulk load is one event, taken in chunks of :data:`CHUNK` persons)."""
CHUNK = 500

metadata = sa.MetaData()

buffer_state = sa.Table(
    "buffer_state",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", Json(), nullable=True),  # no personal data
    sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
    sa.Column("key_id", sa.String(32), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

buffer_persons = sa.Table(
    "buffer_persons",
    metadata,
    sa.Column("person_id", sa.String(16), primary_key=True),  # 宛名番号
    sa.Column("household_id", sa.String(16), nullable=False),
    sa.Column("code_index", sa.String(64), nullable=False, index=True),  # HMAC of the 住民票コード
    sa.Column("birth_index", sa.String(64), nullable=False, index=True),  # HMAC of the 生年月日
    sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

buffer_households = sa.Table(
    "buffer_households",
    metadata,
    sa.Column("household_id", sa.String(16), primary_key=True),
    sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

buffer_sends = sa.Table(
    "buffer_sends",
    metadata,
    sa.Column("answer_ref", sa.String(12), primary_key=True),
    sa.Column("issuing_lg_code", sa.String(6), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("request_sha256", sa.String(64), nullable=False),
    sa.Column("source", sa.String(8), nullable=False),
    sa.Column("ciphertext", sa.LargeBinary(), nullable=False),  # the answer and the persons' 宛名番号
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("sent_at", UTCDateTime(), nullable=False, index=True),
    sa.UniqueConstraint("issuing_lg_code", "request_id"),
)

buffer_journal = sa.Table(
    "buffer_journal",
    metadata,
    sa.Column("journal_id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("entry_id", sa.String(32), nullable=False, unique=True),
    sa.Column("kind", sa.String(8), nullable=False),  # send | repeat | refusal
    sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sqlite_autoincrement=True,
)


def max_lag_setting() -> dt.timedelta:
    """``JUKI_WIDE_AREA_BUFFER_MAX_LAG_SECONDS`` (default 300): how far ``synced_at`` may trail ``seen_at``
    for the buffer to answer."""
    return dt.timedelta(seconds=env_int("JUKI_WIDE_AREA_BUFFER_MAX_LAG_SECONDS", int(DEFAULT_MAX_LAG.total_seconds()),
                                        low=0, unit="seconds"))


def default_buffer_url(node_dir: Path) -> str:
    """``wide-area-buffer.db`` in the node's directory (SQLite; a database apart from the register's, whatever
    engine that is).  ``JUKI_WIDE_AREA_BUFFER_URL`` may name another (best on another server)."""
    return f"sqlite:///{(Path(node_dir) / 'wide-area-buffer.db').resolve()}"


def buffered_record(p: PersonRecord) -> PersonRecord:
    """What the buffer keeps of a resident's 住民票: no 本籍・筆頭者, 住民票コード, 個人番号, 備考, 選挙 items
    or 転出先 (a 広域交付 answer carries none of them)."""
    return dataclasses.replace(p, juminhyo_code="", individual_number=None, honseki="", hittosha="", remarks="",
                               eligibility=Eligibility(), moved_out_to=None)


def _measure_json(m: SupportMeasure) -> dict[str, Any]:
    return {"measure_id": m.measure_id, "person_id": m.person_id, "offender_name": m.offender_name,
            "offender_name_kana": m.offender_name_kana,
            "offender_birth_date": m.offender_birth_date.isoformat() if m.offender_birth_date else None,
            "offender_person_id": m.offender_person_id, "valid_from": m.valid_from.isoformat(),
            "valid_to": m.valid_to.isoformat() if m.valid_to else None,
            "ended_on": m.ended_on.isoformat() if m.ended_on else None}


def _measure(d: dict[str, Any]) -> SupportMeasure:
    def day(v: str | None) -> dt.date | None:
        return dt.date.fromisoformat(v) if v else None

    return SupportMeasure(measure_id=int(d["measure_id"]), person_id=d["person_id"], offender_name=d["offender_name"],
                          offender_name_kana=d["offender_name_kana"], offender_birth_date=day(d["offender_birth_date"]),
                          offender_person_id=d["offender_person_id"], valid_from=dt.date.fromisoformat(d["valid_from"]),
                          valid_to=day(d["valid_to"]), ended_on=day(d["ended_on"]))


@dataclass(frozen=True)
class SyncReport:
    taken: int  # events taken this round
    left: int  # events still pending after it
    measures: int  # 支援措置 kept
    synced_at: dt.datetime | None  # this round's start when it took everything


class WideAreaBuffer:
    """The buffer database of one municipality node (see the module docstring)."""

    def __init__(self, url: str, keyring: Keyring, *, clock: Clock, max_lag: dt.timedelta = DEFAULT_MAX_LAG) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        self.keyring = keyring
        self.clock = clock
        self.max_lag = max_lag
        metadata.create_all(self.engine)
        self.buffer_id = self._buffer_id()

    def close(self) -> None:
        self.engine.dispose()

    # --- state ----------------------------------------------------------------------------------------

    def _buffer_id(self) -> str:
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(buffer_state.c.value).where(buffer_state.c.name == "id")).first()
            if row is not None:
                return str(row.value["buffer_id"])
            new = secrets.token_hex(16)
            conn.execute(buffer_state.insert().values(name="id", value={"buffer_id": new}, updated_at=self.clock()))
            return new

    def _put_state(self, conn: Connection, name: str, **values: Any) -> None:
        conn.execute(buffer_state.delete().where(buffer_state.c.name == name))
        conn.execute(buffer_state.insert().values(name=name, updated_at=self.clock(), **values))

    def _instant(self, conn: Connection, name: str) -> dt.datetime | None:
        row = conn.execute(sa.select(buffer_state.c.value).where(buffer_state.c.name == name)).first()
        return dt.datetime.fromisoformat(row.value["at"]) if row is not None and row.value else None

    def status(self) -> dict[str, Any]:
        """What ``juki net status`` may show (no personal data): counts and the two instants."""
        with self.engine.connect() as conn:
            count = {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                     for t in (buffer_persons, buffer_households, buffer_sends, buffer_journal)}
            seen, synced = self._instant(conn, "seen_at"), self._instant(conn, "synced_at")
        return {"buffer_id": self.buffer_id, "seen_at": seen.isoformat() if seen else None,
                "synced_at": synced.isoformat() if synced else None, **count}

    # --- sync from the register -----------------------------------------------------------------------

    def pending(self, conn: Connection, limit: int | None = None) -> list[int]:
        """The register's events this buffer has not taken, in event order (``conn``: the register's)."""
        q = (sa.select(events.c.seq)
             .where(~sa.exists().where(wide_area_buffer_intake.c.buffer_id == self.buffer_id,
                                       wide_area_buffer_intake.c.event_seq == events.c.seq))
             .order_by(events.c.seq))
        return [int(s) for s in conn.execute(q.limit(limit) if limit is not None else q).scalars()]

    def sync(self, store: Store, *, limit: int = BATCH) -> SyncReport:
        """One round: take up to ``limit`` pending events, replace the 支援措置; ``synced_at`` moves only when
        nothing that was pending at the start is left.  Raises the register's error when it is unreachable
        (nothing of the round is recorded then)."""
        start = self.clock()
        with store.engine.connect() as conn:
            pending = self.pending(conn, limit + 1)
        with self.engine.begin() as conn:
            self._put_state(conn, "seen_at", value={"at": start.isoformat()})
        for seq in pending[:limit]:
            self.take(store, seq)
        kept = self._take_measures(store)
        complete = len(pending) <= limit
        if complete:
            with self.engine.begin() as conn:
                self._put_state(conn, "synced_at", value={"at": start.isoformat()})
        left = 0 if complete else len(pending) - limit
        return SyncReport(len(pending[:limit]), left, kept, start if complete else None)

    def take(self, store: Store, event_seq: int) -> None:
        """Bring the persons and 世帯 event ``event_seq`` wrote up to date in the buffer, then mark it taken."""
        with store.engine.connect() as conn:
            kind = conn.execute(sa.select(events.c.kind).where(events.c.seq == event_seq)).scalar_one()
            pids = sorted(set(conn.execute(sa.select(person_versions.c.person_id)
                                           .where(person_versions.c.event_seq == event_seq)).scalars()))
            hids = set(conn.execute(sa.select(household_versions.c.household_id)
                                    .where(household_versions.c.event_seq == event_seq)).scalars())
        with_history = kind != ChangeKind.INITIAL_LOAD.value
        from juki.issuance.service import subject_history

        for i in range(0, max(len(pids), 1), CHUNK):
            chunk = pids[i:i + CHUNK]
            with store.read() as r:
                found = r.persons(chunk)
                rows = []
                for pid in chunk:
                    p = found.get(pid)
                    if p is not None and p.status is Status.RESIDENT:
                        hids.add(p.household_id)
                        history = subject_history(r, pid) if with_history else ()
                        rows.append(self._person_row(p, history))
                if i + CHUNK >= len(pids):  # the 世帯 once, with the last chunk
                    households = {h: r.household_current(h) for h in sorted(hids)}
                else:
                    households = {}
            now = self.clock()
            with self.engine.begin() as bconn:
                if chunk:
                    bconn.execute(buffer_persons.delete().where(buffer_persons.c.person_id.in_(chunk)))
                if rows:
                    bconn.execute(buffer_persons.insert(), [{**row, "updated_at": now} for row in rows])
                if households:
                    bconn.execute(buffer_households.delete().where(buffer_households.c.household_id.in_(list(households))))
                    kept = [self._household_row(h) for h in households.values() if h is not None and h.member_ids]
                    if kept:
                        bconn.execute(buffer_households.insert(), [{**row, "updated_at": now} for row in kept])
        with store.engine.begin() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(wide_area_buffer_intake.insert().values(buffer_id=self.buffer_id, event_seq=event_seq,
                                                                         taken_at=self.clock()))
            except sa.exc.IntegrityError:  # taken concurrently (another worker of the same buffer)
                pass

    def _person_row(self, p: PersonRecord, history: Iterable[HistoryLine]) -> dict[str, Any]:
        payload = {"record": to_json(buffered_record(p)), "history": [to_json(line) for line in history]}
        ct, kid = self.keyring.encrypt(json.dumps(payload, ensure_ascii=False), f"wide-area-buffer:person:{p.person_id}")
        return {"person_id": p.person_id, "household_id": p.household_id,
                "code_index": self._code_index(p.juminhyo_code), "birth_index": self._birth_index(p.birth_date),
                "ciphertext": ct, "key_id": kid}

    def _household_row(self, h: HouseholdRecord) -> dict[str, Any]:
        ct, kid = self.keyring.encrypt(json.dumps(to_json(h), ensure_ascii=False),
                                       f"wide-area-buffer:household:{h.household_id}")
        return {"household_id": h.household_id, "ciphertext": ct, "key_id": kid}

    def _code_index(self, code: str) -> str:
        return self.keyring.blind_index(f"wide-area-buffer:juminhyo:{code}")

    def _birth_index(self, day: dt.date) -> str:
        return self.keyring.blind_index(f"wide-area-buffer:birth:{day.isoformat()}")

    def _take_measures(self, store: Store) -> int:
        today = jst_date(self.clock())
        kept = [_measure_json(m) for m in load_measures(store.engine) if not m.over_by(today)]  # active now or later
        ct, kid = self.keyring.encrypt(json.dumps(kept, ensure_ascii=False), "wide-area-buffer:measures")
        with self.engine.begin() as conn:
            self._put_state(conn, "measures", ciphertext=ct, key_id=kid)
        return len(kept)

    # --- answering from the buffer --------------------------------------------------------------------

    @contextmanager
    def source(self) -> Iterator[BufferSource]:
        """A read of the buffer for one answer; refuses (``NET-12/buffer-behind``) when it is not current
        enough (see the module docstring)."""
        with self.engine.connect() as conn:
            seen, synced = self._instant(conn, "seen_at"), self._instant(conn, "synced_at")
            if synced is None or seen is None or seen - synced > self.max_lag:
                raise Unavailable(Problem(
                    "residence_lg_code", "NET-12/buffer-behind",
                    "住所地の既存住基システムが停止中で、中間サーバの保持情報も最新であることを確認できないため、"
                    "広域交付に応じられません。時間をおいて再度お試しください。証明書は交付していません。",
                    "The municipality of residence's register is offline and its buffer cannot be shown to be "
                    "current; try again later. Nothing was issued."))
            row = conn.execute(sa.select(buffer_state).where(buffer_state.c.name == "measures")).first()
            measures = ([_measure(d) for d in json.loads(self.keyring.decrypt(row.ciphertext, row.key_id,
                                                                              "wide-area-buffer:measures"))]
                        if row is not None and row.ciphertext is not None else [])
            yield BufferSource(self, conn, measures, synced, jst_date(self.clock()))

    def _person(self, row: Any) -> tuple[PersonRecord, tuple[HistoryLine, ...]]:
        data = json.loads(self.keyring.decrypt(row.ciphertext, row.key_id, f"wide-area-buffer:person:{row.person_id}"))
        history = []
        for line in data["history"]:
            parsed = from_json(HistoryLine, line, "history")
            assert isinstance(parsed, HistoryLine)
            history.append(parsed)
        return person_from_json(data["record"]), tuple(history)

    # --- the idempotency mirror and the journal ---------------------------------------------------------

    def remember(self, **send: Any) -> None:
        """Keep an answer sent (for a repeat while the register is offline); once per request id.  ``send``:
        answer_ref, issuing_lg_code, request_id, request_sha256, source, answer (JSON), person_ids, sent_at."""
        with self.engine.begin() as conn:
            self._remember(conn, **send)

    def _remember(self, conn: Connection, *, answer_ref: str, issuing_lg_code: str, request_id: str,
                  request_sha256: str, source: str, answer: dict[str, Any], person_ids: list[str],
                  sent_at: dt.datetime) -> None:
        text = json.dumps({"answer": answer, "person_ids": person_ids}, ensure_ascii=False)
        ct, kid = self.keyring.encrypt(text, f"wide-area-buffer:send:{issuing_lg_code}:{request_id}")
        exists = conn.execute(sa.select(buffer_sends.c.answer_ref).where(
            buffer_sends.c.issuing_lg_code == issuing_lg_code, buffer_sends.c.request_id == request_id)).first()
        if exists is None:
            conn.execute(buffer_sends.insert().values(
                answer_ref=answer_ref, issuing_lg_code=issuing_lg_code, request_id=request_id,
                request_sha256=request_sha256, source=source, ciphertext=ct, key_id=kid, sent_at=sent_at))

    def sent(self, issuing_lg_code: str, request_id: str) -> tuple[str, dict[str, Any], list[str]] | None:
        """``(request_sha256, answer JSON, person ids)`` kept for this request id, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(buffer_sends).where(buffer_sends.c.issuing_lg_code == issuing_lg_code,
                                                             buffer_sends.c.request_id == request_id)).first()
        if row is None:
            return None
        data = json.loads(self.keyring.decrypt(row.ciphertext, row.key_id,
                                               f"wide-area-buffer:send:{issuing_lg_code}:{request_id}"))
        return row.request_sha256, data["answer"], list(data["person_ids"])

    def journal(self, kind: str, entry: dict[str, Any], *, remember: dict[str, Any] | None = None) -> None:
        """Write down what the register's send record / audit log must get when it is back (and, for a
        send, keep the answer for repeats, in the same transaction)."""
        entry_id = secrets.token_hex(16)
        ct, kid = self.keyring.encrypt(json.dumps(entry, ensure_ascii=False), f"wide-area-buffer:journal:{entry_id}")
        with self.engine.begin() as conn:
            conn.execute(buffer_journal.insert().values(entry_id=entry_id, kind=kind, ciphertext=ct, key_id=kid,
                                                        at=self.clock()))
            if remember is not None:
                self._remember(conn, **remember)

    def journaled(self, limit: int = 100) -> list[tuple[str, str, dict[str, Any]]]:
        """``(entry_id, kind, entry)`` in the order written."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(buffer_journal).order_by(buffer_journal.c.journal_id).limit(limit)).all()
        return [(r.entry_id, r.kind, json.loads(self.keyring.decrypt(r.ciphertext, r.key_id,
                                                                     f"wide-area-buffer:journal:{r.entry_id}")))
                for r in rows]

    def has_journal(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(buffer_journal.c.journal_id).limit(1)).first() is not None

    def done(self, entry_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(buffer_journal.delete().where(buffer_journal.c.entry_id == entry_id))

    def purge_sends(self, before: dt.datetime) -> int:
        """Forget answers sent before ``before`` (the answers' keeping period, as at the register)."""
        with self.engine.begin() as conn:
            return int(conn.execute(buffer_sends.delete().where(buffer_sends.c.sent_at < before)).rowcount or 0)


class BufferSource:
    """The buffer as :class:`juki.net.wide_area.WideAreaService` reads a register (one answer)."""

    source = "buffer"
    synced_at: dt.datetime | None

    def __init__(self, buffer: WideAreaBuffer, conn: Connection, measures: list[SupportMeasure],
                 synced_at: dt.datetime, today: dt.date) -> None:
        self.buffer = buffer
        self.conn = conn
        self.measures = measures
        self.synced_at = synced_at
        self.today = today
        self._history: dict[str, tuple[HistoryLine, ...]] = {}

    def _load(self, where: Any) -> list[PersonRecord]:
        out = []
        for row in self.conn.execute(sa.select(buffer_persons).where(where).order_by(buffer_persons.c.person_id)):
            p, history = self.buffer._person(row)
            self._history[p.person_id] = history
            out.append(p)
        return out

    def by_code(self, code: str) -> PersonRecord | None:
        found = self._load(buffer_persons.c.code_index == self.buffer._code_index(code))
        return found[0] if found else None

    def candidates(self, key: PersonKey) -> list[PersonRecord]:
        if key.birth_date is None:
            return []
        return self._load(buffer_persons.c.birth_index == self.buffer._birth_index(key.birth_date))

    def persons(self, ids: Iterable[str]) -> dict[str, PersonRecord]:
        wanted = list(dict.fromkeys(ids))
        return {p.person_id: p for p in self._load(buffer_persons.c.person_id.in_(wanted))} if wanted else {}

    def household(self, household_id: str) -> HouseholdRecord | None:
        row = self.conn.execute(sa.select(buffer_households)
                                .where(buffer_households.c.household_id == household_id)).first()
        if row is None:
            return None
        return household_from_json(json.loads(self.buffer.keyring.decrypt(
            row.ciphertext, row.key_id, f"wide-area-buffer:household:{household_id}")))

    def history(self, person_id: str) -> tuple[HistoryLine, ...]:
        if person_id not in self._history:
            self.persons([person_id])
        return self._history.get(person_id, ())

    def check_requester(self, person_id: str, requester: Requester) -> None:
        policy.check_request(person_id, requester, [m for m in self.measures if m.person_id == person_id], on=self.today)

    def protected(self, person_ids: list[str]) -> set[str]:
        ids = set(person_ids)
        return {m.person_id for m in self.measures if m.person_id in ids and m.active_on(self.today)}

