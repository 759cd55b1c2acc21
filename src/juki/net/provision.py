"""The prefecture's own work (PRF-5..PRF-8): provision and transfer of 本人確認情報 for configured 別表
uses, the provision log kept 7 years, 開示, 訂正等の申出, and the 附票 with its temporary 個人番号 path.

:class:`ProvisionService` runs at the prefecture node over its files (the 本人確認情報 file and the
附票本人確認情報 file the stream keeps, reached through a :class:`FileLookup`):

* **uses** -- :meth:`~ProvisionService.load_uses` stores a configuration of 別表 uses (law as data,
  :class:`juki.domain.provision.ProvisionUse`); the newest one applies;
* **single requests** -- :meth:`~ProvisionService.provide`: a recipient (an organ or department) asks
  for one use by 住民票コード, 個人番号 or 4情報; refused unless the use is configured, in force, theirs,
  and the query names enough (NET-4's minimum); only the use's items leave;
* **batch files** (一括提供) -- :meth:`~ProvisionService.provide_batch`: a conditions file in, a result file
  out; a media output only from a designated terminal, and an output over
  :data:`~juki.domain.provision.LARGE_OUTPUT_ROWS` rows only with a prior approval by someone other than
  who asked for it;
* **the log** (PRF-6) -- every provision, transfer, 開示 and refusal is a ``provision_log`` row with its
  subjects, kept 7 years; :meth:`~ProvisionService.purge_log` removes only older rows and refuses any
  cutoff inside the retention period (the database enforces the same);
* **開示** (PRF-7, 住基法30条の32) -- :meth:`~ProvisionService.disclose`: the person's record and the record
  of to whom it was provided, as a document printed to PDF; 訂正等の申出 (30条の35) are recorded and closed
  with the result of the investigation;
* **附票** (PRF-8) -- a 附票 provision carries no 個人番号, except for a 番号法 use about a person abroad:
  then the number is taken from the 本人確認情報 file, kept encrypted in a separate temporary area
  (``fuhyo_number_temp``) for re-delivery only, and deleted by :meth:`~ProvisionService.purge_temporary_numbers`.
"""

from __future__ import annotations

import datetime as dt
import html
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from juki.adapters.keys import Keyring
from juki.clock import JST, Clock, jst_date, utcnow
from juki.domain import provision as pv
from juki.domain.errors import Forbidden, InvalidInput, JukiError, NotFound, Problem, RuleViolation
from juki.domain.identity import FuhyoUpdate, IdentityUpdate, RecordFile
from juki.domain.identity_search import IdentityQuery
from juki.services.changes import Actor

from .node import Node
from .search import matching
from .svc_tables import (
    correction_requests,
    fuhyo_number_temp,
    provision_approvals,
    provision_log,
    provision_log_subjects,
    provision_purge_active,
    provision_use_sets,
)

IDENTITY = "identity"
FUHYO = "fuhyo"
SINGLE_LIMIT = 20
"""At most this many persons answer one single request (more: refine the query)."""


class FileLookup(Protocol):
    """The prefecture's files as the provision reads them."""

    def find(self, query: IdentityQuery, *, file: str, limit: int) -> list[dict[str, Any]]:
        """Records matching ``query`` in ``file`` (``identity`` or ``fuhyo``): the items of
        :data:`juki.domain.provision.ITEMS` / ``FUHYO_ITEMS`` as JSON values, ``state``, and for the 附票
        ``abroad`` (a 国外転出者)."""
        ...

    def number_of(self, juminhyo_code: str) -> str | None:
        """The 個人番号 of ``juminhyo_code`` in the 本人確認情報 file."""
        ...


@dataclass(frozen=True)
class Provided:
    """The answer to one request: the records as the use may see them, and the log entry's id."""

    log_id: int
    outcome: str
    records: list[dict[str, Any]]


@dataclass
class BatchResult:
    batch_ref: str
    text: str  # the result file (CSV)
    lines: int = 0
    found: int = 0
    rows: int = 0
    counts: dict[str, int] = field(default_factory=dict)


class ProvisionService:
    def __init__(self, engine: Engine, files: FileLookup, keyring: Keyring, *, clock: Clock = utcnow, audit: Any = None,
                 media_terminals: Iterable[str] = ()) -> None:
        self.engine = engine
        self.files = files
        self.keyring = keyring
        self.clock = clock
        self.audit = audit
        self.media_terminals = frozenset(media_terminals)

    def today(self) -> dt.date:
        return jst_date(self.clock())

    def _audit(self, conn: Connection, actor: Actor, action: str, subjects: Sequence[str], detail: dict[str, Any],
               outcome: str = "allowed") -> None:
        if self.audit is not None:
            self.audit.record(conn, user_id=actor.user_id, terminal=actor.terminal, session_id=actor.session_id,
                              action=action, outcome=outcome, subject_ids=list(subjects), detail=detail)

    # --- uses ------------------------------------------------------------------------------------

    def load_uses(self, data: Any, *, actor: Actor) -> list[pv.ProvisionUse]:
        """Store a new configuration of 別表 uses (checked whole; nothing stored when any use is wrong)."""
        uses = pv.uses_from_json(data)
        with self.engine.begin() as conn:
            conn.execute(provision_use_sets.insert().values(loaded_at=self.clock(), loaded_by=actor.user_id,
                                                            definition=data))
            self._audit(conn, actor, "provision.uses.load", [], {"uses": [u.code for u in uses]})
        return uses

    def uses(self) -> dict[str, pv.ProvisionUse]:
        with self.engine.connect() as conn:
            data = conn.execute(sa.select(provision_use_sets.c.definition)
                                .order_by(provision_use_sets.c.id.desc()).limit(1)).scalar()
        return {u.code: u for u in pv.uses_from_json(data)} if data is not None else {}

    # --- the log ---------------------------------------------------------------------------------

    def _log(self, conn: Connection, actor: Actor, *, recipient: str, use_code: str, channel: str, mode: str,
             query_key: str, outcome: str, subjects: Sequence[str] = (), items: Sequence[str] = (),
             number_included: bool = False, media: str = "screen", rule: str | None = None,
             batch_ref: str | None = None, line: str | None = None) -> int:
        now = self.clock()
        inserted = conn.execute(provision_log.insert().values(
            at=now, operator=actor.user_id, terminal=actor.terminal, recipient=recipient, use_code=use_code,
            channel=channel, mode=mode, batch_ref=batch_ref, line=line, query_key=query_key, outcome=outcome, rule=rule,
            subjects=list(subjects), items=list(items), number_included=number_included, media=media,
        )).inserted_primary_key
        assert inserted is not None
        log_id = int(inserted[0])
        if subjects:
            conn.execute(provision_log_subjects.insert(),
                         [{"log_id": log_id, "juminhyo_code": c, "at": now} for c in dict.fromkeys(subjects)])
        return log_id

    def _refuse(self, actor: Actor, error: JukiError, *, recipient: str, use_code: str, mode: str, query_key: str,
                media: str = "screen", batch_ref: str | None = None) -> None:
        """Log a refusal (PRF-6: refused attempts are kept too) in a transaction of its own, then raise."""
        rule = error.problems[0].rule
        with self.engine.begin() as conn:
            self._log(conn, actor, recipient=recipient, use_code=use_code, channel="refused", mode=mode,
                      query_key=query_key, outcome="refused", rule=rule, media=media, batch_ref=batch_ref)
            self._audit(conn, actor, "provision.refuse", [], {"recipient": recipient, "use_code": use_code, "rule": rule},
                        outcome="denied")
        raise error

    # --- single requests -------------------------------------------------------------------------

    def provide(self, *, recipient: str, use_code: str, query: IdentityQuery, actor: Actor, fuhyo: bool = False,
                want_number: bool = False) -> Provided:
        """One request of an organ or department for one use (PRF-5)."""
        key = query.key.value
        try:
            use = pv.authorize(self.uses().get(use_code), use_code=use_code, recipient=recipient, on=self.today(),
                               want_number=want_number, fuhyo=fuhyo)
            query.check()
            if query.card_serial:
                raise InvalidInput(Problem("card_serial", "PRF-5/key", "提供の検索キーは住民票コード・個人番号・4情報です。",
                                           "Provision searches by resident record code, individual number or name etc."))
        except JukiError as e:
            self._refuse(actor, e, recipient=recipient, use_code=use_code, mode="fuhyo" if fuhyo else "single", query_key=key)
        found = self.files.find(query, file=FUHYO if fuhyo else IDENTITY, limit=SINGLE_LIMIT + 1)
        outcome = "not_found" if not found else "multiple" if len(found) > SINGLE_LIMIT else "provided"
        shown = [self._shape(r, use, fuhyo=fuhyo, want_number=want_number) for r in found] if outcome == "provided" else []
        codes = [r["juminhyo_code"] for r in shown]
        with self.engine.begin() as conn:
            log_id = self._log(conn, actor, recipient=recipient, use_code=use_code, channel=use.channel.value,
                               mode="fuhyo" if fuhyo else "single", query_key=key, outcome=outcome, subjects=codes,
                               items=_items(shown), number_included=any(r.get("individual_number") for r in shown))
            self._keep_temporary_numbers(conn, log_id, shown, fuhyo)
            self._audit(conn, actor, "provision.provide", codes, {"recipient": recipient, "use_code": use_code,
                                                                   "outcome": outcome, "log_id": log_id})
        return Provided(log_id, outcome, shown)

    def _shape(self, record: dict[str, Any], use: pv.ProvisionUse, *, fuhyo: bool, want_number: bool) -> dict[str, Any]:
        if fuhyo:
            data = dict(record)
            data["individual_number"] = None
            if want_number and use.number_use and record.get("abroad"):
                data["individual_number"] = self.files.number_of(record["juminhyo_code"])
            return pv.shape(data, use, fuhyo=True)
        shaped = pv.shape(record, use)
        if not want_number:
            shaped.pop("individual_number", None)
        return shaped

    def _keep_temporary_numbers(self, conn: Connection, log_id: int, shown: Sequence[dict[str, Any]], fuhyo: bool) -> None:
        """PRF-8: the 個人番号 given with 附票本人確認情報 goes to the separate temporary area only."""
        if not fuhyo:
            return
        now = self.clock()
        for r in shown:
            number = r.get("individual_number")
            if number:
                ct, kid = self.keyring.encrypt(number, f"fuhyo-temp:{log_id}:{r['juminhyo_code']}")
                conn.execute(fuhyo_number_temp.insert().values(
                    provision_log_id=log_id, juminhyo_code=r["juminhyo_code"], number_ciphertext=ct, key_id=kid,
                    created_at=now, delete_after=now + dt.timedelta(days=pv.FUHYO_NUMBER_KEEP_DAYS)))

    def purge_temporary_numbers(self) -> int:
        """Delete temporary 附票 個人番号 past their keeping period; returns how many."""
        with self.engine.begin() as conn:
            n = conn.execute(fuhyo_number_temp.delete().where(fuhyo_number_temp.c.delete_after <= self.clock())).rowcount
        return int(n or 0)

    # --- batch files ------------------------------------------------------------------------------

    def request_approval(self, *, recipient: str, use_code: str, max_rows: int, reason: str, actor: Actor) -> int:
        """Ask in advance for a large output (PRF-5); another person approves it."""
        if max_rows <= 0 or not reason.strip():
            raise InvalidInput(Problem("max_rows", "PRF-5/approval", "件数の上限と理由を指定してください。",
                                       "Give the maximum number of rows and the reason."))
        with self.engine.begin() as conn:
            inserted = conn.execute(provision_approvals.insert().values(
                recipient=recipient, use_code=use_code, max_rows=max_rows, reason=reason.strip(),
                requested_by=actor.user_id, requested_at=self.clock())).inserted_primary_key
            assert inserted is not None
            self._audit(conn, actor, "provision.approval.request", [], {"approval_id": int(inserted[0]),
                                                                       "max_rows": max_rows})
        return int(inserted[0])

    def approve(self, approval_id: int, *, actor: Actor) -> None:
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(provision_approvals).where(provision_approvals.c.id == approval_id)).first()
            if row is None:
                raise NotFound(Problem("approval_id", "PRF-5/approval", f"承認申請 {approval_id} はありません。",
                                       f"There is no approval request {approval_id}."))
            if row.requested_by == actor.user_id:
                raise Forbidden(Problem("approval_id", "PRF-5/four-eyes", "申請した本人は承認できません。",
                                        "Who asked cannot approve."))
            if row.approved_by is not None:
                raise RuleViolation(Problem("approval_id", "PRF-5/approval", "既に承認されています。", "Already approved."))
            conn.execute(provision_approvals.update().where(provision_approvals.c.id == approval_id)
                         .values(approved_by=actor.user_id, approved_at=self.clock()))
            self._audit(conn, actor, "provision.approval.approve", [], {"approval_id": approval_id})

    def provide_batch(self, *, recipient: str, use_code: str, conditions: str, actor: Actor,
                      approval_id: int | None = None) -> BatchResult:
        """一括提供: the result file for a conditions file (PRF-5), every line logged (PRF-6)."""
        batch_ref = f"B{self.clock().astimezone(JST):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
        try:
            if actor.terminal not in self.media_terminals:
                raise Forbidden(Problem("terminal", "PRF-5/media-terminal", "媒体への出力は指定された端末からだけできます。",
                                        "Media output is allowed only from designated terminals."))
            use = pv.authorize(self.uses().get(use_code), use_code=use_code, recipient=recipient, on=self.today())
            lines = pv.parse_conditions(conditions)
        except JukiError as e:
            self._refuse(actor, e, recipient=recipient, use_code=use_code, mode="batch", query_key="batch", media="file",
                         batch_ref=batch_ref)
        results: list[pv.ResultLine] = []
        for c in lines:
            if c.query is None:
                results.append(pv.ResultLine(c.line, "error", message=" / ".join(p.ja for p in c.problems)))
                continue
            if c.query.individual_number and "individual_number" not in use.items:
                results.append(pv.ResultLine(c.line, "refused", message="この用途では個人番号で検索できません。"))
                continue
            found = self.files.find(c.query, file=IDENTITY, limit=SINGLE_LIMIT + 1)
            if not found:
                results.append(pv.ResultLine(c.line, "not_found"))
            elif len(found) > SINGLE_LIMIT:
                results.append(pv.ResultLine(c.line, "multiple", message="条件に該当する人が多すぎます。"))
            else:
                results.append(pv.ResultLine(c.line, "found", tuple(pv.shape(r, use) for r in found),
                                             message="複数該当" if len(found) > 1 else ""))
        rows = sum(len(r.records) for r in results)
        if rows > pv.LARGE_OUTPUT_ROWS and not self._approved(approval_id, recipient, use_code, rows):
            self._refuse(actor, Forbidden(Problem("approval_id", "PRF-5/large-output",
                                                  f"{rows}件の出力には事前の承認が必要です（上限 {pv.LARGE_OUTPUT_ROWS}件）。",
                                                  f"An output of {rows} rows needs a prior approval (limit {pv.LARGE_OUTPUT_ROWS}).")),
                         recipient=recipient, use_code=use_code, mode="batch", query_key="batch", media="file",
                         batch_ref=batch_ref)
        with self.engine.begin() as conn:
            for r, c in zip(results, lines, strict=True):
                codes = [rec["juminhyo_code"] for rec in r.records]
                outcome = {"found": "provided", "not_found": "not_found", "multiple": "multiple", "error": "error",
                           "refused": "refused"}[r.status]
                self._log(conn, actor, recipient=recipient, use_code=use_code, channel=use.channel.value, mode="batch",
                          query_key=c.query.key.value if c.query else "invalid", outcome=outcome, subjects=codes,
                          items=list(use.items) if codes else [],
                          number_included="individual_number" in use.items and bool(codes), media="file",
                          batch_ref=batch_ref, line=r.line)
            if approval_id is not None and rows > pv.LARGE_OUTPUT_ROWS:
                conn.execute(provision_approvals.update().where(provision_approvals.c.id == approval_id)
                             .values(used_at=self.clock()))
            counts: dict[str, int] = {}
            for r in results:
                counts[r.status] = counts.get(r.status, 0) + 1
            self._audit(conn, actor, "export", [], {"batch_ref": batch_ref, "recipient": recipient, "use_code": use_code,
                                                    "lines": len(results), "rows": rows, "counts": counts})
        text = pv.render_results(results, list(use.items))
        return BatchResult(batch_ref, text, len(results), sum(r.status == "found" for r in results), rows, counts)

    def _approved(self, approval_id: int | None, recipient: str, use_code: str, rows: int) -> bool:
        if approval_id is None:
            return False
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(provision_approvals).where(provision_approvals.c.id == approval_id)).first()
        return (row is not None and row.approved_by is not None and row.used_at is None and row.recipient == recipient
                and row.use_code == use_code and row.max_rows >= rows)

    # --- retention (PRF-6) --------------------------------------------------------------------------

    def purge_log(self, *, actor: Actor, before: dt.datetime | None = None) -> int:
        """Delete log rows older than ``before`` (default: the retention cutoff, 7 years back).  A cutoff
        inside the retention period is refused, and nothing is deleted."""
        cutoff = pv.retention_cutoff(self.clock())
        before = before or cutoff
        if before > cutoff:
            raise RuleViolation(Problem("before", "PRF-6/retention",
                                        f"提供・移転の記録は7年間保存します（{cutoff.astimezone(JST):%Y-%m-%d %H:%M} より前のみ消去できます）。",
                                        f"Provision records are kept 7 years (only those before {cutoff.isoformat()} can go)."))
        with self.engine.begin() as conn:
            marker = conn.execute(provision_purge_active.insert().values(cutoff=before)).inserted_primary_key
            assert marker is not None
            conn.execute(provision_log_subjects.delete().where(provision_log_subjects.c.at < before))
            n = conn.execute(provision_log.delete().where(provision_log.c.at < before)).rowcount
            conn.execute(provision_purge_active.delete().where(provision_purge_active.c.id == marker[0]))
            self._audit(conn, actor, "provision.log.purge", [], {"before": before.isoformat(), "deleted": int(n or 0)})
        return int(n or 0)

    def log_entries(self, *, juminhyo_code: str | None = None, recipient: str | None = None,
                    limit: int = 1000) -> list[dict[str, Any]]:
        q = sa.select(provision_log).order_by(provision_log.c.id).limit(limit)
        if juminhyo_code:
            q = q.where(provision_log.c.id.in_(sa.select(provision_log_subjects.c.log_id)
                                               .where(provision_log_subjects.c.juminhyo_code == juminhyo_code)))
        if recipient:
            q = q.where(provision_log.c.recipient == recipient)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    # --- 開示 and 訂正等の申出 (PRF-7) ---------------------------------------------------------------

    def disclose(self, juminhyo_code: str, *, actor: Actor, identity_check: str) -> dict[str, Any]:
        """自己の本人確認情報の開示 (住基法30条の32): the person's record and to whom it was provided.

        ``identity_check`` records how the person was identified at the counter (e.g. 個人番号カード).
        The 開示 itself is logged (PRF-6)."""
        if not identity_check.strip():
            raise InvalidInput(Problem("identity_check", "PRF-7/identity", "本人確認の方法を記録してください。",
                                       "Record how the person was identified."))
        query = IdentityQuery(juminhyo_code=juminhyo_code).check()
        records = self.files.find(query, file=IDENTITY, limit=2)
        if not records:
            raise NotFound(Problem("juminhyo_code", "PRF-7/not-found", "この住民票コードの本人確認情報はありません。",
                                   "There is no identity record with this resident record code."))
        record = {k: records[0].get(k) for k in (*pv.ITEMS, "state")}
        provided = [
            {"at": e["at"].astimezone(JST).isoformat(timespec="seconds"), "recipient": e["recipient"],
             "use_code": e["use_code"], "channel": e["channel"], "outcome": e["outcome"], "items": e["items"]}
            for e in self.log_entries(juminhyo_code=juminhyo_code) if e["outcome"] == "provided"
            and e["channel"] != "disclosure"
        ]
        with self.engine.begin() as conn:
            log_id = self._log(conn, actor, recipient="本人", use_code="住基法第30条の32", channel="disclosure",
                               mode="disclosure", query_key="juminhyo_code", outcome="provided", subjects=[juminhyo_code],
                               items=list(pv.ITEMS), number_included=bool(record.get("individual_number")), media="paper")
            self._audit(conn, actor, "provision.disclose", [juminhyo_code], {"log_id": log_id,
                                                                            "identity_check": identity_check.strip()})
        return {"juminhyo_code": juminhyo_code, "record": record, "provided": provided,
                "issued_at": self.clock().astimezone(JST).isoformat(timespec="seconds"), "log_id": log_id}

    def record_correction(self, juminhyo_code: str, content: str, *, actor: Actor) -> int:
        """訂正等の申出 (住基法30条の35) after a 開示: recorded for investigation."""
        IdentityQuery(juminhyo_code=juminhyo_code).check()
        if not content.strip():
            raise InvalidInput(Problem("content", "PRF-7/correction", "申出の内容を入力してください。", "Give the request's content."))
        with self.engine.begin() as conn:
            inserted = conn.execute(correction_requests.insert().values(
                juminhyo_code=juminhyo_code, content=content.strip(), received_by=actor.user_id, received_at=self.clock(),
                status="received")).inserted_primary_key
            assert inserted is not None
            self._audit(conn, actor, "provision.correction.receive", [juminhyo_code], {"id": int(inserted[0])})
        return int(inserted[0])

    def close_correction(self, correction_id: int, *, corrected: bool, result: str, actor: Actor) -> None:
        """The investigation's outcome (corrected through the municipality, or no error found)."""
        if not result.strip():
            raise InvalidInput(Problem("result", "PRF-7/correction", "調査の結果を入力してください。", "Give the result."))
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(correction_requests).where(correction_requests.c.id == correction_id)).first()
            if row is None or row.status != "received":
                raise RuleViolation(Problem("correction_id", "PRF-7/correction", "未処理の申出ではありません。",
                                            "This is not an open request."))
            conn.execute(correction_requests.update().where(correction_requests.c.id == correction_id).values(
                status="corrected" if corrected else "no_error", result=result.strip(), closed_by=actor.user_id,
                closed_at=self.clock()))
            self._audit(conn, actor, "provision.correction.close", [row.juminhyo_code],
                        {"id": correction_id, "corrected": corrected})

    def corrections(self, juminhyo_code: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(correction_requests).order_by(correction_requests.c.id)
        if juminhyo_code:
            q = q.where(correction_requests.c.juminhyo_code == juminhyo_code)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]


def _items(shown: Sequence[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(k for r in shown for k, v in r.items() if v not in (None, "")))


# --- the 開示 document ------------------------------------------------------------------------

SEX_JA = {"1": "男", "2": "女"}


def disclosure_html(doc: dict[str, Any], *, prefecture: str) -> str:
    """The 開示 document (本人確認情報開示書) as HTML for printing."""
    r = doc["record"]
    e = html.escape

    def row(label: str, value: Any) -> str:
        return f"<tr><th>{e(label)}</th><td>{e('' if value is None else str(value))}</td></tr>"

    items = "".join(row(pv.ITEMS_JA[k], SEX_JA.get(r[k], r[k]) if k == "sex" else r[k]) for k in pv.ITEMS)
    provided = "".join(
        f"<tr><td>{e(p['at'])}</td><td>{e(p['recipient'])}</td><td>{e(p['use_code'])}</td>"
        f"<td>{e('、'.join(pv.ITEMS_JA.get(i, i) for i in p['items']))}</td></tr>" for p in doc["provided"]
    ) or "<tr><td colspan='4'>提供・移転の記録はありません。</td></tr>"
    return f"""<!doctype html><html lang="ja"><head><meta charset="utf-8"><style>
@page {{ size: A4; margin: 20mm; }}
body {{ font-family: "IPAmj明朝", serif; font-size: 10.5pt; }}
h1 {{ font-size: 16pt; text-align: center; }} h2 {{ font-size: 12pt; margin-top: 8mm; }}
table {{ border-collapse: collapse; width: 100%; }} th, td {{ border: 0.5pt solid #000; padding: 1.5mm 2mm; text-align: left; }}
th {{ width: 30%; background: #eee; }}
</style></head><body>
<h1>本人確認情報開示書</h1>
<p>住民基本台帳法第30条の32の規定により、あなたの本人確認情報及びその提供状況を開示します。</p>
<h2>本人確認情報</h2><table>{items}</table>
<h2>提供・移転の状況（保存期間7年）</h2>
<table><tr><th>日時</th><th>提供・移転先</th><th>用途</th><th>提供項目</th></tr>{provided}</table>
<p>開示日時 {e(doc['issued_at'])}　{e(prefecture)}知事</p>
<p>内容に誤りがあるときは、訂正、追加又は削除の申出ができます（住民基本台帳法第30条の35）。</p>
</body></html>"""


def disclosure_pdf(doc: dict[str, Any], *, prefecture: str) -> bytes:
    """The 開示 document printed to PDF (WeasyPrint, IPAmj明朝)."""
    from weasyprint import HTML  # type: ignore[import-untyped]

    pdf = HTML(string=disclosure_html(doc, prefecture=prefecture)).write_pdf()
    assert pdf is not None
    return bytes(pdf)


# --- the prefecture's files -------------------------------------------------------------------------


class NodeFiles:
    """:class:`FileLookup` over the prefecture node's files (``net_records``: 本人確認情報 and 附票)."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def find(self, query: IdentityQuery, *, file: str, limit: int) -> list[dict[str, Any]]:
        record_file = RecordFile(file)
        q = matching(query, record_file, self.node.keyring.blind_index, limit=limit)
        store = self.node.store
        with store.engine.connect() as conn:
            codes = [r.juminhyo_code for r in conn.execute(q)]
            stored = [store.current(conn, record_file, c) for c in codes]
        out: list[dict[str, Any]] = []
        for s in stored:
            if s is None:
                continue
            n = s.notice
            if isinstance(n, IdentityUpdate):
                out.append({"juminhyo_code": n.juminhyo_code, "name": n.name, "birth_date": n.birth_date.isoformat(),
                            "sex": n.sex, "address": n.address, "individual_number": n.individual_number,
                            "reason": n.reason.value, "change_date": n.change_date.isoformat(), "state": s.state})
            elif isinstance(n, FuhyoUpdate):
                out.append({"juminhyo_code": n.juminhyo_code, "name": n.name, "birth_date": n.birth_date.isoformat(),
                            "sex": n.sex, "address": n.address, "last_address": n.last_address,
                            "change_date": n.change_date.isoformat(), "state": s.state,
                            "abroad": not n.address_lg_code})
        return out

    def number_of(self, juminhyo_code: str) -> str | None:
        record = self.node.store.record_of(RecordFile.IDENTITY, juminhyo_code)
        return record.individual_number if record is not None else None
