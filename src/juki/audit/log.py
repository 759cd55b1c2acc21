"""The writer of the audit log (SEC-3): :class:`AuditLog.record` appends one hash-chained entry inside
the caller's transaction, and raises the real-time bulk-read alert.

Cost per entry (the write path must stay cheap): one locked read of ``audit_head``, one INSERT into
``audit_entries``, one multi-row INSERT into ``audit_subjects``, one UPDATE of ``audit_head``; for reads,
one indexed count on ``audit_subjects (user_id, at)`` (skipped while an alert for the user is already
open in the current window).

Serialisation: every appender locks the single ``audit_head`` row (``SELECT … FOR UPDATE`` on
PostgreSQL; on SQLite the write transaction already holds the database write lock, as juki's engine
begins writes with ``BEGIN IMMEDIATE``).  So seq is contiguous and the chain linear, whatever the
concurrency.  The lock is held until the caller commits: **record the audit entry as the last statement
of a change transaction**, so that audited transactions queue on it only briefly.  On SQLite never call
``record`` on a :func:`~juki.adapters.db.engine.read_only` connection.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from juki.adapters.db.bulk import write_rows
from juki.clock import utcnow
from juki.domain.errors import InvalidInput, Problem

from .chain import canonical_json, entry_hash, no_individual_number, subject_list
from .schema import audit_alerts, audit_head, audit_subjects

log = logging.getLogger("juki.audit")

ACTIONS: dict[str, str] = {
    "login": "ログイン",
    "logout": "ログアウト",
    "login.denied": "ログイン拒否",
    "session.timeout": "自動ログアウト",
    "person.read": "住民票の閲覧",
    "household.read": "世帯の閲覧",
    "history.read": "履歴の閲覧",
    "search": "検索",
    "change.submit": "異動の申請",
    "change.approve": "異動の承認",
    "change.return": "異動の差戻し",
    "change.reject": "異動の却下",
    "certificate.issue": "証明書の交付",
    "certificate.verify": "証明書の検証",
    "certificate.refuse": "証明書の交付拒否",
    "certificate.preview": "証明書の交付前確認",
    "certificate.log.read": "交付記録の閲覧",
    "card.issue": "カードの交付",
    "card.unlock": "カードのロック解除",
    "card.revoke": "カードの廃止",
    "kiosk.register": "キオスク端末の登録",
    "kiosk.revoke": "キオスク端末の廃止",
    "certificate.redisplay": "交付済みの証明書の再表示",
    "certificate.mail.record": "郵送請求の受付",
    "certificate.mail.read": "郵送請求の一覧の閲覧",
    "certificate.mail.return": "郵送請求の返戻",
    "certificate.copy.purge": "証明書の控えの削除（保存期間経過）",
    "kiosk.start": "コンビニ交付の開始",
    "kiosk.end": "コンビニ交付の終了",
    "kiosk.denied": "コンビニ交付の拒否",
    "seal.register": "印鑑登録",
    "seal.confirm": "印鑑登録の照会回答確認",
    "seal.abolish": "印鑑登録の廃止",
    "seal.read": "印鑑登録の閲覧",
    "export": "データの出力",
    "access.denied": "アクセス拒否",
    "access.grant": "権限の付与",
    "access.revoke": "権限の取消",
    "audit.verify": "監査ログの検証",
    "audit.purge.request": "監査ログ消去の申請",
    "audit.purge.approve": "監査ログ消去の承認",
    "audit.purge": "監査ログの消去",
    "audit.review": "監査画面の閲覧",
    "audit.access_log": "住民ごとのアクセス記録の閲覧",
    "access.request": "権限の申請",
    "screen.lock": "画面ロック",
    "screen.unlock": "画面ロックの解除",
    "terminal.enrol": "ブラウザの端末登録",
    "terminal.denied": "端末登録の拒否",
    "authenticator.enrol": "認証器の登録",
    "authenticator.denied": "認証器の登録拒否",
    "authenticator.revoke": "認証器の登録取消",
    "onestop.receive": "オンライン申請の受付",
    "onestop.read": "オンライン申請の閲覧",
    "onestop.process": "オンライン申請の処理",
    "onestop.withdrawn": "オンライン申請の取下げ",
    "onestop.refused": "オンライン申請の不受理",
    "reception.open": "総合受付の開始",
    "reception.read": "総合受付の閲覧",
    "reception.update": "総合受付の手続状況の更新",
    "reception.close": "総合受付の終了",
    "reception.guidance": "案内文書の印刷",
    "inquiry.read": "総合照会",
}
"""Known actions and their Japanese names.  Other dotted lower-case names are accepted (the lead and the
access layer may add some); these are the ones the reports translate."""

READ_ACTIONS: frozenset[str] = frozenset({"person.read", "household.read", "history.read", "search", "export",
                                          "certificate.issue", "certificate.preview", "certificate.log.read",
                                          "certificate.redisplay", "certificate.mail.record", "certificate.mail.read",
                                          "seal.read", "reception.read", "reception.guidance", "inquiry.read"})
"""Actions whose subjects count as *read* persons for the bulk-read alert (a certificate discloses its
subjects as much as a screen does)."""

OUTCOMES = ("allowed", "denied")


@dataclass(frozen=True)
class AuditPolicy:
    """Thresholds of the real-time alert: more than ``bulk_read_persons`` distinct persons read by one
    user within ``bulk_read_minutes`` minutes.  From the environment: ``JUKI_AUDIT_BULK_READ_PERSONS``
    (default 200) and ``JUKI_AUDIT_BULK_READ_MINUTES`` (default 10)."""

    bulk_read_persons: int = 200
    bulk_read_minutes: int = 10
    enabled: bool = True

    @classmethod
    def from_env(cls) -> AuditPolicy:
        return cls(
            bulk_read_persons=int(os.environ.get("JUKI_AUDIT_BULK_READ_PERSONS", "200")),
            bulk_read_minutes=int(os.environ.get("JUKI_AUDIT_BULK_READ_MINUTES", "10")),
        )

    @property
    def window(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.bulk_read_minutes)


def _invalid(field: str, ja: str, en: str) -> InvalidInput:
    return InvalidInput(Problem(field, "SEC-3", ja, en))


_ENTRY_COLUMNS = ("seq", "at", "user_id", "terminal", "session_id", "action", "outcome", "subject_ids", "detail",
                  "prev_hash", "hash")
_SUBJECT_COLUMNS = ("seq", "person_id", "user_id", "at", "is_read")


@dataclass(frozen=True)
class Prepared:
    """One checked entry in its stored form, waiting for its seq and hash."""

    user_id: str
    terminal: str
    session_id: str | None
    action: str
    outcome: str
    subjects: tuple[str, ...]
    subjects_text: str
    detail_text: str
    at: dt.datetime


class AuditLog:
    """Appends entries.  ``clock`` (UTC) and ``policy`` are injectable for tests.

    ``on_alert`` (optional) is called with the alert row as a dict after it is inserted (still inside
    the caller's transaction), e.g. to notify an operator console."""

    def __init__(
        self,
        policy: AuditPolicy | None = None,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        on_alert: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.policy = policy or AuditPolicy()
        self.clock = clock or utcnow
        self.on_alert = on_alert

    def prepare(
        self,
        *,
        user_id: str,
        terminal: str,
        action: str,
        outcome: str = "allowed",
        subject_ids: Iterable[str] = (),
        detail: dict[str, Any] | None = None,
        session_id: str | None = None,
        at: dt.datetime | None = None,
    ) -> Prepared:
        """Check one entry and put it in its stored form, stamped with the time now (or ``at``).

        Refuses (InvalidInput) an empty user or action, an unknown outcome, and any 個人番号 in
        ``detail`` or ``subject_ids``.  Nothing is written then."""
        if not user_id:
            raise _invalid("user_id", "利用者が指定されていません。", "The user is missing.")
        if not action or action != action.strip().lower() or " " in action:
            raise _invalid("action", f"操作名 {action!r} が不正です。", f"Invalid action name {action!r}.")
        if outcome not in OUTCOMES:
            raise _invalid("outcome", f"結果 {outcome!r} は allowed か denied です。",
                           f"Outcome {outcome!r} must be allowed or denied.")
        subjects = subject_list(subject_ids)
        detail = dict(detail or {})
        no_individual_number(detail, "detail")
        no_individual_number(subjects, "subject_ids")
        return Prepared(user_id=user_id, terminal=terminal or "", session_id=session_id, action=action,
                        outcome=outcome, subjects=tuple(subjects), subjects_text=canonical_json(subjects),
                        detail_text=canonical_json(detail), at=(at or self.clock()).astimezone(dt.UTC))

    def record(self, conn: Connection, **fields: Any) -> int:
        """Append one entry (see :meth:`prepare` for the fields) in ``conn``'s write transaction and
        return its seq."""
        return self.record_many(conn, [self.prepare(**fields)])[0]

    def record_many(self, conn: Connection, entries: Sequence[Prepared]) -> list[int]:
        """Append prepared entries, in order, in ``conn``'s write transaction; return their seqs.

        The head row is locked once, the chain computed in order, entries and subjects written with one
        executemany each, the head moved once, and the bulk-read alert checked once per reading user."""
        if not entries:
            return []
        head_row = conn.execute(
            sa.select(audit_head.c.last_seq, audit_head.c.last_hash)
            .where(audit_head.c.id == 1)
            .with_for_update()
        ).one()
        seq, prev = int(head_row.last_seq), str(head_row.last_hash)
        first = seq + 1
        rows: list[tuple[Any, ...]] = []
        subject_rows: list[tuple[Any, ...]] = []
        readers: dict[str, tuple[int, dt.datetime]] = {}
        for e in entries:
            seq += 1
            digest = entry_hash(prev, seq=seq, at=e.at, user_id=e.user_id, terminal=e.terminal,
                                session_id=e.session_id, action=e.action, outcome=e.outcome,
                                subject_ids=e.subjects_text, detail=e.detail_text)
            rows.append((seq, e.at, e.user_id, e.terminal, e.session_id, e.action, e.outcome, e.subjects_text,
                         e.detail_text, prev, digest))
            is_read = e.action in READ_ACTIONS and e.outcome == "allowed"
            subject_rows.extend((seq, pid, e.user_id, e.at, is_read) for pid in e.subjects)
            if is_read and e.subjects:
                readers[e.user_id] = (seq, e.at)
            prev = digest
        # the project's bulk writer (COPY on PostgreSQL): SQLAlchemy's per-row parameter handling
        # otherwise dominates the cost of auditing a search with its 50 subjects
        write_rows(conn, "audit_entries", _ENTRY_COLUMNS, rows)
        write_rows(conn, "audit_subjects", _SUBJECT_COLUMNS, subject_rows)
        moved = conn.execute(
            audit_head.update()
            .where(audit_head.c.id == 1, audit_head.c.last_seq == head_row.last_seq)
            .values(last_seq=seq, last_hash=prev)
        )
        if moved.rowcount != 1:  # pragma: no cover - the row lock makes this impossible
            raise RuntimeError("audit head moved under the lock")
        if self.policy.enabled:
            for user_id, (last_seq, at) in readers.items():
                self._bulk_read_check(conn, user_id=user_id, seq=last_seq, at=at)
        return list(range(first, seq + 1))

    def record_now(self, engine: Engine, **fields: Any) -> int:
        """:meth:`record` in a short transaction of its own (for reads and denials, which write nothing
        else).  Returns the seq once committed."""
        with engine.begin() as conn:
            return self.record(conn, **fields)

    # -- real-time alert ---------------------------------------------------------------------------

    def _bulk_read_check(self, conn: Connection, *, user_id: str, seq: int, at: dt.datetime) -> None:
        since = at - self.policy.window
        already = conn.execute(
            sa.select(audit_alerts.c.alert_id)
            .where(audit_alerts.c.user_id == user_id, audit_alerts.c.kind == "bulk_read",
                   audit_alerts.c.at > since, audit_alerts.c.at <= at)
            .limit(1)
        ).first()
        if already is not None:
            return  # one alert per window crossing
        limit = self.policy.bulk_read_persons
        distinct = (
            sa.select(audit_subjects.c.person_id)
            .where(audit_subjects.c.user_id == user_id, audit_subjects.c.at > since,
                   audit_subjects.c.at <= at, audit_subjects.c.is_read.is_(True))
            .distinct()
            .limit(limit + 1)
            .subquery()
        )
        count = int(conn.execute(sa.select(sa.func.count()).select_from(distinct)).scalar_one())
        if count <= limit:
            return
        message = (
            f"大量閲覧の警告: 利用者 {user_id} が {self.policy.bulk_read_minutes} 分間に {limit} 人を超える住民を閲覧しました"
            f" / bulk read alert: user {user_id} read more than {limit} persons within"
            f" {self.policy.bulk_read_minutes} minutes"
        )
        row = {
            "at": at,
            "kind": "bulk_read",
            "user_id": user_id,
            "seq": seq,
            "window_start": since,
            "count": count,
            "threshold": limit,
            "message": message,
        }
        conn.execute(audit_alerts.insert().values(**row))
        log.warning(message + " (seq %d)", seq)
        if self.on_alert is not None:
            self.on_alert(row)


def head(conn_or_engine: Connection | Engine) -> tuple[int, str]:
    """(last seq, last hash) as the head row says."""
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.connect() as conn:
            return head(conn)
    row = conn_or_engine.execute(sa.select(audit_head.c.last_seq, audit_head.c.last_hash)).one()
    return int(row.last_seq), str(row.last_hash)
