"""コンビニ交付 cards: a resident's key pair and 4-digit PIN (利用者証明用電子証明書 and its 暗証番号, SEC-1).

A card is issued at the counter (``card.manage``) to a resident: the service makes a key pair (Ed25519, or
ECDSA P-256), hands the private key to the caller *once* (``juki card issue`` writes it to the file the
"card" is), and keeps the public key and an argon2id hash of the PIN.  A new card for the same person
revokes the old one.  At a kiosk the card signs a one-time challenge (:func:`card_message`) and the
resident types the PIN: three wrong PINs in a row lock the card, and only the counter unlocks it
(optionally with a new PIN).  Every issue, unlock and revocation is in the audit log.

The card never carries, and this module never stores, the 個人番号 (REG-LINK5): a card is known by its id
and the person by 宛名番号.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from sqlalchemy.engine import Connection, Engine

from juki.access import policy
from juki.access.model import Principal
from juki.adapters.db.engine import read_only
from juki.adapters.db.store import Store
from juki.clock import Clock, jst_date
from juki.domain.errors import Conflict, InvalidInput, NotFound, Problem

from .tables import resident_cards

MAX_PIN_FAILURES = 3
"""Wrong PINs in a row that lock a card (the 利用者証明用電子証明書 rule)."""
CARD_VALID_YEARS = 5
ALGORITHMS = ("ed25519", "ecdsa-p256")
PIN_RE = re.compile(r"^[0-9]{4}$")
MESSAGE_PREFIX = b"juki-kiosk-auth-v1\n"


def card_message(kiosk_id: str, challenge: str) -> bytes:
    """What a card signs to authenticate at a kiosk: a fixed prefix, the kiosk id and the challenge (so a
    signature for one kiosk or one challenge is worth nothing for another)."""
    return MESSAGE_PREFIX + kiosk_id.encode("utf-8") + b"\n" + challenge.encode("ascii")


def sign_challenge(private_key_pem: bytes, kiosk_id: str, challenge: str) -> str:
    """What the card does (the chip in real life; here the card file): sign :func:`card_message`, base64."""
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    message = card_message(kiosk_id, challenge)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(message)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(message, ec.ECDSA(hashes.SHA256()))
    else:
        raise InvalidInput(Problem("card", "REG-CERT/card", "カードの鍵の種類が不明です。", "Unknown card key type."))
    return base64.b64encode(signature).decode("ascii")


def verify_signature(public_key_pem: str, message: bytes, signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        key = serialization.load_pem_public_key(public_key_pem.encode("ascii"))
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        else:  # pragma: no cover - only the two algorithms are ever stored
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class IssuedCard:
    card_id: str
    person_id: str
    algorithm: str
    valid_until: dt.date
    public_key_pem: str
    private_key_pem: bytes = field(repr=False)  # for the card only: written to its file once, never stored


@dataclass(frozen=True)
class CardInfo:
    card_id: str
    person_id: str
    algorithm: str
    status: str
    failed_pins: int
    valid_until: dt.date
    issued_at: dt.datetime
    public_key_pem: str


def _info(row: Any) -> CardInfo:
    return CardInfo(row.card_id, row.person_id, row.algorithm, row.status, row.failed_pins, row.valid_until,
                    row.issued_at, row.public_key)


def check_pin(pin: Any, field_name: str = "pin") -> str:
    if not isinstance(pin, str) or not PIN_RE.match(pin):
        raise InvalidInput(Problem(field_name, "SEC-1/card-pin", "暗証番号は数字4桁です。", "The PIN is 4 digits."))
    return pin


def _new_key(algorithm: str) -> tuple[bytes, str]:
    if algorithm == "ed25519":
        private: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "ecdsa-p256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        raise InvalidInput(Problem("algorithm", "SEC-1/card-algorithm", f"鍵の方式は {' / '.join(ALGORITHMS)} です。",
                                   f"The key algorithm is one of {', '.join(ALGORITHMS)}."))
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
    return pem, public


class CardService:
    """Issue, unlock, revoke cards (at the counter), and check one at a kiosk (:meth:`check_pin_and_count`)."""

    def __init__(self, engine: Engine, store: Store, *, clock: Clock, hasher: PasswordHasher | None = None,
                 audit: Any = None) -> None:
        self.engine = engine
        self.store = store
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        self.audit = audit

    def _record(self, conn: Connection, principal: Principal, action: str, person_id: str, **detail: Any) -> None:
        if self.audit is not None:
            self.audit.record(conn, user_id=principal.user_id, terminal=principal.terminal_id,
                              session_id=principal.session_id, action=action, subject_ids=[person_id], detail=detail)

    def _row(self, conn: Connection, card_id: str, *, lock: bool = False) -> Any:
        q = sa.select(resident_cards).where(resident_cards.c.card_id == card_id)
        row = conn.execute(q.with_for_update() if lock else q).first()
        if row is None:
            raise NotFound(Problem("card_id", "SEC-1/card-unknown", f"カード {card_id} はありません。",
                                   f"There is no card {card_id}."))
        return row

    def issue(self, principal: Principal, person_id: str, pin: str, *, algorithm: str = "ed25519") -> IssuedCard:
        """A new card for a current resident; the person's earlier cards are revoked."""
        policy.require(principal, "card.manage")
        check_pin(pin)
        person = self.store.person_current(person_id)
        if person is None or not person.is_resident:
            raise NotFound(Problem("person_id", "SEC-1/card-person", f"住民 {person_id} はいません（除票を含む）。",
                                   f"{person_id} is not a current resident."))
        private_pem, public_pem = _new_key(algorithm)
        now = self.clock()
        today = jst_date(now)
        card_id = "C" + secrets.token_hex(8).upper()
        valid_until = today.replace(year=today.year + CARD_VALID_YEARS) if not (today.month == 2 and today.day == 29) \
            else dt.date(today.year + CARD_VALID_YEARS, 2, 28)
        with self.engine.begin() as conn:
            live = (resident_cards.c.person_id == person_id) & (resident_cards.c.status != "revoked")
            old = conn.execute(sa.select(resident_cards.c.card_id).where(live)).scalars().all()
            conn.execute(resident_cards.update().where(live).values(
                status="revoked", revoked_by=principal.user_id, revoked_at=now, revoke_reason="再交付 / reissued"))
            conn.execute(resident_cards.insert().values(
                card_id=card_id, person_id=person_id, algorithm=algorithm, public_key=public_pem,
                pin_hash=self.hasher.hash(pin), failed_pins=0, status="active", issued_by=principal.user_id,
                issued_at=now, valid_until=valid_until))
            self._record(conn, principal, "card.issue", person_id, card_id=card_id, algorithm=algorithm,
                         revoked=list(old))
        return IssuedCard(card_id, person_id, algorithm, valid_until, public_pem, private_pem)

    def unlock(self, principal: Principal, card_id: str, *, new_pin: str | None = None) -> CardInfo:
        """At the counter, after checking the holder's identity: the PIN count starts again (and a new PIN
        may be set)."""
        policy.require(principal, "card.manage")
        if new_pin is not None:
            check_pin(new_pin, "new_pin")
        now = self.clock()
        with self.engine.begin() as conn:
            row = self._row(conn, card_id, lock=True)
            if row.status == "revoked":
                raise Conflict(Problem("card_id", "SEC-1/card-revoked", "廃止されたカードは再開できません。",
                                       "A revoked card cannot be unlocked."))
            values: dict[str, Any] = {"status": "active", "failed_pins": 0, "unlocked_by": principal.user_id,
                                      "unlocked_at": now}
            if new_pin is not None:
                values["pin_hash"] = self.hasher.hash(new_pin)
            conn.execute(resident_cards.update().where(resident_cards.c.card_id == card_id).values(**values))
            self._record(conn, principal, "card.unlock", row.person_id, card_id=card_id, was=row.status,
                         new_pin=new_pin is not None)
            return _info(self._row(conn, card_id))

    def revoke(self, principal: Principal, card_id: str, *, reason: str) -> CardInfo:
        """廃止 (lost card, the holder moved out or died): the card never authenticates again."""
        policy.require(principal, "card.manage")
        if not reason or not reason.strip():
            raise InvalidInput(Problem("reason", "SEC-1/card-revoke", "廃止の理由を入力してください。", "A reason is required."))
        now = self.clock()
        with self.engine.begin() as conn:
            row = self._row(conn, card_id, lock=True)
            if row.status != "revoked":
                conn.execute(resident_cards.update().where(resident_cards.c.card_id == card_id).values(
                    status="revoked", revoked_by=principal.user_id, revoked_at=now, revoke_reason=reason.strip()))
                self._record(conn, principal, "card.revoke", row.person_id, card_id=card_id, reason=reason.strip())
            return _info(self._row(conn, card_id))

    def info(self, card_id: str) -> CardInfo:
        with read_only(self.engine.connect()) as conn:
            return _info(self._row(conn, card_id))

    # --- at the kiosk ------------------------------------------------------------------------------

    def check_pin_and_count(self, card_id: str, pin: str) -> tuple[bool, int, bool]:
        """Check ``pin`` against the card, in a transaction of its own so the count sticks whatever
        follows: (right?, failures so far, locked now?).  The third wrong PIN in a row locks the card."""
        now = self.clock()
        with self.engine.begin() as conn:
            row = self._row(conn, card_id, lock=True)
            try:
                right = isinstance(pin, str) and bool(PIN_RE.match(pin)) and self.hasher.verify(row.pin_hash, pin)
            except (VerificationError, InvalidHashError):
                right = False
            if right:
                if row.failed_pins:
                    conn.execute(resident_cards.update().where(resident_cards.c.card_id == card_id).values(failed_pins=0))
                return True, 0, False
            failures = row.failed_pins + 1
            lock = failures >= MAX_PIN_FAILURES
            values: dict[str, Any] = {"failed_pins": failures}
            if lock:
                values.update(status="locked", locked_at=now)
            conn.execute(resident_cards.update().where(resident_cards.c.card_id == card_id,
                                                       resident_cards.c.status == "active").values(**values))
            return False, failures, lock
