"""Certificates as real PDFs: what is printed (read back with pdfium), the QR code (read back with
zxing-cpp from a rendering of the page), and verification of the signature (REG-CERT, SEC-8).

Each document type's first page is saved as ``artifacts/certificates/<kind>.png`` for a person to look at.
"""

from __future__ import annotations

import ctypes
import dataclasses
import datetime as dt
import os
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw
import pytest

from juki.adapters.pdf.render import Renderer
from juki.adapters.pdf.signing import (
    BLOCK_START,
    CertificateSigner,
    IssuedCertificate,
    b64url,
    issue,
    payload_json,
    seal,
)
from juki.adapters.pdf.verify import read_qr_codes, verify_pdf, verify_qr_text
from juki.domain.certificates import (
    CertificateKind,
    HistoryLine,
    Items,
    Layout,
    canonical_json,
    content,
    content_json,
)
from juki.domain.wareki import wareki

from ..certificate_samples import KATSU_IVS, MEMBERS, doc, foreigner, household, person, with_items

K = CertificateKind
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "certificates"


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


@pytest.fixture(scope="module")
def signer(tmp_path_factory) -> CertificateSigner:
    return CertificateSigner.load_or_create(tmp_path_factory.mktemp("keys") / "cert-key.pem")


@pytest.fixture(scope="module")
def issued(renderer, signer) -> dict[str, IssuedCertificate]:
    """One certificate of each kind, plus a few variants, issued once for the module."""
    persons6, h6 = household(6)
    docs = {k.value: doc(k) for k in K}
    docs["six_persons"] = doc(persons=persons6, household_record=h6)
    docs["all_items"] = with_items(doc(), domicile=True, relationship=True, juminhyo_code=True,
                                   individual_number=True, head_of_household=True)
    docs["individual"] = doc(layout=Layout.INDIVIDUAL)
    docs["foreigner"] = with_items(doc(persons=(foreigner(),), household_record=None, layout=Layout.INDIVIDUAL),
                                   nationality=True, residence_status=True)
    docs["history"] = doc(items=Items(history=True), history=(
        HistoryLine(dt.date(2021, 4, 1), "転居", "札幌市北区北七条西5丁目3番から", "0000000002"),
        HistoryLine(dt.date(2018, 10, 1), "転入", "千葉市中央区千葉港1番1号から")))
    at = dt.datetime(2026, 11, 23, 1, 2, 3, tzinfo=dt.UTC)
    return {name: issue(d, signer, "clerk01", at=at, renderer=renderer) for name, d in docs.items()}


def pages_text(pdf: bytes) -> list[str]:
    d = pdfium.PdfDocument(pdf)
    try:
        return [d[i].get_textpage().get_text_range() for i in range(len(d))]
    finally:
        d.close()


def font_names(pdf: bytes) -> set[str]:
    """The fonts of the text on the first page (subset prefix dropped)."""
    d = pdfium.PdfDocument(pdf)
    names = set()
    for obj in d[0].get_objects(filter=[pdfium_raw.FPDF_PAGEOBJ_TEXT]):
        font = pdfium_raw.FPDFTextObj_GetFont(obj.raw)
        size = pdfium_raw.FPDFFont_GetBaseFontName(font, None, 0)
        buffer = ctypes.create_string_buffer(size)
        pdfium_raw.FPDFFont_GetBaseFontName(font, buffer, size)
        names.add(buffer.value.decode().split("+")[-1])
    d.close()
    return names


def flat(text: str) -> str:
    return "".join(text.split()).replace("　", "")


def test_each_kind_prints_its_title_person_dates_and_verifies(issued, signer):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for kind in K:
        cert = issued[kind.value]
        text = flat("".join(pages_text(cert.pdf)))
        assert kind.ja in text, kind
        assert "髙橋一郎" in text and "昭和50年3月14日" in text  # the first subject, 和暦
        assert "令和8年11月23日" in text and "札幌市長秋元克広" in text and cert.certificate_id in text
        assert "以下余白" in text
        result = verify_pdf(cert.pdf, signer.public_key)
        assert result.ok, (kind, result.reasons)
        assert result.payload == cert.payload and result.payload["kind"] == kind.value
        d = pdfium.PdfDocument(cert.pdf)
        d[0].render(scale=150 / 72).to_pil().save(ARTIFACTS / f"{kind.value}.png")
        d.close()
    assert all((ARTIFACTS / f"{k.value}.png").stat().st_size > 10_000 for k in K)


def test_household_copy_omits_optional_items_unless_asked(issued):
    plain = flat(pages_text(issued["resident_copy"].pdf)[0])
    for absent in ("本籍", "筆頭者", "続柄", "住民票コード", "個人番号", "24727059600", "123456780008", "世帯主"):
        assert absent not in plain, absent
    for present in ("髙橋美﨑", "タカハシミサキ", "転入前住所", "千葉県千葉市中央区千葉港1番1号", "異動前住所",
                    "住民となった日", "住所を定めた日", "届出日", "この写しは、世帯全員の住民票の原本と相違ないことを証明する。"):
        assert present in plain, present
    full = flat(pages_text(issued["all_items"].pdf)[0])
    for present in ("本籍", "千葉県千葉市中央区千葉港1番", "筆頭者", "続柄", "妻", "住民票コード", "24727059600",
                    "個人番号", "123456780008", "世帯主"):
        assert present in full, present
    assert issued["all_items"].payload["items"] == ["domicile", "head_of_household", "relationship",
                                                    "juminhyo_code", "individual_number"]


def test_history_is_printed_only_when_asked(issued, signer):
    asked = flat(pages_text(issued["history"].pdf)[0])
    assert "異動履歴" in asked and "令和3年4月1日転居札幌市北区北七条西5丁目3番から" in asked
    assert "世帯の異動履歴" in asked and "平成30年10月1日転入千葉市中央区千葉港1番1号から" in asked
    assert "異動履歴" not in flat(pages_text(issued["resident_copy"].pdf)[0])
    assert issued["history"].payload["items"] == ["history"] and verify_pdf(issued["history"].pdf, signer.public_key).ok


def test_each_person_has_the_right_wareki_dates(issued):
    text = flat("".join(pages_text(issued["six_persons"].pdf)))
    for name, _kana, birth, _sex, _rel in MEMBERS:
        assert flat(name) in text  # exactly, the IVS sequence included
        assert wareki(birth) in text
    for boundary in ("昭和64年1月7日", "平成元年1月8日", "令和元年5月1日", "大正15年12月24日"):
        assert boundary in text


def test_five_or_more_persons_continue_on_a_second_sheet_as_one_document(issued, signer):
    cert = issued["six_persons"]
    first, second = (flat(t) for t in pages_text(cert.pdf))
    assert "1/2" in first and "2/2" in second
    assert cert.certificate_id in first and cert.certificate_id in second
    assert "髙橋令" in first and "髙橋平" not in first and "髙橋平" in second and "髙橋大正" in second
    assert "以下余白" not in first and "以下余白" in second
    assert "証明する" not in first and "証明する" in second  # the certification closes the document
    assert "（続き）" in second
    assert cert.payload["pages"] == 2 and cert.payload["n"] == 6
    d = pdfium.PdfDocument(cert.pdf)
    assert read_qr_codes(d, 1) == [cert.qr_text] and read_qr_codes(d, 0) == []
    d.close()
    assert verify_pdf(cert.pdf, signer.public_key).ok


def test_single_persons_sheet_and_partial_household(issued, renderer):
    pages = [flat(t) for t in pages_text(issued["individual"].pdf)]
    assert len(pages) == 4 and all("北海道札幌市中央区北一条西2丁目1番地札幌ハイツ101号" in p for p in pages)
    assert "髙橋一郎" in pages[0] and "髙橋美﨑" not in pages[0] and "髙橋美﨑" in pages[1]
    persons, h = household(4)
    part = flat(pages_text(renderer.render(doc(persons=persons[:2], household_record=h)))[0])
    assert "この写しは、住民票の原本と相違ないことを証明する。" in part and "世帯の一部" in part and "髙橋葛子" not in part


def test_number_only_where_the_law_puts_it(issued):
    assert "123456780008" in flat(pages_text(issued["move_out"].pdf)[0])  # 転出証明書 (施行令23条)
    for kind in (K.CODE_NOTICE, K.SEAL, K.REMOVED_COPY, K.ENTRY_CERTIFICATE):
        text = flat(pages_text(issued[kind.value].pdf)[0])
        assert "個人番号" not in text and "123456780008" not in text, kind
    assert "24727059600" in flat(pages_text(issued["code_notice"].pdf)[0])
    assert "24727059600" not in flat(pages_text(issued["seal"].pdf)[0])


def test_foreign_resident_items(issued):
    text = flat(pages_text(issued["foreigner"].pdf)[0])
    for present in ("SMITHJOHN", "通称", "須美須譲", "国籍・地域", "英国", "在留資格", "技術・人文知識・国際業務",
                    "令和11年3月31日", "AB12345678CD"):
        assert present in text, present
    assert "本籍" not in text


def test_characters_printed_exactly_with_ipamj_including_ivs(renderer):
    """髙 and 﨑 come out as themselves (not 高, 崎); the IVS sequence 葛󠄀 selects a different glyph than 葛."""
    with_ivs = doc(K.SEAL)
    plain_name = dataclasses.replace(with_ivs, persons=(with_ivs.persons[0].replace(name=f"髙橋　{KATSU_IVS}子"),))
    plain_base = dataclasses.replace(with_ivs, persons=(with_ivs.persons[0].replace(name="髙橋　葛子"),))
    a, b = renderer.render(plain_name), renderer.render(plain_base)
    # IPAmj明朝's glyphs: from its pre-built subset (fontsubset), the IVS sequence included
    assert font_names(a) == font_names(b) == {"IPAmjMincho-Juki"}
    text = pages_text(renderer.render(doc()))[0]
    assert "髙橋" in text and "\u9ad8橋" not in text and "美\ufa11" in text and f"{KATSU_IVS}子" in text
    img_a = pdfium.PdfDocument(a)[0].render(scale=4).to_pil()
    img_b = pdfium.PdfDocument(b)[0].render(scale=4).to_pil()
    assert img_a.size == img_b.size and img_a.tobytes() != img_b.tobytes()
    same = pdfium.PdfDocument(renderer.render(plain_name))[0].render(scale=4).to_pil()
    assert same.tobytes() == img_a.tobytes()  # the difference is the glyph, not noise


RARE = "\U00020BB7"
"""𠮷 (つちよし, JIS X 0213 plane 2): in IPAmj明朝, not in its pre-built subset."""


def test_the_font_subset_changes_nothing_on_the_page(renderer):
    """Pages printed with the subset first in the font stack are pixel-identical to pages printed with the
    full IPAmj明朝 alone (and read back as the same text): a 外字 outside the subset comes from the full font,
    an IVS sequence of a kept base character selects the same MJ glyph, the rest comes from the subset."""
    from juki.adapters.pdf import fontsubset

    assert renderer.subset_font is not None and renderer.subset_font.is_file()
    points = fontsubset.charset()
    assert ord(RARE) not in points and ord("葛") in points and 0xE0102 in points and ord("髙") in points
    base = doc(K.SEAL)
    rare = dataclasses.replace(base, persons=(base.persons[0].replace(name=f"{RARE}田　{KATSU_IVS}子"),))
    full = Renderer(common_subset=False, lean_ua=False)
    for document in (rare, doc(), doc(K.MOVE_OUT)):
        fast, slow = renderer.render(document, qr="JKC1:x:{}"), full.render(document, qr="JKC1:x:{}")
        assert font_names(slow) == {"IPAmjMincho"}
        assert pages_text(fast) == pages_text(slow)
        a, b = pdfium.PdfDocument(fast), pdfium.PdfDocument(slow)
        assert len(a) == len(b)
        for i in range(len(a)):
            assert a[i].render(scale=3).to_pil().tobytes() == b[i].render(scale=3).to_pil().tobytes(), i
    printed = renderer.render(rare)
    assert font_names(printed) == {"IPAmjMincho-Juki", "IPAmjMincho"}  # 𠮷 from the full font
    assert f"{RARE}田" in pages_text(printed)[0] and f"{KATSU_IVS}子" in pages_text(printed)[0]


def test_the_trimmed_user_agent_stylesheet_changes_nothing(renderer):
    """Without the universal ::marker/::footnote rules (render.ua_stylesheet) every kind prints the same."""
    plain = Renderer(lean_ua=False)
    assert renderer._ua is not None and plain._ua is None
    for kind in K:
        document = doc(kind)
        assert renderer.render(document, qr="JKC1:x:{}") == plain.render(document, qr="JKC1:x:{}"), kind


def test_qr_code_on_the_page_carries_the_signed_payload(issued, signer):
    cert = issued["resident_copy"]
    codes = read_qr_codes(pdfium.PdfDocument(cert.pdf))
    assert codes == [cert.qr_text]
    checked = verify_qr_text(codes[0], signer.public_key)
    assert checked.ok and checked.payload == cert.payload
    assert checked.payload["content"] == cert.content_sha256 and checked.payload["by"] == "clerk01"
    assert checked.payload["at"] == "2026-11-23T01:02:03Z" and checked.payload["issued_on"] == "2026-11-23"
    forged = codes[0].replace('"by":"clerk01"', '"by":"clerk02"')
    assert not verify_qr_text(forged, signer.public_key).ok


def rules(result) -> set[str]:
    return {p.rule for p in result.reasons}


def test_a_one_byte_change_anywhere_fails(issued, signer):
    pdf = issued["code_notice"].pdf
    block_at = pdf.rfind(BLOCK_START)
    positions = sorted({*range(0, block_at, max(1, block_at // 25)), block_at - 1,
                        *range(block_at - 2500, block_at, 11),  # the attachment, xref and trailer
                        *range(block_at, len(pdf), 5), len(pdf) - 1})
    for i in positions:
        for flip in (0x01, 0x20):
            changed = bytearray(pdf)
            changed[i] ^= flip
            result = verify_pdf(bytes(changed), signer.public_key, check_qr=False)  # never raises
            assert not result.ok, (i, flip)
            assert result.reasons
    assert not verify_pdf(pdf + b"\n", signer.public_key).ok
    assert not verify_pdf(pdf[:-1], signer.public_key).ok
    assert not verify_pdf(pdf[:block_at], signer.public_key).ok
    assert rules(verify_pdf(pdf[:block_at], signer.public_key)) == {"REG-CERT/verify-format"}


def test_changed_payload_fails_both_signatures(issued, signer):
    cert = issued["resident_copy"]
    forged = cert.pdf.replace(b'"n":4', b'"n":3', 1)
    assert forged != cert.pdf
    result = verify_pdf(forged, signer.public_key)
    assert not result.ok
    assert {"REG-CERT/verify-pdf-signature", "REG-CERT/verify-payload-signature"} <= rules(result)
    assert all(p.ja and p.en for p in result.reasons)


def test_wrong_key_fails(issued, tmp_path):
    other = CertificateSigner.load_or_create(tmp_path / "other.pem")
    result = verify_pdf(issued["resident_copy"].pdf, other.public_key)
    assert not result.ok
    assert {"REG-CERT/verify-key", "REG-CERT/verify-pdf-signature", "REG-CERT/verify-payload-signature"} <= rules(result)


def _sealed_with(renderer, signer, document, *, qr: str, attachment: bytes, payload: dict) -> bytes:
    """A PDF signed with the right key whose parts disagree: what a faulty issuer (or a key thief
    careless with the details) would produce.  The verifier must notice each disagreement."""
    raw = payload_json(payload)
    sig = b64url(signer.sign_payload(raw))
    return seal(renderer.render(document, qr=qr, attachment=attachment), signer, raw, sig)


def test_qr_and_content_must_match_the_signed_payload(issued, renderer, signer):
    cert = issued["resident_copy"]
    document = doc()
    right = canonical_json(content_json(content(document)))
    other_qr = issued["seal"].qr_text
    bad_qr = _sealed_with(renderer, signer, document, qr=other_qr, attachment=right, payload=cert.payload)
    assert rules(verify_pdf(bad_qr, signer.public_key)) == {"REG-CERT/verify-qr"}
    other = canonical_json(content_json(content(doc(K.SEAL))))
    bad_content = _sealed_with(renderer, signer, document, qr=cert.qr_text, attachment=other, payload=cert.payload)
    assert rules(verify_pdf(bad_content, signer.public_key)) == {"REG-CERT/verify-content"}
    # content whose hash matches the payload but whose text is not what the pages show
    seal_doc = doc(K.SEAL)
    mismatched = _sealed_with(renderer, signer, seal_doc, qr=cert.qr_text, attachment=right, payload=cert.payload)
    assert "REG-CERT/verify-content" in rules(verify_pdf(mismatched, signer.public_key))


def test_not_a_pdf(signer):
    assert rules(verify_pdf(b"hello", signer.public_key)) == {"REG-CERT/verify-format"}


def test_signer_key_file_is_private_and_stable(tmp_path):
    path = tmp_path / "k" / "cert.pem"
    first = CertificateSigner.load_or_create(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    again = CertificateSigner.load_or_create(path)
    assert again.key_id == first.key_id and again.public_key_pem() == first.public_key_pem()
    os.chmod(path, 0o644)
    with pytest.raises(Exception, match="chmod 600"):
        CertificateSigner.load_or_create(path)


def test_items_on_a_code_notice_are_refused_before_printing(signer, renderer):
    from juki.domain.errors import RuleViolation

    with pytest.raises(RuleViolation):
        issue(dataclasses.replace(doc(K.CODE_NOTICE), items=Items(individual_number=True)), signer, "clerk01",
              renderer=renderer)
    assert person(0).individual_number  # the record has one; the notice still never prints it


def test_font_cache_changes_nothing_in_the_output(renderer):
    from juki.adapters.pdf import fontcache

    document = doc()
    fontcache.uninstall()
    try:
        without = Renderer(font_cache=False).render(document, qr="JKC1:x:{}")
    finally:
        fontcache.install()
    assert fontcache.STATUS == "installed"
    assert renderer.render(document, qr="JKC1:x:{}") == without


def image_count(pdf: bytes) -> int:
    d = pdfium.PdfDocument(pdf)
    try:
        return len(list(d[0].get_objects(filter=[pdfium_raw.FPDF_PAGEOBJ_IMAGE])))
    finally:
        d.close()


def test_a_configured_official_seal_image_is_printed_instead_of_the_drawn_one(tmp_path, monkeypatch, capsys) -> None:
    """JUKI_KOIN_IMAGE: the municipality's 公印 (a PNG) is printed beside the issuer in place of the drawn
    「札幌市長之印」; an unusable file is refused naming the setting."""
    from juki.adapters.pdf import render as render_module
    from juki.adapters.pdf.render import KoinImageError, load_koin_image

    from ..certificate_samples import SEAL_PNG

    path = tmp_path / "koin.png"
    path.write_bytes(SEAL_PNG)
    d = doc(K.CODE_NOTICE)
    drawn = Renderer().render(d)
    printed = Renderer(koin_png=load_koin_image(path)).render(d)
    assert "長札之幌印市" in flat(pages_text(drawn)[0])  # the drawn seal's grid, read row by row
    assert "之" not in flat(pages_text(printed)[0]) and "札幌市長秋元克広" in flat(pages_text(printed)[0])
    assert image_count(printed) == image_count(drawn) + 1
    # the process-wide renderer takes it from the environment
    monkeypatch.setenv("JUKI_KOIN_IMAGE", str(path))
    monkeypatch.setattr(render_module, "_default", None)
    assert render_module.default_renderer()._koin_uri
    monkeypatch.setattr(render_module, "_default", None)
    # refusals name the setting and say why
    (tmp_path / "koin.gif").write_bytes(b"GIF89a" + bytes(40))
    (tmp_path / "huge.png").write_bytes(SEAL_PNG[:16] + (5000).to_bytes(4, "big") * 2 + SEAL_PNG[24:])
    for name, why in (("missing.png", "読めません"), ("koin.gif", "PNG"), ("huge.png", "2000 画素")):
        with pytest.raises(KoinImageError) as refused:
            load_koin_image(tmp_path / name)
        assert "JUKI_KOIN_IMAGE" in str(refused.value) and why in str(refused.value)
    # `juki serve` refuses to start with an unusable one, rather than failing at the first certificate
    from juki.cli.main import main

    monkeypatch.setenv("JUKI_KOIN_IMAGE", str(tmp_path / "koin.gif"))
    assert main(["serve"]) == 2
    assert "JUKI_KOIN_IMAGE" in capsys.readouterr().err
    monkeypatch.setattr(render_module, "_default", None)
