"""The prefecture's provision of 本人確認情報 (PRF-5, PRF-6, PRF-7, PRF-8), as data and rules.

**Uses** (:class:`ProvisionUse`).  The prefecture gives 本人確認情報 only for a configured legal use:

* 移転 to its own departments for the affairs of 住基法別表第5 (30条の15第1項) and of its ordinance;
* 提供 to its other executive organs (教育委員会, 公安委員会, …) for the affairs of 別表第6 (30条の15第2項);

each use names its recipient, its affair, its citation, the items it may receive (of the 8: 住民票コード,
氏名, 生年月日, 性別, 住所, 個人番号, 異動事由, 異動年月日), whether it is a 番号法 affair (only those
receive the 個人番号), whether it may receive 附票本人確認情報 (PRF-8), and the dates it is in force.
:func:`authorize` refuses anything else with a Problem naming why; the refusal is logged like a
provision (PRF-6).

**The log** (PRF-6): every provision, transfer, 開示 and refusal is kept :data:`PROVISION_LOG_YEARS`
years; :func:`retention_cutoff` says what a purge may remove.

**Batch files** (一括提供, 004 別添1 注1): a conditions file in (one search per line, CSV) and a result
file out; :func:`parse_conditions` and :func:`render_results`.  An output over
:data:`LARGE_OUTPUT_ROWS` rows needs a recorded prior approval (004 III-3: 大量のデータ出力に際しては、
事前に要求部署の責任者の承認を得る).

**附票** (PRF-8): the 附票本人確認情報 holds no 個人番号.  For a 番号法 use about a person abroad
(国外転出者), the number is taken from the 本人確認情報 file by 住民票コード, kept in a separate
temporary area for re-delivery only, and deleted after :data:`FUHYO_NUMBER_KEEP_DAYS` days (under a
year, 004 II(2)-6).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .changes import from_json
from .errors import Forbidden, InvalidInput, Problem, Problems
from .identity_search import IdentityQuery
from .rules import LegalParameter, in_force

ITEMS: tuple[str, ...] = ("juminhyo_code", "name", "birth_date", "sex", "address", "individual_number", "reason",
                          "change_date")
"""The 8 items of 本人確認情報 that may be provided (004 II-5 提供先2 ③)."""

ITEMS_JA: dict[str, str] = {
    "juminhyo_code": "住民票コード", "name": "氏名", "birth_date": "生年月日", "sex": "性別", "address": "住所",
    "individual_number": "個人番号", "reason": "異動事由", "change_date": "異動年月日",
}

FUHYO_ITEMS: tuple[str, ...] = ("juminhyo_code", "name", "birth_date", "sex", "address", "last_address",
                                "change_date", "individual_number")
"""What a 附票 provision may carry (004 II(2)-5 ③); the 個人番号 only for a 番号法 use."""

PROVISION_LOG_YEARS = (
    LegalParameter("提供・移転の記録の保存期間", 7,
                   "神奈川県評価書 III-5 (提供・移転の記録をシステム上で管理し、７年分保存する。認められなかった場合も記録)",
                   dt.date(2015, 6, 1)),
)

LARGE_OUTPUT_ROWS = 1000
"""A batch result over this many rows needs a prior approval by the requesting department's head."""

FUHYO_NUMBER_KEEP_DAYS = 30
"""Days the temporary 個人番号 of a 国外転出者 is kept after provision (under 1 year, PRF-8)."""


class Channel(StrEnum):
    TRANSFER = "transfer"  # 移転: to the prefecture's own departments (住基法30条の15第1項, 別表第5)
    PROVISION = "provision"  # 提供: to its other executive organs (30条の15第2項, 別表第6)

    @property
    def ja(self) -> str:
        return "移転" if self is Channel.TRANSFER else "提供"


@dataclass(frozen=True)
class ProvisionUse:
    """One configured legal use (別表第5 / 別表第6 / 条例)."""

    code: str  # e.g. "別表第6-1"
    channel: Channel
    recipient: str  # the organ or department (its code as configured)
    recipient_name: str
    affair: str  # 事務
    legal_basis: str  # citation
    items: tuple[str, ...]
    valid_from: dt.date
    valid_to: dt.date | None = None
    number_use: bool = False  # a 番号法 affair: may receive the 個人番号
    fuhyo: bool = False  # may receive 附票本人確認情報

    def problems(self, field: str = "") -> list[Problem]:
        p = Problems()

        def at(name: str) -> str:
            return f"{field}.{name}" if field else name

        if not self.code.strip():
            p.add(at("code"), "PRF-5/use", "用途コードが必要です。", "The use needs a code.")
        for name in ("recipient", "affair", "legal_basis"):
            if not str(getattr(self, name)).strip():
                p.add(at(name), "PRF-5/use", "提供先・事務・根拠法令は必須です。", "Recipient, affair and legal basis are required.")
        unknown = [i for i in self.items if i not in ITEMS]
        if unknown or not self.items:
            p.add(at("items"), "PRF-5/items", f"提供できる項目は {', '.join(ITEMS)} です。",
                  f"The items that can be provided are {', '.join(ITEMS)}.")
        if "individual_number" in self.items and not self.number_use:
            p.add(at("items"), "PRF-5/number", "個人番号は番号法に基づく事務でなければ提供できません。",
                  "The individual number is provided only for an affair under the My Number Act.")
        if self.valid_to is not None and self.valid_to < self.valid_from:
            p.add(at("valid_to"), "PRF-5/dates", "終了日が開始日より前です。", "The end date is before the start date.")
        return p.items

    def in_force(self, on: dt.date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)


def uses_from_json(data: Any) -> list[ProvisionUse]:
    """Uses from their JSON list (the configuration file); every problem of every use is reported."""
    if not isinstance(data, list):
        raise InvalidInput(Problem("uses", "PRF-5/use", "用途の一覧（JSON配列）が必要です。", "A JSON list of uses is required."))
    uses = [from_json(ProvisionUse, d, f"uses[{i}]") for i, d in enumerate(data)]
    problems = [p for i, u in enumerate(uses) for p in u.problems(f"uses[{i}]")]
    codes = [u.code for u in uses]
    problems += [Problem("uses", "PRF-5/use", f"用途コード {c} が重複しています。", f"Use code {c} is given twice.")
                 for c in sorted({c for c in codes if codes.count(c) > 1})]
    if problems:
        raise InvalidInput(problems)
    return uses


def authorize(use: ProvisionUse | None, *, use_code: str, recipient: str, on: dt.date, want_number: bool = False,
              fuhyo: bool = False) -> ProvisionUse:
    """The use itself when ``recipient`` may receive for it on ``on``; Forbidden naming why otherwise
    (the caller logs the refusal, PRF-6)."""
    if use is None:
        raise Forbidden(Problem("use_code", "PRF-5/unknown-use", f"用途 {use_code} は設定されていません。",
                                f"Use {use_code} is not configured."))
    if not use.in_force(on):
        raise Forbidden(Problem("use_code", "PRF-5/not-in-force", f"用途 {use_code} は {on.isoformat()} に有効ではありません。",
                                f"Use {use_code} is not in force on {on.isoformat()}."))
    if use.recipient != recipient:
        raise Forbidden(Problem("recipient", "PRF-5/recipient", f"{recipient} は用途 {use_code} の提供先ではありません。",
                                f"{recipient} is not the recipient of use {use_code}."))
    if want_number and not use.number_use:
        raise Forbidden(Problem("individual_number", "PRF-5/number", "この用途では個人番号は提供できません。",
                                "This use does not receive the individual number."))
    if fuhyo and not use.fuhyo:
        raise Forbidden(Problem("fuhyo", "PRF-8/use", "この用途では附票本人確認情報は提供できません。",
                                "This use does not receive 附票 identity information."))
    return use


def shape(record: Mapping[str, Any], use: ProvisionUse, *, fuhyo: bool = False) -> dict[str, Any]:
    """Only the items ``use`` may receive (NET-3/PRF-5: the law's items, nothing more)."""
    allowed = set(use.items) if not fuhyo else {i for i in FUHYO_ITEMS if i != "individual_number" or use.number_use}
    if not use.number_use:
        allowed.discard("individual_number")
    order = FUHYO_ITEMS if fuhyo else ITEMS
    return {k: record.get(k) for k in order if k in allowed}


def retention_cutoff(now: dt.datetime) -> dt.datetime:
    """Log entries made before this instant are past the retention period (PRF-6) and may be purged."""
    years = in_force(PROVISION_LOG_YEARS, now.date()).value
    try:
        return now.replace(year=now.year - years)
    except ValueError:  # 29 February
        return now.replace(year=now.year - years, day=28)


# --- batch files (一括提供) ---------------------------------------------------------------------

CONDITION_COLUMNS = ("line", "juminhyo_code", "individual_number", "name", "address", "birth_date", "sex")
RESULT_STATUS_JA = {"found": "該当", "not_found": "該当なし", "multiple": "複数該当", "error": "エラー",
                    "refused": "提供不可"}


@dataclass(frozen=True)
class ConditionLine:
    line: str
    query: IdentityQuery | None
    problems: tuple[Problem, ...] = ()


def parse_conditions(text: str) -> list[ConditionLine]:
    """A conditions file: CSV with the header :data:`CONDITION_COLUMNS`; each line one search.  A bad
    line is kept with its problems (the result file says why), a bad header refuses the file."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if tuple(reader.fieldnames or ()) != CONDITION_COLUMNS:
        raise InvalidInput(Problem("file", "PRF-5/batch-format", f"照会ファイルの見出し行は {','.join(CONDITION_COLUMNS)} です。",
                                   f"The conditions file's header must be {','.join(CONDITION_COLUMNS)}."))
    out = []
    for n, row in enumerate(reader, start=2):
        line = (row.get("line") or str(n)).strip()
        if None in row or any(v is None for v in row.values()):
            out.append(ConditionLine(line, None, (Problem(f"line {line}", "PRF-5/batch-format", "列の数が見出しと異なります。",
                                                          "The number of columns differs from the header."),)))
            continue
        try:
            birth = dt.date.fromisoformat(row["birth_date"].strip()) if row["birth_date"].strip() else None
            query = IdentityQuery(juminhyo_code=row["juminhyo_code"].strip(), individual_number=row["individual_number"].strip(),
                                  name=row["name"].strip(), address=row["address"].strip(), birth_date=birth,
                                  sex=row["sex"].strip()).check()
            out.append(ConditionLine(line, query))
        except ValueError:
            out.append(ConditionLine(line, None, (Problem(f"line {line}.birth_date", "PRF-5/batch-format",
                                                          "生年月日はYYYY-MM-DD形式です。", "The birth date must be YYYY-MM-DD."),)))
        except InvalidInput as e:
            out.append(ConditionLine(line, None, tuple(p.at(f"line {line}") for p in e.problems)))
    return out


@dataclass(frozen=True)
class ResultLine:
    line: str
    status: str  # a key of RESULT_STATUS_JA
    records: tuple[Mapping[str, Any], ...] = ()
    message: str = ""


def render_results(lines: Iterable[ResultLine], items: Sequence[str]) -> str:
    """The result file: one row per record found (or one row saying why none), CSV with a header."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["line", "status", *items, "message"])
    for r in lines:
        if r.records:
            for rec in r.records:
                w.writerow([r.line, RESULT_STATUS_JA[r.status], *(_cell(rec.get(i)) for i in items), r.message])
        else:
            w.writerow([r.line, RESULT_STATUS_JA[r.status], *([""] * len(items)), r.message])
    return buf.getvalue()


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False)
    return str(v)
