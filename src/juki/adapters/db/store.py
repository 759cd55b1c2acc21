"""The register's storage, used by the services layer (house rules 2 and 4).

Three objects:

* :class:`Store` -- holds the engine and the key ring.  ``store.transaction()`` opens one write
  transaction (a :class:`Tx`); ``store.read()`` opens a read-only one (a :class:`Reads`).  For
  convenience every query of :class:`Reads` is also a method of :class:`Store` that opens its own
  read transaction (``store.person_current(pid)``, ``store.search(...)``, ...).
* :class:`Reads` -- queries: current records, records *as of* a date (and as known at a time),
  histories, search, counts, the request queue.
* :class:`Tx` (a :class:`Reads`) -- everything one 届出 needs inside one transaction: reads, the request
  workflow (request → decision) and :meth:`Tx.apply`, which writes event, versions, projections and
  outbox in one go.  Commit happens when the ``with`` block ends without an exception; any exception
  rolls the whole transaction back, so nothing is half-written.

SQLite serialises writers (``BEGIN IMMEDIATE``), so on SQLite keep write transactions short and never
hold one open while waiting for a person.  On PostgreSQL, concurrency is optimistic: the household
``row_version`` check in :meth:`Tx.apply` raises :class:`~juki.domain.errors.Conflict`.

The 個人番号 is stored only as AES-GCM ciphertext (AAD = person_id) plus an HMAC blind index; it is
decrypted on read into ``PersonRecord.individual_number``.  Callers decide who may see it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from juki.adapters.keys import Keyring
from juki.clock import jst_date, utcnow
from juki.domain.errors import Conflict, InvalidInput, NotFound, Problem, RuleViolation
from juki.domain.events import ChangeKind, Origin, Outcome, Provenance
from juki.domain.kana import address_key, kana_key, name_key
from juki.domain.model import (
    HouseholdRecord,
    PersonRecord,
    Sex,
    Status,
    household_from_json,
    household_to_json,
    person_from_json,
    person_to_json,
)
from juki.domain.retention import REGISTER_RETENTION_YEARS, years_before

from .engine import read_only
from .schema import (
    change_decisions,
    change_requests,
    events,
    household_versions,
    households,
    id_counters,
    outbox,
    person_versions,
    persons,
)

OUTBOX_TOPIC = "juki.change"
DECISIONS = ("approved", "returned", "rejected")
SEARCH_LIMIT_DEFAULT = 50
SEARCH_LIMIT_MAX = 500
_CHUNK = 500


def _chunks(items: Sequence[Any], n: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _inserted_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def event_row(
    provenance: Provenance,
    *,
    kind: ChangeKind,
    request_id: int | None,
    approved_by: str,
    recorded_at: dt.datetime,
    summary: str,
    details: dict[str, Any],
    late: bool = False,
    corrects_seq: int | None = None,
    cancels_seq: int | None = None,
) -> dict[str, Any]:
    """The ``events`` row of one 異動 with its provenance (house rule 3); for apply and the bulk path."""
    return dict(
        request_id=request_id, kind=kind.value, origin=provenance.origin.value, legal_basis=provenance.legal_basis,
        effective_date=provenance.effective_date, notified_date=provenance.notified_date,
        entered_by=provenance.entered_by, approved_by=approved_by, terminal=provenance.terminal,
        case_ref=provenance.case_ref, agent=provenance.agent, recorded_at=recorded_at, late=late,
        corrects_seq=corrects_seq, cancels_seq=cancels_seq, summary=summary, details=details,
    )


def concurrency_conflict(household_id: str) -> Conflict:
    return Conflict(
        Problem(
            "household_id",
            "REG-CONCURRENCY",
            f"世帯 {household_id} は他の処理で更新されました。最新の内容を確認して入力し直してください。",
            f"Household {household_id} was changed by someone else. Check the latest record and enter the change again.",
        )
    )


def person_conflict(person_id: str) -> Conflict:
    return Conflict(
        Problem(
            "person_id",
            "REG-CONCURRENCY",
            f"住民 {person_id} は他の処理で更新されました。最新の内容を確認して入力し直してください。",
            f"Person {person_id} was changed by someone else. Check the latest record and enter the change again.",
        )
    )


class DuplicateRequest(Conflict):
    """A request with this idempotency key was already entered; ``request_id`` is the existing one."""

    def __init__(self, request_id: int, key: str) -> None:
        self.request_id = request_id
        super().__init__(
            Problem(
                "idempotency_key",
                "REG-IDEMPOTENCY",
                f"この申請は既に受け付けられています (申請番号 {request_id})。",
                f"This request was already entered (request {request_id}).",
            )
        )


# ---------------------------------------------------------------------------------------------------
# Rows handed to callers


@dataclass(frozen=True)
class DecisionRow:
    decision_id: int
    request_id: int
    decision: str  # 'approved' | 'returned' | 'rejected'
    decided_by: str
    terminal: str
    reason: str
    decided_at: dt.datetime
    event_seq: int | None


@dataclass(frozen=True)
class RequestRow:
    """A change request (申請) with its decision, if any."""

    request_id: int
    kind: str  # a ChangeKind value (a ChangeKind when it is one)
    payload: dict[str, Any]
    origin: Origin
    legal_basis: str
    effective_date: dt.date
    notified_date: dt.date
    entered_by: str
    terminal: str
    case_ref: str
    agent: str
    entered_at: dt.datetime
    household_ids: list[str]
    expected_versions: dict[str, int]
    summary: str
    idempotency_key: str | None
    decision: DecisionRow | None

    @property
    def status(self) -> str:
        """'pending', or the decision."""
        return self.decision.decision if self.decision else "pending"

    @property
    def provenance(self) -> Provenance:
        return Provenance(
            origin=self.origin,
            legal_basis=self.legal_basis,
            effective_date=self.effective_date,
            notified_date=self.notified_date,
            entered_by=self.entered_by,
            terminal=self.terminal,
            case_ref=self.case_ref,
            agent=self.agent,
        )


@dataclass(frozen=True)
class EventRow:
    """One 異動 as recorded (``seq`` is the 更新順番号)."""

    seq: int
    request_id: int | None
    kind: ChangeKind
    origin: Origin
    legal_basis: str
    effective_date: dt.date  # 異動日
    notified_date: dt.date  # 届出日
    entered_by: str
    approved_by: str
    terminal: str
    case_ref: str
    agent: str
    recorded_at: dt.datetime
    late: bool
    corrects_seq: int | None
    cancels_seq: int | None
    summary: str
    details: dict[str, Any]


@dataclass(frozen=True)
class SearchCriteria:
    """Search of the register (REG-SEARCH).  At least one of the criteria marked * is required.

    * ``kana``*: prefix of the 振り仮名, insensitive to hiragana/katakana, width, spaces, small kana, voicing.
    * ``name``*: prefix of the kanji name (spaces, width and IVS ignored).
    * ``birth_date``*: exact.
    * ``address``*: prefix of the address (width, spaces, hyphen variants ignored).
    * ``person_id``*, ``household_id``*: exact.
    * ``individual_number``*: exact, via the blind index (only for 番号利用事務 users: the caller checks).
    * ``sex``: a filter only.
    * ``include_removed``: also 除票 (removed records), except those past their 150-year retention
      (REG-R5: hidden from normal work until the yearly purge).  Records voided by a 取消 are never returned.
    * ``limit``: 1..500 (default 50).
    """

    kana: str | None = None
    name: str | None = None
    birth_date: dt.date | None = None
    address: str | None = None
    person_id: str | None = None
    household_id: str | None = None
    individual_number: str | None = None
    sex: Sex | str | None = None
    include_removed: bool = False
    limit: int = SEARCH_LIMIT_DEFAULT


@dataclass(frozen=True)
class SearchHit:
    """Enough to tell same-name people apart (生年月日, 住所, 性別, 世帯)."""

    person_id: str
    household_id: str
    name: str
    name_kana: str | None
    birth_date: dt.date
    sex: Sex
    address_text: str
    status: Status


@dataclass(frozen=True)
class Counts:
    residents: int  # 住民 (status resident)
    households: int  # 世帯 with at least one member
    removed: int  # 除票


@dataclass
class _Ctx:
    keyring: Keyring
    clock: Callable[[], dt.datetime]
    seen_versions: dict[str, int] = field(default_factory=dict)  # 世帯 id -> row_version first read
    seen_person_versions: dict[str, int] = field(default_factory=dict)  # person id -> version_no first read


def prefix_bounds(prefix: str) -> tuple[str, str | None]:
    """``(lo, hi)`` such that ``lo <= key < hi`` holds exactly for keys starting with ``prefix``
    (code point order, i.e. SQLite BINARY and PostgreSQL ``COLLATE "C"``).  ``hi`` is None when no
    upper bound exists.  Unlike ``prefix || U+FFFF`` this also works for characters outside the BMP
    (𠮷 is U+20BB7)."""
    p = prefix
    while p and p[-1] == "\U0010ffff":
        p = p[:-1]
    if not p:
        return prefix, None
    nxt = ord(p[-1]) + 1
    if 0xD800 <= nxt <= 0xDFFF:  # surrogates cannot be stored; skip them
        nxt = 0xE000
    return prefix, p[:-1] + chr(nxt)


# ---------------------------------------------------------------------------------------------------
# Reads


class Reads:
    """Queries on one connection/transaction.  Obtained from ``Store.read()`` or as a :class:`Tx`."""

    def __init__(self, conn: Connection, ctx: _Ctx) -> None:
        self._conn = conn
        self._ctx = ctx

    @property
    def connection(self) -> Connection:
        """The underlying SQLAlchemy connection (for adapters that share the transaction, e.g. audit)."""
        return self._conn

    # -- decoding -----------------------------------------------------------------------------------

    def _number(self, person_id: str, ciphertext: bytes | None, key_id: str | None) -> str | None:
        if ciphertext is None:
            return None
        assert key_id is not None
        return self._ctx.keyring.decrypt(ciphertext, key_id, person_id)

    def _person(self, row: Any) -> PersonRecord:
        return person_from_json(
            row.snapshot, self._number(row.person_id, row.number_ciphertext, row.number_key_id)
        )

    @staticmethod
    def _event(row: Any) -> EventRow:
        return EventRow(
            seq=row.seq,
            request_id=row.request_id,
            kind=ChangeKind(row.kind),
            origin=Origin(row.origin),
            legal_basis=row.legal_basis,
            effective_date=row.effective_date,
            notified_date=row.notified_date,
            entered_by=row.entered_by,
            approved_by=row.approved_by,
            terminal=row.terminal,
            case_ref=row.case_ref,
            agent=row.agent,
            recorded_at=row.recorded_at,
            late=bool(row.late),
            corrects_seq=row.corrects_seq,
            cancels_seq=row.cancels_seq,
            summary=row.summary,
            details=row.details or {},
        )

    # -- current records ----------------------------------------------------------------------------

    def persons(self, ids: Iterable[str]) -> dict[str, PersonRecord]:
        """Current 住民票 of the given persons (any status), 個人番号 decrypted; missing ids are absent.
        The ``version_no`` read is remembered: :meth:`Tx.apply` updates a person only if it is still the
        version this transaction based its change on."""
        out: dict[str, PersonRecord] = {}
        cols = (persons.c.person_id, persons.c.version_no, persons.c.snapshot, persons.c.number_ciphertext,
                persons.c.number_key_id)
        seen = self._ctx.seen_person_versions
        for chunk in _chunks(_unique(ids)):
            for row in self._conn.execute(sa.select(*cols).where(persons.c.person_id.in_(chunk))):
                out[row.person_id] = self._person(row)
                seen.setdefault(row.person_id, row.version_no)
        return out

    def person_current(self, person_id: str) -> PersonRecord | None:
        return self.persons([person_id]).get(person_id)

    def households(self, ids: Iterable[str]) -> dict[str, tuple[HouseholdRecord, int]]:
        """Current 世帯 with their ``row_version`` (remembered as the version this transaction saw)."""
        out: dict[str, tuple[HouseholdRecord, int]] = {}
        cols = (households.c.household_id, households.c.row_version, households.c.snapshot)
        for chunk in _chunks(_unique(ids)):
            for row in self._conn.execute(sa.select(*cols).where(households.c.household_id.in_(chunk))):
                out[row.household_id] = (household_from_json(row.snapshot), row.row_version)
                self._ctx.seen_versions.setdefault(row.household_id, row.row_version)
        return out

    def household_current(self, household_id: str) -> HouseholdRecord | None:
        found = self.households([household_id]).get(household_id)
        return found[0] if found else None

    def household_members(self, household_id: str) -> list[PersonRecord]:
        """Current members (status resident) in the household's member order (世帯主 first)."""
        found = self.households([household_id]).get(household_id)
        if not found:
            return []
        order = found[0].member_ids
        recs = self.persons(order)
        return [recs[i] for i in order if i in recs and recs[i].status is Status.RESIDENT]

    def person_id_by_individual_number(self, number: str) -> str | None:
        """The person with this 個人番号 (via the blind index); a current resident first, else the
        newest (highest 宛名番号) record carrying it."""
        idx = self._ctx.keyring.blind_index(number)
        row = self._conn.execute(
            sa.select(persons.c.person_id)
            .where(persons.c.number_index == idx)
            .order_by((persons.c.status == Status.RESIDENT.value).desc(), persons.c.person_id.desc())
            .limit(1)
        ).first()
        return row.person_id if row else None

    def person_id_by_juminhyo_code(self, code: str) -> str | None:
        """The person with this 住民票コード: the current resident if any, else the newest 除票."""
        row = self._conn.execute(
            sa.select(persons.c.person_id)
            .where(persons.c.juminhyo_code == code)
            .order_by((persons.c.status == Status.RESIDENT.value).desc(), persons.c.person_id.desc())
            .limit(1)
        ).first()
        return row.person_id if row else None

    def next_id(self, name: str) -> int:
        """The number the counter ``name`` would hand out next, without allocating it (a peek: use
        :meth:`Tx.allocate_ids` to reserve ids; :func:`~juki.adapters.db.bulk.bulk_load` advances the
        counter past what it loads)."""
        value = self._conn.execute(
            sa.select(id_counters.c.next_value).where(id_counters.c.name == name)
        ).scalar_one_or_none()
        if value is None:
            raise NotFound.one(
                "name", "ID-COUNTER", f"採番の種類 {name} はありません。", f"No id counter {name!r}."
            )
        return int(value)

    # -- as of a date -------------------------------------------------------------------------------

    def person_as_of(
        self, person_id: str, date: dt.date, known_at: dt.datetime | None = None
    ) -> PersonRecord | None:
        """The 住民票 as it stood on ``date`` (as the register knew it at ``known_at``, if given).

        Rule: among the versions with ``valid_from <= date`` (and ``recorded_at <= known_at``), the one
        with the greatest ``version_no``.  Deliberately *not* the greatest ``valid_from``: a 取消 re-emits
        the earlier state as a new version carrying the cancelled change's date, and that newer version
        must win over the cancelled one.  The record is returned whatever its status (a 除票 or a
        voided record included); None if the person did not exist yet.
        """
        q = sa.select(
            person_versions.c.person_id,
            person_versions.c.snapshot,
            person_versions.c.number_ciphertext,
            person_versions.c.number_key_id,
        ).where(person_versions.c.person_id == person_id, person_versions.c.valid_from <= date)
        if known_at is not None:
            q = q.where(person_versions.c.recorded_at <= known_at)
        row = self._conn.execute(q.order_by(person_versions.c.version_no.desc()).limit(1)).first()
        return self._person(row) if row else None

    def household_as_of(
        self, household_id: str, date: dt.date, known_at: dt.datetime | None = None
    ) -> HouseholdRecord | None:
        """The 世帯 as it stood on ``date``; same rule as :meth:`person_as_of`."""
        q = sa.select(household_versions.c.snapshot).where(
            household_versions.c.household_id == household_id, household_versions.c.valid_from <= date
        )
        if known_at is not None:
            q = q.where(household_versions.c.recorded_at <= known_at)
        row = self._conn.execute(q.order_by(household_versions.c.version_no.desc()).limit(1)).first()
        return household_from_json(row.snapshot) if row else None

    def person_version(self, person_id: str, version_no: int) -> PersonRecord | None:
        row = self._conn.execute(
            sa.select(
                person_versions.c.person_id,
                person_versions.c.snapshot,
                person_versions.c.number_ciphertext,
                person_versions.c.number_key_id,
            ).where(person_versions.c.person_id == person_id, person_versions.c.version_no == version_no)
        ).first()
        return self._person(row) if row else None

    # -- history ------------------------------------------------------------------------------------

    def person_history(self, person_id: str) -> list[tuple[EventRow, PersonRecord]]:
        """Every version of the 住民票, oldest first, each with the event that produced it."""
        rows = self._conn.execute(
            sa.select(
                events,
                person_versions.c.person_id,
                person_versions.c.snapshot,
                person_versions.c.number_ciphertext,
                person_versions.c.number_key_id,
            )
            .join(events, events.c.seq == person_versions.c.event_seq)
            .where(person_versions.c.person_id == person_id)
            .order_by(person_versions.c.version_no)
        )
        return [(self._event(r), self._person(r)) for r in rows]

    def household_history(self, household_id: str) -> list[tuple[EventRow, HouseholdRecord]]:
        """Every version of the 世帯, oldest first, each with the event that produced it."""
        rows = self._conn.execute(
            sa.select(events, household_versions.c.snapshot)
            .join(events, events.c.seq == household_versions.c.event_seq)
            .where(household_versions.c.household_id == household_id)
            .order_by(household_versions.c.version_no)
        )
        return [(self._event(r), household_from_json(r.snapshot)) for r in rows]

    def events_for_person(self, person_id: str) -> list[EventRow]:
        """The events that produced a version of this person, in 更新順番号 order."""
        rows = self._conn.execute(
            sa.select(events)
            .join(person_versions, person_versions.c.event_seq == events.c.seq)
            .where(person_versions.c.person_id == person_id)
            .order_by(events.c.seq)
        )
        return [self._event(r) for r in rows]

    def event(self, seq: int) -> EventRow | None:
        row = self._conn.execute(sa.select(events).where(events.c.seq == seq)).first()
        return self._event(row) if row else None

    # -- search -------------------------------------------------------------------------------------

    def search(self, criteria: SearchCriteria) -> list[SearchHit]:
        """Search current records (REG-SEARCH); see :class:`SearchCriteria`.  Ordered by kana key,
        birth date, person id.  Raises InvalidInput without any criterion or with a bad limit."""
        c = criteria
        if not (1 <= c.limit <= SEARCH_LIMIT_MAX):
            raise InvalidInput.one(
                "limit",
                "REG-SEARCH-LIMIT",
                f"件数の上限は1から{SEARCH_LIMIT_MAX}の間で指定してください。",
                f"limit must be between 1 and {SEARCH_LIMIT_MAX}.",
            )
        conds: list[Any] = []
        for value, keyfn, col in (
            (c.kana, kana_key, persons.c.kana_key),
            (c.name, name_key, persons.c.name_key),
            (c.address, address_key, persons.c.address_key),
        ):
            k = keyfn(value) if value else ""
            if k:
                lo, hi = prefix_bounds(k)
                conds.append(col >= lo)
                if hi is not None:
                    conds.append(col < hi)
        if c.birth_date is not None:
            conds.append(persons.c.birth_date == c.birth_date)
        if c.person_id:
            conds.append(persons.c.person_id == c.person_id)
        if c.household_id:
            conds.append(persons.c.household_id == c.household_id)
        if c.individual_number:
            conds.append(persons.c.number_index == self._ctx.keyring.blind_index(c.individual_number))
        if not conds:
            raise InvalidInput.one(
                "",
                "REG-SEARCH-EMPTY",
                "検索条件を1つ以上指定してください (カナ氏名、氏名、生年月日、住所、宛名番号、世帯番号、個人番号)。",
                "Give at least one search criterion (kana, name, birth date, address, person id, "
                "household id, individual number).",
            )
        if c.sex:
            conds.append(persons.c.sex == Sex(c.sex).value)
        if c.include_removed:
            # 除票 past retention are out of normal work until the yearly purge deletes them (REG-R5)
            cutoff = years_before(jst_date(self._ctx.clock()), REGISTER_RETENTION_YEARS)
            pv = person_versions.c
            within_retention = sa.exists().where(pv.person_id == persons.c.person_id,
                                                 pv.version_no == persons.c.version_no, pv.valid_from > cutoff)
            conds.append(sa.or_(persons.c.status == Status.RESIDENT.value,
                                sa.and_(persons.c.status == Status.REMOVED.value, within_retention)))
        else:
            conds.append(persons.c.status == Status.RESIDENT.value)
        q = (
            sa.select(
                persons.c.person_id,
                persons.c.household_id,
                persons.c.name,
                persons.c.name_kana,
                persons.c.birth_date,
                persons.c.sex,
                persons.c.address_text,
                persons.c.status,
            )
            .where(*conds)
            .order_by(persons.c.kana_key, persons.c.birth_date, persons.c.person_id)
            .limit(c.limit)
        )
        return [
            SearchHit(
                person_id=r.person_id,
                household_id=r.household_id,
                name=r.name,
                name_kana=r.name_kana,
                birth_date=r.birth_date,
                sex=Sex(r.sex),
                address_text=r.address_text,
                status=Status(r.status),
            )
            for r in self._conn.execute(q)
        ]

    def counts(self) -> Counts:
        by_status: dict[str, int] = dict(
            self._conn.execute(sa.select(persons.c.status, sa.func.count()).group_by(persons.c.status)).all()
        )
        n_households = self._conn.execute(
            sa.select(sa.func.count()).select_from(households).where(households.c.member_count > 0)
        ).scalar_one()
        return Counts(
            residents=int(by_status.get(Status.RESIDENT.value, 0)),
            households=int(n_households),
            removed=int(by_status.get(Status.REMOVED.value, 0)),
        )

    # -- requests -----------------------------------------------------------------------------------

    def _requests_query(self) -> sa.Select[Any]:
        d = change_decisions
        return sa.select(
            change_requests,
            d.c.decision_id,
            d.c.decision,
            d.c.decided_by,
            d.c.terminal.label("d_terminal"),
            d.c.reason,
            d.c.decided_at,
            d.c.event_seq,
        ).outerjoin(d, d.c.request_id == change_requests.c.request_id)

    @staticmethod
    def _request(r: Any) -> RequestRow:
        decision = (
            DecisionRow(
                decision_id=r.decision_id,
                request_id=r.request_id,
                decision=r.decision,
                decided_by=r.decided_by,
                terminal=r.d_terminal,
                reason=r.reason,
                decided_at=r.decided_at,
                event_seq=r.event_seq,
            )
            if r.decision_id is not None
            else None
        )
        try:
            kind: str = ChangeKind(r.kind)
        except ValueError:
            kind = r.kind
        return RequestRow(
            request_id=r.request_id,
            kind=kind,
            payload=r.payload,
            origin=Origin(r.origin),
            legal_basis=r.legal_basis,
            effective_date=r.effective_date,
            notified_date=r.notified_date,
            entered_by=r.entered_by,
            terminal=r.terminal,
            case_ref=r.case_ref,
            agent=r.agent,
            entered_at=r.entered_at,
            household_ids=list(r.household_ids),
            expected_versions={k: int(v) for k, v in r.expected_versions.items()},
            summary=r.summary,
            idempotency_key=r.idempotency_key,
            decision=decision,
        )

    def request(self, request_id: int) -> RequestRow | None:
        row = self._conn.execute(
            self._requests_query().where(change_requests.c.request_id == request_id)
        ).first()
        return self._request(row) if row else None

    def request_by_idempotency_key(self, key: str) -> RequestRow | None:
        row = self._conn.execute(
            self._requests_query().where(change_requests.c.idempotency_key == key)
        ).first()
        return self._request(row) if row else None

    def requests_received(self, first: dt.date, last: dt.date, limit: int = 500) -> list[RequestRow]:
        """Requests whose 届出日 (受付日) is in ``first``..``last``, decided or not, newest first (CTR-4)."""
        rows = self._conn.execute(
            self._requests_query()
            .where(change_requests.c.notified_date >= first, change_requests.c.notified_date <= last)
            .order_by(change_requests.c.request_id.desc())
            .limit(limit)
        )
        return [self._request(r) for r in rows]

    def pending_requests(self, limit: int = 100) -> list[RequestRow]:
        """Requests without a decision, oldest first."""
        rows = self._conn.execute(
            self._requests_query()
            .where(change_decisions.c.decision_id.is_(None))
            .order_by(change_requests.c.request_id)
            .limit(limit)
        )
        return [self._request(r) for r in rows]


# ---------------------------------------------------------------------------------------------------
# Writes


class Tx(Reads):
    """One write transaction (see :meth:`Store.transaction`)."""

    def allocate_ids(self, name: str, n: int) -> list[str]:
        """``n`` new 10-digit ids from counter ``name`` ('person' → 宛名番号, 'household' → 世帯番号)."""
        if n <= 0:
            return []
        row = self._conn.execute(
            sa.update(id_counters)
            .where(id_counters.c.name == name)
            .values(next_value=id_counters.c.next_value + n)
            .returning(id_counters.c.next_value)
        ).first()
        if row is None:
            raise NotFound.one(
                "name", "ID-COUNTER", f"採番の種類 {name} はありません。", f"No id counter {name!r}."
            )
        end = int(row.next_value)
        if end - 1 > 9_999_999_999:
            raise RuleViolation.one(
                "name",
                "ID-COUNTER",
                f"{name} の番号が10桁を超えました。",
                f"The {name} id counter overflowed 10 digits.",
            )
        return [f"{v:010d}" for v in range(end - n, end)]

    # -- request workflow ---------------------------------------------------------------------------

    def add_request(
        self,
        *,
        kind: ChangeKind | str,
        payload: dict[str, Any],
        provenance: Provenance,
        household_ids: list[str],
        expected_versions: dict[str, int],
        summary: str,
        idempotency_key: str | None,
    ) -> int:
        """Record a change request (申請, pending until decided); returns its request_id.

        A repeated ``idempotency_key`` raises :class:`DuplicateRequest` (a Conflict) naming the earlier
        request; callers that want to treat a retry as success check :meth:`request_by_idempotency_key`
        first or catch it.
        """
        values = dict(
            kind=str(kind),
            payload=payload,
            origin=provenance.origin.value,
            legal_basis=provenance.legal_basis,
            effective_date=provenance.effective_date,
            notified_date=provenance.notified_date,
            entered_by=provenance.entered_by,
            terminal=provenance.terminal,
            case_ref=provenance.case_ref,
            agent=provenance.agent,
            entered_at=self._ctx.clock(),
            household_ids=list(household_ids),
            expected_versions={k: int(v) for k, v in expected_versions.items()},
            summary=summary,
            idempotency_key=idempotency_key,
        )
        if idempotency_key is None:
            return _inserted_id(self._conn.execute(change_requests.insert(), values))
        existing = self.request_by_idempotency_key(idempotency_key)
        if existing is not None:
            raise DuplicateRequest(existing.request_id, idempotency_key)
        try:
            # a savepoint, so that after a concurrent duplicate the transaction can still look it up
            with self._conn.begin_nested():
                res = self._conn.execute(change_requests.insert(), values)
        except sa.exc.IntegrityError:
            existing = self.request_by_idempotency_key(idempotency_key)
            if existing is not None:
                raise DuplicateRequest(existing.request_id, idempotency_key) from None
            raise
        return _inserted_id(res)

    def add_decision(
        self,
        *,
        request_id: int,
        decision: str,
        decided_by: str,
        terminal: str,
        reason: str = "",
        event_seq: int | None = None,
    ) -> None:
        """Record the one final decision on a request; a second decision raises Conflict."""
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, not {decision!r}")
        req = self.request(request_id)
        if req is None:
            raise NotFound.one(
                "request_id", "REG-R3", f"申請 {request_id} はありません。", f"No request {request_id}."
            )
        if req.decision is not None:
            raise _already_decided(request_id, req.decision.decision)
        try:  # a concurrent decision loses on UNIQUE(request_id); the whole transaction then rolls back
            self._conn.execute(
                change_decisions.insert(),
                dict(
                    request_id=request_id,
                    decision=decision,
                    decided_by=decided_by,
                    terminal=terminal,
                    reason=reason,
                    decided_at=self._ctx.clock(),
                    event_seq=event_seq,
                ),
            )
        except sa.exc.IntegrityError:
            raise _already_decided(request_id, "?") from None

    # -- applying an approved change ----------------------------------------------------------------

    def apply(
        self,
        outcome: Outcome,
        provenance: Provenance,
        *,
        approved_by: str,
        request_id: int | None,
        expected_versions: dict[str, int],
    ) -> int:
        """Record one approved change: the event, every new person/household version, the current
        projections and one outbox row.  Returns the event's ``seq`` (更新順番号).

        Each existing household is updated only if its ``row_version`` is still the expected one:
        ``expected_versions[id]`` (what the clerk saw at submission), else the version
        :meth:`households` read in this transaction.  A household that exists but is in neither (the
        caller took it for new) and a household in ``expected_versions`` that does not exist are
        conflicts too.  A conflict raises :class:`~juki.domain.errors.Conflict` (REG-CONCURRENCY) and,
        since the exception leaves the ``with store.transaction()`` block, nothing is written.
        Persons are guarded likewise by their ``version_no``: the one :meth:`persons` first read in this
        transaction (the state the change was computed from), else the current one.  Without that, on
        PostgreSQL's READ COMMITTED a change computed from a stale read would overwrite a person another
        transaction had just updated (a lost update).
        """
        now = self._ctx.clock()
        conn = self._conn
        seq = _inserted_id(
            conn.execute(
                events.insert(),
                event_row(provenance, kind=outcome.kind, request_id=request_id, approved_by=approved_by,
                          recorded_at=now, summary=outcome.summary_ja, details=dict(outcome.details),
                          late=outcome.late, corrects_seq=outcome.corrects_event, cancels_seq=outcome.cancels_event),
            )
        )

        household_version_rows: list[dict[str, Any]] = []
        person_version_rows: list[dict[str, Any]] = []
        # households: optimistic concurrency on row_version
        hids = [h.household_id for h in outcome.households]
        current_h = {
            r.household_id: r.row_version
            for chunk in _chunks(hids)
            for r in conn.execute(
                sa.select(households.c.household_id, households.c.row_version).where(
                    households.c.household_id.in_(chunk)
                )
            )
        }
        for h in outcome.households:
            hid = h.household_id
            snap = household_to_json(h)
            cols = dict(
                head_id=h.head_id, member_count=len(h.member_ids), address_text=h.address.text, snapshot=snap
            )
            if hid in current_h:
                if hid in expected_versions:
                    expected = int(expected_versions[hid])
                elif hid in self._ctx.seen_versions:
                    expected = self._ctx.seen_versions[hid]
                else:  # the caller thought it new (never saw it): an id collision or a concurrent insert
                    raise concurrency_conflict(hid)
                res = conn.execute(
                    sa.update(households)
                    .where(households.c.household_id == hid, households.c.row_version == expected)
                    .values(row_version=households.c.row_version + 1, **cols)
                )
                if res.rowcount != 1:
                    raise concurrency_conflict(hid)
                version_no = expected + 1
                self._ctx.seen_versions[hid] = version_no  # a later apply in this transaction builds on it
            else:
                if expected_versions.get(hid):  # expected an existing household that is not there
                    raise concurrency_conflict(hid)
                try:
                    with conn.begin_nested():
                        conn.execute(households.insert().values(household_id=hid, row_version=1, **cols))
                except sa.exc.IntegrityError:
                    raise concurrency_conflict(hid) from None
                version_no = 1
            household_version_rows.append(
                dict(
                    household_id=hid,
                    version_no=version_no,
                    event_seq=seq,
                    valid_from=outcome.valid_from,
                    recorded_at=now,
                    snapshot=snap,
                )
            )

        # persons
        pids = [p.person_id for p in outcome.persons]
        self._check_juminhyo_codes(outcome.persons)
        current_p = {
            r.person_id: r.version_no
            for chunk in _chunks(pids)
            for r in conn.execute(
                sa.select(persons.c.person_id, persons.c.version_no).where(persons.c.person_id.in_(chunk))
            )
        }
        keyring = self._ctx.keyring
        for p in outcome.persons:
            pid = p.person_id
            snap = person_to_json(p)
            if p.individual_number:
                ct, kid = keyring.encrypt(p.individual_number, pid)
                nidx: str | None = keyring.blind_index(p.individual_number)
            else:
                ct, kid, nidx = None, None, None
            proj = dict(
                household_id=p.household_id,
                status=p.status.value,
                name=p.name,
                name_kana=p.name_kana,
                name_key=name_key(p.name),
                kana_key=kana_key(p.name_kana),
                birth_date=p.birth_date,
                sex=p.sex.value,
                address_text=p.address.text,
                address_key=address_key(p.address.text),
                juminhyo_code=p.juminhyo_code,
                number_index=nidx,
                snapshot=snap,
                number_ciphertext=ct,
                number_key_id=kid,
            )
            if pid in current_p:
                prev = self._ctx.seen_person_versions.get(pid, current_p[pid])
                res = conn.execute(
                    sa.update(persons)
                    .where(persons.c.person_id == pid, persons.c.version_no == prev)
                    .values(version_no=prev + 1, **proj)
                )
                if res.rowcount != 1:
                    raise person_conflict(pid)
                version_no = prev + 1
                self._ctx.seen_person_versions[pid] = version_no
            else:
                try:
                    with conn.begin_nested():
                        conn.execute(persons.insert().values(person_id=pid, version_no=1, **proj))
                except sa.exc.IntegrityError:
                    raise person_conflict(pid) from None
                version_no = 1
            person_version_rows.append(
                dict(
                    person_id=pid,
                    version_no=version_no,
                    event_seq=seq,
                    valid_from=outcome.valid_from,
                    recorded_at=now,
                    status=p.status.value,
                    snapshot=snap,
                    number_ciphertext=ct,
                    number_key_id=kid,
                    number_index=nidx,
                )
            )

        # the versions in one executemany each (one round trip on psycopg 3)
        if household_version_rows:
            conn.execute(household_versions.insert(), household_version_rows)
        if person_version_rows:
            conn.execute(person_versions.insert(), person_version_rows)
        conn.execute(
            outbox.insert(),
            dict(event_seq=seq, topic=OUTBOX_TOPIC, payload=outbox_payload(seq, outcome, provenance), created_at=now),
        )
        return seq

    def _check_juminhyo_codes(self, records: Sequence[PersonRecord]) -> None:
        """A 住民票コード may be held by one current resident only (clear error instead of an IntegrityError)."""
        resident = [p for p in records if p.status is Status.RESIDENT]
        if not resident:
            return
        codes = {p.juminhyo_code: p.person_id for p in resident}
        rows = self._conn.execute(
            sa.select(persons.c.person_id, persons.c.juminhyo_code).where(
                persons.c.juminhyo_code.in_(list(codes)), persons.c.status == Status.RESIDENT.value
            )
        )
        touched = {p.person_id for p in records}
        for r in rows:
            if r.person_id != codes[r.juminhyo_code] and r.person_id not in touched:
                raise RuleViolation.one(
                    "juminhyo_code",
                    "REG-R1-JUMINHYO-CODE",
                    f"住民票コード {r.juminhyo_code} は別の住民 ({r.person_id}) に記載されています。",
                    f"Juminhyo code {r.juminhyo_code} is already recorded for another resident ({r.person_id}).",
                )

    def reencrypt_all(self, batch_size: int = 1000) -> int:
        """Re-encrypt every 個人番号 in the current projection under the active key; returns the count.

        History rows (``person_versions``) are insert-only and keep their original key id: never
        delete an old key from the key file while the history uses it.
        """
        keyring = self._ctx.keyring
        active = keyring.active_key_id
        rows = self._conn.execute(
            sa.select(persons.c.person_id, persons.c.number_ciphertext, persons.c.number_key_id).where(
                persons.c.number_ciphertext.is_not(None), persons.c.number_key_id != active
            )
        ).all()
        for chunk in _chunks(rows, batch_size):
            params = []
            for r in chunk:
                number = keyring.decrypt(r.number_ciphertext, r.number_key_id, r.person_id)
                ct, kid = keyring.encrypt(number, r.person_id)
                params.append({"pid": r.person_id, "ct": ct, "kid": kid})
            self._conn.execute(
                sa.update(persons)
                .where(persons.c.person_id == sa.bindparam("pid"))
                .values(number_ciphertext=sa.bindparam("ct"), number_key_id=sa.bindparam("kid")),
                params,
            )
        return len(rows)


def _already_decided(request_id: int, decision: str) -> Conflict:
    return Conflict(
        Problem(
            "request_id",
            "REG-R3-DECIDED",
            f"申請 {request_id} は既に決裁されています ({decision})。",
            f"Request {request_id} has already been decided ({decision}).",
        )
    )


def outbox_payload(seq: int, outcome: Outcome, provenance: Provenance) -> dict[str, Any]:
    """What the relay sends on (住基ネット 本人確認情報 and 庁内連携): the event, 異動事由 and 異動年月日,
    and per touched person the 住基ネット items.  The 個人番号 itself is not in the outbox (only
    ``has_individual_number``); the relay reads it from the store for recipients entitled to it."""
    return {
        "event_seq": seq,
        "kind": outcome.kind.value,  # 異動事由
        "kind_ja": outcome.kind.ja,
        "effective_date": provenance.effective_date.isoformat(),  # 異動年月日
        "notified_date": provenance.notified_date.isoformat(),
        "valid_from": outcome.valid_from.isoformat(),
        "origin": provenance.origin.value,
        "late": outcome.late,
        "corrects_event": outcome.corrects_event,
        "cancels_event": outcome.cancels_event,
        "household_ids": [h.household_id for h in outcome.households],
        "new_individual_numbers": list(outcome.new_individual_numbers),
        "persons": [
            {
                "person_id": p.person_id,
                "household_id": p.household_id,
                "status": p.status.value,
                "juminhyo_code": p.juminhyo_code,  # 住民票コード
                "name": p.name,  # 氏名
                "name_kana": p.name_kana,
                "former_surname": p.former_surname,
                "birth_date": p.birth_date.isoformat(),  # 生年月日
                "sex": p.sex.value,  # 性別
                "address": p.address.text,  # 住所
                "lg_code": p.address.lg_code,
                "has_individual_number": bool(p.individual_number),  # 個人番号: read from the store
                "removal_reason": p.removal_reason.value if p.removal_reason else None,
                "removal_date": p.removal_date.isoformat() if p.removal_date else None,
            }
            for p in outcome.persons
        ],
    }


# ---------------------------------------------------------------------------------------------------
# The store


class Store:
    """The register's storage on one engine, with the key ring for the 個人番号."""

    def __init__(
        self, engine: Engine, keyring: Keyring, *, clock: Callable[[], dt.datetime] | None = None
    ) -> None:
        self.engine = engine
        self.keyring = keyring
        self._clock = clock or utcnow

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One write transaction: commit when the block ends, roll back on any exception."""
        with self.engine.connect() as conn, conn.begin():
            yield Tx(conn, _Ctx(self.keyring, self._clock))

    @contextmanager
    def read(self) -> Iterator[Reads]:
        """One read-only transaction (a consistent snapshot on SQLite; never takes the write lock)."""
        with self.engine.connect() as conn:
            read_only(conn)
            with conn.begin() as txn:
                yield Reads(conn, _Ctx(self.keyring, self._clock))
                txn.rollback()

    # convenience: each opens its own read transaction

    def person_current(self, person_id: str) -> PersonRecord | None:
        with self.read() as r:
            return r.person_current(person_id)

    def household_current(self, household_id: str) -> HouseholdRecord | None:
        with self.read() as r:
            return r.household_current(household_id)

    def person_as_of(
        self, person_id: str, date: dt.date, known_at: dt.datetime | None = None
    ) -> PersonRecord | None:
        """See :meth:`Reads.person_as_of` (greatest version_no among versions valid by ``date``)."""
        with self.read() as r:
            return r.person_as_of(person_id, date, known_at)

    def household_as_of(
        self, household_id: str, date: dt.date, known_at: dt.datetime | None = None
    ) -> HouseholdRecord | None:
        with self.read() as r:
            return r.household_as_of(household_id, date, known_at)

    def household_members(self, household_id: str) -> list[PersonRecord]:
        with self.read() as r:
            return r.household_members(household_id)

    def person_history(self, person_id: str) -> list[tuple[EventRow, PersonRecord]]:
        with self.read() as r:
            return r.person_history(person_id)

    def household_history(self, household_id: str) -> list[tuple[EventRow, HouseholdRecord]]:
        with self.read() as r:
            return r.household_history(household_id)

    def events_for_person(self, person_id: str) -> list[EventRow]:
        with self.read() as r:
            return r.events_for_person(person_id)

    def search(self, criteria: SearchCriteria) -> list[SearchHit]:
        with self.read() as r:
            return r.search(criteria)

    def counts(self) -> Counts:
        with self.read() as r:
            return r.counts()

    def request(self, request_id: int) -> RequestRow | None:
        with self.read() as r:
            return r.request(request_id)

    def pending_requests(self, limit: int = 100) -> list[RequestRow]:
        with self.read() as r:
            return r.pending_requests(limit)

    def next_id(self, name: str) -> int:
        with self.read() as r:
            return r.next_id(name)

    def reencrypt_all(self) -> int:
        """Re-encrypt the current projection's 個人番号 under the active key (after ``keyring.rotate()``)."""
        with self.transaction() as tx:
            return tx.reencrypt_all()
