"""総合照会 (CTR-2): everything the counter needs about one person, on one page.

Chiba's 総合照会 「住民に対する照会業務の効率化を図るため、住民情報の照会機能を集約」 -- 世帯情報, 個人情報,
証明書の発行履歴照会 (000 システム5).  :meth:`InquiryService.person` gathers:

* the 住民票 summary and the 世帯, read through :class:`~juki.services.reading.ReadService` (so screened for
  支援措置, the 個人番号 masked outside number-use work, and audited as ``person.read`` / ``household.read``);
* the change requests naming the person or their 世帯 that await a decision;
* the person's 総合受付 (receptions naming them, whose 届出 recorded them or whose certificate names them);
* the **certificate issuance history** from the issuance log: when, which certificate, the channel, the
  request path and the requester's relation, and who issued it.  The requester's own name and address
  stay in the 交付記録, which only ``certificate.log.read`` (the supervisor) reads;
* the 印鑑登録 (registrations with their status; never the imprint);
* 引越しワンストップ applications by the person (the applicant's or a moving person's 4情報: kana and
  date of birth) or completed into a change of theirs.

It needs ``inquiry.read``; a refusal is raised (and audited by the entry point's error handler, as for
every screen).  The gathered view is one more audit entry, ``inquiry.read``, naming the person, with how
many rows of each part were shown.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from juki.access import policy
from juki.access.model import Principal
from juki.adapters.db.counter import online_application_steps, online_applications
from juki.adapters.db.engine import read_only
from juki.adapters.db.schema import persons
from juki.adapters.db.store import Store
from juki.domain import certificate_requests as cr
from juki.domain.certificates import CertificateKind, Layout
from juki.domain.errors import JukiError
from juki.domain.kana import kana_key
from juki.issuance.seals import registrations
from juki.issuance.tables import certificate_issuances, certificate_subjects
from juki.services.life_events import load, receptions_of_person
from juki.services.reading import ReadService
from juki.services.request_search import person_ids_of

RELATION_JA = {"self": "本人", "household": "同一世帯員", "agent": "代理人", "public_body": "国・地方公共団体",
               "third_party": "第三者", "wide_area": "本人（広域交付）"}
LIMIT = 100


class InquiryService:
    def __init__(self, engine: Engine, store: Store, reads: ReadService, onestop: Any, *, audit: Any = None) -> None:
        self.engine = engine
        self.store = store
        self.reads = reads
        self.onestop = onestop
        self.audit = audit

    def person(self, principal: Principal, person_id: str) -> dict[str, Any]:
        """The 総合照会 of one person (see the module docstring)."""
        policy.require(principal, "inquiry.read")
        person = self.reads.person(principal, person_id)
        household = None
        try:
            household = self.reads.household(principal, person["household_id"])
        except JukiError as e:
            if e.kind != "not_found":
                raise
        pending = self._pending(person_id, person["household_id"])
        with read_only(self.engine.connect()) as conn:
            reception_ids = receptions_of_person(conn, person_id)[:LIMIT]
            found = load(conn, reception_ids)
            receptions = [found[i] for i in reception_ids if i in found]
            certificates = [self._certificate(r) for r in conn.execute(
                sa.select(certificate_issuances)
                .where(certificate_issuances.c.certificate_id.in_(
                    sa.select(certificate_subjects.c.certificate_id).where(certificate_subjects.c.person_id == person_id)))
                .order_by(certificate_issuances.c.issued_at.desc(), certificate_issuances.c.certificate_id)
                .limit(LIMIT))]
            seals = [s.view() for s in registrations(conn, person_id=person_id)]
            kana, birth = conn.execute(sa.select(persons.c.name_kana, persons.c.birth_date)
                                       .where(persons.c.person_id == person_id)).one()
        onestop = self._applications(person_id, kana or "", birth.isoformat())
        self.reads.audit(principal, "inquiry.read", [person_id], household_id=person["household_id"],
                         pending=len(pending), receptions=len(receptions), certificates=len(certificates),
                         seals=len(seals), onestop=len(onestop))
        return {"person": person, "household": household, "pending": pending, "receptions": receptions,
                "certificates": certificates, "seals": seals, "onestop": onestop}

    def _pending(self, person_id: str, household_id: str) -> list[Any]:
        with self.store.read() as r:
            rows = r.pending_requests(500)
        return [row for row in rows
                if person_id in person_ids_of(row.payload) or household_id in (row.household_ids or [])]

    @staticmethod
    def _certificate(row: Any) -> dict[str, Any]:
        return {"certificate_id": row.certificate_id, "issued_at": row.issued_at, "issued_on": row.issued_on,
                "kind": row.kind, "kind_ja": CertificateKind(row.kind).ja, "layout_ja": Layout(row.layout).ja,
                "channel_ja": cr.Channel(row.channel).ja, "path_ja": cr.Path(row.path).ja,
                "relation_ja": RELATION_JA.get(row.requester_relation, row.requester_relation),
                "subject_count": row.subject_count, "issued_by": row.issued_by, "batch_id": row.batch_id}

    def _applications(self, person_id: str, kana: str, birth: str) -> list[dict[str, Any]]:
        """Applications of the person: by an applicant or moving person with their kana and date of birth,
        or whose step names them."""
        key = kana_key(kana) if kana else ""
        with read_only(self.engine.connect()) as conn:
            linked = set(conn.execute(sa.select(online_application_steps.c.application_id)
                                      .where(online_application_steps.c.person_id == person_id)).scalars())
            candidates = list(conn.execute(sa.select(online_applications.c.application_id, online_applications.c.payload)
                                           .order_by(online_applications.c.application_id.desc()).limit(2000)))
        wanted: list[int] = []
        for row in candidates:
            payload = json.loads(row.payload)
            people = [payload.get("applicant") or {}, *(payload.get("persons") or [])]
            if row.application_id in linked or (key and any(
                    p.get("birth_date") == birth and kana_key(str(p.get("name_kana") or "")) == key for p in people)):
                wanted.append(row.application_id)
        out = []
        for app_id in wanted[:LIMIT]:
            app = self.onestop.application(app_id)
            out.append({k: app[k] for k in ("application_id", "reference", "kind_ja", "status_ja", "planned_date",
                                            "received_at", "request_id")})
        return out

