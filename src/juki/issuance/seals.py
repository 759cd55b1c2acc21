"""印鑑登録 (REG-LINK5): registration, confirmation by 照会書, abolition, 亡失, and the automatic abolition when
the registrant leaves the register.  Kept in the same system as the register but never linked to the
個人番号: the tables name the person by 宛名番号 only, and nothing here reads the number.

Practice followed (印鑑条例 and 印鑑登録証明事務処理要領 as municipalities apply them):

* **Who**: a current resident aged 15 or more (a 成年被後見人 cannot register; the register does not
  record guardianship, so the clerk checks it from the application).
* **The 印影**: a PNG of the seal's impression; the seal must not fit in an 8 mm square and must fit in a
  25 mm square (``size_mm``: the side of the smallest square holding it, rounded up: 9 to 25).
* **Identity and four eyes**: the person in person with a photo document (個人番号カード, 運転免許証, 旅券,
  在留カード...) is registered at once (即日登録) by the clerk.  Otherwise -- an agent with a 委任状, or
  no photo document -- a 照会書 goes to the registered address and the registration becomes effective only
  when the 回答書 comes back within 30 days and **another** user (``seal.confirm``) confirms it: the
  second pair of eyes stands where the 即日登録's photo check is missing (the seed's incident: a relative
  forged a 委任状 to change a 印鑑登録).
* **One at a time**: a person has at most one registration pending or effective.
* **Abolition**: on request (廃止申請), on loss of the 印鑑登録証 (亡失届: the registration ends; a new one is
  made with a new card), and automatically (:meth:`SealService.sweep`) when the registrant moved out,
  died or was removed from the register.  A changed 氏名 stops 印鑑登録証明書 issuance until a clerk checks
  whether the seal still represents the name (and abolishes it with reason ``name_changed`` if not).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from juki.access import policy
from juki.access.model import Principal
from juki.adapters.db.engine import read_only
from juki.adapters.db.schema import persons
from juki.clock import Clock, jst_date
from juki.domain.certificate_requests import IdentityDocument
from juki.domain.certificates import PNG_SIGNATURE, SealImprint
from juki.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem, Problems, RuleViolation
from juki.domain.model import RemovalReason, Status

from .tables import seal_abolitions, seal_confirmations, seal_registrations

MIN_AGE = 15
MIN_SIZE_MM = 9  # must not fit in an 8 mm square
MAX_SIZE_MM = 25  # must fit in a 25 mm square
MAX_IMPRINT_BYTES = 512 * 1024
INQUIRY_DAYS = 30
"""The 照会書 must be answered within this many days of the application."""

ABOLITION_JA = {
    "request": "廃止申請", "card_lost": "印鑑登録証亡失", "moved_out": "転出", "died": "死亡", "removed": "職権消除",
    "name_changed": "氏名変更",
}
_REMOVAL_ABOLITION = {
    RemovalReason.MOVE_OUT: "moved_out", RemovalReason.MOVE_ABROAD: "moved_out", RemovalReason.DEATH: "died",
    RemovalReason.EX_OFFICIO: "removed",
}


@dataclass(frozen=True)
class SealRegistration:
    registration_number: int
    person_id: str
    registered_name: str
    imprint_png: bytes = field(repr=False)
    imprint_sha256: str
    size_mm: int
    card_number: str
    method: str  # immediate | inquiry
    applicant: str
    entered_by: str
    entered_on: dt.date
    confirmed_by: str | None = None
    confirmed_on: dt.date | None = None
    abolished_reason: str | None = None
    abolished_on: dt.date | None = None

    @property
    def status(self) -> str:
        """pending (照会書 not yet answered), effective, abolished."""
        if self.abolished_reason is not None:
            return "abolished"
        if self.method == "inquiry" and self.confirmed_on is None:
            return "pending"
        return "effective"

    @property
    def registered_on(self) -> dt.date | None:
        """登録年月日: the day of an immediate registration, or of the confirmation of an inquiry."""
        return self.entered_on if self.method == "immediate" else self.confirmed_on

    def imprint(self) -> SealImprint:
        assert self.registered_on is not None
        return SealImprint(str(self.registration_number), self.imprint_png, self.registered_on)

    def view(self) -> dict[str, Any]:
        """JSON-ready, without the image (its hash stands for it)."""
        return {
            "registration_number": self.registration_number, "person_id": self.person_id,
            "registered_name": self.registered_name, "imprint_sha256": self.imprint_sha256, "size_mm": self.size_mm,
            "card_number": self.card_number, "method": self.method, "applicant": self.applicant,
            "entered_by": self.entered_by, "entered_on": self.entered_on.isoformat(), "status": self.status,
            "registered_on": self.registered_on.isoformat() if self.registered_on else None,
            "confirmed_by": self.confirmed_by,
            "abolished_reason": self.abolished_reason,
            "abolished_reason_ja": ABOLITION_JA.get(self.abolished_reason or ""),
            "abolished_on": self.abolished_on.isoformat() if self.abolished_on else None,
        }


_SELECT = (
    sa.select(seal_registrations, seal_confirmations.c.confirmed_by, seal_confirmations.c.confirmed_on,
              seal_abolitions.c.reason.label("abolished_reason"), seal_abolitions.c.effective_on.label("abolished_on"))
    .outerjoin(seal_confirmations,
               seal_confirmations.c.registration_number == seal_registrations.c.registration_number)
    .outerjoin(seal_abolitions, seal_abolitions.c.registration_number == seal_registrations.c.registration_number)
)


def _registration(row: Any) -> SealRegistration:
    return SealRegistration(
        registration_number=row.registration_number, person_id=row.person_id, registered_name=row.registered_name,
        imprint_png=bytes(row.imprint_png), imprint_sha256=row.imprint_sha256, size_mm=row.imprint_size_mm,
        card_number=row.card_number, method=row.method, applicant=row.applicant, entered_by=row.entered_by,
        entered_on=row.entered_on, confirmed_by=row.confirmed_by, confirmed_on=row.confirmed_on,
        abolished_reason=row.abolished_reason, abolished_on=row.abolished_on)


def registrations(conn: Connection, *, person_id: str | None = None, card_number: str | None = None,
                  number: int | None = None) -> list[SealRegistration]:
    q = _SELECT.order_by(seal_registrations.c.registration_number)
    if person_id is not None:
        q = q.where(seal_registrations.c.person_id == person_id)
    if card_number is not None:
        q = q.where(seal_registrations.c.card_number == card_number)
    if number is not None:
        q = q.where(seal_registrations.c.registration_number == number)
    return [_registration(r) for r in conn.execute(q)]


def live_registration(conn: Connection, person_id: str) -> SealRegistration | None:
    """The person's registration that is pending or effective (at most one)."""
    live = [r for r in registrations(conn, person_id=person_id) if r.status != "abolished"]
    return live[-1] if live else None


@dataclass(frozen=True)
class _Resident:
    person_id: str
    status: Status
    name: str
    birth_date: dt.date
    removal_reason: RemovalReason | None
    removal_date: dt.date | None


def _residents(conn: Connection, ids: list[str]) -> dict[str, _Resident]:
    """Status, name, birth date and removal of persons, from the register's projection -- and nothing else
    of it (no 個人番号 column is read: REG-LINK5)."""
    out: dict[str, _Resident] = {}
    for i in range(0, len(ids), 500):
        rows = conn.execute(sa.select(persons.c.person_id, persons.c.status, persons.c.name, persons.c.birth_date,
                                      persons.c.snapshot).where(persons.c.person_id.in_(ids[i:i + 500])))
        for r in rows:
            snap = r.snapshot if isinstance(r.snapshot, dict) else json.loads(r.snapshot)
            reason = snap.get("removal_reason")
            removed_on = snap.get("removal_date")
            out[r.person_id] = _Resident(r.person_id, Status(r.status), r.name, r.birth_date,
                                         RemovalReason(reason) if reason else None,
                                         dt.date.fromisoformat(removed_on) if removed_on else None)
    return out


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def check_imprint(image_png: bytes, size_mm: int) -> None:
    bad = Problems()
    if not isinstance(image_png, bytes | bytearray) or not bytes(image_png).startswith(PNG_SIGNATURE):
        bad.add("imprint", "REG-LINK5/imprint", "印影はPNG画像で提出してください。", "The imprint must be a PNG image.")
    elif len(image_png) > MAX_IMPRINT_BYTES:
        bad.add("imprint", "REG-LINK5/imprint", f"印影の画像が大きすぎます（{MAX_IMPRINT_BYTES // 1024}KBまで）。",
                f"The imprint image is too large (at most {MAX_IMPRINT_BYTES // 1024} KB).")
    if not isinstance(size_mm, int) or isinstance(size_mm, bool) or not MIN_SIZE_MM <= size_mm <= MAX_SIZE_MM:
        bad.add("size_mm", "REG-LINK5/imprint-size",
                "一辺8mmの正方形に収まる印鑑、又は一辺25mmの正方形に収まらない印鑑は登録できません（9〜25mm）。",
                "A seal that fits in an 8 mm square or does not fit in a 25 mm square cannot be registered (9-25 mm).")
    bad.raise_if_any(InvalidInput)


class SealService:
    """印鑑登録 at the counter; :meth:`sweep` is the daily job that follows the register."""

    def __init__(self, engine: Engine, *, clock: Clock, audit: Any = None) -> None:
        self.engine = engine
        self.clock = clock
        self.audit = audit

    def _record(self, conn: Connection, principal: Principal, action: str, person_id: str, **detail: Any) -> None:
        if self.audit is not None:
            self.audit.record(conn, user_id=principal.user_id, terminal=principal.terminal_id,
                              session_id=principal.session_id, action=action, subject_ids=[person_id], detail=detail)

    def _one(self, conn: Connection, number: int) -> SealRegistration:
        found = registrations(conn, number=number)
        if not found:
            raise NotFound(Problem("registration_number", "REG-LINK5/unknown", f"印鑑登録番号 {number} はありません。",
                                   f"There is no seal registration {number}."))
        return found[0]

    def register(self, principal: Principal, person_id: str, imprint_png: bytes, size_mm: int, *,
                 identity: tuple[IdentityDocument, ...] = (), agent: str = "", proxy_letter: bool = False) -> SealRegistration:
        """印鑑登録申請.  Immediate with the person present and a photo document; otherwise by 照会書."""
        policy.require(principal, "seal.register")
        check_imprint(imprint_png, size_mm)
        if agent and not proxy_letter:
            raise InvalidInput(Problem("proxy_letter", "REG-LINK5/agent", "代理人による申請には委任状が必要です。",
                                       "An application by an agent needs a letter of proxy (委任状)."))
        if not agent and not identity:
            raise InvalidInput(Problem("identity", "REG-LINK5/identity", "本人確認書類を確認してください。",
                                       "Check an identity document."))
        method = "immediate" if not agent and any(d.photo for d in identity) else "inquiry"
        now = self.clock()
        today = jst_date(now)
        with self.engine.begin() as conn:
            # the person's projection row serialises registrations of one person (PostgreSQL; SQLite's
            # write transaction already does)
            locked = conn.execute(sa.select(persons.c.person_id).where(persons.c.person_id == person_id)
                                  .with_for_update()).first()
            person = _residents(conn, [person_id]).get(person_id) if locked else None
            if person is None or person.status is not Status.RESIDENT:
                raise NotFound(Problem("person_id", "REG-LINK5/resident", f"住民 {person_id} はいません（印鑑登録は住民に限ります）。",
                                       f"{person_id} is not a current resident (only residents register a seal)."))
            if _age(person.birth_date, today) < MIN_AGE:
                raise RuleViolation(Problem("person_id", "REG-LINK5/age", "15歳未満の方は印鑑登録ができません。",
                                            "A person under 15 cannot register a seal."))
            existing = live_registration(conn, person_id)
            if existing is not None:
                raise Conflict(Problem("person_id", "REG-LINK5/one-registration",
                                       f"既に印鑑登録があります（登録番号 {existing.registration_number}、{existing.status}）。"
                                       "廃止してから登録してください。",
                                       f"A seal is already registered ({existing.registration_number}, {existing.status}); "
                                       "abolish it first."))
            card_number = self._card_number(conn)
            result = conn.execute(seal_registrations.insert().values(
                person_id=person_id, registered_name=person.name, imprint_png=bytes(imprint_png),
                imprint_sha256=hashlib.sha256(imprint_png).hexdigest(), imprint_size_mm=size_mm,
                card_number=card_number, method=method, applicant=agent,
                identity=json.dumps([d.kind for d in identity]), entered_by=principal.user_id,
                terminal=principal.terminal_id, entered_at=now, entered_on=today))
            assert result.inserted_primary_key is not None
            number = int(result.inserted_primary_key[0])
            self._record(conn, principal, "seal.register", person_id, registration_number=number, method=method,
                         agent=bool(agent))
            return self._one(conn, number)

    @staticmethod
    def _card_number(conn: Connection) -> str:
        while True:
            number = f"{secrets.randbelow(10**8):08d}"
            if conn.execute(sa.select(seal_registrations.c.card_number)
                            .where(seal_registrations.c.card_number == number)).first() is None:
                return number

    def confirm(self, principal: Principal, registration_number: int, *, reference: str = "") -> SealRegistration:
        """The 回答書 came back: another user than who entered the application makes it effective."""
        policy.require(principal, "seal.confirm")
        now = self.clock()
        today = jst_date(now)
        with self.engine.begin() as conn:
            reg = self._one(conn, registration_number)
            if reg.status != "pending":
                raise Conflict(Problem("registration_number", "REG-LINK5/not-pending",
                                       f"印鑑登録 {registration_number} は照会中ではありません（{reg.status}）。",
                                       f"Seal registration {registration_number} is not pending ({reg.status})."))
            if reg.entered_by == principal.user_id:
                raise Forbidden(Problem("confirmed_by", "REG-LINK5/four-eyes",
                                        "申請を受け付けた職員は、その照会の回答を確認できません。別の職員が確認してください。",
                                        "The user who took the application cannot confirm it; another user must."))
            if (today - reg.entered_on).days > INQUIRY_DAYS:
                raise RuleViolation(Problem("registration_number", "REG-LINK5/inquiry-expired",
                                            f"照会書の回答期限（{INQUIRY_DAYS}日）を過ぎています。改めて申請してください。",
                                            f"The inquiry was not answered within {INQUIRY_DAYS} days; apply again."))
            person = _residents(conn, [reg.person_id]).get(reg.person_id)
            if person is None or person.status is not Status.RESIDENT:
                raise RuleViolation(Problem("registration_number", "REG-LINK5/resident",
                                            "申請者は既に住民ではありません。", "The applicant is no longer a resident."))
            conn.execute(seal_confirmations.insert().values(
                registration_number=registration_number, confirmed_by=principal.user_id,
                terminal=principal.terminal_id, confirmed_at=now, confirmed_on=today, reference=reference))
            self._record(conn, principal, "seal.confirm", reg.person_id, registration_number=registration_number)
            return self._one(conn, registration_number)

    def abolish(self, principal: Principal, registration_number: int, *, reason: str = "request",
                note: str = "") -> SealRegistration:
        """廃止 on request (``request``), on loss of the card (``card_lost``: 亡失届), or after checking a name
        change (``name_changed``)."""
        policy.require(principal, "seal.register")
        if reason not in ("request", "card_lost", "name_changed"):
            raise InvalidInput(Problem("reason", "REG-LINK5/abolish", "廃止の理由は request / card_lost / name_changed です。",
                                       "The reason is request, card_lost or name_changed."))
        with self.engine.begin() as conn:
            reg = self._one(conn, registration_number)
            self._abolish(conn, reg, reason, principal.user_id, principal.terminal_id, note)
            self._record(conn, principal, "seal.abolish", reg.person_id, registration_number=registration_number,
                         reason=reason)
            return self._one(conn, registration_number)

    def _abolish(self, conn: Connection, reg: SealRegistration, reason: str, user: str, terminal: str, note: str,
                 effective_on: dt.date | None = None) -> None:
        if reg.status == "abolished":
            raise Conflict(Problem("registration_number", "REG-LINK5/abolished",
                                   f"印鑑登録 {reg.registration_number} は既に廃止されています。",
                                   f"Seal registration {reg.registration_number} is already abolished."))
        now = self.clock()
        conn.execute(seal_abolitions.insert().values(
            registration_number=reg.registration_number, reason=reason, abolished_by=user, terminal=terminal,
            abolished_at=now, effective_on=effective_on or jst_date(now), note=note))

    def for_person(self, principal: Principal, person_id: str) -> list[SealRegistration]:
        policy.require(principal, "seal.register")
        with read_only(self.engine.connect()) as conn:
            found = registrations(conn, person_id=person_id)
        if self.audit is not None:
            self.audit.record_now(self.engine, user_id=principal.user_id, terminal=principal.terminal_id,
                                  session_id=principal.session_id, action="seal.read", subject_ids=[person_id])
        return found

    def certificate_registration(self, conn: Connection, person_id: str, card_number: str | None) -> SealRegistration | None:
        """The effective registration a 印鑑登録証明書 is issued from, when ``card_number`` (the 印鑑登録証
        presented; None at a kiosk, where the resident's card stands for it) is its card.  A registration
        whose registrant changed their name is refused until a clerk has checked it."""
        reg = live_registration(conn, person_id)
        if reg is None or reg.status != "effective" or (card_number is not None and reg.card_number != card_number):
            return None
        person = _residents(conn, [person_id]).get(person_id)
        if person is None or person.status is not Status.RESIDENT:
            return None
        if person.name != reg.registered_name:
            raise RuleViolation(Problem("seal_card_number", "REG-LINK5/name-changed",
                                        "氏名の変更があったため、登録印鑑の確認が必要です。窓口にお問い合わせください。",
                                        "The registrant's name changed; the registered seal must be checked at the counter."))
        return reg

    # --- the daily job -----------------------------------------------------------------------------

    def sweep(self, *, actor: str = "juki-seal-sweep") -> dict[str, list[int]]:
        """Abolish every live registration whose registrant is no longer a resident (転出 / 国外転出 → moved_out,
        死亡 → died, 職権消除 → removed), effective on the day of the removal; and list the registrations
        whose registrant's name changed, for a clerk to check.  Idempotent; each abolition is audited."""
        out: dict[str, list[int]] = {"moved_out": [], "died": [], "removed": [], "name_changed": []}
        with self.engine.begin() as conn:
            live = [r for r in registrations(conn) if r.status != "abolished"]
            people = _residents(conn, sorted({r.person_id for r in live}))
            for reg in live:
                person = people.get(reg.person_id)
                if person is None:
                    continue
                if person.status is Status.RESIDENT:
                    if person.name != reg.registered_name and reg.status == "effective":
                        out["name_changed"].append(reg.registration_number)
                    continue
                reason = _REMOVAL_ABOLITION.get(person.removal_reason) if person.removal_reason else "removed"
                reason = reason or "removed"
                self._abolish(conn, reg, reason, actor, "SYSTEM", "住民票の消除による職権廃止", person.removal_date)
                out[reason].append(reg.registration_number)
                if self.audit is not None:
                    self.audit.record(conn, user_id=actor, terminal="SYSTEM", action="seal.abolish",
                                      subject_ids=[reg.person_id],
                                      detail={"registration_number": reg.registration_number, "reason": reason,
                                              "automatic": True})
        return out
