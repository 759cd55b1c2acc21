"""Reads made by a user: screened, masked and audited in one place (SEC-2, SEC-3, SEC-8).

Every entry point that shows a person to a user (the API, the counter UI, certificate issuance) reads
through :class:`ReadService`, so none of them can forget a step:

1. **支援措置 (SEC-8)**: a read or search made for a requester who is (or may be) the offender named by an
   active 支援措置 is refused or has the protected persons withheld, and the withholding is logged;
2. **個人番号 (SEC-2)**: masked unless the user is in number-use work (番号利用事務);
3. **the audit log (SEC-3)**: every read and search is an entry naming the persons shown, queued and
   written in batches (:mod:`juki.audit.queue`);
4. **manual handling**: every view of a protected person is flagged ``manual_handling`` so that the
   register's own work sees it but automatic answers (EXC-4) do not go out.

:class:`juki.services.queries.QueryService` stays the unaudited reader for the system's own jobs
(開示 exports, benchmarks, consistency checks), which are audited as the job they are part of.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from juki.access import policy
from juki.access.model import Principal, Requester
from juki.access.support import load_measures
from juki.adapters.db.store import SearchCriteria
from juki.services.changes import Preview
from juki.services.queries import QueryService, household_view, person_view


class AuditSink(Protocol):
    def submit(self, **fields: Any) -> None: ...


class ReadService:
    def __init__(self, queries: QueryService, engine: Engine, *, today: Callable[[], dt.date],
                 audit: Callable[[], AuditSink] | None) -> None:
        self.queries = queries
        self.engine = engine
        self.today = today
        self._audit = audit

    # --- steps ------------------------------------------------------------------------------------

    def audit(self, principal: Principal, action: str, subjects: list[str], **detail: Any) -> None:
        """One audit entry for a read (SEC-3, house rule 5): who, from which terminal, whom, what."""
        if self._audit is not None:
            self._audit().submit(user_id=principal.user_id, terminal=principal.terminal_id,
                                 session_id=principal.session_id, action=action, subject_ids=subjects, detail=detail)

    def protected(self, person_ids: list[str]) -> set[str]:
        """Persons under an active 支援措置 today: everything about them goes to manual handling."""
        return {m.person_id for m in load_measures(self.engine, person_ids=person_ids, on=self.today())}

    def check_requester(self, person_id: str, requester: Requester | None) -> None:
        """Refuse (``SEC-8/withheld``) a request about ``person_id`` made for its offender."""
        if requester is not None:
            policy.check_request(person_id, requester, load_measures(self.engine, person_ids=[person_id]),
                                 on=self.today())

    @staticmethod
    def _flag(view: dict[str, Any], flagged: set[str]) -> dict[str, Any]:
        view["manual_handling"] = view["person_id"] in flagged
        return view

    # --- reads ------------------------------------------------------------------------------------

    def person(self, principal: Principal, person_id: str, *, as_of: dt.date | None = None,
               requester: Requester | None = None) -> dict[str, Any]:
        policy.require(principal, "person.read")
        self.check_requester(person_id, requester)
        view = self.queries.person(person_id, as_of=as_of, number_use=policy.may_see_number(principal))
        self.audit(principal, "person.read", [person_id], as_of=as_of.isoformat() if as_of else None,
                   requester=requester is not None)
        return self._flag(view, self.protected([person_id]))

    def person_history(self, principal: Principal, person_id: str) -> list[dict[str, Any]]:
        policy.require(principal, "person.read")
        rows = self.queries.person_history(person_id, number_use=policy.may_see_number(principal))
        self.audit(principal, "history.read", [person_id])
        return rows

    def household(self, principal: Principal, household_id: str, *, as_of: dt.date | None = None) -> dict[str, Any]:
        policy.require(principal, "person.read")
        view = self.queries.household(household_id, as_of=as_of, number_use=policy.may_see_number(principal))
        members = [m["person_id"] for m in view["members"]]
        self.audit(principal, "household.read", members, household_id=household_id,
                   as_of=as_of.isoformat() if as_of else None)
        flagged = self.protected(members)
        view["members"] = [self._flag(m, flagged) for m in view["members"]]
        return view

    def household_history(self, principal: Principal, household_id: str) -> list[dict[str, Any]]:
        policy.require(principal, "person.read")
        rows = self.queries.household_history(household_id)
        members = sorted({m for r in rows for m in r["record"]["member_ids"]})
        self.audit(principal, "history.read", members, household_id=household_id)
        return rows

    def search(self, principal: Principal, criteria: SearchCriteria, *,
               requester: Requester | None = None) -> list[dict[str, Any]]:
        """Search; persons protected from ``requester`` are withheld, and the entry says how many."""
        policy.check_search(principal, criteria)
        hits = self.queries.search(criteria)
        measures = load_measures(self.engine, person_ids=[h["person_id"] for h in hits])
        today = self.today()
        screened = policy.screen(hits, requester, measures, on=today)
        self.audit(
            principal, "search", [h["person_id"] for h in screened.visible],
            criteria={k: v for k in ("kana", "name", "address", "person_id", "household_id")
                      if (v := getattr(criteria, k))},
            birth_date=criteria.birth_date.isoformat() if criteria.birth_date else None,
            by_individual_number=bool(criteria.individual_number), withheld=screened.withheld,
            requester=requester is not None,
        )
        flagged = {m.person_id for m in policy.active(measures, today)}
        return [self._flag(h, flagged) for h in screened.visible]

    def change_preview(self, principal: Principal, preview: Preview) -> dict[str, Any]:
        """A pending request's before and after, for the approver (REG-R3): masked, flagged and audited
        like any read of the persons it touches."""
        policy.require(principal, "person.read")
        number_use = policy.may_see_number(principal)
        outcome = preview.outcome
        after = {p.person_id: person_view(p, number_use=number_use) for p in outcome.persons} if outcome else {}
        before = {pid: person_view(p, number_use=number_use) for pid, p in preview.before_persons.items()}
        households_after = {h.household_id: household_view(h, [], number_use=number_use)
                            for h in outcome.households} if outcome else {}
        households_before = {hid: household_view(h, [], number_use=number_use)
                             for hid, h in preview.before_households.items()}
        subjects = sorted(set(before) | {pid for pid in after if pid in preview.before_persons})
        self.audit(principal, "person.read", subjects, request_id=preview.request.request_id, purpose="approval")
        flagged = self.protected(subjects)
        for view in (*before.values(), *after.values()):
            self._flag(view, flagged)
        return {"before": before, "after": after, "households_before": households_before,
                "households_after": households_after,
                "summary": outcome.summary_ja if outcome else preview.request.summary,
                "late": outcome.late if outcome else False,
                "problems": [p.as_dict() for p in preview.problems]}
