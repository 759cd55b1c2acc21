"""The 総合窓口's pages (CTR-2): the 総合受付 (receptions per life event), its queue, the 案内文書, and the
総合照会 of one person.

* ``/ui/receptions`` -- today's receptions with their elapsed time and what is left, filtered by state,
  event and 窓口; ``/ui/receptions/new`` opens one (the persons from a loaded 世帯 or by 宛名番号, the
  names of persons new to the register, who came);
* ``/ui/receptions/{id}`` -- the reception: its steps with their 窓口 and 持ち物, each 届出 entered from
  its step (the form carries ``reception`` and ``step``, and the submission links the request to the step
  in its own transaction, :meth:`~juki.services.life_events.ReceptionService.request_link`), each
  certificate issued from its step (the same for the issuance), the other procedures' status set by the
  clerk, a procedure added, the 案内文書 printed, the reception closed (and a closed one reopened with a
  reason); a step handed off to another section shows its 庁内連携 status.  Every write carries the revision
  the page showed (``revision``); a stale one is refused with the reception shown again as it is now;
* ``/ui/receptions/{id}/guidance`` -- the 案内文書 as a PDF to print (:mod:`juki.adapters.pdf.guidance`);
* ``/ui/inquiry`` -- the 総合照会 (:class:`~juki.services.inquiry.InquiryService`).

Rights (:mod:`juki.access.roles`): ``reception.manage`` (窓口担当, 番号利用事務担当) for the receptions,
``inquiry.read`` (窓口担当, 番号利用事務担当, 決裁者) for the 総合照会.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from juki.adapters.pdf.guidance import render_guidance
from juki.api.common import Principal_
from juki.api.security import Rule
from juki.clock import jst_date
from juki.config import Register
from juki.domain.errors import InvalidInput, JukiError, Problem
from juki.domain.events import ChangeKind
from juki.domain.intake import FiledBy
from juki.domain.life_events import CHECKLISTS, PROCEDURES, RECORDED_STATUSES, LifeEvent, StepKind
from juki.services.life_events import Reception, parse_opening

from . import forms
from .pages import render

RULES: dict[str, Rule] = {
    "web_receptions": "reception.manage",
    "web_reception_new": "reception.manage",
    "web_reception_open": "reception.manage",
    "web_reception": "reception.manage",
    "web_reception_step": "reception.manage",
    "web_reception_add_step": "reception.manage",
    "web_reception_close": "reception.manage",
    "web_reception_reopen": "reception.manage",
    "web_reception_guidance": "reception.manage",
    "web_inquiry": "inquiry.read",
}

EVENTS = tuple((e.value, e.ja) for e in LifeEvent)
FILED_BY = tuple((f.value, f.ja) for f in FiledBy)
DESKS = tuple(dict.fromkeys(p.desk for p in PROCEDURES.values()))
NEWCOMER_FIELDS = 3
PERSON_FIELDS = 3
OPEN_FIELDS = {"event": "ライフイベント", "filed_by": "来庁者", "visitor_name": "来庁者の氏名",
               "person_ids": "対象の方（住民票のある人）", "newcomers": "新しく記載される人"}
OPEN_SECTIONS = {"persons": "対象の方"}
OPEN_FORM = {
    "event": forms.Field("event", "ライフイベント", "radio", EVENTS, required=True),
    "filed_by": forms.Field("filed_by", "来庁した方", "radio", FILED_BY, required=True),
    "visitor_name": forms.Field("visitor_name", "来庁者の氏名", hint="代理人のときは必須"),
}


def elapsed(start: dt.datetime, end: dt.datetime) -> str:
    """``1時間5分``: how long the resident has been at the counter (or was, for a closed reception)."""
    minutes = max(0, int((end - start).total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours}時間{minutes}分" if hours else f"{minutes}分"


def form_links(r: Reception, step: Any) -> list[tuple[str, str]]:
    """The counter forms that enter the 届出 of a register step, with the link that opens each from the
    reception (the household of the persons concerned loaded, newcomers' names filled in)."""
    links = []
    household = r.household_id()
    person = next((p.person_id for p in r.persons if p.person_id), None)
    newcomers = [p for p in r.persons if not p.person_id]
    for spec in forms.FORMS.values():
        if spec.kind not in step.procedure.change_kinds:
            continue
        query = f"reception={r.reception_id}&step={step.step_no}"
        if spec.needs == "household" and household:
            query += f"&household_id={household}"
        elif spec.needs == "person" and person:
            query += f"&person_id={person}"
        if newcomers and spec.needs == "":  # a form of new persons (転入): one block per name
            query += f"&persons={len(newcomers)}"
        links.append((spec.title, f"/ui/changes/{spec.key}/new?{query}"))
    return links


def certificate_link(r: Reception, step: Any) -> str:
    household = r.household_id()
    base = f"/ui/certificates?reception={r.reception_id}&step={step.step_no}"
    return base + (f"&household_id={household}" if household else "")


def prefill(r: Reception, spec: forms.FormSpec) -> dict[str, Any]:
    """A counter form's values from the reception it is entered for: the 受付番号 as the form's 受付番号,
    and the names the visitor gave for persons new to the register."""
    values: dict[str, Any] = {"case_ref": f"総合受付 {r.day.isoformat()} {r.number_text}", "reception": str(r.reception_id)}
    newcomers = [p.name for p in r.persons if not p.person_id]
    for i, name in enumerate(newcomers):
        values[f"persons[{i}].name"] = name
    if newcomers and spec.kind.value == "birth":
        values["child.name"] = newcomers[0]
    return values


def step_ref(values: Any) -> tuple[int, int] | None:
    """The 総合受付 and step a form or certificate page was opened from (its ``reception`` and ``step``
    fields), or None."""
    rid, step = str(values.get("reception") or ""), str(values.get("step") or "")
    return (int(rid), int(step)) if rid.isdigit() and step.isdigit() else None


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default


def step_problem_views(r: Reception, problems: tuple[Problem, ...]) -> list[dict[str, Any]]:
    names = {s.step_no: s.procedure.name for s in r.steps}
    views = []
    for p in problems:
        anchor, label = "form-top", f"受付 {r.number_text}"
        if p.field.startswith("steps["):
            no = _int(p.field[6:].split("]", 1)[0])
            anchor, label = f"step-{no}", names.get(no, label)
        elif p.field == "procedure":
            anchor, label = "f-procedure", "手続の追加"
        elif p.field == "reason":
            anchor, label = "f-reason", "再開の理由"
        views.append({"anchor": anchor, "label": label, "ja": p.ja, "en": p.en, "rule": p.rule})
    return views


def add_routes(r: APIRouter, reg: Register) -> None:
    """The routes of :data:`RULES`, on the web router ``r``."""

    def show(request: Request, principal: Any, reception_id: int, *, problems: tuple[Problem, ...] = (),
             status: int = 200) -> Response:
        rec = reg.receptions.get(principal, reception_id)
        protected = reg.reads.protected(rec.person_ids)
        now = reg.now()
        added = [p for code, p in PROCEDURES.items() if all(s.procedure.code != code for s in rec.steps)]
        return render(request, "reception.html", status, title=f"総合受付 {rec.number_text}", r=rec,
                      problems=step_problem_views(rec, problems), protected=protected,
                      elapsed=elapsed(rec.opened_at, rec.closed_at or now), StepKind=StepKind,
                      statuses=RECORDED_STATUSES, form_links=form_links, certificate_link=certificate_link,
                      addable=added)

    @r.get("/receptions", name="web_receptions")
    def queue(request: Request, principal: Principal_ = None, state: str = "open", event: str = "", desk: str = "",
              day: str = "") -> Response:
        assert principal is not None
        try:
            when = dt.date.fromisoformat(day) if day else jst_date(reg.now())
        except ValueError:
            raise InvalidInput(Problem("day", "CTR-2", "日付を YYYY-MM-DD で入力してください。",
                                       "Enter a date as YYYY-MM-DD.")) from None
        ev = LifeEvent(event) if event in LifeEvent._value2member_map_ else None
        state = state if state in ("open", "closed", "all") else "open"
        rows = reg.receptions.queue(principal, day=when, state=state, event=ev, desk=desk if desk in DESKS else "")
        now = reg.now()
        return render(request, "receptions.html", title="総合窓口", rows=rows, state=state, event=event, desk=desk,
                      day=when.isoformat(), events=EVENTS, desks=DESKS,
                      elapsed={x.reception_id: elapsed(x.opened_at, x.closed_at or now) for x in rows})

    def new_page(request: Request, principal: Any, values: forms.Values, *, problems: tuple[Problem, ...] = (),
                 status: int = 200) -> Response:
        household = None
        household_id = str(values.get("household_id") or "").strip()
        if household_id:
            household = reg.reads.household(principal, household_id)
        views, at = forms.problem_views(problems, OPEN_FIELDS, OPEN_SECTIONS, "受付")
        return render(request, "reception_new.html", status, title="総合受付を始める", values=values, household=household,
                      events=EVENTS, fields=OPEN_FORM, problems=views, errors=at, checklists={
                          e.value: [PROCEDURES[c].name for c in CHECKLISTS[e]] for e in LifeEvent},
                      person_fields=PERSON_FIELDS, newcomer_fields=NEWCOMER_FIELDS)

    @r.get("/receptions/new", name="web_reception_new")
    def new(request: Request, principal: Principal_ = None, household_id: str = "", person_id: str = "",
            event: str = "") -> Response:
        assert principal is not None
        values: dict[str, Any] = {"event": event, "filed_by": "self"}
        if person_id.strip():
            person = reg.reads.person(principal, person_id.strip())
            household_id = person["household_id"]
            values["person_ids"] = [person["person_id"]]
        values["household_id"] = household_id.strip()
        return new_page(request, principal, forms.Values(values))

    @r.post("/receptions", name="web_reception_open")
    async def open_(request: Request, principal: Principal_ = None) -> Response:
        assert principal is not None
        form = await request.form()
        values = forms.Values({k: form.get(k) for k in form.keys()}, form)
        try:
            opening = parse_opening(str(form.get("event") or ""), _strings(form, "person_ids"),
                                    _strings(form, "newcomers"), str(form.get("filed_by") or ""),
                                    str(form.get("visitor_name") or ""))
            rec = reg.receptions.open(principal, opening)
        except JukiError as e:
            if e.kind not in ("invalid_input", "rule_violation"):
                raise
            return new_page(request, principal, values, problems=e.problems, status=422)
        return RedirectResponse(f"/ui/receptions/{rec.reception_id}", status_code=303)

    @r.get("/receptions/{reception_id}", name="web_reception")
    def reception(request: Request, reception_id: int, principal: Principal_ = None) -> Response:
        assert principal is not None
        return show(request, principal, reception_id)

    def write(request: Request, principal: Any, reception_id: int, action: Any) -> Response:
        try:
            action()
        except JukiError as e:
            if e.kind not in ("invalid_input", "rule_violation", "conflict"):
                raise
            return show(request, principal, reception_id, problems=e.problems,
                        status=409 if e.kind == "conflict" else 422)
        return RedirectResponse(f"/ui/receptions/{reception_id}", status_code=303)

    @r.post("/receptions/{reception_id}/steps/{step_no}", name="web_reception_step")
    async def step(request: Request, reception_id: int, step_no: int, principal: Principal_ = None) -> Response:
        assert principal is not None
        form = await request.form()
        return write(request, principal, reception_id, lambda: reg.receptions.set_status(
            principal, reception_id, step_no, str(form.get("status") or ""), note=str(form.get("note") or ""),
            revision=_int(form.get("revision"))))

    @r.post("/receptions/{reception_id}/steps", name="web_reception_add_step")
    async def add_step(request: Request, reception_id: int, principal: Principal_ = None) -> Response:
        assert principal is not None
        form = await request.form()
        return write(request, principal, reception_id, lambda: reg.receptions.add_step(
            principal, reception_id, str(form.get("procedure") or ""), revision=_int(form.get("revision"))))

    @r.post("/receptions/{reception_id}/close", name="web_reception_close")
    async def close(request: Request, reception_id: int, principal: Principal_ = None) -> Response:
        assert principal is not None
        form = await request.form()
        return write(request, principal, reception_id, lambda: reg.receptions.close(
            principal, reception_id, revision=_int(form.get("revision"))))

    @r.post("/receptions/{reception_id}/reopen", name="web_reception_reopen")
    async def reopen(request: Request, reception_id: int, principal: Principal_ = None) -> Response:
        assert principal is not None
        form = await request.form()
        return write(request, principal, reception_id, lambda: reg.receptions.reopen(
            principal, reception_id, reason=str(form.get("reason") or ""), revision=_int(form.get("revision"))))

    @r.get("/receptions/{reception_id}/guidance", name="web_reception_guidance")
    def guidance(reception_id: int, principal: Principal_ = None) -> Response:
        assert principal is not None
        letter = reg.receptions.guidance(principal, reception_id)
        pdf = render_guidance(letter)
        name = f"guidance-{reception_id}-{letter.number}.pdf"
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store",
                                 "X-Content-Type-Options": "nosniff"})

    @r.get("/inquiry", name="web_inquiry")
    def inquiry(request: Request, principal: Principal_ = None, person_id: str = "") -> Response:
        assert principal is not None
        person_id = person_id.strip()
        view = reg.inquiry.person(principal, person_id) if person_id else None
        return render(request, "inquiry.html", title=f"総合照会 {view['person']['name']}" if view else "総合照会",
                      v=view, person_id=person_id, kind_ja=_kind_ja)


def _kind_ja(kind: str) -> str:
    return ChangeKind(kind).ja if kind in ChangeKind._value2member_map_ else kind


def _strings(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str)]
