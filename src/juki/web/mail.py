"""郵送請求 and 一括交付 at the counter (REG-CERT, CTR-1; issue 4/6: "mail and batch issuance in the UI").

``/ui/certificates/mail``: the clerk loads the household of the persons a letter asks about (by 世帯番号 or
宛名番号), then records the letter on one form whose field names are the request's own paths, as on the
counter's certificate page: the persons to certify, the kind, items and purpose, the 請求者 (a member of
the household, or someone else with their address), the kinds of 本人確認書類 whose copies are enclosed, a
代理人 and 委任状, a third party's reason or a public body's statute, the 返信用封筒's 宛名 and 住所, and the
手数料 received (定額小為替, 現金書留, none for a 公用請求).  Two buttons:

* **今すぐ交付する** issues it (:meth:`~juki.issuance.mail.MailService.record` with ``issue_now``): the page
  then offers the print file -- the 送付状 addressed for a window envelope, then the certificate -- to
  download;
* **一括交付に回す** queues it for the day's batch (one person per certificate).

Both check the request as issuing it would: the envelope must be the 請求者's registered address on the
本人 path (the subject's when a 代理人 asked for the 個人番号; an office or third party at its stated
address), refused at ``envelope.addressee`` / ``envelope.address``.  The form carries a one-time token
made when it was shown: the same form sent twice records once, and for a letter issued at once the second
submit shows the same certificate again (:meth:`~juki.issuance.mail.MailService.again`).

``/ui/certificates/mail/batch``: the letters waiting (received today and before), all chosen; 一括交付する
issues the chosen ones with :meth:`~juki.issuance.mail.MailService.issue_batch` and offers **one print
file** in envelope order: the 発送一覧 (count and envelopes, to compare with the stuffed envelopes), then per
envelope its 送付状 and its certificate -- a clerk takes the sheets from the printer's tray in order and
everything from one 送付状 to the next goes into one window envelope (chosen over one PDF per envelope: one
print job, no file to miss, and the window shows the address the sheet carries).  A batch refused by any
check issues nothing; the error names the 郵送受付番号 and the reason at its row.  返戻 closes a letter that
will not be issued.

The print file is handed over in the result page as a download link (a ``data:`` URL of the PDF), so no
route serves certificates by id.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from juki.api.common import Principal_
from juki.api.security import Rule
from juki.clock import jst_date
from juki.config import Register
from juki.domain import certificate_requests as cr
from juki.domain.certificates import CertificateKind
from juki.domain.errors import Conflict, InvalidInput, JukiError, Problem
from juki.issuance.mail import FEE_JA, Fee, Mailed
from juki.issuance.proof import Envelope
from juki.issuance.service import new_request_token

from . import forms
from .certificates import DOCUMENTS, SECTION_IDS, _status, request_data, sections
from .forms import Field, Section
from .pages import render

RULES: dict[str, Rule] = {
    "web_certificate_mail": "certificate.issue",
    "web_certificate_mail_queue": "certificate.issue",
    "web_certificate_mail_issue": "certificate.issue",
    "web_certificate_mail_batch": "certificate.issue",
    "web_certificate_mail_batch_issue": "certificate.issue",
    "web_certificate_mail_return": "certificate.issue",
}

MAIL_KINDS = tuple((k.value, k.ja) for k in CertificateKind if k is not CertificateKind.SEAL)
"""A 印鑑登録証明書 is issued on presenting the 印鑑登録証: never by mail."""


def mail_sections(members: list[dict[str, Any]]) -> list[Section]:
    """The counter's request form for a letter: no 印鑑登録証, the identity documents as enclosed copies,
    and the 返信用封筒 and the 手数料."""
    out: list[Section] = []
    for s in sections(members):
        if s.id == "seal":
            continue
        if s.id == "identity_section":
            s = Section(s.id, "本人確認書類の写し", (
                Field("identity", "同封された本人確認書類の写し", "checkboxes", DOCUMENTS,
                      hint="請求者（代理人が請求するときは代理人）の本人確認書類の写しを確認し、その種類を選びます。"),))
        if s.id == "certificate":
            s = Section(s.id, s.legend, tuple(
                Field(f.name, f.label, f.kind, MAIL_KINDS, f.required, f.hint) if f.name == "kind" else f for f in s.fields))
        out.append(s)
    out.append(Section("envelope", "返信用封筒（送付先）", (
        Field("envelope.addressee", "宛名", required=True, hint="返信用封筒に書かれたとおり"),
        Field("envelope.address", "住所", required=True, size="l",
              hint="本人等の請求は、請求者の住民票の住所あてに限ります（代理人が個人番号入りを請求したときは本人の住所）。"
                   "公用・第三者請求は請求者の住所（所在地）です。"),
    )))
    out.append(Section("fee", "手数料", (
        Field("fee.method", "納付方法", "radio", tuple(FEE_JA.items()), required=True),
        Field("fee.yen", "受け取った金額（円）", size="s", inputmode="numeric"),
    )))
    return out


def mail_data(form: FormData, members: list[dict[str, Any]]) -> tuple[dict[str, Any], Envelope, Fee]:
    """The request (channel ``mail``), the envelope and the fee as the form gives them."""
    def v(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    data = request_data(form, members)
    data["channel"] = cr.Channel.MAIL.value
    data.pop("seal_card_number", None)
    yen = v("fee.yen").replace(",", "").replace("円", "")
    if yen and not yen.isdigit():
        raise InvalidInput(Problem("fee.yen", "REG-CERT/mail-fee", "金額は数字（円）で入力してください。",
                                   "Enter the amount in yen (digits)."))
    return data, Envelope(v("envelope.addressee"), v("envelope.address")), Fee(v("fee.method"), int(yen or 0))


def pdf_link(pdf: bytes) -> str:
    return "data:application/pdf;base64," + base64.b64encode(pdf).decode("ascii")


def issued_page(request: Request, *, title: str, mailed: Mailed | None = None, certificates: Any = (),
                print_pdf: bytes = b"", filename: str = "", again: bool = False, request_ids: Any = (),
                status: int = 200) -> Response:
    """The certificates handed out (or handed out again): what they are, where they go, and the file to print."""
    certs = list(mailed.certificates) if mailed else list(certificates)
    return render(request, "certificate_issued.html", status, title=title, certificates=certs,
                  mailed=mailed, again=again or bool(mailed and mailed.again),
                  request_ids=list(mailed.request_ids) if mailed else list(request_ids),
                  pdf_href=pdf_link(print_pdf) if print_pdf else "", filename=filename)


def add_routes(r: APIRouter, reg: Register) -> None:
    """The routes of :data:`RULES`, on the web router ``r``."""

    def load(principal: Any, household_id: str, person_id: str) -> dict[str, Any] | None:
        if person_id:
            household_id = reg.reads.person(principal, person_id)["household_id"]
        return reg.reads.household(principal, household_id) if household_id else None

    def page(request: Request, household: dict[str, Any] | None, values: Any, *, problems: tuple[Problem, ...] = (),
             status: int = 200) -> Response:
        members = household["members"] if household else []
        parts = mail_sections(members)
        fields = {f.name: f.label for s in parts for f in s.fields}
        views, at = forms.problem_views(problems, fields, {**SECTION_IDS, **{s.id: s.legend for s in parts}}, "郵送請求")
        return render(request, "certificate_mail.html", status, title="郵送請求の受付", household=household,
                      sections=parts, values=values, problems=views, errors=at)

    @r.get("/certificates/mail", name="web_certificate_mail")
    def start(request: Request, principal: Principal_ = None, household_id: str = "", person_id: str = "") -> Response:
        assert principal is not None
        household = load(principal, household_id.strip(), person_id.strip())
        chosen = [person_id.strip()] if person_id.strip() else []
        return page(request, household, forms.Values({"subject_ids": chosen, "kind": "resident_copy", "path": "self",
                                                      "fee.method": "postal_order", "form_token": new_request_token()}))

    async def record(request: Request, principal: Any, issue_now: bool) -> Response:
        form = await request.form()
        values = forms.Values({k: form.get(k) for k in form.keys()}, form)
        household_id = form.get("household_id")
        household = load(principal, household_id if isinstance(household_id, str) else "", "")
        token = form.get("form_token")
        token = token if isinstance(token, str) and token else None
        try:
            data, envelope, fee = mail_data(form, household["members"] if household else [])
            req = cr.request_from_json(data)
            request_id, mailed = await asyncio.to_thread(reg.mail.record, principal, req, envelope, fee,
                                                         issue_now=issue_now, form_token=token)
        except Conflict as e:  # the same form again (REG-CERT/issue-once): what it did the first time
            again = reg.mail.again(principal, token) if token else None
            if again is not None:
                return issued_page(request, title="交付済みの証明書（再表示）", mailed=again,
                                   print_pdf=again.print_pdf, filename=f"{again.certificates[0].certificate_id}-mail.pdf")
            recorded = reg.mail.recorded(token) if token else None
            if recorded is not None:
                return render(request, "certificate_mail_queued.html", 200, title="郵送請求を受け付けました",
                              request_id=recorded, again=True)
            return page(request, household, values, problems=e.problems, status=_status(e))
        except JukiError as e:  # the service's refusals are audited there (certificate.refuse)
            return page(request, household, values, problems=e.problems, status=_status(e))
        if mailed is None:
            return render(request, "certificate_mail_queued.html", 200, title="郵送請求を受け付けました",
                          request_id=request_id, again=False)
        return issued_page(request, title="郵送する証明書を交付しました", mailed=mailed, print_pdf=mailed.print_pdf,
                           filename=f"{mailed.certificates[0].certificate_id}-mail.pdf")

    @r.post("/certificates/mail/queue", name="web_certificate_mail_queue")
    async def queue(request: Request, principal: Principal_ = None) -> Response:
        assert principal is not None
        return await record(request, principal, False)

    @r.post("/certificates/mail/issue", name="web_certificate_mail_issue")
    async def issue_now(request: Request, principal: Principal_ = None) -> Response:
        assert principal is not None
        return await record(request, principal, True)

    # --- the day's batch -------------------------------------------------------------------------------

    def batch_page(request: Request, principal: Any, day: dt.date, *, chosen: list[str] | None = None,
                   problems: tuple[Problem, ...] = (), status: int = 200, notice: str = "") -> Response:
        waiting = reg.mail.queue(principal, until=day)
        rows = {f"requests[{w['request_id']}]": f"郵送受付番号 {w['request_id']}" for w in waiting}
        views, at = forms.problem_views(problems, {}, {**rows, "requests": "一括交付", "note": "返戻の理由"}, "一括交付")
        return render(request, "certificate_mail_batch.html", status, title="郵送請求の一括交付", waiting=waiting,
                      day=day.isoformat(), chosen=chosen if chosen is not None else [w["request_id"] for w in waiting],
                      problems=views, errors=at, notice=notice)

    def day_of(text: Any, principal: Any) -> dt.date:
        try:
            return dt.date.fromisoformat(text) if isinstance(text, str) and text else jst_date(reg.now())
        except ValueError:
            return jst_date(reg.now())

    @r.get("/certificates/mail/batch", name="web_certificate_mail_batch")
    def batch(request: Request, principal: Principal_ = None, day: str = "") -> Response:
        assert principal is not None
        return batch_page(request, principal, day_of(day, principal))

    @r.post("/certificates/mail/batch", name="web_certificate_mail_batch_issue")
    async def batch_issue(request: Request, principal: Principal_ = None) -> Response:
        assert principal is not None
        form = await request.form()
        day = day_of(form.get("day"), principal)
        ids = [x for x in form.getlist("request_ids") if isinstance(x, str)]
        try:
            mailed = await asyncio.to_thread(reg.mail.issue_batch, principal, ids)
        except JukiError as e:  # nothing was issued; the problems name the requests
            return batch_page(request, principal, day, chosen=ids, problems=e.problems, status=_status(e))
        return issued_page(request, title="一括交付しました", mailed=mailed, print_pdf=mailed.print_pdf,
                           filename=f"{mailed.batch_id}-mail.pdf")

    @r.post("/certificates/mail/return", name="web_certificate_mail_return")
    async def return_request(request: Request, principal: Principal_ = None) -> Response:
        assert principal is not None
        form = await request.form()
        day = day_of(form.get("day"), principal)
        rid, note = form.get("request_id"), form.get("note")
        try:
            reg.mail.return_request(principal, rid if isinstance(rid, str) else "", note if isinstance(note, str) else "")
        except JukiError as e:
            return batch_page(request, principal, day, problems=e.problems, status=_status(e))
        return batch_page(request, principal, day, notice=f"郵送受付番号 {rid} を返戻にしました。請求者に返送してください。")
