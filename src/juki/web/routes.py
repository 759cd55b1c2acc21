"""The counter UI's pages (CTR-1, CTR-3, SEC-1, SEC-2), mounted on the API's app as the feature ``web``.

Every page is a route of the same app, with its rule in :data:`RULES` (checked by the app-wide guard like
any API route, so the matrix test covers them too), and goes through :class:`~juki.web.session.WebRoute`
(cookies, CSRF, screen lock, refusal pages).  Pages read persons only through ``reg.reads``
(:class:`~juki.services.reading.ReadService`: screened, masked, audited) and write only through the
services.  Nothing here decides a rule of the register.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from juki.access import policy, rights
from juki.access.auth import AuthenticationFailed, token_hash
from juki.access.roles import ROLE_NAMES_JA, ROLES
from juki.adapters import postcodes
from juki.adapters.db.store import SearchCriteria
from juki.api.common import Principal_, actor, refusal_response
from juki.api.onestop import QUEUE
from juki.api.onestop import service as onestop_service
from juki.api.security import AUTHENTICATED, PUBLIC, Rule
from juki.audit import disclosure, reviews
from juki.audit.log import ACTIONS
from juki.clock import JST, jst_date
from juki.config import Register
from juki.domain.errors import InvalidInput, JukiError, NotFound, Problem
from juki.domain.events import ChangeKind
from juki.domain.onestop import ApplicationKind
from juki.services import counter, request_search

from . import authenticators, certificates, forms, mail, reception
from .login import logged_in, login_form, login_refused
from .login import safe_next as _safe_next
from .pages import HERE, render
from .places import places
from .session import (
    SESSION_COOKIE,
    TERMINAL_COOKIE,
    TERMINAL_MAX_AGE,
    WebRoute,
    clear_cookie,
    lock_state,
    record_lock,
    set_cookie,
    terminal_ok,
    web_context,
)

STATIC = {"tokens.css": "text/css", "juki.css": "text/css", "juki.js": "text/javascript",
          "webauthn.js": "text/javascript"}
REQUESTS = ("change.submit", "change.approve", "change.decide")

RULES: dict[str, Rule] = {
    "web_static": PUBLIC,
    "web_terminal": PUBLIC,
    "web_terminal_register": PUBLIC,
    "web_login": PUBLIC,
    "web_login_submit": PUBLIC,
    "web_logout": PUBLIC,
    "web_lock": PUBLIC,
    "web_unlock": AUTHENTICATED,
    "web_activity": AUTHENTICATED,
    "web_home": AUTHENTICATED,
    "web_postcode": "change.submit",
    "web_search": "person.search",
    "web_person": "person.read",
    "web_household": "person.read",
    "web_changes": "change.submit",
    **{f"web_form_{key}": "change.submit" for key in forms.FORMS},
    **{f"web_submit_{key}": "change.submit" for key in forms.FORMS},
    "web_requests": REQUESTS,
    "web_request": REQUESTS,
    "web_submitted": REQUESTS,
    "web_approve": "change.approve",
    "web_return": "change.decide",
    "web_reject": "change.decide",
    "web_onestop": QUEUE,
    "web_onestop_item": QUEUE,
    "web_onestop_close": "change.submit",
    "web_audit": "audit.read",
    "web_audit_person": "audit.read",
    "web_rights": ("staff.manage", "rights.approve"),
    "web_rights_request": "staff.manage",
    "web_rights_approve": "rights.approve",
    "web_rights_revoke": ("staff.manage", "rights.approve"),
    **authenticators.RULES,
    **certificates.RULES,
    **mail.RULES,
    **reception.RULES,
}


def _form_dict(form: Any) -> dict[str, Any]:
    return {k: form.get(k) for k in form.keys()}


def router(reg: Register) -> APIRouter:
    r = APIRouter(prefix="/ui", route_class=WebRoute, include_in_schema=False)
    onestop = onestop_service(reg)

    # --- static assets, terminal, login, lock ----------------------------------------------------

    @r.get("/static/{name}", name="web_static")
    def static(name: str) -> Response:
        if name not in STATIC:
            return Response("not found", status_code=404)
        return FileResponse(HERE / "static" / name, media_type=STATIC[name],
                            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

    @r.get("/terminal", name="web_terminal")
    def terminal(request: Request) -> Response:
        web = web_context(request)
        current = web.terminal_id if terminal_ok(reg, web.terminal_id, web.terminal_key) else None
        return render(request, "terminal.html", title="端末の登録", current=current, problems=[])

    @r.post("/terminal", name="web_terminal_register")
    async def terminal_register(request: Request) -> Response:
        form = await request.form()
        tid, key = str(form.get("terminal_id") or "").strip(), str(form.get("terminal_key") or "").strip()
        if not terminal_ok(reg, tid, key):
            problem = Problem("terminal_id", "SEC-1/terminal", "端末IDまたは端末鍵が正しくないか、端末の登録が取り消されています。",
                              "The terminal id or key is wrong, or the terminal was revoked.")
            reg.audit.record_now(reg.engine, user_id="(未認証)", terminal=tid[:64] or "(不明)", action="terminal.denied",
                                 outcome="denied", detail={"rules": [problem.rule]})
            views = [{"anchor": "f-terminal_id", "label": "端末ID", "ja": problem.ja, "en": problem.en, "rule": problem.rule}]
            return render(request, "terminal.html", 422, title="端末の登録", current=None, problems=views, terminal_id=tid)
        reg.audit.record_now(reg.engine, user_id="(端末登録)", terminal=tid, action="terminal.enrol")
        response = RedirectResponse("/ui/login", status_code=303)
        set_cookie(response, TERMINAL_COOKIE, f"{tid}:{key}", TERMINAL_MAX_AGE)
        return response

    @r.get("/login", name="web_login")
    def login(request: Request, reason: str | None = None, next: str | None = None) -> Response:
        web = web_context(request)
        if not terminal_ok(reg, web.terminal_id, web.terminal_key):
            return RedirectResponse("/ui/terminal", status_code=303)
        messages = {
            "SEC-1/idle-timeout": "一定時間操作がなかったため、ログアウトしました。ログインし直してください。",
            "SEC-1/session-expired": "セッションの有効時間が過ぎました。ログインし直してください。",
            "SEC-1/session": "ログアウトしました。",
            "logout": "ログアウトしました。",
        }
        return render(request, "login.html", title="ログイン", terminal_id=web.terminal_id, problems=[], errors={},
                      message=messages.get(reason or "", ""), next=_safe_next(next))

    @r.post("/login", name="web_login_submit")
    async def login_submit(request: Request) -> Response:
        got = await login_form(request, reg)
        if isinstance(got, Response):
            return got
        form = got.form
        user_id = str(form.get("user_id") or "").strip()
        try:
            result = reg.auth.login(user_id, str(form.get("password") or ""), str(form.get("totp_code") or ""),
                                    got.terminal_id, got.terminal_key)
        except AuthenticationFailed as e:
            return login_refused(request, reg, e, user_id, form.get("next"), "totp")
        return logged_in(reg, result, form.get("next"), "totp")

    authenticators.add_routes(r, reg)
    certificates.add_routes(r, reg)
    mail.add_routes(r, reg)
    reception.add_routes(r, reg)

    @r.post("/logout", name="web_logout")
    def logout(request: Request) -> Response:
        web = web_context(request)
        if web.token:
            try:
                info = reg.auth.session(token_hash(web.token))
                reg.auth.logout(web.token)
                reg.audit.record_now(reg.engine, user_id=info.user_id, terminal=info.terminal_id,
                                     session_id=info.session_id, action="logout", detail={"via": "web"})
            except JukiError:
                pass  # already ended: the browser only forgets it
        response = RedirectResponse("/ui/login?reason=logout", status_code=303)
        clear_cookie(response, SESSION_COOKIE)
        return response

    @r.post("/lock", name="web_lock")
    def lock(request: Request) -> Response:
        """The page's timer (or the 画面ロック button) locks the screen; this does not extend the session."""
        web = web_context(request)
        if web.token:
            state = lock_state(reg, web.token)
            if state is not None and not state.expired and not state.locked:
                info = reg.auth.session(state.session_id)
                record_lock(reg, state.session_id, info.user_id, info.terminal_id, "lock", "manual")
        if request.headers.get("x-juki-csrf"):
            return Response(status_code=204)
        return RedirectResponse("/ui/", status_code=303)

    @r.post("/unlock", name="web_unlock")
    async def unlock(request: Request, principal: Principal_ = None) -> Response:
        assert principal is not None
        web = web_context(request)
        form = await request.form()
        fetch = bool(request.headers.get("x-juki-csrf"))
        try:
            reg.auth.confirm_password(web.token or "", str(form.get("password") or ""))
        except AuthenticationFailed as e:
            reg.audit.record_now(reg.engine, user_id=principal.user_id, terminal=principal.terminal_id,
                                 session_id=principal.session_id, action="access.denied", outcome="denied",
                                 detail={"rules": [p.rule for p in e.problems], "unlock": True})
            if e.rule != "SEC-1/credentials":
                raise
            if fetch:
                return Response(e.problems[0].ja, status_code=401, media_type="text/plain; charset=utf-8")
            state = lock_state(reg, web.token or "")
            return render(request, "lock.html", 423, title="画面ロック中", user_id=principal.user_id, lock_screen=True,
                          next=_safe_next(form.get("next")), problems=e.problems) if state else RedirectResponse("/ui/login", 303)
        record_lock(reg, principal.session_id, principal.user_id, principal.terminal_id, "unlock", "password")
        return Response(status_code=204) if fetch else RedirectResponse(_safe_next(form.get("next")), status_code=303)

    @r.post("/activity", name="web_activity")
    def activity(principal: Principal_ = None) -> Response:
        """The page reports that the user is working (typing a long form), so neither the screen lock nor
        the idle logout interrupts them; the guard's session check records the time."""
        return Response(status_code=204)

    @r.get("/postcode", name="web_postcode")
    def postcode(request: Request, code: str = "", principal: Principal_ = None) -> Response:
        """郵便番号 → 住所 for the address fields' 「郵便番号から住所を入力」 (JSON, no personal data; Japan Post's
        data offline).  ``local`` marks the areas of this municipality's own wards."""
        normal = postcodes.normalise(code)
        if normal is None:
            return refusal_response(InvalidInput(Problem("postcode", "CTR-1/postcode", "郵便番号は7桁の数字で入力してください。",
                                                         "A postcode is 7 digits.")))
        own = {p.lg_code for p in places(reg.jurisdiction)}
        areas = [{**dataclasses.asdict(a), "local": a.lg_code in own} for a in postcodes.lookup(normal)]
        if not areas:
            return refusal_response(NotFound(Problem("postcode", "CTR-1/postcode", f"郵便番号 {normal} は見つかりません。",
                                                     f"No such postcode: {normal}.")))
        return JSONResponse({"postcode": normal, "areas": areas})

    @r.get("/", name="web_home")
    def home(request: Request, principal: Principal_ = None) -> Response:
        assert principal is not None
        pending = len(reg.store.pending_requests(500)) if policy.can(principal, "change.approve") or policy.can(
            principal, "change.submit") else 0
        waiting = len(onestop.applications(status="received")) if any(policy.can(principal, p) for p in QUEUE) else 0
        return render(request, "home.html", title="ホーム", roles=[ROLE_NAMES_JA.get(x, x) for x in sorted(principal.roles)],
                      pending=pending, onestop=waiting)

    # --- search, person, household ---------------------------------------------------------------

    @r.get("/search", name="web_search")
    def search(request: Request, principal: Principal_ = None, kana: str = "", name: str = "", birth_date: str = "",
               address: str = "", person_id: str = "", household_id: str = "", individual_number: str = "",
               include_removed: str = "") -> Response:
        assert principal is not None
        values = {"kana": kana, "name": name, "birth_date": birth_date, "address": address, "person_id": person_id,
                  "household_id": household_id, "individual_number": individual_number, "include_removed": include_removed}
        hits: list[dict[str, Any]] | None = None
        problems: list[dict[str, Any]] = []
        if any(v for k, v in values.items() if k != "include_removed"):
            try:
                birth = dt.date.fromisoformat(birth_date) if birth_date else None
            except ValueError:
                birth = None
                problems.append({"anchor": "f-birth_date", "label": "生年月日", "ja": "日付を正しく入力してください。",
                                 "en": "Enter a real date.", "rule": "REG-R2"})
            if not problems:
                criteria = SearchCriteria(kana=kana or None, name=name or None, birth_date=birth, address=address or None,
                                          person_id=person_id or None, household_id=household_id or None,
                                          individual_number=individual_number or None,
                                          include_removed=include_removed == "on", limit=100)
                hits = reg.reads.search(principal, criteria)
        return render(request, "search.html", title="住民検索", values=values, hits=hits, problems=problems,
                      may_number=policy.may_search_number(principal))

    @r.get("/persons/{person_id}", name="web_person")
    def person(request: Request, person_id: str, principal: Principal_ = None,
               as_of: Annotated[str, Query()] = "") -> Response:
        assert principal is not None
        day = _date_or_none(as_of, "as_of")
        view = reg.reads.person(principal, person_id, as_of=day)
        history = reg.reads.person_history(principal, person_id)
        return render(request, "person.html", title=f"住民票 {view['name']}", p=view, history=history, as_of=as_of,
                      forms=[f for f in forms.FORMS.values() if f.needs in ("person", "household")])

    @r.get("/households/{household_id}", name="web_household")
    def household(request: Request, household_id: str, principal: Principal_ = None,
                  as_of: Annotated[str, Query()] = "") -> Response:
        assert principal is not None
        day = _date_or_none(as_of, "as_of")
        view = reg.reads.household(principal, household_id, as_of=day)
        history = reg.reads.household_history(principal, household_id)
        return render(request, "household.html", title=f"世帯 {household_id}", h=view, history=history, as_of=as_of,
                      forms=[f for f in forms.FORMS.values() if f.needs == "household"])

    # --- 届出 -------------------------------------------------------------------------------------

    @r.get("/changes", name="web_changes")
    def changes(request: Request, principal: Principal_ = None) -> Response:
        return render(request, "changes.html", title="届出の受付", forms=list(forms.FORMS.values()))

    def form_context(request: Request, spec: forms.FormSpec, principal: Any, params: dict[str, Any]) -> forms.FormContext:
        ctx = forms.FormContext(list(places(reg.jurisdiction)), reg.jurisdiction.prefecture)
        ctx.extra["spec"] = spec
        try:
            ctx.persons = max(1, min(10, int(params.get("persons") or 1)))
        except ValueError:
            ctx.persons = 1
        if spec.needs == "household" and params.get("household_id"):
            ctx.household = reg.reads.household(principal, str(params["household_id"]))
        into = str(params.get("into_household_id") or "").strip()
        if ctx.household is not None and any(f.name == "into_household_id" for s in spec.sections(ctx) for f in s.fields):
            ctx.extra["into"] = _household_or_none(reg, principal, into) if into.isdigit() else None
        if spec.needs == "person" and params.get("person_id"):
            ctx.person = reg.reads.person(principal, str(params["person_id"]))
            ctx.household = reg.reads.household(principal, ctx.person["household_id"])
        return ctx

    def _reception_of(params: Any, principal: Any) -> Any:
        """The 総合受付 a form is entered from (CTR-2), when the link carried one."""
        rid = str(params.get("reception") or "")
        return reg.receptions.get(principal, int(rid)) if rid.isdigit() else None

    def show_form(request: Request, spec: forms.FormSpec, ctx: forms.FormContext, values: Any,
                  problems: tuple[Problem, ...] | list[Problem] = (), status: int = 200, application: Any = None,
                  from_reception: Any = None) -> Response:
        sections = spec.sections(ctx)
        fields = {f.name: f.label for s in sections if not s.members for f in s.fields}
        section_ids = {s.id: s.legend for s in sections}
        section_ids.update({"persons": "異動する人", "person_ids": "異動する世帯員", "memberships": "続柄",
                            "remaining_memberships": "残る世帯の続柄", "household_id": "世帯", "person_id": "対象者",
                            "from_household_id": "世帯"})
        views, at = forms.problem_views(problems, fields, section_ids)
        for alias in ("person_ids", "memberships", "remaining_memberships"):
            at.setdefault("members", []).extend(at.pop(alias, []))
        return render(request, "form.html", status, title=spec.title, spec=spec, ctx=ctx, sections=sections,
                      values=values, problems=views, errors=at, application=application, reception=from_reception)

    def form_route(spec: forms.FormSpec) -> None:
        def get_form(request: Request, principal: Principal_ = None) -> Response:
            assert principal is not None
            params = dict(request.query_params)
            ctx = form_context(request, spec, principal, params)
            values: dict[str, Any] = {"notified_date": forms.today_jst(reg.now())}
            application = None
            if params.get("application"):
                application = onestop.application(int(params["application"])) if params["application"].isdigit() else None
                if application is not None:
                    values.update(_prefill(application, ctx))
            from_reception = _reception_of(params, principal)
            if from_reception is not None:
                values.update(reception.prefill(from_reception, spec))
            values.update({k: v for k, v in params.items() if k not in ("persons", "household_id", "person_id")})
            return show_form(request, spec, ctx, forms.Values(values), application=application,
                             from_reception=from_reception)

        async def post_form(request: Request, principal: Principal_ = None) -> Response:
            assert principal is not None
            form = await request.form()
            values = _form_dict(form)
            ctx = form_context(request, spec, principal, values)
            change = spec.build(ctx, values)
            env = forms.envelope(spec, values)
            intake = forms.intake_values(values, [str(v) for v in form.getlist("identity_documents")]) if spec.intake else None
            app_id = values.get("application")
            from_step = reception.step_ref(values)
            writers: list[Any] = []
            try:
                if app_id and str(app_id).isdigit():
                    writers.append(onestop.started(int(str(app_id)), actor=actor(principal)))
                if from_step is not None:  # entered from a 総合受付's step (CTR-2)
                    writers.append(reg.receptions.request_link(principal, *from_step, spec.kind))
                result = counter.submit(reg.changes, reg.engine, spec.kind.value, env, change, intake,
                                        actor=actor(principal), clock=reg.now, also=_all(writers))
            except (InvalidInput, JukiError) as e:
                if e.kind not in ("invalid_input", "rule_violation", "not_found"):
                    raise
                return show_form(request, spec, ctx, forms.Values(values, form), e.problems, 422,
                                 from_reception=_reception_of(values, principal))
            return render(request, "submitted.html", 201, title="届出を受け付けました", result=result, spec=spec,
                          reception_id=from_step[0] if from_step is not None else None)

        key = spec.key
        r.add_api_route(f"/changes/{key}/new", get_form, methods=["GET"], name=f"web_form_{key}")
        r.add_api_route(f"/changes/{key}", post_form, methods=["POST"], name=f"web_submit_{key}")

    for spec in forms.FORMS.values():
        form_route(spec)

    # --- 決裁 (four eyes) -------------------------------------------------------------------------

    @r.get("/requests", name="web_requests")
    def requests_(request: Request, principal: Principal_ = None) -> Response:
        assert principal is not None
        rows = reg.store.pending_requests(200)
        return render(request, "requests.html", title="決裁", rows=rows, kinds=ChangeKind)

    @r.get("/submitted", name="web_submitted")
    def submitted(request: Request, principal: Principal_ = None, received_from: str = "", received_to: str = "",
                  name: str = "", birth_date: str = "") -> Response:
        """届出の検索 (CTR-4): by 受付日, 氏名 and 生年月日; audited as a search of the residents it names."""
        assert principal is not None
        today = jst_date(reg.now())
        values = {"received_from": received_from, "received_to": received_to, "name": name, "birth_date": birth_date}
        labels = {"received_from": "受付日（から）", "received_to": "受付日（まで）", "birth_date": "生年月日"}
        hits = None
        problems: list[dict[str, Any]] = []
        try:
            criteria = request_search.RequestCriteria(
                _date_or_none(received_from, "received_from") or today - dt.timedelta(days=30),
                _date_or_none(received_to, "received_to") or today, name.strip(),
                _date_or_none(birth_date, "birth_date"))
            if any(values.values()):
                hits = request_search.search_requests(reg.store, criteria)
        except InvalidInput as e:
            problems = [{"anchor": f"f-{p.field}", "label": labels.get(p.field, "検索条件"), "ja": p.ja, "en": p.en,
                         "rule": p.rule} for p in e.problems]
        flagged: set[str] = set()
        if hits is not None:
            residents = sorted({p.person_id for h in hits for p in h.persons if p.person_id})
            reg.reads.audit(principal, "search", residents, scope="requests",
                            criteria={k: v for k, v in values.items() if v and k != "birth_date"},
                            birth_date=birth_date or None, requests=[h.request.request_id for h in hits])
            flagged = reg.reads.protected(residents)
        return render(request, "submitted_search.html", 422 if problems else 200, title="届出の検索", values=values,
                      hits=hits, problems=problems, flagged=flagged, kinds=ChangeKind,
                      errors={p["anchor"][2:] for p in problems})

    @r.get("/requests/{request_id}", name="web_request")
    def request_(request: Request, request_id: int, principal: Principal_ = None) -> Response:
        assert principal is not None
        preview = reg.changes.preview(request_id)
        view = reg.reads.change_preview(principal, preview)
        row = preview.request
        return render(request, "request.html", title=f"届出 {request_id}", row=row, kind_ja=ChangeKind(row.kind).ja,
                      view=view, intake=counter.intake_of(reg.engine, request_id),
                      own=row.entered_by == principal.user_id, problems=[])

    @r.post("/requests/{request_id}/approve", name="web_approve")
    def approve(request: Request, request_id: int, principal: Principal_ = None) -> Response:
        assert principal is not None
        result = reg.changes.approve(request_id, actor=actor(principal))
        return render(request, "decided.html", title="決裁しました", request_id=request_id, decision="approved",
                      event_seq=result.event_seq, summary=result.outcome.summary_ja,
                      person_ids=[p.person_id for p in result.outcome.persons])

    def decide_route(decision: str, name: str) -> None:
        async def decide(request: Request, request_id: int, principal: Principal_ = None) -> Response:
            assert principal is not None
            form = await request.form()
            reason = str(form.get("reason") or "")
            try:
                if decision == "returned":
                    reg.changes.return_request(request_id, actor=actor(principal), reason=reason)
                else:
                    reg.changes.reject(request_id, actor=actor(principal), reason=reason)
            except InvalidInput as e:
                preview = reg.changes.preview(request_id)
                row = preview.request
                views = [{"anchor": "f-reason", "label": "理由", "ja": p.ja, "en": p.en, "rule": p.rule} for p in e.problems]
                return render(request, "request.html", 422, title=f"届出 {request_id}", row=row,
                              kind_ja=ChangeKind(row.kind).ja, view=reg.reads.change_preview(principal, preview),
                              intake=counter.intake_of(reg.engine, request_id), own=row.entered_by == principal.user_id,
                              problems=views)
            return render(request, "decided.html", title="処理しました", request_id=request_id, decision=decision,
                          reason=reason.strip())

        r.add_api_route(f"/requests/{{request_id}}/{'return' if decision == 'returned' else 'reject'}", decide,
                        methods=["POST"], name=name)

    decide_route("returned", "web_return")
    decide_route("rejected", "web_reject")

    # --- 引越しワンストップ ---------------------------------------------------------------------------

    @r.get("/onestop", name="web_onestop")
    def onestop_queue(request: Request, principal: Principal_ = None, status: str = "") -> Response:
        assert principal is not None
        rows = onestop.applications(status=status or None)
        reg.reads.audit(principal, "onestop.read", [], applications=[a["application_id"] for a in rows])
        return render(request, "onestop.html", title="引越しワンストップ", rows=rows, status=status)

    @r.get("/onestop/{application_id}", name="web_onestop_item")
    def onestop_item(request: Request, application_id: int, principal: Principal_ = None) -> Response:
        assert principal is not None
        app = onestop.application(application_id)
        reg.reads.audit(principal, "onestop.read", [], applications=[application_id])
        candidates = None
        applicant = app["application"]["applicant"]
        if app["kind"] != ApplicationKind.MOVE_IN_RESERVATION.value and policy.can(principal, "person.search"):
            candidates = reg.reads.search(principal, SearchCriteria(
                kana=applicant["name_kana"], birth_date=dt.date.fromisoformat(applicant["birth_date"]), limit=20))
        return render(request, "onestop_item.html", title=f"申請 {app['reference']}", app=app, candidates=candidates,
                      problems=[])

    @r.post("/onestop/{application_id}/close", name="web_onestop_close")
    async def onestop_close(request: Request, application_id: int, principal: Principal_ = None) -> Response:
        assert principal is not None
        form = await request.form()
        onestop.close(application_id, str(form.get("status") or ""), str(form.get("note") or ""), actor=actor(principal))
        return RedirectResponse(f"/ui/onestop/{application_id}", status_code=303)

    # --- 監査 ---------------------------------------------------------------------------------------

    @r.get("/audit", name="web_audit")
    def audit(request: Request, principal: Principal_ = None, start: str = "", end: str = "") -> Response:
        assert principal is not None
        today = jst_date(reg.now())
        first = _date_or_none(start, "start") or today - dt.timedelta(days=7)
        last = _date_or_none(end, "end") or today
        lo = dt.datetime.combine(first, dt.time(), JST)
        hi = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), JST)
        reg.audit_queue.flush()
        data = {
            "alerts": reviews.alerts(reg.engine, lo, hi),
            "after_hours": reviews.after_hours(reg.engine, lo, hi)[:200],
            "long_sessions": reviews.long_sessions(reg.engine, lo, hi),
            "bulk": reviews.bulk_reads(reg.engine, lo, hi, reg.audit.policy),
        }
        reg.audit.record_now(reg.engine, user_id=principal.user_id, terminal=principal.terminal_id,
                             session_id=principal.session_id, action="audit.review",
                             detail={"start": first.isoformat(), "end": last.isoformat()})
        return render(request, "audit.html", title="監査", start=first.isoformat(), end=last.isoformat(), actions=ACTIONS,
                      alerts=data["alerts"], after_hours=data["after_hours"], long_sessions=data["long_sessions"],
                      bulk=data["bulk"])

    @r.get("/audit/persons", name="web_audit_person")
    def audit_person(request: Request, principal: Principal_ = None, person_id: str = "") -> Response:
        assert principal is not None
        entries = None
        if person_id:
            reg.audit_queue.flush()
            entries = disclosure.accesses(reg.engine, person_id.strip())
            reg.audit.record_now(reg.engine, user_id=principal.user_id, terminal=principal.terminal_id,
                                 session_id=principal.session_id, action="audit.access_log",
                                 detail={"person_id": person_id.strip(), "entries": len(entries)})
        return render(request, "audit_person.html", title="住民ごとのアクセス記録", person_id=person_id,
                      entries=entries)

    # --- 権限管理 -------------------------------------------------------------------------------------

    def rights_page(request: Request, principal: Any, problems: list[dict[str, Any]] | None = None,
                    values: dict[str, Any] | None = None, status: int = 200) -> Response:
        grants = rights.grants(reg.engine)
        return render(request, "rights.html", status, title="権限管理", staff=reg.auth.list_staff(), grants=grants,
                      pending=[g for g in grants if g.status == "pending"], roles=sorted(ROLES), role_ja=ROLE_NAMES_JA,
                      problems=problems or [], values=values or {},
                      may_request=policy.can(principal, "staff.manage"), may_approve=policy.can(principal, "rights.approve"))

    @r.get("/rights", name="web_rights")
    def rights_list(request: Request, principal: Principal_ = None) -> Response:
        return rights_page(request, principal)

    @r.post("/rights", name="web_rights_request")
    async def rights_request(request: Request, principal: Principal_ = None) -> Response:
        assert principal is not None
        form = _form_dict(await request.form())
        try:
            gid = rights.request_right(reg.engine, user_id=str(form.get("user_id") or ""), role=str(form.get("role") or ""),
                                       section=str(form.get("section") or "").strip(), requested_by=principal.user_id,
                                       reason=str(form.get("reason") or ""), clock=reg.now)
        except JukiError as e:
            if e.kind == "forbidden":
                raise
            labels = {"user_id": "利用者ID", "role": "役割", "section": "所属", "reason": "理由"}
            views = [{"anchor": f"f-{p.field if p.field in labels else 'user_id'}", "label": labels.get(p.field, "申請"),
                      "ja": p.ja, "en": p.en, "rule": p.rule} for p in e.problems]
            return rights_page(request, principal, views, form, 422)
        reg.audit.record_now(reg.engine, user_id=principal.user_id, terminal=principal.terminal_id,
                             session_id=principal.session_id, action="access.request",
                             detail={"grant_id": gid, "user_id": form.get("user_id"), "role": form.get("role"),
                                     "section": form.get("section")})
        return RedirectResponse("/ui/rights", status_code=303)

    @r.post("/rights/{grant_id}/approve", name="web_rights_approve")
    def rights_approve(request: Request, grant_id: int, principal: Principal_ = None) -> Response:
        assert principal is not None
        g = rights.approve_right(reg.engine, grant_id, approved_by=principal.user_id, clock=reg.now)
        reg.audit.record_now(reg.engine, user_id=principal.user_id, terminal=principal.terminal_id,
                             session_id=principal.session_id, action="access.grant",
                             detail={"grant_id": grant_id, "user_id": g.user_id, "role": g.role, "section": g.section})
        return RedirectResponse("/ui/rights", status_code=303)

    @r.post("/rights/{grant_id}/revoke", name="web_rights_revoke")
    async def rights_revoke(request: Request, grant_id: int, principal: Principal_ = None) -> Response:
        assert principal is not None
        form = await request.form()
        g = rights.revoke_right(reg.engine, grant_id, revoked_by=principal.user_id, reason=str(form.get("reason") or ""),
                                clock=reg.now)
        reg.audit.record_now(reg.engine, user_id=principal.user_id, terminal=principal.terminal_id,
                             session_id=principal.session_id, action="access.revoke",
                             detail={"grant_id": grant_id, "user_id": g.user_id, "role": g.role, "section": g.section})
        return RedirectResponse("/ui/rights", status_code=303)

    return r


def _all(writers: list[Any]) -> Any:
    """One ``also`` writer that runs each of ``writers`` in the submission's transaction (None if none)."""
    if not writers:
        return None

    def write(conn: Any, request_id: int) -> None:
        for w in writers:
            w(conn, request_id)

    return write


def _household_or_none(reg: Register, principal: Any, household_id: str) -> dict[str, Any] | None:
    """The household persons are to join, shown beside the form (read, screened and audited like any read); an
    unknown one is left to the register, which names the field when the form is sent."""
    try:
        return reg.reads.household(principal, household_id)
    except JukiError as e:
        if e.kind != "not_found":
            raise
        return None


def _date_or_none(value: str, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(Problem(field, "REG-R2", "日付を YYYY-MM-DD で入力してください。", "Enter a date as YYYY-MM-DD.")) from None


def _prefill(app: dict[str, Any], ctx: forms.FormContext) -> dict[str, Any]:
    """The form's values from an online application (CTR-3): the clerk checks and completes them."""
    a = app["application"]
    values: dict[str, Any] = {"effective_date": a["planned_date"], "application": str(app["application_id"])}
    for i, p in enumerate(a.get("persons", [])):
        for k in ("name", "name_kana", "birth_date", "sex", "relationship"):
            if p.get(k):
                values[f"persons[{i}].{k}"] = p[k]
        values[f"persons[{i}].furigana_status"] = "unconfirmed"
    for part in ("address", "prior_address", "destination"):
        for k, v in (a.get(part) or {}).items():
            if v:
                values[f"{part}.{k}"] = v
    if ctx.household is not None:
        wanted = {(p["name_kana"], p["birth_date"]) for p in a.get("persons", [])}
        for m in ctx.household["members"]:
            if (m.get("name_kana"), m["birth_date"]) in wanted:
                values[f"members.{m['person_id']}.move"] = "on"
    return values
