"""送付先情報ファイル (NET-8): spooled at the municipality's CS, sent unedited to 機構's card management
system, deleted after provision, never backed up.

**Where it lives.**  The file is a database of its own (:class:`SendingSpool`, ``JUKI_SENDING_INFO_URL``;
by default a SQLite file ``sofusaki.db`` beside the node's database), not a table of the node's
database.  Backing up the node's database (``pg_dump`` of ``JUKI_DATABASE_URL``, or a copy of its SQLite
file) therefore never contains it, and the operations guide says not to back up the spool (NET-8,
SEC-6: 「送付先情報ファイルのバックアップは取得しない」).  Its schema is created by the spool itself: it is a
short-lived queue, not a register; losing it loses nothing that cannot be rebuilt from the register
(:meth:`SendingService.collect` makes records again for numbers whose 送付先情報 was never sent).

**Retention.**  Each record is deleted :data:`~juki.domain.sending.SENDING_INFO_KEEP_DAYS` days after it
was provided (configurable, ``JUKI_SENDING_INFO_KEEP_DAYS``; 0 deletes at once; under a year), by
:meth:`SendingService.purge`.  The 個人番号 in it is encrypted with the node's key ring.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from sqlalchemy.engine import Engine

from juki.adapters.db.engine import make_engine
from juki.adapters.db.schema import UTCDateTime
from juki.adapters.db.store import Store
from juki.adapters.keys import Keyring
from juki.api.common import json_body
from juki.clock import Clock, jst_date, utcnow
from juki.domain.changes import from_json
from juki.domain.errors import Forbidden, InvalidInput, JukiError, Problem
from juki.domain.identifiers import juminhyo_code_problem, lg_code_problem
from juki.domain.model import to_json
from juki.domain.sending import Office, SendingInfo, sending_info

from .deliveries import Report
from .node import Node, allow, peer_of
from .numbers import SYSTEM_ACTOR
from .pki import Tier
from .services import services
from .svc_tables import individual_number_requests as number_requests
from .svc_tables import number_notice_receipts

spool_metadata = sa.MetaData()

sending_spool = sa.Table(
    "sending_info_spool",
    spool_metadata,
    sa.Column("sending_ref", sa.String(32), primary_key=True),
    sa.Column("juminhyo_code", sa.String(11), nullable=False),
    sa.Column("payload_ciphertext", sa.LargeBinary(), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("sent_at", UTCDateTime(), nullable=True),
    sa.Column("delete_after", UTCDateTime(), nullable=True),
)


def default_spool_url(database_url: str) -> str:
    """``sofusaki.db`` beside a SQLite node database; for PostgreSQL nodes set ``JUKI_SENDING_INFO_URL``
    (a database of its own, left out of the backup plan) or accept the local SQLite default."""
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        from pathlib import Path

        return f"sqlite:///{Path(url.database).resolve().parent / 'sofusaki.db'}"
    return "sqlite:///./var/sofusaki.db"


class SendingSpool:
    """The 送付先情報ファイル: its own database, created on first use."""

    def __init__(self, url: str, keyring: Keyring) -> None:
        self.engine: Engine = make_engine(url)
        self.keyring = keyring
        spool_metadata.create_all(self.engine)

    def add(self, info: SendingInfo, *, now: dt.datetime) -> bool:
        """Spool one record (False when its 送付先管理番号 is spooled already)."""
        text = json.dumps(to_json(info), ensure_ascii=False)
        ct, kid = self.keyring.encrypt(text, f"sofusaki:{info.sending_ref}")
        with self.engine.begin() as conn:
            if conn.execute(sa.select(sending_spool.c.sending_ref)
                            .where(sending_spool.c.sending_ref == info.sending_ref)).first() is not None:
                return False
            conn.execute(sending_spool.insert().values(sending_ref=info.sending_ref, juminhyo_code=info.juminhyo_code,
                                                       payload_ciphertext=ct, key_id=kid, created_at=now))
        return True

    def unsent(self, limit: int = 100) -> list[SendingInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(sending_spool).where(sending_spool.c.sent_at.is_(None))
                                .order_by(sending_spool.c.created_at).limit(limit)).all()
        return [_info(json.loads(self.keyring.decrypt(r.payload_ciphertext, r.key_id, f"sofusaki:{r.sending_ref}")))
                for r in rows]

    def mark_sent(self, sending_ref: str, *, now: dt.datetime, keep: dt.timedelta) -> None:
        with self.engine.begin() as conn:
            conn.execute(sending_spool.update().where(sending_spool.c.sending_ref == sending_ref)
                         .values(sent_at=now, delete_after=now + keep))

    def purge(self, *, now: dt.datetime) -> int:
        with self.engine.begin() as conn:
            n = conn.execute(sending_spool.delete().where(sending_spool.c.delete_after <= now)).rowcount
        return int(n or 0)

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            unsent = conn.execute(sa.select(sa.func.count()).where(sending_spool.c.sent_at.is_(None))).scalar() or 0
            sent = conn.execute(sa.select(sa.func.count()).where(sending_spool.c.sent_at.is_not(None))).scalar() or 0
        return {"unsent": int(unsent), "sent_waiting_deletion": int(sent)}

    def close(self) -> None:
        self.engine.dispose()


def _info(data: dict[str, Any]) -> SendingInfo:
    result = from_json(SendingInfo, data, "sending_info")
    assert isinstance(result, SendingInfo)
    return result


def sending_info_from_json(data: dict[str, Any]) -> SendingInfo:
    return _info(data)


Sender = Callable[[dict[str, Any]], None]
"""Send one 送付先情報 (its JSON, 個人番号 included, over mutual TLS) to the card management system."""


class SendingService:
    """送付先情報 at the municipality: collected after each designation, sent, then deleted (NET-8)."""

    def __init__(self, store: Store, spool: SendingSpool, office: Office, *, clock: Clock = utcnow,
                 keep_days: int | None = None, audit: Any = None) -> None:
        self.store = store
        self.spool = spool
        self.office = office
        self.clock = clock
        self.keep = dt.timedelta(days=30 if keep_days is None else keep_days)
        if not dt.timedelta(0) <= self.keep < dt.timedelta(days=365):
            raise ValueError("送付先情報 is kept under one year after provision (NET-8)")
        self.audit = audit

    def collect(self) -> int:
        """Spool a 送付先情報 for every designated number not spooled yet (living residents only)."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(number_requests).where(number_requests.c.status == "designated",
                                                                number_requests.c.sending_spooled_at.is_(None))
                                .order_by(number_requests.c.id)).all()
        n = 0
        now = self.clock()
        for r in rows:
            person = self.store.person_current(r.person_id)
            if person is not None and person.is_resident and person.individual_number:
                info = sending_info(person, office=self.office, sending_ref=r.request_ref, processed_on=jst_date(now),
                                    operator=SYSTEM_ACTOR.user_id, terminal=SYSTEM_ACTOR.terminal)
                n += self.spool.add(info, now=now)
            with self.store.engine.begin() as conn:  # a deceased or removed person gets none, and is not asked again
                conn.execute(number_requests.update().where(number_requests.c.id == r.id).values(sending_spooled_at=now))
        return n

    def respool(self, request_refs: list[str]) -> int:
        """Make the 送付先情報 of these designations again at the next :meth:`collect` (after the spool was
        lost before they were sent; it is never backed up).  Returns how many were found."""
        with self.store.engine.begin() as conn:
            n = conn.execute(number_requests.update()
                             .where(number_requests.c.request_ref.in_(request_refs),
                                    number_requests.c.status == "designated")
                             .values(sending_spooled_at=None)).rowcount
        return int(n or 0)

    def send_due(self, send: Sender) -> Report:
        report = Report()
        for info in self.spool.unsent():
            try:
                send(to_json(info))
            except JukiError:  # refused: stays unsent, reported for an operator
                report.failed.append(info.sending_ref)
                continue
            except Exception:
                report.retry.append(info.sending_ref)
                continue
            now = self.clock()
            self.spool.mark_sent(info.sending_ref, now=now, keep=self.keep)
            report.done.append(info.sending_ref)
            if self.audit is not None:
                with self.store.engine.begin() as conn:
                    self.audit.record(conn, user_id=SYSTEM_ACTOR.user_id, terminal=SYSTEM_ACTOR.terminal,
                                      action="sending_info.send", subject_ids=[], detail={"sending_ref": info.sending_ref})
        return report

    def purge(self) -> int:
        """Delete records whose keeping period after provision has passed."""
        return self.spool.purge(now=self.clock())


class NoticeReceipts:
    """The card management system's receipt of 送付先情報 (at the national node): recorded without its
    content, idempotent by (municipality, 送付先管理番号)."""

    def __init__(self, engine: Engine, *, clock: Clock = utcnow, audit: Any = None) -> None:
        self.engine = engine
        self.clock = clock
        self.audit = audit

    def receive(self, data: dict[str, Any], *, caller_lg_code: str) -> bool:
        info = sending_info_from_json(data)
        problems = [p for p in (lg_code_problem(info.lg_code), juminhyo_code_problem(info.juminhyo_code)) if p]
        if problems:
            raise InvalidInput(problems)
        if info.lg_code != caller_lg_code:
            raise Forbidden(Problem("lg_code", "NET-8/caller", "他の市町村の送付先情報は受け付けません。",
                                    "Sending information is accepted only from its own municipality."))
        with self.engine.begin() as conn:
            seen = conn.execute(sa.select(number_notice_receipts.c.id).where(
                number_notice_receipts.c.lg_code == info.lg_code,
                number_notice_receipts.c.sending_ref == info.sending_ref)).first()
            if seen is not None:
                return False
            conn.execute(number_notice_receipts.insert().values(lg_code=info.lg_code, sending_ref=info.sending_ref,
                                                                juminhyo_code=info.juminhyo_code, received_at=self.clock()))
            if self.audit is not None:
                self.audit.record(conn, user_id=f"node:{caller_lg_code}", terminal="", action="sending_info.receive",
                                  subject_ids=[info.juminhyo_code], detail={"sending_ref": info.sending_ref})
        return True


# --- the node feature (juki.net.node.FEATURES) -----------------------------------------------------
# national: POST /net/v1/sending-info (送付先情報 from a municipality's CS); the municipality's sending
# runs in the "numbers" worker (right after each designation).

ROLES = frozenset({Tier.NATIONAL})
RULES = {"sending_info": allow(Tier.MUNICIPALITY)}


def router(node: Node) -> APIRouter:
    r = APIRouter(prefix="/net/v1", tags=["送付先情報"])

    @r.post("/sending-info", name="sending_info", summary="送付先情報の通知（個人番号カード管理システム）")
    async def sending_info_route(request: Request) -> dict[str, Any]:
        data = await json_body(request)
        new = await asyncio.to_thread(services(node).receipts.receive, data, caller_lg_code=peer_of(request).identity.code)
        return {"received": True, "new": new}

    return r
