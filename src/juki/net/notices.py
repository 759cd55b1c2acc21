"""Notices on the wire and in the node's tables: JSON forms of the domain's :class:`IdentityUpdate` and
:class:`FuhyoUpdate`, and :class:`Entry`, one numbered notice of a stream.

A stream entry (``POST /net/v1/updates``)::

    {"seq": 12, "origin": "011002", "origin_seq": 12, "file": "identity",
     "notice": {"juminhyo_code": "…", "name": "…", …, "individual_number": "…"}}

``seq`` numbers the sender's stream (dense from 1); ``origin``/``origin_seq`` are the municipality and its
更新順番号 (the same as ``seq`` when the sender is the municipality).  The 個人番号 travels inside the
notice, over mutual TLS only; at rest every table keeps it apart, encrypted (:mod:`juki.net.store`).

An entry an operator skipped (``juki net resume --action skip``) is forwarded as a *skip marker*: the
notice is replaced by ``{"skipped": {"node", "alert_id", "reason"}}``, so every tier downstream records
the skip instead of waiting for an update that will never come (never skipped silently).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from juki.domain.changes import from_json
from juki.domain.errors import InvalidInput, Problem
from juki.domain.identity import FuhyoUpdate, IdentityUpdate, RecordFile
from juki.domain.model import to_json

Notice = IdentityUpdate | FuhyoUpdate
NOTICE_TYPES: dict[RecordFile, type[IdentityUpdate] | type[FuhyoUpdate]] = {
    RecordFile.IDENTITY: IdentityUpdate,
    RecordFile.FUHYO: FuhyoUpdate,
}
SKIPPED = "skipped"


def file_of(notice: Notice) -> RecordFile:
    return RecordFile.IDENTITY if isinstance(notice, IdentityUpdate) else RecordFile.FUHYO


def notice_to_json(notice: Notice) -> dict[str, Any]:
    """The notice as JSON, 個人番号 included (the wire form)."""
    data: dict[str, Any] = to_json(notice)
    return data


def split_number(data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """A notice's JSON without its 個人番号, and the number (stored apart, encrypted)."""
    rest = dict(data)
    number = rest.get("individual_number")
    if number is None or isinstance(number, str):
        rest.pop("individual_number", None)
        return rest, number
    return rest, None  # a malformed number stays in the notice, whose parse then names it


def _net3(e: InvalidInput) -> InvalidInput:
    """The register's parse errors (REG-R2) restated as the network's format check (NET-3)."""
    return InvalidInput(Problem(p.field, "NET-3/format", p.ja, p.en) for p in e.problems)


def notice_from_json(file: str, data: Any, *, number: str | None = None, path: str = "notice") -> Notice:
    """Parse a notice (as received, or as stored with ``number`` apart); unknown, missing or malformed
    items are refused naming the item (NET-3)."""
    try:
        kind = RecordFile(file)
    except ValueError:
        raise InvalidInput(Problem("file", "NET-3/format", f"ファイル種別 {file!r} は identity か fuhyo です。",
                                   f"The file {file!r} must be identity or fuhyo.")) from None
    if not isinstance(data, dict):
        raise InvalidInput(Problem(path, "NET-3/format", "通知はオブジェクトです。", "A notice must be an object."))
    if kind is RecordFile.FUHYO and (number is not None or "individual_number" in data):
        raise InvalidInput(Problem(f"{path}.individual_number", "PRF-8/no-number",
                                   "附票本人確認情報に個人番号は含めません。", "A 附票 notice never carries an individual number."))
    if kind is RecordFile.IDENTITY and "individual_number" not in data:
        data = {**data, "individual_number": number}  # kept apart at rest; None until designated
    try:
        notice = from_json(NOTICE_TYPES[kind], data, path)
    except InvalidInput as e:
        raise _net3(e) from None
    assert isinstance(notice, IdentityUpdate | FuhyoUpdate)
    return notice


@dataclass(frozen=True)
class Entry:
    """One numbered notice of a stream (or a skip marker, :attr:`skipped`)."""

    seq: int
    origin: str
    origin_seq: int
    file: str
    payload: dict[str, Any]  # the notice without its 個人番号, or {"skipped": {...}}
    number: str | None = None

    @property
    def skipped(self) -> dict[str, Any] | None:
        value = self.payload.get(SKIPPED)
        return value if isinstance(value, dict) else None

    def to_wire(self) -> dict[str, Any]:
        notice = dict(self.payload)
        if self.file == RecordFile.IDENTITY.value and self.skipped is None:
            notice["individual_number"] = self.number  # null until designated
        return {"seq": self.seq, "origin": self.origin, "origin_seq": self.origin_seq, "file": self.file,
                "notice": notice}

    def notice(self) -> Notice:
        return notice_from_json(self.file, self.payload, number=self.number)


def entry_from_wire(data: Any, index: int) -> Entry:
    """One entry of a received batch; the envelope must be well formed (the notice inside is checked
    when it is applied, so that a bad notice halts its municipality's stream with an alert instead of
    being lost)."""
    path = f"entries[{index}]"
    if not isinstance(data, dict):
        raise InvalidInput(Problem(path, "NET-3/format", "エントリはオブジェクトです。", "An entry must be an object."))
    unknown = sorted(set(data) - {"seq", "origin", "origin_seq", "file", "notice"})
    missing = sorted({"seq", "origin", "origin_seq", "file", "notice"} - set(data))
    problems = [Problem(f"{path}.{k}", "NET-3/format", "受け付けない項目です。", "This item is not accepted.") for k in unknown]
    problems += [Problem(f"{path}.{k}", "NET-3/format", "必須項目です。", "This item is required.") for k in missing]
    if problems:
        raise InvalidInput(problems)
    for k in ("seq", "origin_seq"):
        v = data[k]
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            problems.append(Problem(f"{path}.{k}", "NET-3/format", "1以上の整数です。", "Must be a positive integer."))
    if not isinstance(data["origin"], str) or not data["origin"].isdigit() or len(data["origin"]) != 6:
        problems.append(Problem(f"{path}.origin", "NET-3/format", "市町村コードは6桁です。", "The origin must be a 6-digit code."))
    if data["file"] not in (f.value for f in RecordFile):
        problems.append(Problem(f"{path}.file", "NET-3/format", "identity か fuhyo です。", "Must be identity or fuhyo."))
    if not isinstance(data["notice"], dict):
        problems.append(Problem(f"{path}.notice", "NET-3/format", "通知はオブジェクトです。", "A notice must be an object."))
    if problems:
        raise InvalidInput(problems)
    payload, number = split_number(data["notice"])
    return Entry(seq=data["seq"], origin=data["origin"], origin_seq=data["origin_seq"], file=data["file"],
                 payload=payload, number=number)
