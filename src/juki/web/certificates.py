"""Certificate issuance at the counter (証明書の交付, REG-CERT, CTR-1; issue 6 item 5).

The clerk loads a household or a person (from the search, or by number), chooses the persons, the kind,
the items and the purpose, states the request path (本人・同一世帯 / 公用 / 第三者 / 広域交付) with the
requester, the identity documents seen and any 代理人, and presses 確認: the issuance service checks the
request exactly as it would to issue it (:meth:`~juki.issuance.service.IssuanceService.preview`: the
path's rules, DV 支援措置, audited) and the page shows the certificate as page images, unsigned and marked
as a preview.  交付する then issues it (:meth:`~juki.issuance.service.IssuanceService.issue`: signed,
logged, audited) and the browser downloads the PDF to print.

The form field names are the request's own paths (``requester.name``, ``public_body.office``), so every
refusal of the service is shown at its field.  A preview is bound to what was previewed: the issue
button carries an HMAC (under the session) of the request and of the preview's one-time token, and a
request changed since is refused.  The token makes issuance idempotent per preview (CTR-1): the service
claims it in the transaction that logs the certificate, so a double click on 交付する (or the form sent
again) issues one certificate; the second submit gets a page naming the certificate already issued and
offering the same PDF again (its stored copy, :meth:`~juki.issuance.service.IssuanceService.redisplay`,
audited as ``certificate.redisplay``), and writes no log entry.  郵送請求 and 一括交付 have their own pages
(:mod:`juki.web.mail`).  ``static/juki.js`` also disables the button after the first click.

**広域交付** (住基法12条の4) has its own page (``/ui/certificates/wide-area``): the resident lives in another
municipality, so nothing is loaded from this register.  The clerk enters the 住所地's code, the requester as
the photo identity document shows them (and the 住民票コード when a 個人番号カード was read), 本人のみ /
世帯全員 / 世帯の一部 (the persons by 氏名 and 生年月日, or 住民票コード), the items a 広域交付 copy may show
and the purpose.  確認する asks the 住所地 over the 住基ネット with the preview's one-time token as the request
id (:meth:`~juki.issuance.service.IssuanceService.preview_wide_area`) and shows the copy this municipality's
mayor would issue; 交付する sends the same request id again, so the 住所地 answers with the same content
(recorded once there), and the copy is signed and logged here.  A register not running as a municipality
node cannot ask (``NET-2/not-connected``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from juki.api.certificates import pdf_response, residence_for
from juki.api.common import STATUS, Principal_
from juki.api.security import Rule
from juki.config import Register
from juki.domain import certificate_requests as cr
from juki.domain.certificates import ITEM_JA, CertificateKind, Document, Layout
from juki.domain.errors import Conflict, JukiError, Problem
from juki.domain.wide_area import NEVER_SENT, WideAreaAnswer, WideAreaRequest
from juki.issuance.service import Issued, new_request_token

from . import forms
from .forms import Field, Section
from .pages import render
from .reception import step_ref
from .session import web_context

RULES: dict[str, Rule] = {
    "web_certificates": "certificate.issue",
    "web_certificate_preview": "certificate.issue",
    "web_certificate_issue": "certificate.issue",
    "web_certificates_wide_area": "certificate.issue",
    "web_certificate_wide_area_preview": "certificate.issue",
    "web_certificate_wide_area_issue": "certificate.issue",
}

NONE = (("", "（選択してください）"),)
DOCUMENTS = tuple((k, f"{v}（写真付き）") for k, v in cr.PHOTO_DOCUMENTS.items()) + tuple(
    (k, f"{v}（写真なし）") for k, v in cr.OTHER_DOCUMENTS.items())


def sections(members: list[dict[str, Any]]) -> list[Section]:
    """The form, part by part; each field is named by its path in the request."""
    return [
        Section("certificate", "証明書", (
            Field("kind", "証明書の種類", "select", tuple((k.value, k.ja) for k in CertificateKind), required=True),
            Field("layout", "様式", "radio", (("", "種類の標準"), *((x.value, x.ja) for x in Layout)),
                  hint="住民票の写しの標準は世帯連記式"),
            Field("items", "記載する事項（特別の請求があるときだけ）", "checkboxes", tuple(ITEM_JA.items()),
                  hint="何も選ばなければ基本の事項だけを記載します。請求の根拠によって記載できないものがあります。"),
            Field("purpose", "使用目的・提出先", hint="証明書に印字します。公用・第三者請求では必須", size="l"),
        )),
        Section("path", "請求の根拠と請求者", (
            Field("path", "請求の根拠", "radio", tuple((p.value, p.ja) for p in cr.Path if p is not cr.Path.WIDE_AREA),
                  required=True, hint="広域交付（他の市区町村に住所のある方）は「広域交付」の画面から"),
            Field("requester.person_id", "請求者（世帯員のとき）", "select",
                  (("", "世帯員以外（下に記入）"), *((m["person_id"], m["name"]) for m in members))),
            Field("requester.name", "請求者の氏名（法人名）", hint="世帯員を選んだときは空欄で構いません"),
            Field("requester.name_kana", "請求者の氏名（カナ）"),
            Field("requester.birth_date", "請求者の生年月日", "date"),
            Field("requester.address", "請求者の住所", size="l"),
            Field("requester.organisation", "法人名・事務所名"),
        )),
        Section("identity_section", "本人確認", (
            Field("identity", "確認した本人確認書類", "checkboxes", DOCUMENTS,
                  hint="窓口に来た人（代理人のときは代理人）の書類。写真付き1点、または写真のないもの2点。"),
        )),
        Section("agent", "代理人（代理人が請求するとき）", (
            Field("agent.name", "代理人の氏名"),
            Field("agent.address", "代理人の住所", size="l"),
            Field("proxy_letter", "委任状を確認し、受け取った", "checkbox"),
        )),
        Section("third_party", "第三者請求（住基法12条の3）のとき", (
            Field("reason", "請求事由", "select", NONE + tuple((r.value, r.ja) for r in cr.Reason)),
            Field("reason_detail", "請求事由の具体的内容", "textarea"),
            Field("items_reason", "本籍・筆頭者、世帯主・続柄等が必要な理由", size="l"),
            Field("professional.qualification", "特定事務受任者の資格", "select", NONE + tuple((q, q) for q in cr.PROFESSIONS)),
            Field("professional.registration_number", "登録番号", size="s"),
            Field("professional.form_number", "職務上請求書の番号", size="s"),
            Field("professional.client", "依頼者"),
        )),
        Section("public_body", "国・地方公共団体の機関の請求（住基法12条の2）のとき", (
            Field("public_body.office", "機関の名称"),
            Field("public_body.officer", "請求事務の責任者（職名・氏名）"),
            Field("public_body.statute", "根拠となる法令の条項", size="l"),
        )),
        Section("seal", "印鑑登録証明書のとき", (
            Field("seal_card_number", "提示された印鑑登録証の番号", size="s"),
        )),
    ]


SECTION_IDS = {"subject_ids": "証明する人", "requester": "請求者", "professional": "特定事務受任者",
               "channel": "交付方法"}
"""Problems about a whole part (``subject_ids[1]``, ``channel``) are shown at these parts of the form."""


def request_data(form: FormData, members: list[dict[str, Any]]) -> dict[str, Any]:
    """The request as JSON (:func:`~juki.domain.certificate_requests.request_from_json` parses it): only
    what the clerk filled in, so that a part of another path is absent rather than blank."""
    def v(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    def part(prefix: str, names: tuple[str, ...]) -> dict[str, str]:
        return {n: v(f"{prefix}.{n}") for n in names if v(f"{prefix}.{n}")}

    data: dict[str, Any] = {"kind": v("kind"), "path": v("path"), "channel": cr.Channel.COUNTER.value,
                            "subject_ids": [s for s in form.getlist("subject_ids") if isinstance(s, str)],
                            "identity": [{"kind": k} for k in form.getlist("identity") if isinstance(k, str)],
                            "items": {k: True for k in form.getlist("items") if isinstance(k, str)},
                            "proxy_letter": form.get("proxy_letter") == "on"}
    requester: dict[str, Any] = part("requester", ("name", "name_kana", "birth_date", "address", "person_id",
                                                   "organisation"))
    member = next((m for m in members if m["person_id"] == requester.get("person_id")), None)
    if member is not None:  # a member of the household asks: their name as the register has it
        requester.setdefault("name", member["name"])
        requester.setdefault("name_kana", member.get("name_kana") or "")
        requester.setdefault("birth_date", member["birth_date"])
        requester.setdefault("address", member.get("address_text") or "")
    data["requester"] = requester
    for name in ("layout", "purpose", "reason", "reason_detail", "items_reason", "seal_card_number"):
        if v(name):
            data[name] = v(name)
    for name, fields in (("agent", ("name", "address")), ("public_body", ("office", "officer", "statute")),
                         ("professional", ("qualification", "registration_number", "form_number", "client"))):
        if got := part(name, fields):
            data[name] = {**{f: "" for f in fields if name != "agent"}, **got}
    if "agent" in data:
        data["agent"].setdefault("name", "")
    return data


WIDE_AREA_SUBJECT_ROWS = 4
"""Rows for the persons of a 世帯の一部 on the 広域交付 form."""
WIDE_AREA_ITEMS = tuple((k, v) for k, v in ITEM_JA.items() if k not in NEVER_SENT)
"""The items a 広域交付 copy may show (never 本籍・筆頭者, 住民票コード or 個人番号, 12条の4)."""
SCOPES = (("self", "本人のみ"), ("household", "世帯全員"), ("part", "世帯の一部（下に記入）"))


def wide_area_sections() -> list[Section]:
    """The 広域交付 form; each field is named by its path in :class:`WideAreaRequest`."""
    photo = tuple((k, v) for k, v in cr.PHOTO_DOCUMENTS.items())
    subjects = tuple(f for i in range(WIDE_AREA_SUBJECT_ROWS) for f in (
        Field(f"subjects[{i}].name", f"{i + 1}人目の氏名", size="m"),
        Field(f"subjects[{i}].birth_date", f"{i + 1}人目の生年月日", "date"),
        Field(f"subjects[{i}].juminhyo_code", f"{i + 1}人目の住民票コード", hint="カード等で分かるとき（任意）", size="s",
              inputmode="numeric")))
    return [
        Section("residence", "住所地", (
            Field("residence_lg_code", "住所地の地方公共団体コード", required=True, size="s", inputmode="numeric",
                  hint="請求者が住民票のある市区町村（6桁、例: 札幌市 011002）。住基ネットで照会します"),
        )),
        Section("requester", "請求者（本人確認書類のとおり）", (
            Field("requester.name", "氏名", required=True),
            Field("requester.name_kana", "氏名（カナ）"),
            Field("requester.birth_date", "生年月日", "date", required=True),
            Field("requester.address", "住所", required=True, size="l", hint="本人確認書類の記載のとおり"),
            Field("requester.juminhyo_code", "住民票コード", size="s", inputmode="numeric",
                  hint="個人番号カードを読み取ったとき（任意）"),
        )),
        Section("identity_section", "本人確認", (
            Field("identity", "確認した写真付きの本人確認書類", "checkboxes", photo, required=True,
                  hint="広域交付は本人又は同一世帯の方が窓口に来て、写真付きの書類を提示したときに限ります（代理人・郵送は不可）。"),
        )),
        Section("subjects", "証明する人", (
            Field("scope", "範囲", "radio", SCOPES, required=True),
            *subjects,
        )),
        Section("certificate", "住民票の写し", (
            Field("layout", "様式", "radio", (("", "世帯連記式（標準）"), *((x.value, x.ja) for x in Layout))),
            Field("items", "記載する事項（請求があるときだけ）", "checkboxes", WIDE_AREA_ITEMS,
                  hint="本籍・筆頭者、住民票コード、個人番号は広域交付では記載できません。"),
            Field("purpose", "使用目的・提出先", hint="証明書に印字します", size="l"),
        )),
    ]


def wide_area_data(form: FormData) -> dict[str, Any]:
    """The 広域交付 request as JSON (:meth:`WideAreaRequest.from_json` parses it)."""
    def v(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    requester = {n: v(f"requester.{n}") for n in ("name", "name_kana", "birth_date", "address", "juminhyo_code")
                 if v(f"requester.{n}")}
    data: dict[str, Any] = {"residence_lg_code": v("residence_lg_code"), "requester": requester,
                            "identity": [{"kind": k} for k in form.getlist("identity") if isinstance(k, str)],
                            "items": {k: True for k in form.getlist("items") if isinstance(k, str)},
                            "whole_household": v("scope") == "household"}
    if v("scope") == "part":
        rows = [{n: v(f"subjects[{i}].{n}") for n in ("name", "birth_date", "juminhyo_code") if v(f"subjects[{i}].{n}")}
                for i in range(WIDE_AREA_SUBJECT_ROWS)]
        data["subjects"] = [row for row in rows if row]
    for name in ("layout", "purpose"):
        if v(name):
            data[name] = v(name)
    return data


def _digest(token: str, data: dict[str, Any], request_token: str) -> str:
    body = json.dumps(data, ensure_ascii=False, sort_keys=True).encode()
    return hmac.new(token.encode(), b"juki-certificate-preview\n" + request_token.encode() + b"\n" + body,
                    hashlib.sha256).hexdigest()


_KIND_STATUS = {cls.kind: status for cls, status in STATUS.items()}


def _status(e: JukiError) -> int:
    return _KIND_STATUS.get(e.kind, 422)


def page_images(document: Document) -> list[str]:
    """The certificate as it would print, page by page (PNG data URIs): rendered without a signature or a
    QR code, so the picture is not a certificate."""
    import pypdfium2 as pdfium  # type: ignore[import-untyped]

    from juki.adapters.pdf.render import render as render_pdf
    from juki.adapters.pdf.verify import PDFIUM_LOCK

    pdf = render_pdf(document)
    images: list[str] = []
    with PDFIUM_LOCK:  # PDFium is not thread-safe
        doc = pdfium.PdfDocument(pdf)
        try:
            for i in range(len(doc)):
                page = doc[i]
                buffer = io.BytesIO()
                page.render(scale=1.4).to_pil().save(buffer, "PNG")
                page.close()
                images.append("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"))
        finally:
            doc.close()
    return images


def redisplayed(request: Request, issued: Issued) -> Response:
    """A preview issued already (交付する sent again): the same certificate, from its stored copy, shown with
    its number and offered again as the same PDF -- no second certificate (CTR-1)."""
    from .mail import issued_page

    return issued_page(request, title="交付済みの証明書（再表示）", certificates=[issued], print_pdf=issued.pdf,
                       filename=f"{issued.certificate_id}.pdf", again=True)


def add_routes(r: APIRouter, reg: Register) -> None:
    """The routes of :data:`RULES`, on the web router ``r``."""

    def load(principal: Any, household_id: str, person_id: str) -> dict[str, Any] | None:
        """The household to issue for (read through ReadService: screened, audited)."""
        if person_id:
            household_id = reg.reads.person(principal, person_id)["household_id"]
        return reg.reads.household(principal, household_id) if household_id else None

    def reception_of(principal: Any, values: Any) -> tuple[Any, int | None]:
        """The 総合受付 and step (CTR-2) a certificate is issued for, when the page carries them."""
        ref = step_ref(values)
        return (reg.receptions.get(principal, ref[0]), ref[1]) if ref else (None, None)

    def link(principal: Any, values: Any, kind: CertificateKind) -> Any:
        """The writer that completes the reception's step in the issuance's transaction (checked now)."""
        ref = step_ref(values)
        return reg.receptions.certificate_link(principal, ref[0], ref[1], kind) if ref else None

    def page(request: Request, household: dict[str, Any] | None, values: Any, *, problems: tuple[Problem, ...] = (),
             status: int = 200, preview: list[str] | None = None, document: Document | None = None,
             digest: str = "", request_token: str = "") -> Response:
        members = household["members"] if household else []
        parts = sections(members)
        fields = {f.name: f.label for s in parts for f in s.fields}
        views, at = forms.problem_views(problems, fields, {**SECTION_IDS, **{s.id: s.legend for s in parts}}, "請求")
        principal = getattr(request.state, "principal", None)
        reception, step = reception_of(principal, values) if principal is not None else (None, None)
        return render(request, "certificate.html", status, title="証明書の交付", household=household, sections=parts,
                      values=values, problems=views, errors=at, preview=preview, document=document, digest=digest,
                      request_token=request_token, item_ja=ITEM_JA, reception=reception, step=step)

    @r.get("/certificates", name="web_certificates")
    def start(request: Request, principal: Principal_ = None, household_id: str = "", person_id: str = "",
              reception: str = "", step: str = "") -> Response:
        assert principal is not None
        household = load(principal, household_id.strip(), person_id.strip())
        chosen = [person_id] if person_id else [m["person_id"] for m in household["members"]] if household else []
        values: dict[str, Any] = {"subject_ids": chosen, "kind": "resident_copy", "path": "self"}
        ref = step_ref({"reception": reception, "step": step})
        if ref is not None:  # from a 総合受付's step: the kind it issues
            kinds = reg.receptions.get(principal, ref[0]).step(ref[1]).procedure.certificate_kinds
            values.update(reception=reception, step=step, kind=kinds[0].value if kinds else "resident_copy")
        return page(request, household, forms.Values(values))

    async def posted(request: Request, principal: Any) -> tuple[FormData, dict[str, Any] | None, dict[str, Any]]:
        form = await request.form()
        household_id = form.get("household_id")
        household = load(principal, household_id if isinstance(household_id, str) else "", "")
        return form, household, request_data(form, household["members"] if household else [])

    @r.post("/certificates/preview", name="web_certificate_preview")
    async def preview(request: Request, principal: Principal_ = None) -> Response:
        assert principal is not None
        form, household, data = await posted(request, principal)
        values = forms.Values({k: form.get(k) for k in form.keys()}, form)
        try:
            req = cr.request_from_json(data)
            link(principal, values, req.kind)  # a 総合受付's step that does not issue this kind refuses now
            document = reg.issuance.preview(principal, req)
        except JukiError as e:  # refusals of the service are audited there (certificate.refuse)
            return page(request, household, values, problems=e.problems, status=_status(e))
        token = new_request_token()
        return page(request, household, values, preview=page_images(document), document=document,
                    digest=_digest(web_context(request).token or "", data, token), request_token=token)

    @r.post("/certificates/issue", name="web_certificate_issue")
    async def issue(request: Request, principal: Principal_ = None) -> Response:
        assert principal is not None
        form, household, data = await posted(request, principal)
        values = forms.Values({k: form.get(k) for k in form.keys()}, form)
        given, token = form.get("preview_digest"), form.get("request_token")
        if not isinstance(given, str) or not isinstance(token, str) or not hmac.compare_digest(
                given, _digest(web_context(request).token or "", data, token)):
            return page(request, household, values, status=409, problems=(Problem(
                "body", "REG-CERT/preview", "交付する前に「確認する」で内容を確認してください（確認の後に内容が変わりました）。",
                "Preview the certificate before issuing it (the request changed since the preview)."),))
        try:
            again = reg.issuance.redisplay(principal, token)  # this preview was issued already: the same one
            if again is not None:
                return redisplayed(request, again)
            req = cr.request_from_json(data)
            issued = reg.issuance.issue(principal, req, request_token=token, also=link(principal, values, req.kind))
        except Conflict as e:  # REG-CERT/issue-once: a racing submit of this preview was logged first
            again = reg.issuance.redisplay(principal, token)
            if again is not None:
                return redisplayed(request, again)
            return page(request, household, values, problems=e.problems, status=_status(e))
        except JukiError as e:
            return page(request, household, values, problems=e.problems, status=_status(e))
        return pdf_response(issued.pdf, issued.certificate_id)

    # --- 広域交付 (12条の4): this municipality is the 交付地 ----------------------------------------------

    def residence(asked: WideAreaRequest) -> WideAreaAnswer:
        """The 住所地, asked through this register's node (refused with NET-2/not-connected without one)."""
        return residence_for(reg)(asked)

    def wide_page(request: Request, values: Any, *, problems: tuple[Problem, ...] = (), status: int = 200,
                  preview: list[str] | None = None, document: Document | None = None, digest: str = "",
                  request_token: str = "") -> Response:
        parts = wide_area_sections()
        fields = {f.name: f.label for s in parts for f in s.fields}
        views, at = forms.problem_views(problems, fields, {s.id: s.legend for s in parts}, "請求")
        return render(request, "certificate_wide_area.html", status, title="広域交付（住民票の写し）", sections=parts,
                      values=values, problems=views, errors=at, preview=preview, document=document, digest=digest,
                      request_token=request_token, item_ja=ITEM_JA, connected=getattr(reg, "net", None) is not None)

    def wide_request(data: dict[str, Any]) -> WideAreaRequest:
        return WideAreaRequest.from_json(data)

    @r.get("/certificates/wide-area", name="web_certificates_wide_area")
    def wide_start(request: Request, principal: Principal_ = None) -> Response:
        return wide_page(request, forms.Values({"scope": "self"}))

    @r.post("/certificates/wide-area/preview", name="web_certificate_wide_area_preview")
    async def wide_preview(request: Request, principal: Principal_ = None) -> Response:
        assert principal is not None
        form = await request.form()
        values = forms.Values({k: form.get(k) for k in form.keys()}, form)
        data = wide_area_data(form)
        token = new_request_token()
        try:
            document = await asyncio.to_thread(reg.issuance.preview_wide_area, principal, wide_request(data), residence,
                                               request_token=token)
        except JukiError as e:  # audited by the service (certificate.refuse), or a malformed form
            return wide_page(request, values, problems=e.problems, status=_status(e))
        return wide_page(request, values, preview=page_images(document), document=document,
                         digest=_digest(web_context(request).token or "", {"wide_area": data}, token), request_token=token)

    @r.post("/certificates/wide-area/issue", name="web_certificate_wide_area_issue")
    async def wide_issue(request: Request, principal: Principal_ = None) -> Response:
        assert principal is not None
        form = await request.form()
        values = forms.Values({k: form.get(k) for k in form.keys()}, form)
        data = wide_area_data(form)
        given, token = form.get("preview_digest"), form.get("request_token")
        if not isinstance(given, str) or not isinstance(token, str) or not hmac.compare_digest(
                given, _digest(web_context(request).token or "", {"wide_area": data}, token)):
            return wide_page(request, values, status=409, problems=(Problem(
                "body", "REG-CERT/preview", "交付する前に「確認する」で内容を確認してください（確認の後に内容が変わりました）。",
                "Preview the certificate before issuing it (the request changed since the preview)."),))
        try:
            again = reg.issuance.redisplay(principal, token)  # issued already from this preview: the same one
            if again is not None:
                return redisplayed(request, again)
            issued = await asyncio.to_thread(reg.issuance.issue_wide_area, principal, wide_request(data), residence,
                                             request_token=token)
        except JukiError as e:
            return wide_page(request, values, problems=e.problems, status=_status(e))
        return pdf_response(issued.pdf, issued.certificate_id)
