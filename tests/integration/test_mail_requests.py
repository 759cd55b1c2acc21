"""郵送請求 through the real services, on both engines (REG-CERT, CTR-1; the 002 別紙2 incidents): a letter is
recorded and queued only when it could be issued as it stands (the 返信用封筒 at the 請求者's registered
address, refused at its field otherwise), issued at once with its 送付状, or issued with the day's batch
through issue_bulk into one print file (発送一覧, then per envelope its 送付状 and its certificate) that is read
back page by page; a batch that fails a proof issues nothing and names the request; a request has one
outcome (racing batches issue it once); a second submit hands out the same stored certificate again."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import sqlalchemy as sa

from juki.domain.certificate_requests import request_from_json
from juki.domain.errors import Conflict, Forbidden, InvalidInput, JukiError, NotFound, RuleViolation
from juki.issuance.mail import Fee
from juki.issuance.proof import Envelope, normalise, page_texts, pdf_text
from juki.issuance.service import new_request_token
from juki.issuance.tables import COPY_KEEP_DAYS

from ..issuance_support import CHIEF, CLERK, CLERK2, NUMBER

ADDRESS = "北海道札幌市中央区北一条西1丁目1番1号"
SABURO_ADDRESS = "北海道札幌市中央区南二条東2丁目2番2号"
POSTAL_ORDER = Fee("postal_order", 300)


def letter(world, who: str, subjects: list[str] | None = None, **fields: Any):
    """A 本人 request by mail with a copy of the health insurance card enclosed."""
    return request_from_json({"kind": "resident_copy", "path": "self", "channel": "mail",
                              "subject_ids": subjects or [world.ids[who]], "identity": [{"kind": "health_insurance"}],
                              "requester": {"name": who, "person_id": world.ids[who]}, **fields})


def rows(world, table: str) -> list[dict[str, Any]]:
    with world.reg.engine.connect() as c:
        return [dict(r) for r in c.execute(sa.text(f"SELECT * FROM {table}")).mappings()]


def queue_two(world) -> tuple[str, str]:
    mail = world.reg.mail
    a, _ = mail.record(CLERK, letter(world, "札幌　太郎"), Envelope("札幌　太郎", ADDRESS), POSTAL_ORDER, issue_now=False)
    world.clock.advance(seconds=60)
    b, _ = mail.record(CLERK, letter(world, "函館　三郎"), Envelope("函館　三郎", SABURO_ADDRESS), POSTAL_ORDER,
                       issue_now=False)
    return a, b


def test_a_queued_letter_is_listed_with_its_subject_and_never_the_number(world):
    taro = world.ids["札幌　太郎"]
    token = new_request_token()
    rid, printed = world.reg.mail.record(CLERK, letter(world, "札幌　太郎", items={"relationship": True}),
                                         Envelope("札幌 太郎", ADDRESS), POSTAL_ORDER, issue_now=False, form_token=token)
    assert printed is None and rid.startswith("M")
    [row] = rows(world, "mail_requests")
    assert (row["subject_ids"], row["fee_method"], row["fee_yen"], row["form_token"]) == (f'["{taro}"]', "postal_order", 300, token)
    assert json.loads(row["request"])["channel"] == "mail" and rows(world, "certificate_issuances") == []
    [recorded] = world.audit("certificate.mail.record")
    assert recorded["subject_ids"] == [taro] and recorded["detail"]["request_id"] == rid
    assert world.audit("certificate.preview")[-1]["subject_ids"] == [taro]  # checked as issue would check it
    [listed] = world.reg.mail.queue(CLERK)
    assert listed["request_id"] == rid and listed["subjects"][0]["name"] == "札幌　太郎"
    assert listed["subjects"][0]["address"] == ADDRESS and listed["fee"]["method_ja"] == "定額小為替"
    assert NUMBER not in json.dumps(listed, ensure_ascii=False)
    assert world.audit("certificate.mail.read")[-1]["subject_ids"] == [taro]
    # the same form sent again records nothing
    with pytest.raises(Conflict) as e:
        world.reg.mail.record(CLERK, letter(world, "札幌　太郎"), Envelope("札幌 太郎", ADDRESS), POSTAL_ORDER,
                              issue_now=False, form_token=token)
    assert rid in e.value.problems[0].ja and len(rows(world, "mail_requests")) == 1
    assert world.reg.mail.again(CLERK, token) is None  # queued: nothing was issued to hand out again


def test_the_envelope_must_be_the_requesters_registered_address_refused_at_its_field(world):
    mail = world.reg.mail
    with pytest.raises(RuleViolation) as e:
        mail.record(CLERK, letter(world, "札幌　太郎"), Envelope("札幌　太郎", "東京都千代田区千代田1番1号"), POSTAL_ORDER,
                    issue_now=False)
    assert [(p.field, p.rule) for p in e.value.problems] == [("envelope.address", "REG-CERT/envelope")]
    assert "北海道札幌市中央区北一条西1丁目1番1号" in e.value.problems[0].ja
    with pytest.raises(RuleViolation) as e:  # 花子's address, but the 請求者 is 太郎
        mail.record(CLERK, letter(world, "札幌　太郎"), Envelope("札幌　花子", ADDRESS), POSTAL_ORDER, issue_now=True)
    assert [p.field for p in e.value.problems] == ["envelope.addressee"]
    assert world.audit("certificate.refuse")[-1]["detail"]["rules"] == ["REG-CERT/envelope"]
    with pytest.raises(InvalidInput) as e:  # the fee, and a queued request of two persons
        mail.record(CLERK, letter(world, "札幌　太郎", [world.ids["札幌　太郎"], world.ids["札幌　花子"]]),
                    Envelope("札幌　太郎", ADDRESS), Fee("exempt", 0), issue_now=False)
    assert {p.field for p in e.value.problems} == {"fee.method", "subject_ids"}
    with pytest.raises(InvalidInput) as e:
        mail.record(CLERK, letter(world, "札幌　太郎"), Envelope("札幌　太郎", ADDRESS), Fee("postal_order", 0),
                    issue_now=False)
    assert [p.field for p in e.value.problems] == ["fee.yen"]
    assert rows(world, "mail_requests") == [] and rows(world, "certificate_issuances") == []


def test_issue_now_prints_the_cover_sheet_before_the_certificate_and_a_second_submit_gets_the_same_one(world):
    taro, hanako = world.ids["札幌　太郎"], world.ids["札幌　花子"]
    token = new_request_token()
    req = letter(world, "札幌　太郎", [taro, hanako])  # a certificate of two persons may be issued at once
    rid, printed = world.reg.mail.record(CLERK, req, Envelope("札幌　太郎", ADDRESS), POSTAL_ORDER, issue_now=True,
                                         form_token=token)
    assert printed is not None and not printed.again
    [issued] = printed.certificates
    cover, *pages = [normalise(t) for t in page_texts(printed.print_pdf)]
    assert "証明書の送付について" in cover and "札幌太郎様" in cover and normalise(ADDRESS) in cover
    assert issued.certificate_id in cover and rid in cover
    body = "".join(pages)
    assert "札幌太郎" in body and "札幌花子" in body and issued.certificate_id in body
    [logged] = rows(world, "certificate_issuances")
    assert (logged["channel"], logged["request_token"], logged["envelope_addressee"]) == ("mail", token, "札幌　太郎")
    [outcome] = rows(world, "mail_request_outcomes")
    assert (outcome["request_id"], outcome["outcome"], outcome["certificate_id"]) == (rid, "issued", issued.certificate_id)
    [copy] = rows(world, "certificate_copies")
    assert copy["certificate_id"] == issued.certificate_id and b"%PDF" not in bytes(copy["pdf_ciphertext"])
    assert world.reg.mail.queue(CLERK) == []  # issued, so not waiting
    # the form sent again: refused as a record, and the same certificate handed out again
    with pytest.raises(Conflict):
        world.reg.mail.record(CLERK, req, Envelope("札幌　太郎", ADDRESS), POSTAL_ORDER, issue_now=True, form_token=token)
    again = world.reg.mail.again(CLERK, token)
    assert again is not None and again.again and again.request_ids == (rid,)
    assert again.certificates[0].certificate_id == issued.certificate_id and again.certificates[0].pdf == issued.pdf
    assert len(rows(world, "certificate_issuances")) == 1 and len(world.audit("certificate.issue")) == 1
    assert world.audit("certificate.redisplay")[-1]["subject_ids"] == [taro, hanako]


def test_the_days_batch_is_one_print_file_in_envelope_order_read_back_one_subject_each(world):
    a, b = queue_two(world)
    listed = world.reg.mail.queue(CLERK)
    assert [x["request_id"] for x in listed] == [a, b]
    mailed = world.reg.mail.issue_batch(CLERK2, [b, a])  # the queue's order, whatever the selection's
    assert mailed.request_ids == (a, b) and mailed.batch_id
    taro, saburo = mailed.certificates
    assert taro.subject_ids == (world.ids["札幌　太郎"],) and saburo.subject_ids == (world.ids["函館　三郎"],)
    texts = [normalise(t) for t in page_texts(mailed.print_pdf)]
    assert "発送一覧" in texts[0] and "2通" in texts[0] and mailed.batch_id in texts[0]
    covers = [i for i, t in enumerate(texts) if "証明書の送付について" in t]
    assert len(covers) == 2 and covers[0] == 1
    first, second = "".join(texts[covers[0]:covers[1]]), "".join(texts[covers[1]:])
    assert "札幌太郎" in first and "函館三郎" not in first and taro.certificate_id in first and a in first
    assert "函館三郎" in second and "札幌太郎" not in second and saburo.certificate_id in second and b in second
    outcomes = {r["request_id"]: r for r in rows(world, "mail_request_outcomes")}
    assert {k: (v["outcome"], v["certificate_id"], v["batch_id"], v["decided_by"]) for k, v in outcomes.items()} == {
        a: ("issued", taro.certificate_id, mailed.batch_id, "clerk2"), b: ("issued", saburo.certificate_id, mailed.batch_id, "clerk2")}
    assert {r["batch_id"] for r in rows(world, "certificate_issuances")} == {mailed.batch_id}
    assert len(rows(world, "certificate_copies")) == 2 and world.reg.mail.queue(CLERK) == []
    with pytest.raises(Conflict) as e:  # issued once
        world.reg.mail.issue_batch(CLERK, [a])
    assert e.value.problems[0].field == f"requests[{a}]"


def test_a_batch_that_fails_the_proof_issues_nothing_and_names_the_request(world):
    """B's envelope would get A's certificate (the issuer is made to print A twice): the read-back of the
    PDFs stops the batch before the log; the error names B's request."""
    a, b = queue_two(world)
    service = world.reg.issuance
    make_issuer = service._issuer
    documents: list[Any] = []

    def swapping_issuer():
        issuer = make_issuer()

        def render(document, issued_by):
            documents.append(document)
            return issuer(documents[0] if len(documents) == 2 else document, issued_by)
        return render

    service._issuer = swapping_issuer
    try:
        with pytest.raises(RuleViolation) as e:
            world.reg.mail.issue_batch(CLERK, [a, b])
    finally:
        service._issuer = make_issuer
    assert {p.field.split(".")[0] for p in e.value.problems} == {f"requests[{b}]"}
    assert {p.rule for p in e.value.problems} == {"REG-CERT/bulk-mismatch"}
    for table in ("certificate_issuances", "certificate_copies", "mail_request_outcomes"):
        assert rows(world, table) == [], table
    assert "REG-CERT/bulk-mismatch" in world.audit("certificate.refuse")[-1]["detail"]["rules"]
    assert [x["request_id"] for x in world.reg.mail.queue(CLERK)] == [a, b]  # still waiting


def test_two_batches_racing_for_one_request_issue_it_once(world):
    a, b = queue_two(world)
    service = world.reg.issuance
    make_issuer = service._issuer
    inner: list[Any] = []

    def racing_issuer():
        issuer = make_issuer()

        def render(document, issued_by):
            if not inner:  # while this batch renders, another clerk's batch of one of its requests commits
                inner.append(None)
                inner.append(world.reg.mail.issue_batch(CLERK2, [b]))
            return issuer(document, issued_by)
        return render

    service._issuer = racing_issuer
    try:
        with pytest.raises(Conflict) as e:
            world.reg.mail.issue_batch(CLERK, [a, b])
    finally:
        service._issuer = make_issuer
    assert e.value.problems[0].field == f"requests[{b}]"
    [winner] = inner[1].certificates
    assert [r["certificate_id"] for r in rows(world, "certificate_issuances")] == [winner.certificate_id]
    assert [(r["request_id"], r["decided_by"]) for r in rows(world, "mail_request_outcomes")] == [(b, "clerk2")]
    assert [x["request_id"] for x in world.reg.mail.queue(CLERK)] == [a]


def test_a_request_returned_to_the_requester_leaves_the_queue_once(world):
    a, b = queue_two(world)
    with pytest.raises(InvalidInput):
        world.reg.mail.return_request(CLERK, a, " ")
    world.reg.mail.return_request(CLERK, a, "手数料が不足")
    [row] = rows(world, "mail_request_outcomes")
    assert (row["request_id"], row["outcome"], row["certificate_id"], row["note"]) == (a, "returned", None, "手数料が不足")
    assert world.audit("certificate.mail.return")[-1]["subject_ids"] == [world.ids["札幌　太郎"]]
    assert [x["request_id"] for x in world.reg.mail.queue(CLERK)] == [b]
    with pytest.raises(Conflict):
        world.reg.mail.return_request(CLERK, a, "again")
    with pytest.raises(NotFound):
        world.reg.mail.issue_batch(CLERK, ["MNOSUCH"])


def test_a_counter_double_submit_gets_the_same_stored_certificate(world):
    """CTR-1: the token's certificate again -- same id, same bytes -- audited as a re-display; never to
    another user, never without a copy."""
    taro = world.ids["札幌　太郎"]
    req = request_from_json({"kind": "resident_copy", "path": "self", "identity": [{"kind": "drivers_license"}],
                             "subject_ids": [taro], "requester": {"name": "札幌　太郎", "person_id": taro}})
    token = new_request_token()
    issued = world.reg.issuance.issue(CLERK, req, request_token=token)
    with pytest.raises(Conflict):
        world.reg.issuance.issue(CLERK, req, request_token=token)
    again = world.reg.issuance.redisplay(CLERK, token)
    assert again is not None and (again.certificate_id, again.pdf, again.pdf_sha256) == (
        issued.certificate_id, issued.pdf, issued.pdf_sha256)
    assert issued.certificate_id in normalise(pdf_text(again.pdf))
    [entry] = world.audit("certificate.redisplay")
    assert entry["subject_ids"] == [taro] and entry["detail"]["certificate_id"] == issued.certificate_id
    assert world.reg.issuance.redisplay(CLERK, new_request_token()) is None
    with pytest.raises(Forbidden):
        world.reg.issuance.redisplay(CHIEF, token)
    plain = world.reg.issuance.issue(CLERK, req)  # without a token (the API): no copy is kept
    with pytest.raises(JukiError) as e:
        world.reg.issuance.copy_of(CLERK, plain.certificate_id)
    assert e.value.problems[0].rule == "REG-CERT/redisplay"
    assert len(rows(world, "certificate_issuances")) == 2 and len(rows(world, "certificate_copies")) == 1


def test_copies_are_deleted_a_week_after_they_were_stored_by_a_logged_purge(world):
    """SEC-8: a stored copy is kept COPY_KEEP_DAYS; the next issuance that keeps a copy purges the older ones
    (at most once a day), logged and audited; the issuance log stays and a 再表示 of a purged copy is refused."""
    taro = world.ids["札幌　太郎"]
    req = request_from_json({"kind": "resident_copy", "path": "self", "identity": [{"kind": "drivers_license"}],
                             "subject_ids": [taro], "requester": {"name": "札幌　太郎", "person_id": taro}})

    def issue() -> str:
        return world.reg.issuance.issue(CLERK, req, request_token=new_request_token()).certificate_id

    def stored() -> set[str]:
        return {r["certificate_id"] for r in rows(world, "certificate_copies")}

    first_token = new_request_token()
    first = world.reg.issuance.issue(CLERK, req, request_token=first_token).certificate_id  # day 0, 00:00
    assert rows(world, "certificate_copy_purges") == []  # nothing had expired: nothing logged
    world.clock.advance(hours=1)
    early = issue()  # day 0, 01:00
    world.clock.advance(days=COPY_KEEP_DAYS, hours=-1, seconds=-1)
    issue()  # a second short of a week after the first: nothing purged yet
    assert {first, early} <= stored() and rows(world, "certificate_copy_purges") == []
    world.clock.advance(seconds=2)
    third = issue()  # a week and a second: the first goes, the early one (a week less an hour) stays
    assert first not in stored() and {early, third} <= stored()
    [purge] = rows(world, "certificate_copy_purges")
    assert purge["copies"] == 1 and purge["actor"] == "system:juki"
    [entry] = world.audit("certificate.copy.purge")
    assert entry["detail"]["copies"] == 1
    assert len(rows(world, "certificate_issuances")) == 4  # the record of what was issued stays
    with pytest.raises(NotFound):
        world.reg.issuance.redisplay(CLERK, first_token)
    world.clock.advance(hours=23)  # the early copy has now expired, but the last purge is under a day old
    issue()
    assert early in stored() and len(rows(world, "certificate_copy_purges")) == 1
    assert world.reg.issuance.purge_copies(actor="operator") == 1  # by hand (juki cert purge-copies)
    assert early not in stored() and len(stored()) == 3
    assert [r["actor"] for r in rows(world, "certificate_copy_purges")] == ["system:juki", "operator"]
    assert world.reg.issuance.purge_copies(actor="operator") == 0
    world.clock.advance(days=COPY_KEEP_DAYS - 1, hours=2)  # the third has expired, the last purge is days old: issuing purges
    issue()
    assert third not in stored()
    assert [r["actor"] for r in rows(world, "certificate_copy_purges")] == ["system:juki", "operator", "system:juki"]


def test_the_cli_purges_expired_copies(world, database_url, tmp_path, monkeypatch, capsys):
    """``juki cert purge-copies`` (an operator's cron, or by hand) runs the same logged purge."""
    from juki.cli.main import main

    taro = world.ids["札幌　太郎"]
    req = request_from_json({"kind": "resident_copy", "path": "self", "identity": [{"kind": "drivers_license"}],
                             "subject_ids": [taro], "requester": {"name": "札幌　太郎", "person_id": taro}})
    world.reg.issuance.issue(CLERK, req, request_token=new_request_token())  # stored at the test clock (2026-04)
    monkeypatch.setenv("JUKI_DATABASE_URL", database_url)
    monkeypatch.setenv("JUKI_KEY_FILE", str(tmp_path / "keys.json"))
    days = (dt.datetime.now(dt.UTC) - world.clock.now).days + 1  # more days than have passed: nothing expired
    assert main(["cert", "purge-copies", "--days", str(days)]) == 0
    assert "0 件" in capsys.readouterr().out and len(rows(world, "certificate_copies")) == 1
    assert main(["cert", "purge-copies", "--actor", "ops-cron"]) == 0  # a week: the copy has expired
    assert "1 件" in capsys.readouterr().out and rows(world, "certificate_copies") == []
    assert [r["actor"] for r in rows(world, "certificate_copy_purges")] == ["ops-cron"]
