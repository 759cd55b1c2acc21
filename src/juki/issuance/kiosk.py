"""コンビニ交付: a kiosk transaction, from the card's authentication to its end (REG-CERT, SEC-1, SEC-3, SEC-8).

A kiosk is a registered device (``kiosk.manage``; its key stored as SHA-256, like a counter terminal).
The flow:

1. the kiosk asks for a **challenge** (32 random bytes, valid :data:`CHALLENGE_SECONDS`, usable once);
2. the resident's **card signs** it (:func:`juki.issuance.cards.card_message` binds the kiosk id) and the
   resident types the **PIN**; the kiosk sends card id, challenge, signature and PIN.  The challenge is
   consumed first, in a transaction of its own, so a replay is refused whatever happened to the first
   use.  Then: an unknown card, a revoked or locked card, a signature that does not verify, a wrong PIN
   (the third in a row locks the card: only the counter unlocks it), a holder no longer a resident, and a
   holder protected by a DV 支援措置 (manual handling at the counter: no automatic issuance, SEC-8) are
   each refused.  Otherwise a **kiosk transaction** starts: an id and a token (only its SHA-256 stored),
   valid :data:`TRANSACTION_MINUTES`;
3. the resident **chooses** certificates: 住民票の写し (self or 世帯), 記載事項証明書, 印鑑登録証明書 -- each
   issued through :class:`~juki.issuance.service.IssuanceService` (so every path rule, the DV screening
   of each subject and the issuance log apply) and returned as a PDF;
4. the transaction **ends** (or times out).

Every step -- and every refusal -- is an audit entry whose user is ``kiosk:<kiosk id>``, terminal the
kiosk, and ``session_id`` the kiosk transaction id: one id from authentication to the end (the seed 003:
「利用者による認証から取引終了までの間、監査証跡の記録を行っている」).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from juki.access import policy
from juki.access.model import Principal
from juki.adapters.db.engine import read_only
from juki.adapters.db.store import Store
from juki.clock import Clock, jst_date
from juki.domain import certificate_requests as cr
from juki.domain.certificates import CertificateKind, Items
from juki.domain.errors import Conflict, Forbidden, InvalidInput, JukiError, NotFound, Problem
from juki.domain.model import PersonRecord
from juki.services.reading import ReadService

from .cards import MAX_PIN_FAILURES, CardService, card_message, verify_signature
from .seals import SealService
from .service import IssuanceService, Issued, KioskContext
from .tables import kiosk_challenges, kiosk_transactions, kiosks, resident_cards

CHALLENGE_SECONDS = 120
TRANSACTION_MINUTES = 10
KIOSK_KINDS = (CertificateKind.RESIDENT_COPY, CertificateKind.ENTRY_CERTIFICATE, CertificateKind.SEAL)
KIOSK_ITEMS = ("head_of_household", "relationship", "domicile")
"""What the kiosk's form offers (never the 個人番号 or the 住民票コード)."""


class KioskRefused(Forbidden):
    """A refusal at a kiosk.  ``status``: 401 when the kiosk, challenge, card, PIN or transaction did not
    authenticate; 403 when it did but the request may not be answered here."""

    def __init__(self, problem: Problem, *, status: int = 401) -> None:
        super().__init__(problem)
        self.status = status
        self.kind = "unauthenticated" if status == 401 else "forbidden"


_REFUSALS: dict[str, tuple[str, str, str, int]] = {
    # rule: (field, ja, en, status)
    "KIOSK/terminal": ("kiosk_id", "このキオスク端末は登録されていないか、認証できません。",
                       "This kiosk is not registered or could not be authenticated.", 401),
    "KIOSK/challenge-unknown": ("challenge", "認証の要求が不明です。最初からやり直してください。",
                                "Unknown challenge; start again.", 401),
    "KIOSK/challenge-expired": ("challenge", "認証の有効時間が過ぎました。最初からやり直してください。",
                                "The challenge has expired; start again.", 401),
    "KIOSK/challenge-replayed": ("challenge", "この認証の要求は既に使われています。最初からやり直してください。",
                                 "This challenge was already used; start again.", 401),
    "KIOSK/card-unknown": ("card_id", "このカードは利用できません。", "This card cannot be used.", 401),
    "KIOSK/card-revoked": ("card_id", "このカードは廃止されています。市区町村の窓口にお問い合わせください。",
                           "This card has been revoked; please ask at the municipal counter.", 403),
    "KIOSK/card-locked": ("card_id", "暗証番号を3回続けて誤ったため、このカードはロックされています。市区町村の窓口で解除してください。",
                          "This card is locked after three wrong PINs; it can be unlocked at the municipal counter.", 403),
    "KIOSK/card-expired": ("card_id", "このカードは有効期限が過ぎています。", "This card has expired.", 403),
    "KIOSK/card-signature": ("signature", "カードを読み取れませんでした。", "The card could not be authenticated.", 401),
    "KIOSK/person-removed": ("card_id", "この市区町村の住民ではないため、証明書を交付できません。",
                             "The card holder is not a resident of this municipality.", 403),
    "KIOSK/manual-handling": ("card_id", "コンビニ交付ではお取り扱いできません。市区町村の窓口にお問い合わせください。",
                              "This cannot be handled at a kiosk; please ask at the municipal counter.", 403),
    "KIOSK/transaction": ("transaction_id", "取引が無効です。最初からやり直してください。",
                          "The transaction is not valid; start again.", 401),
    "KIOSK/transaction-expired": ("transaction_id", "一定時間操作がなかったため、取引を終了しました。",
                                  "The transaction ended after a period of inactivity.", 401),
}


def _refused(rule: str) -> KioskRefused:
    field, ja, en, status = _REFUSALS[rule]
    return KioskRefused(Problem(field, rule, ja, en), status=status)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class KioskTransaction:
    transaction_id: str
    token: str  # give to the kiosk once; only its SHA-256 is stored
    expires_at: dt.datetime
    name: str  # shown on the kiosk's screen for the holder to confirm
    offers: tuple[dict[str, Any], ...]


class KioskService:
    def __init__(self, engine: Engine, store: Store, cards: CardService, issuance: IssuanceService,
                 seals: SealService, reads: ReadService, *, clock: Clock, audit: Any = None) -> None:
        self.engine = engine
        self.store = store
        self.cards = cards
        self.issuance = issuance
        self.seals = seals
        self.reads = reads
        self.clock = clock
        self.audit = audit

    # --- devices -----------------------------------------------------------------------------------

    def register(self, principal: Principal, kiosk_id: str, name: str, *, location: str = "") -> str:
        """Register a kiosk; returns its key (shown once; only its SHA-256 is stored)."""
        policy.require(principal, "kiosk.manage")
        if not kiosk_id or len(kiosk_id) > 64 or not kiosk_id.replace("-", "").replace("_", "").isalnum() \
                or not kiosk_id.isascii():
            raise InvalidInput(Problem("kiosk_id", "KIOSK/id", "キオスクIDは英数字と - _ の64文字以内です。",
                                       "The kiosk id is 1-64 letters, digits, '-' or '_'."))
        key = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            if conn.execute(sa.select(kiosks.c.kiosk_id).where(kiosks.c.kiosk_id == kiosk_id)).first() is not None:
                raise Conflict(Problem("kiosk_id", "KIOSK/id-reuse", f"キオスクID {kiosk_id} は既に使われています。",
                                       f"Kiosk id {kiosk_id} exists or existed."))
            conn.execute(kiosks.insert().values(kiosk_id=kiosk_id, name=name or kiosk_id, location=location,
                                                credential_hash=_hash(key), registered_by=principal.user_id,
                                                registered_at=self.clock()))
            self._audit(conn, principal.user_id, principal.terminal_id, principal.session_id, "kiosk.register",
                        kiosk_id=kiosk_id, name=name, location=location)
        return key

    def revoke(self, principal: Principal, kiosk_id: str) -> None:
        policy.require(principal, "kiosk.manage")
        with self.engine.begin() as conn:
            done = conn.execute(kiosks.update().where(kiosks.c.kiosk_id == kiosk_id, kiosks.c.revoked_at.is_(None))
                                .values(revoked_by=principal.user_id, revoked_at=self.clock())).rowcount
            if not done:
                raise NotFound(Problem("kiosk_id", "KIOSK/unknown", f"有効なキオスク {kiosk_id} はありません。",
                                       f"There is no active kiosk {kiosk_id}."))
            self._audit(conn, principal.user_id, principal.terminal_id, principal.session_id, "kiosk.revoke",
                        kiosk_id=kiosk_id)

    # --- audit -------------------------------------------------------------------------------------

    def _audit(self, conn: Connection | None, user: str, terminal: str, session: str | None, action: str, *,
               subjects: list[str] | None = None, outcome: str = "allowed", **detail: Any) -> None:
        if self.audit is None:
            return
        fields = dict(user_id=user, terminal=terminal[:64], session_id=session, action=action, outcome=outcome,
                      subject_ids=subjects or [], detail=detail)
        if conn is None:
            self.audit.record_now(self.engine, **fields)
        else:
            self.audit.record(conn, **fields)

    def _deny(self, kiosk_id: str, transaction_id: str | None, error: JukiError, **detail: Any) -> None:
        subjects = detail.pop("subjects", None)
        self._audit(None, f"kiosk:{kiosk_id[:56]}", kiosk_id, transaction_id, "kiosk.denied", subjects=subjects,
                    outcome="denied", rules=[p.rule for p in error.problems], **detail)

    def _kiosk(self, conn: Connection, kiosk_id: str, key: str) -> None:
        row = conn.execute(sa.select(kiosks).where(kiosks.c.kiosk_id == kiosk_id)).first()
        if row is None or row.revoked_at is not None or not hmac.compare_digest(row.credential_hash, _hash(key or "")):
            raise _refused("KIOSK/terminal")

    def _checked_kiosk(self, kiosk_id: str, key: str) -> None:
        try:
            with read_only(self.engine.connect()) as conn:
                self._kiosk(conn, kiosk_id, key)
        except KioskRefused as e:
            self._deny(kiosk_id, None, e)
            raise

    # --- the flow ----------------------------------------------------------------------------------

    def challenge(self, kiosk_id: str, key: str) -> tuple[str, dt.datetime]:
        """A one-time challenge for the card to sign."""
        self._checked_kiosk(kiosk_id, key)
        now = self.clock()
        challenge = secrets.token_hex(32)
        expires = now + dt.timedelta(seconds=CHALLENGE_SECONDS)
        with self.engine.begin() as conn:
            conn.execute(kiosk_challenges.insert().values(challenge=challenge, kiosk_id=kiosk_id, issued_at=now,
                                                          expires_at=expires))
        return challenge, expires

    def start(self, kiosk_id: str, key: str, *, card_id: str, challenge: str, signature: str, pin: str) -> KioskTransaction:
        """Authenticate the card (signature over the challenge) and its PIN; start a transaction."""
        self._checked_kiosk(kiosk_id, key)
        transaction_id = "KT" + secrets.token_hex(8).upper()
        person_id: str | None = None
        try:
            self._consume(kiosk_id, challenge)
            card = self._card(card_id)
            person_id = card.person_id
            if not verify_signature(card.public_key, card_message(kiosk_id, challenge), signature):
                raise _refused("KIOSK/card-signature")
            right, failures, locked = self.cards.check_pin_and_count(card_id, pin)
            if not right:
                if locked:
                    raise _refused("KIOSK/card-locked")
                left = MAX_PIN_FAILURES - failures
                raise KioskRefused(Problem("pin", "KIOSK/pin", f"暗証番号が違います（あと{left}回誤るとロックされます）。",
                                           f"The PIN is wrong ({left} more and the card locks)."))
            person = self.store.person_current(card.person_id)
            if person is None or not person.is_resident:
                raise _refused("KIOSK/person-removed")
            if self.reads.protected([person.person_id]):
                raise _refused("KIOSK/manual-handling")
        except KioskRefused as e:
            self._deny(kiosk_id, transaction_id, e, card_id=card_id[:40],
                       subjects=[person_id] if person_id else None)
            raise
        token = secrets.token_urlsafe(32)
        now = self.clock()
        expires = now + dt.timedelta(minutes=TRANSACTION_MINUTES)
        with self.engine.begin() as conn:
            conn.execute(kiosk_transactions.insert().values(
                transaction_id=transaction_id, kiosk_id=kiosk_id, card_id=card_id, person_id=person.person_id,
                token_hash=_hash(token), started_at=now, expires_at=expires))
            self._audit(conn, f"kiosk:{kiosk_id}", kiosk_id, transaction_id, "kiosk.start", subjects=[person.person_id],
                        card_id=card_id)
        return KioskTransaction(transaction_id, token, expires, person.name, self._offers(person))

    def _consume(self, kiosk_id: str, challenge: str) -> None:
        now = self.clock()
        with self.engine.begin() as conn:
            used = conn.execute(kiosk_challenges.update().where(
                kiosk_challenges.c.challenge == challenge, kiosk_challenges.c.kiosk_id == kiosk_id,
                kiosk_challenges.c.used_at.is_(None), kiosk_challenges.c.expires_at > now).values(used_at=now)).rowcount
            if used == 1:
                return
            row = conn.execute(sa.select(kiosk_challenges).where(kiosk_challenges.c.challenge == challenge,
                                                                 kiosk_challenges.c.kiosk_id == kiosk_id)).first()
        if row is None:
            raise _refused("KIOSK/challenge-unknown")
        if row.used_at is not None:
            raise _refused("KIOSK/challenge-replayed")
        raise _refused("KIOSK/challenge-expired")

    def _card(self, card_id: str) -> Any:
        with read_only(self.engine.connect()) as conn:
            row = conn.execute(sa.select(resident_cards).where(resident_cards.c.card_id == card_id)).first()
        if row is None:
            raise _refused("KIOSK/card-unknown")
        if row.status == "revoked":
            raise _refused("KIOSK/card-revoked")
        if row.status == "locked":
            raise _refused("KIOSK/card-locked")
        if row.valid_until < jst_date(self.clock()):
            raise _refused("KIOSK/card-expired")
        return row

    def _offers(self, person: PersonRecord) -> tuple[dict[str, Any], ...]:
        offers: list[dict[str, Any]] = [
            {"kind": CertificateKind.RESIDENT_COPY.value, "kind_ja": CertificateKind.RESIDENT_COPY.ja,
             "scopes": ["self", "household"], "items": list(KIOSK_ITEMS)},
            {"kind": CertificateKind.ENTRY_CERTIFICATE.value, "kind_ja": CertificateKind.ENTRY_CERTIFICATE.ja,
             "scopes": ["self", "household"], "items": list(KIOSK_ITEMS)},
        ]
        with read_only(self.engine.connect()) as conn:
            try:
                seal = self.seals.certificate_registration(conn, person.person_id, None)
            except JukiError:
                seal = None
        if seal is not None:
            offers.append({"kind": CertificateKind.SEAL.value, "kind_ja": CertificateKind.SEAL.ja, "scopes": ["self"],
                           "items": []})
        return tuple(offers)

    def _transaction(self, kiosk_id: str, transaction_id: str, token: str) -> Any:
        now = self.clock()
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(kiosk_transactions).where(
                kiosk_transactions.c.transaction_id == transaction_id)).first()
            if row is None or row.kiosk_id != kiosk_id or row.ended_at is not None \
                    or not hmac.compare_digest(row.token_hash, _hash(token or "")):
                raise _refused("KIOSK/transaction")
            if row.expires_at > now:
                return row
            # timed out: end it (committed) before refusing
            conn.execute(kiosk_transactions.update().where(kiosk_transactions.c.transaction_id == transaction_id)
                         .values(ended_at=now, end_reason="timeout"))
            self._audit(conn, f"kiosk:{kiosk_id}", kiosk_id, transaction_id, "kiosk.end", subjects=[row.person_id],
                        reason="timeout", certificates=row.certificates)
        raise _refused("KIOSK/transaction-expired")

    def _open(self, kiosk_id: str, key: str, transaction_id: str, token: str) -> Any:
        """The kiosk, then its open transaction (a refusal audited under the transaction's id)."""
        self._checked_kiosk(kiosk_id, key)
        try:
            return self._transaction(kiosk_id, transaction_id, token)
        except KioskRefused as e:
            self._deny(kiosk_id, transaction_id, e)
            raise

    def certificate(self, kiosk_id: str, key: str, *, transaction_id: str, token: str, kind: str,
                    scope: str = "self", items: tuple[str, ...] = ()) -> Issued:
        """One certificate chosen at the kiosk, as a signed PDF (logged and audited like any other)."""
        tx = self._open(kiosk_id, key, transaction_id, token)
        context = KioskContext(kiosk_id, tx.card_id, transaction_id)
        try:
            request = self._request(tx, kind, scope, items)
        except JukiError as e:
            self._deny(kiosk_id, transaction_id, e, card_id=tx.card_id, subjects=[tx.person_id])
            raise
        issued = self.issuance.issue_at_kiosk(context, request)
        with self.engine.begin() as conn:
            conn.execute(kiosk_transactions.update().where(kiosk_transactions.c.transaction_id == transaction_id)
                         .values(certificates=kiosk_transactions.c.certificates + 1))
        return issued

    def _request(self, tx: Any, kind: str, scope: str, items: tuple[str, ...]) -> cr.CertificateRequest:
        try:
            wanted = CertificateKind(kind)
        except ValueError:
            wanted = None
        if wanted not in KIOSK_KINDS:
            raise InvalidInput(Problem("kind", "REG-CERT/kiosk", "コンビニ交付で選べるのは住民票の写し・記載事項証明書・印鑑登録証明書です。",
                                       f"At a kiosk: {', '.join(k.value for k in KIOSK_KINDS)}."))
        assert wanted is not None
        if scope not in ("self", "household") or (wanted is CertificateKind.SEAL and scope != "self"):
            raise InvalidInput(Problem("scope", "REG-CERT/kiosk", "本人（self）又は世帯（household）を選んでください。",
                                       "Choose self or household."))
        holder = self.store.person_current(tx.person_id)
        if holder is None or not holder.is_resident:
            raise _refused("KIOSK/person-removed")
        subject_ids: tuple[str, ...] = (holder.person_id,)
        if scope == "household":
            subject_ids = tuple(m.person_id for m in self.store.household_members(holder.household_id))
        return cr.CertificateRequest(
            kind=wanted, subject_ids=subject_ids, path=cr.Path.SELF, channel=cr.Channel.KIOSK,
            requester=cr.Person(holder.name, holder.name_kana or "", holder.birth_date, holder.address.text,
                                holder.person_id),
            identity=(cr.IdentityDocument(cr.CARD_AUTHENTICATION),), items=Items.from_names(items),
            seal_card_number=f"card:{tx.card_id}" if wanted is CertificateKind.SEAL else "")

    def end(self, kiosk_id: str, key: str, *, transaction_id: str, token: str) -> dict[str, Any]:
        """取引終了."""
        tx = self._open(kiosk_id, key, transaction_id, token)
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(kiosk_transactions.update().where(kiosk_transactions.c.transaction_id == transaction_id,
                                                           kiosk_transactions.c.ended_at.is_(None))
                         .values(ended_at=now, end_reason="end"))
            self._audit(conn, f"kiosk:{kiosk_id}", kiosk_id, transaction_id, "kiosk.end", subjects=[tx.person_id],
                        reason="end", certificates=tx.certificates)
        return {"transaction_id": transaction_id, "ended_at": now.isoformat(), "certificates": tx.certificates}
