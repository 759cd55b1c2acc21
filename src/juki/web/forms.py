"""One form per kind of 届出 (CTR-1, REG-R2): only the fields that change needs.

A form field's ``name`` is the path the register's checks use in :class:`~juki.domain.errors.Problem`
(``persons[0].birth_date``, ``address.town``, ``effective_date``, ``identity_documents`` …), so a refusal
is shown next to the field it names without a mapping table; a problem about a whole part (``persons``,
``address``) is shown at that part's fieldset, and every problem is listed in the error summary.

:func:`payload` turns the posted form into the API's JSON envelope + change, so the counter submits
exactly what an API client would (and the service checks both the same way).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from juki.domain.errors import Problem
from juki.domain.events import ChangeKind, Origin
from juki.domain.intake import NON_PHOTO_DOCUMENTS, PHOTO_DOCUMENTS, FiledBy
from juki.domain.model import FuriganaStatus

from .places import Place


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text | date | select | checkbox | checkboxes | textarea | radio
    options: tuple[tuple[str, str], ...] = ()
    required: bool = False
    hint: str = ""
    autocomplete: str = "off"
    size: str = "m"  # s | m | l (input width)
    inputmode: str = ""
    lookup: str = ""  # "postcode": a button fills the section's address fields from the 郵便番号 (juki.js)


@dataclass(frozen=True)
class Section:
    id: str  # a problem-field prefix ("address", "persons[0]") or a group name ("intake", "members")
    legend: str
    fields: tuple[Field, ...] = ()
    members: bool = False  # the household's members table (転居・転出・世帯変更・死亡)


@dataclass(frozen=True)
class FormSpec:
    key: str  # URL segment
    kind: ChangeKind
    title: str  # 転入届
    legal_basis: str
    origin: Origin
    intake: bool  # 本人確認 and 代理人 apply (a 届出 made at the counter)
    needs: str  # "" | "household" | "person": what is loaded before the form is shown
    description: str
    sections: Callable[[FormContext], list[Section]]
    build: Callable[[FormContext, Mapping[str, Any]], dict[str, Any]]
    special: bool = False


@dataclass
class FormContext:
    """What a form is drawn for: the municipality's places, how many new persons, the loaded household."""

    places: list[Place]
    prefecture: str
    persons: int = 1
    household: dict[str, Any] | None = None  # the household view (members with names), for member tables
    person: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


SEX = (("1", "男"), ("2", "女"))
FURIGANA = ((FuriganaStatus.CONFIRMED.value, "確認済（戸籍に記載）"), (FuriganaStatus.UNCONFIRMED.value, "未確認（申出による）"),
            (FuriganaStatus.ABSENT.value, "未記載"))
FILED_BY = tuple((f.value, f.ja) for f in FiledBy)
DOCUMENT_OPTIONS = tuple((k, f"{v}（写真付き）") for k, v in PHOTO_DOCUMENTS.items()) + tuple(
    (k, f"{v}（写真なし）") for k, v in NON_PHOTO_DOCUMENTS.items())
CORRECTABLE = (("name", "氏名"), ("name_kana", "氏名の振り仮名"), ("birth_date", "生年月日"), ("sex", "性別"),
               ("former_surname", "旧氏"), ("honseki", "本籍"), ("hittosha", "筆頭者"), ("remarks", "備考"))


def dates(ctx: FormContext, *, effective: str = "異動日") -> Section:
    return Section("dates", "届出の日付", (
        Field("effective_date", effective, "date", required=True, hint="実際に異動した日（予定日）"),
        Field("notified_date", "届出日", "date", required=True),
        Field("case_ref", "受付番号", hint="窓口の受付票の番号（任意）", size="s"),
    ))


def intake_section() -> Section:
    return Section("intake", "届出人と本人確認", (
        Field("filed_by", "届出人", "radio", FILED_BY, required=True),
        Field("identity_documents", "確認した本人確認書類", "checkboxes", DOCUMENT_OPTIONS, required=True,
              hint="写真付きのもの1点、または写真のないもの2点。代理人のときは代理人の書類。"),
        Field("agent_name", "代理人の氏名", hint="届出人が代理人のとき", autocomplete="off"),
        Field("agent_address", "代理人の住所", size="l"),
        Field("power_of_attorney", "委任状を確認し、受け取った", "checkbox"),
    ))


def local_address(prefix: str, legend: str, ctx: FormContext) -> Section:
    return Section(prefix, legend, (
        Field(f"{prefix}.postcode", "郵便番号", hint="7桁の数字（ハイフンなし）。ボタンで区と町域を入力できます", size="s",
              inputmode="numeric", lookup="postcode"),
        Field(f"{prefix}.lg_code", "区", "select", tuple((p.lg_code, p.city) for p in ctx.places), required=True),
        Field(f"{prefix}.town", "町域", required=True, hint="例: 北一条西"),
        Field(f"{prefix}.block", "丁目・番地・号", hint="例: 2丁目1番"),
        Field(f"{prefix}.katagaki", "方書", hint="建物名・部屋番号", size="l"),
    ))


def outside_address(prefix: str, legend: str) -> Section:
    return Section(prefix, legend, (
        Field(f"{prefix}.postcode", "郵便番号", hint="ボタンで都道府県から町域までと地方公共団体コードを入力できます", size="s",
              inputmode="numeric", lookup="postcode"),
        Field(f"{prefix}.prefecture", "都道府県", required=True, size="s"),
        Field(f"{prefix}.city", "市区町村", required=True),
        Field(f"{prefix}.town", "町域", required=True),
        Field(f"{prefix}.block", "丁目・番地・号"),
        Field(f"{prefix}.katagaki", "方書", size="l"),
        Field(f"{prefix}.lg_code", "地方公共団体コード", hint="6桁（転出証明書に記載）", size="s", inputmode="numeric"),
    ))


def new_person(prefix: str, legend: str, *, carried: bool) -> Section:
    fields = [
        Field(f"{prefix}.name", "氏名", required=True, hint="戸籍・在留カードのとおり（姓と名の間は全角空白）"),
        Field(f"{prefix}.name_kana", "氏名の振り仮名", hint="カタカナ"),
        Field(f"{prefix}.furigana_status", "振り仮名の状態", "select", FURIGANA),
        Field(f"{prefix}.birth_date", "生年月日", "date", required=True),
        Field(f"{prefix}.sex", "性別", "select", SEX, required=True),
        Field(f"{prefix}.relationship", "世帯主との続柄", required=True, hint="世帯主本人は「世帯主」", size="s"),
    ]
    if carried:
        fields += [Field(f"{prefix}.juminhyo_code", "住民票コード", hint="転出証明書に記載の11桁", size="s", inputmode="numeric"),
                   Field(f"{prefix}.individual_number", "個人番号", hint="転出証明書に記載の12桁", size="s", inputmode="numeric")]
    return Section(prefix, legend, tuple(fields))


def persons_sections(ctx: FormContext, *, carried: bool) -> list[Section]:
    return [new_person(f"persons[{i}]", f"異動する人 {i + 1}", carried=carried) for i in range(ctx.persons)]


def members_section(legend: str, *, move: bool, new_relationship: bool, remaining: bool) -> Section:
    cols = []
    if move:
        cols.append(Field("move", "異動する", "checkbox"))
    if new_relationship:
        cols.append(Field("relationship", "異動後の続柄"))
    if remaining:
        cols.append(Field("remaining_relationship", "残る世帯での続柄"))
    return Section("members", legend, tuple(cols), members=True)


def head_select(name: str, label: str, ctx: FormContext, hint: str = "") -> Field:
    members = (ctx.household or {}).get("members", [])
    return Field(name, label, "select", tuple((m["person_id"], m["name"]) for m in members), hint=hint)


def into_section(ctx: FormContext, legend: str, hint: str) -> Section:
    """The existing household that persons join (世帯合併, 世帯構成変更): its 世帯番号, as 住民検索 shows it."""
    return Section("into", legend, (Field("into_household_id", "世帯番号", required=True, hint=hint, size="s",
                                          inputmode="numeric"),))


# --- building the payload -------------------------------------------------------------------------

_PATH = re.compile(r"([A-Za-z_]+)(?:\[(\d+)\])?")
ENVELOPE = ("effective_date", "notified_date", "case_ref")
INTAKE = ("filed_by", "identity_documents", "agent_name", "agent_address", "power_of_attorney")
MULTI = ("identity_documents",)


def unflatten(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """``{"persons[0].name": "x", "address.town": "y"}`` → nested dicts and lists; empty values are left
    out, so that the register's own defaults and "required" checks apply."""
    root: dict[str, Any] = {}
    for key, value in items:
        if value in ("", None) or value == []:
            continue
        node: Any = root
        parts = key.split(".")
        for depth, part in enumerate(parts):
            m = _PATH.fullmatch(part)
            if m is None:
                break
            name, index = m.group(1), m.group(2)
            last = depth == len(parts) - 1
            if index is None:
                if last:
                    node[name] = value
                else:
                    node = node.setdefault(name, {})
            else:
                seq = node.setdefault(name, [])
                i = int(index)
                while len(seq) <= i:
                    seq.append({})
                if last:
                    seq[i] = value
                else:
                    node = seq[i]
    for value in root.values():  # lists with holes (a removed person) are compacted
        if isinstance(value, list):
            value[:] = [v for v in value if v != {}]
    return root


def _change_fields(spec: FormSpec, ctx: FormContext, form: Mapping[str, Any]) -> list[tuple[str, Any]]:
    names = {f.name for s in spec.sections(ctx) if not s.members for f in s.fields}
    return [(k, v) for k, v in form.items() if k in names and k not in ENVELOPE and k not in INTAKE]


def _local(ctx: FormContext, change: dict[str, Any], key: str) -> None:
    """Fill in the prefecture and the ward's name from the chosen ward (地方公共団体コード)."""
    addr = change.get(key)
    if isinstance(addr, dict):
        place = next((p for p in ctx.places if p.lg_code == addr.get("lg_code")), None)
        addr["prefecture"] = ctx.prefecture
        if place is not None:
            addr["city"] = place.city


def _members(ctx: FormContext, form: Mapping[str, Any]) -> tuple[list[str], list[dict[str, str]], list[dict[str, str]]]:
    moving: list[str] = []
    memberships: list[dict[str, str]] = []
    remaining: list[dict[str, str]] = []
    for m in (ctx.household or {}).get("members", []):
        pid = m["person_id"]
        moves = form.get(f"members.{pid}.move") == "on"
        if moves:
            moving.append(pid)
        rel = str(form.get(f"members.{pid}.relationship") or "").strip()
        if rel:
            memberships.append({"person_id": pid, "relationship": rel})
        rrel = str(form.get(f"members.{pid}.remaining_relationship") or "").strip()
        if rrel and not moves:
            remaining.append({"person_id": pid, "relationship": rrel})
    return moving, memberships, remaining


def build_generic(*locals_: str, special: bool = False) -> Callable[[FormContext, Mapping[str, Any]], dict[str, Any]]:
    def build(ctx: FormContext, form: Mapping[str, Any]) -> dict[str, Any]:
        spec = ctx.extra["spec"]
        change = unflatten(_change_fields(spec, ctx, form))
        for key in locals_:
            _local(ctx, change, key)
        if special:
            change["special"] = True
        for flag in ("special",):
            if form.get(flag) == "on":
                change[flag] = True
        return change

    return build


def build_household(kind: str) -> Callable[[FormContext, Mapping[str, Any]], dict[str, Any]]:
    def build(ctx: FormContext, form: Mapping[str, Any]) -> dict[str, Any]:
        spec = ctx.extra["spec"]
        change = unflatten(_change_fields(spec, ctx, form))
        moving, memberships, remaining = _members(ctx, form)
        if ctx.household is not None:
            change["from_household_id" if kind == "household_merge" else "household_id"] = ctx.household["household_id"]
        if kind in ("move_within", "move_out", "household_split", "household_reorganise"):
            change["person_ids"] = moving
        if kind in ("move_within", "household_split", "household_reorganise") and memberships:
            change["memberships"] = [m for m in memberships if m["person_id"] in moving]
        if kind in ("move_within", "move_out", "household_split", "household_reorganise", "death",
                    "ex_officio_removal") and remaining:
            change["remaining_memberships"] = remaining
        if kind in ("head_change", "household_merge"):  # every member's 続柄 is given anew
            change["memberships"] = memberships
        if kind == "household_reorganise":  # the command has no default for its 続柄
            change.setdefault("memberships", [])
        if kind == "move_within":
            _local(ctx, change, "address")
        if kind in ("death", "ex_officio_removal") and ctx.person is not None:
            change["person_id"] = ctx.person["person_id"]
            change["household_id"] = ctx.person["household_id"]
        return change

    return build


def build_correction(ctx: FormContext, form: Mapping[str, Any]) -> dict[str, Any]:
    change: dict[str, Any] = {"person_id": (ctx.person or {}).get("person_id", ""), "reason": form.get("reason") or ""}
    item, value = form.get("corrections[0].item"), form.get("corrections[0].value")
    change["corrections"] = [{"item": item, "value": value or ""}] if item else []
    if not change["reason"]:
        del change["reason"]
    return change


def build_birth(ctx: FormContext, form: Mapping[str, Any]) -> dict[str, Any]:
    change = build_generic()(ctx, form)
    if ctx.household is not None:
        change["household_id"] = ctx.household["household_id"]
    return change


def envelope(spec: FormSpec, form: Mapping[str, Any]) -> dict[str, Any]:
    env: dict[str, Any] = {"origin": spec.origin.value, "legal_basis": spec.legal_basis}
    for k in ENVELOPE:
        v = form.get(k)
        if v:
            env[k] = v
    return env


def intake_values(form: Mapping[str, Any], documents: list[str]) -> dict[str, Any]:
    return {"filed_by": form.get("filed_by") or "", "identity_documents": documents,
            "agent_name": str(form.get("agent_name") or "").strip(),
            "agent_address": str(form.get("agent_address") or "").strip(),
            "power_of_attorney": form.get("power_of_attorney") == "on"}


# --- the forms ------------------------------------------------------------------------------------


def _move_in_sections(ctx: FormContext) -> list[Section]:
    return [dates(ctx), *persons_sections(ctx, carried=True), local_address("address", "新しい住所", ctx),
            outside_address("prior_address", "転入前の住所（転出証明書のとおり）"),
            Section("moved_out", "転出証明書", (Field("moved_out_on", "転出予定日", "date"),)), intake_section()]


def _special_sections(ctx: FormContext) -> list[Section]:
    return [dates(ctx), *persons_sections(ctx, carried=True), local_address("address", "新しい住所", ctx),
            outside_address("prior_address", "転入前の住所"),
            Section("moved_out", "転出証明書情報", (Field("moved_out_on", "転出予定日", "date",
                    hint="転出証明書情報は住基ネットで転出地から受け取ります（issue 5）"),)), intake_section()]


FORMS: dict[str, FormSpec] = {s.key: s for s in (
    FormSpec("move_in", ChangeKind.MOVE_IN, "転入届", "住民基本台帳法第22条", Origin.NOTIFICATION, True, "",
             "他の市区町村から移り住んだ人の届出です。転出証明書を確認してください。",
             _move_in_sections, build_generic("address")),
    FormSpec("special_move_in", ChangeKind.MOVE_IN, "特例転入（マイナンバーカード）", "住民基本台帳法第24条の2",
             Origin.NOTIFICATION, True, "",
             "マイナンバーカードによる転入です。転出証明書の代わりに、転出地から住基ネットで届く転出証明書情報を使います。",
             _special_sections, build_generic("address", special=True), special=True),
    FormSpec("move_within", ChangeKind.MOVE_WITHIN, "転居届", "住民基本台帳法第23条", Origin.NOTIFICATION, True,
             "household", "市内で住所が変わった人の届出です。異動する世帯員を選んでください。",
             lambda ctx: [dates(ctx), members_section("異動する世帯員", move=True, new_relationship=True, remaining=True),
                          local_address("address", "新しい住所", ctx),
                          Section("heads", "世帯主", (head_select("new_head_id", "新しい世帯の世帯主", ctx,
                                                                 "世帯の一部が異動して新しい世帯を作るとき"),
                                                     head_select("remaining_head_id", "残る世帯の世帯主", ctx,
                                                                 "世帯主が異動して残る人がいるとき"))),
                          intake_section()],
             build_household("move_within")),
    FormSpec("move_out", ChangeKind.MOVE_OUT, "転出届", "住民基本台帳法第24条", Origin.NOTIFICATION, True, "household",
             "他の市区町村へ移る人の届出です。転出予定日を異動日とします。",
             lambda ctx: [dates(ctx, effective="転出予定日"),
                          members_section("転出する世帯員", move=True, new_relationship=False, remaining=True),
                          outside_address("destination", "転出先（予定）"),
                          Section("heads", "世帯主", (head_select("remaining_head_id", "残る世帯の世帯主", ctx,
                                                                 "世帯主が転出して残る人がいるとき"),)),
                          intake_section()],
             build_household("move_out")),
    FormSpec("head_change", ChangeKind.HEAD_CHANGE, "世帯変更届（世帯主変更）", "住民基本台帳法第25条",
             Origin.NOTIFICATION, True, "household", "世帯主が変わるときの届出です。全員の新しい続柄を入力してください。",
             lambda ctx: [dates(ctx), Section("heads", "新しい世帯主", (head_select("new_head_id", "新しい世帯主", ctx),)),
                          members_section("新しい続柄", move=False, new_relationship=True, remaining=False),
                          intake_section()],
             build_household("head_change")),
    FormSpec("household_split", ChangeKind.HOUSEHOLD_SPLIT, "世帯変更届（世帯分離）", "住民基本台帳法第25条",
             Origin.NOTIFICATION, True, "household", "同じ住所で世帯を分けるときの届出です。",
             lambda ctx: [dates(ctx), members_section("新しい世帯に移る世帯員", move=True, new_relationship=True, remaining=True),
                          Section("heads", "世帯主", (head_select("new_head_id", "新しい世帯の世帯主", ctx),
                                                     head_select("remaining_head_id", "残る世帯の世帯主", ctx))),
                          intake_section()],
             build_household("household_split")),
    FormSpec("household_merge", ChangeKind.HOUSEHOLD_MERGE, "世帯変更届（世帯合併）", "住民基本台帳法第25条",
             Origin.NOTIFICATION, True, "household",
             "同じ住所の二つの世帯を一つにするときの届出です。この世帯の全員が合併先の世帯に入り、合併先の世帯主との続柄を全員について入力します。",
             lambda ctx: [dates(ctx), into_section(ctx, "合併先の世帯", "この世帯の全員が入る、同じ住所の世帯"),
                          members_section("合併先の世帯主との続柄", move=False, new_relationship=True, remaining=False),
                          intake_section()],
             build_household("household_merge")),
    FormSpec("household_reorganise", ChangeKind.HOUSEHOLD_REORGANISE, "世帯変更届（世帯構成変更）", "住民基本台帳法第25条",
             Origin.NOTIFICATION, True, "household",
             "この世帯の一部の人が、同じ住所の別の世帯に移るときの届出です。移る人と、移った先での続柄を入力します。",
             lambda ctx: [dates(ctx), members_section("移る世帯員", move=True, new_relationship=True, remaining=True),
                          into_section(ctx, "移る先の世帯", "同じ住所の、既にある世帯"),
                          Section("heads", "世帯主", (head_select("remaining_head_id", "残る世帯の世帯主", ctx,
                                                                 "世帯主が移って残る人がいるとき"),)),
                          intake_section()],
             build_household("household_reorganise")),
    FormSpec("birth", ChangeKind.BIRTH, "出生", "戸籍法第49条（出生届）", Origin.NOTIFICATION, True, "household",
             "出生届により、子を世帯に記載します。",
             lambda ctx: [dates(ctx, effective="出生日"), new_person("child", "子", carried=False), intake_section()],
             build_birth),
    FormSpec("death", ChangeKind.DEATH, "死亡", "戸籍法第86条（死亡届）", Origin.NOTIFICATION, True, "person",
             "死亡届により、住民票を消除します。世帯主の死亡では新しい世帯主を選んでください。",
             lambda ctx: [dates(ctx, effective="死亡日"),
                          Section("heads", "世帯主", (head_select("remaining_head_id", "新しい世帯主", ctx,
                                                                 "亡くなった人が世帯主のとき"),)),
                          members_section("残る世帯員の続柄", move=False, new_relationship=False, remaining=True),
                          intake_section()],
             build_household("death")),
    FormSpec("ex_officio_entry", ChangeKind.EX_OFFICIO_ENTRY, "職権記載", "住民基本台帳法第8条・施行令第12条",
             Origin.EX_OFFICIO, False, "", "実態調査により、住んでいることが確認された人を職権で記載します。",
             lambda ctx: [dates(ctx, effective="住所を定めた日"), *persons_sections(ctx, carried=False),
                          local_address("address", "住所", ctx),
                          Section("reason_", "職権記載の理由", (Field("reason", "理由", "textarea", required=True),))],
             build_generic("address")),
    FormSpec("ex_officio_correction", ChangeKind.EX_OFFICIO_CORRECTION, "職権修正", "住民基本台帳法第8条・施行令第12条",
             Origin.EX_OFFICIO, False, "person", "誤りのある記載事項を職権で修正します。",
             lambda ctx: [dates(ctx, effective="修正の効力日"),
                          Section("corrections", "修正する事項", (
                              Field("corrections[0].item", "事項", "select", CORRECTABLE, required=True),
                              Field("corrections[0].value", "正しい内容", required=True,
                                    hint="日付は YYYY-MM-DD、性別は 1（男）か 2（女）"))),
                          Section("reason_", "修正の理由", (Field("reason", "理由", "textarea", required=True),))],
             build_correction),
    FormSpec("ex_officio_removal", ChangeKind.EX_OFFICIO_REMOVAL, "職権消除", "住民基本台帳法第8条・施行令第12条",
             Origin.EX_OFFICIO, False, "person", "居住の実態がないことを確認した人の住民票を職権で消除します。",
             lambda ctx: [dates(ctx, effective="消除の日"),
                          Section("heads", "世帯主", (head_select("remaining_head_id", "残る世帯の世帯主", ctx,
                                                                 "消除される人が世帯主のとき"),)),
                          Section("reason_", "職権消除の理由", (Field("reason", "理由", "textarea", required=True),))],
             build_household("ex_officio_removal")),
)}


def today_jst(now: dt.datetime) -> str:
    from juki.clock import jst_date

    return jst_date(now).isoformat()


def problem_views(problems: tuple[Problem, ...] | list[Problem], fields: dict[str, str], sections: dict[str, str],
                  whole: str = "届出") -> tuple[list[dict[str, Any]], dict[str, list[Problem]]]:
    """Each problem at its field (or the closest part of the form: ``whole`` names the form itself), for
    the summary and the inline messages."""
    views: list[dict[str, Any]] = []
    at: dict[str, list[Problem]] = {}
    for p in problems:
        name = p.field
        while name and name not in fields and name not in sections:
            name = name.rsplit(".", 1)[0] if "." in name else (name.rsplit("[", 1)[0] if "[" in name else "")
        if name in fields:
            at.setdefault(name, []).append(p)
            anchor, label = "f-" + name.replace("[", "-").replace("]", "").replace(".", "-"), fields[name]
        elif name in sections:
            at.setdefault(name, []).append(p)
            anchor, label = "s-" + name.replace("[", "-").replace("]", "").replace(".", "-"), sections[name]
        else:
            at.setdefault("", []).append(p)
            anchor, label = "form-top", whole
        views.append({"anchor": anchor, "label": label, "ja": p.ja, "en": p.en, "rule": p.rule, "field": p.field})
    return views, at


class Values:
    """Form values for the templates: ``get`` and ``getlist`` over a dict (and the posted form)."""

    def __init__(self, values: dict[str, Any], form: Any = None) -> None:
        self.values = values
        self.form = form

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def getlist(self, key: str) -> list[Any]:
        if self.form is not None:
            return list(self.form.getlist(key))
        v = self.values.get(key)
        return v if isinstance(v, list) else ([v] if v else [])
