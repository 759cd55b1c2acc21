"""WebAuthn (生体認証 / FIDO2) as the second factor of a staff login (SEC-1), with py_webauthn.

A staff member who has registered an **authenticator** (認証器: a fingerprint or face sensor built into the
terminal, or a security key) may log in with password + that authenticator instead of password + TOTP;
TOTP stays for browsers that offer no authenticator.  The authenticator must verify the user itself
(``userVerification: "required"``: PIN, fingerprint or face on the device), so the second factor is
something the person *is* or *knows* on a device they *have*.

A **ceremony** is one registration or login in progress: a random 32-byte challenge, stored with the
account, the terminal that started it (and for a registration the session), the origin and RP ID the
browser must report, and an expiry (``AuthPolicy.webauthn_timeout``).  The browser holds only the
ceremony token (its SHA-256 is the row's key).  Finishing a ceremony claims it with a conditional
UPDATE, so it is used at most once whatever the outcome: a captured response cannot be replayed.
Ceremonies, used or not, are deleted one timeout after they expire (:func:`purge_ceremonies`: at the
start of every ceremony and by ``juki staff sweep``).

Checks of an assertion, in this order, each refusal with its own rule for the audit log:

1. the ceremony exists, is a login, was started on *this* terminal, is unused and not expired
   (``SEC-1/webauthn-ceremony``, ``-terminal``, ``-replay``, ``-expired``);
2. the credential is one of the account's, registered for this RP ID and not revoked
   (``-credential``, ``-revoked``);
3. the signed client data carries this ceremony's challenge (``-challenge``), the authenticator data
   this RP ID's hash (``-rp-id``; an assertion made for another site), the client data this origin
   (``-origin``; a page of another origin relaying it: phishing);
4. the signature verifies under the stored public key, the user was present and **verified** (``-uv``,
   ``-signature``);
5. the signature counter went up (``-sign-count``): a counter that does not is the sign of a cloned
   authenticator (WebAuthn §6.1.1), so the credential is revoked at once and the owner must register
   again.  A counter that stays at 0 (authenticators that keep none, like synced passkeys) is accepted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_client_data_json,
)
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidRegistrationResponse,
    WebAuthnException,
)
from webauthn.helpers.parse_authenticator_data import parse_authenticator_data
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from juki.adapters.db.engine import read_only
from juki.domain.errors import InvalidInput, Problem

from .authenticator_tables import webauthn_ceremonies, webauthn_credentials

LABEL_MAX = 64
ANY_AAGUID = "any"


@dataclass(frozen=True)
class RelyingParty:
    """The site the browser must be on: ``origin`` (``https://host[:port]``) and ``rp_id``, the domain the
    credentials are scoped to (by default the origin's host)."""

    origin: str
    rp_id: str
    name: str = "juki 住民基本台帳"

    @classmethod
    def of(cls, origin: str, rp_id: str | None = None) -> RelyingParty:
        parts = urlsplit(origin)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError(f"not an origin: {origin!r}")
        return cls(f"{parts.scheme}://{parts.netloc}", rp_id or parts.hostname)


@dataclass(frozen=True)
class Ceremony:
    """A registration or login in progress: give ``token`` and ``options`` (the JSON form of
    PublicKeyCredentialCreationOptions / RequestOptions) to the browser."""

    token: str = field(repr=False)
    options: dict[str, Any]
    expires_at: dt.datetime


@dataclass(frozen=True)
class AuthenticatorInfo:
    credential_id: str
    user_id: str
    label: str
    rp_id: str
    aaguid: str
    multi_device: bool
    sign_count: int
    registered_at: dt.datetime
    registered_terminal: str
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    revoked_by: str | None
    revoke_reason: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class Refused(Exception):
    """A ceremony's response failed a check: ``rule`` (``SEC-1/webauthn-…``) and ``detail`` for the log.
    The detail holds only what juki itself stored or chose (never a value from the browser's response,
    which could be made to look like a 個人番号 and so keep the refusal out of the audit log)."""

    def __init__(self, rule: str, **detail: Any) -> None:
        super().__init__(rule)
        self.rule = rule
        self.detail = detail


def check_label(label: str) -> str:
    """The name a user gives an authenticator (「窓口3の指紋センサー」): 1–64 characters."""
    label = (label or "").strip()
    if not label or len(label) > LABEL_MAX:
        raise InvalidInput(Problem(
            "label", "SEC-1/webauthn-label",
            f"認証器の名前を{LABEL_MAX}文字以内で入力してください（例: 窓口3の指紋センサー）。",
            f"Name the authenticator in at most {LABEL_MAX} characters (e.g. the fingerprint reader of desk 3)."))
    return label


def ceremony_id(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_ceremony(
    conn: Connection,
    *,
    purpose: str,
    user_id: str,
    terminal_id: str,
    rp: RelyingParty,
    now: dt.datetime,
    ttl: dt.timedelta,
    session_id: str | None = None,
) -> tuple[str, bytes]:
    """Store a new ceremony; returns its token (for the browser only) and its challenge."""
    token = secrets.token_urlsafe(32)
    challenge = secrets.token_bytes(32)
    conn.execute(
        webauthn_ceremonies.insert().values(
            ceremony_id=ceremony_id(token),
            purpose=purpose,
            user_id=user_id,
            terminal_id=terminal_id,
            session_id=session_id,
            origin=rp.origin,
            rp_id=rp.rp_id,
            challenge=challenge,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    return token, challenge


def purge_ceremonies(conn: Connection, *, now: dt.datetime, keep: dt.timedelta) -> int:
    """Delete the ceremonies that expired more than ``keep`` ago, used or not; returns how many.

    A used ceremony is not deleted at once: while it lasts (its expiry, plus ``keep``), a response posted
    to it again is refused as a replay (``-replay``) and one that comes late as late (``-expired``),
    with the account named in the audit log.  After that the challenge is worthless anyway (the
    ceremony is unknown, ``-ceremony``), so nothing is lost by deleting it, and the table holds only
    the last few minutes' ceremonies."""
    done = conn.execute(webauthn_ceremonies.delete().where(webauthn_ceremonies.c.expires_at <= now - keep))
    return int(done.rowcount or 0)


def claim_ceremony(conn: Connection, token: str, *, purpose: str, terminal_id: str, now: dt.datetime) -> Any:
    """Use the ceremony of ``token`` (once: the claim is a conditional UPDATE, kept whatever follows).
    Returns its row, or raises :class:`Refused` (``user_id`` in the detail when the ceremony was known)."""
    row = conn.execute(
        sa.select(webauthn_ceremonies).where(webauthn_ceremonies.c.ceremony_id == ceremony_id(token or ""))
    ).first()
    if row is None or row.purpose != purpose:
        raise Refused("SEC-1/webauthn-ceremony")
    claimed = conn.execute(
        webauthn_ceremonies.update()
        .where(webauthn_ceremonies.c.ceremony_id == row.ceremony_id, webauthn_ceremonies.c.used_at.is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:
        raise Refused("SEC-1/webauthn-replay", user_id=row.user_id, used_at=row.used_at.isoformat())
    if row.terminal_id != terminal_id:
        raise Refused("SEC-1/webauthn-terminal", user_id=row.user_id, ceremony_terminal=row.terminal_id)
    if now >= row.expires_at:
        raise Refused("SEC-1/webauthn-expired", user_id=row.user_id, expired_at=row.expires_at.isoformat())
    return row


def _descriptor(row: Any) -> PublicKeyCredentialDescriptor:
    transports = []
    for t in json.loads(row.transports or "[]"):
        try:
            transports.append(AuthenticatorTransport(t))
        except ValueError:
            continue  # a transport this library does not know: leave it out of the hint
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(row.credential_id), transports=transports or None)


def active_credentials(conn: Connection, user_id: str, rp_id: str | None = None) -> list[Any]:
    q = sa.select(webauthn_credentials).where(
        webauthn_credentials.c.user_id == user_id, webauthn_credentials.c.revoked_at.is_(None)
    )
    if rp_id is not None:
        q = q.where(webauthn_credentials.c.rp_id == rp_id)
    return list(conn.execute(q.order_by(webauthn_credentials.c.registered_at)))


def login_options(rp: RelyingParty, challenge: bytes, credentials: list[Any], ttl: dt.timedelta) -> dict[str, Any]:
    options = generate_authentication_options(
        rp_id=rp.rp_id,
        challenge=challenge,
        timeout=int(ttl.total_seconds() * 1000),
        allow_credentials=[_descriptor(c) for c in credentials],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    result: dict[str, Any] = json.loads(options_to_json(options))
    return result


def parse_aaguids(text: str | None) -> frozenset[str] | None:
    """The operator's allow-list of authenticator makes (``JUKI_WEBAUTHN_AAGUIDS``): ``any`` (or nothing)
    allows every make (None); otherwise AAGUIDs (the UUID a make of authenticator reports, e.g. from the
    vendor or the FIDO Metadata Service) separated by commas or spaces.  Raises ValueError naming the
    setting and the value that is not an AAGUID."""
    value = (text or "").strip()
    if not value or value.lower() == ANY_AAGUID:
        return None
    allowed: set[str] = set()
    for part in re.split(r"[\s,]+", value):
        if not part:
            continue
        try:
            allowed.add(str(uuid.UUID(part)))
        except ValueError:
            raise ValueError(f"JUKI_WEBAUTHN_AAGUIDS: {part!r} は AAGUID ではありません / is not an AAGUID "
                             "(a UUID such as 01234567-89ab-cdef-0123-456789abcdef), nor 'any'") from None
    return frozenset(allowed)


def aaguid_for_log(aaguid: str) -> str:
    """An AAGUID in groups of four hex digits (``0102-0304-…``) for the audit log: a UUID's last group
    may be twelve digits with a valid check digit, which the log refuses as a 個人番号 (chromium's own
    test AAGUID is one).  :func:`parse_aaguids` accepts this form as written."""
    digits = uuid.UUID(aaguid).hex
    return "-".join(digits[i:i + 4] for i in range(0, 32, 4))


def check_aaguid(verified: Any, allowed: frozenset[str] | None) -> None:
    """A new credential's make (its AAGUID) must be on the allow-list, when there is one
    (``SEC-1/webauthn-aaguid``; the refusal's detail has the AAGUID and the attestation format)."""
    if allowed is None:
        return
    aaguid = str(verified.aaguid)
    if aaguid not in allowed:
        raise Refused("SEC-1/webauthn-aaguid", aaguid=aaguid_for_log(aaguid),
                      attestation=str(getattr(verified.fmt, "value", verified.fmt)))


def registration_options(
    rp: RelyingParty, challenge: bytes, *, user_id: str, name: str, existing: list[Any], ttl: dt.timedelta,
    attestation: bool = False,
) -> dict[str, Any]:
    """Creation options: user verification required, a non-discoverable credential (the login names the
    account first), and the account's existing credentials excluded so one authenticator is not
    registered twice.  Attestation is asked (``direct``) only when ``attestation`` (the operator allows
    only some makes): otherwise a browser may blank out the AAGUID, and juki does not restrict makes."""
    options = generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=rp.name,
        user_name=user_id,
        user_id=secrets.token_bytes(32),  # an opaque user handle: nothing about the account
        user_display_name=name,
        challenge=challenge,
        timeout=int(ttl.total_seconds() * 1000),
        attestation=AttestationConveyancePreference.DIRECT if attestation else AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[_descriptor(c) for c in existing],
    )
    result: dict[str, Any] = json.loads(options_to_json(options))
    return result


def credential(conn: Connection, credential_id: str) -> Any:
    """The stored credential (row) or None."""
    return conn.execute(
        sa.select(webauthn_credentials).where(webauthn_credentials.c.credential_id == credential_id)
    ).first()


def credential_of(conn: Connection, response: str | dict[str, Any]) -> tuple[Any, Any]:
    """Parse an assertion (the browser's JSON) and find its stored credential (row or None)."""
    try:
        parsed = parse_authentication_credential_json(response)
    except (WebAuthnException, ValueError, TypeError, KeyError) as e:
        raise Refused("SEC-1/webauthn-signature", error=f"malformed ({type(e).__name__})") from None
    return parsed, credential(conn, bytes_to_base64url(parsed.raw_id))


def record_use(conn: Connection, credential_id: str, sign_count: int, now: dt.datetime) -> None:
    conn.execute(
        webauthn_credentials.update()
        .where(webauthn_credentials.c.credential_id == credential_id)
        .values(sign_count=sign_count, last_used_at=now)
    )


def add_credential(
    conn: Connection, ceremony: Any, verified: Any, response: str | dict[str, Any], *, label: str, now: dt.datetime
) -> AuthenticatorInfo:
    """Store a verified new credential for the ceremony's account (refused if that id is registered)."""
    cid = bytes_to_base64url(verified.credential_id)
    if credential(conn, cid) is not None:
        raise Refused("SEC-1/webauthn-registered", credential_id=cid[:64])
    conn.execute(
        webauthn_credentials.insert().values(
            credential_id=cid,
            user_id=ceremony.user_id,
            label=label,
            rp_id=ceremony.rp_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            aaguid=str(verified.aaguid),
            transports=json.dumps(_transports(response)),
            multi_device=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
            registered_at=now,
            registered_terminal=ceremony.terminal_id,
        )
    )
    return info(credential(conn, cid))


def check_assertion(parsed: Any, ceremony: Any, stored: Any) -> int:
    """Checks 2–5 of the module docstring.  Returns the new signature counter or raises :class:`Refused`.
    The counter check comes after the signature, so only a genuine signature can revoke a credential."""
    if stored is None or stored.user_id != ceremony.user_id:
        raise Refused("SEC-1/webauthn-credential", known=stored is not None)
    if stored.revoked_at is not None:
        raise Refused("SEC-1/webauthn-revoked", credential_id=stored.credential_id[:64])
    if stored.rp_id != ceremony.rp_id:
        raise Refused("SEC-1/webauthn-rp-id", credential_rp_id=stored.rp_id, expected=ceremony.rp_id)
    try:
        client = parse_client_data_json(bytes(parsed.response.client_data_json))
        auth_data = parse_authenticator_data(bytes(parsed.response.authenticator_data))
    except (WebAuthnException, ValueError, TypeError, KeyError) as e:
        raise Refused("SEC-1/webauthn-signature", error=f"malformed ({type(e).__name__})") from None
    if client.challenge != ceremony.challenge:
        raise Refused("SEC-1/webauthn-challenge")
    if auth_data.rp_id_hash != hashlib.sha256(ceremony.rp_id.encode("utf-8")).digest():
        raise Refused("SEC-1/webauthn-rp-id", expected=ceremony.rp_id)
    if client.origin != ceremony.origin:
        raise Refused("SEC-1/webauthn-origin", expected=ceremony.origin)
    if not auth_data.flags.uv:
        raise Refused("SEC-1/webauthn-uv")
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=ceremony.challenge,
            expected_rp_id=ceremony.rp_id,
            expected_origin=ceremony.origin,
            credential_public_key=stored.public_key,
            credential_current_sign_count=0,  # checked below, once the signature is known to be genuine
            require_user_verification=True,
        )
    except (InvalidAuthenticationResponse, WebAuthnException) as e:
        # for the log: the user-presence flag and the counter (a 32-bit number, so never mistaken for a
        # 12-digit 個人番号) tell an operator which check failed without copying the browser's text
        raise Refused("SEC-1/webauthn-signature", error=type(e).__name__, user_present=bool(auth_data.flags.up),
                      presented=int(auth_data.sign_count)) from None
    new = int(verified.new_sign_count)
    if (new > 0 or stored.sign_count > 0) and new <= stored.sign_count:
        raise Refused("SEC-1/webauthn-sign-count", credential_id=stored.credential_id[:64], stored=stored.sign_count,
                      presented=new)
    return new


def check_registration(response: str | dict[str, Any], ceremony: Any) -> Any:
    """Verify a new credential against its ceremony (challenge, origin, RP ID, user verified); returns
    py_webauthn's VerifiedRegistration or raises :class:`Refused`."""
    try:
        return verify_registration_response(
            credential=response,
            expected_challenge=ceremony.challenge,
            expected_rp_id=ceremony.rp_id,
            expected_origin=ceremony.origin,
            require_user_verification=True,
        )
    except (InvalidRegistrationResponse, WebAuthnException, ValueError, TypeError, KeyError) as e:
        raise Refused("SEC-1/webauthn-registration", error=type(e).__name__) from None


def _transports(response: str | dict[str, Any]) -> list[str]:
    """The transports the browser reported for a new credential (a hint for later logins)."""
    data = json.loads(response) if isinstance(response, str) else response
    found = (data.get("response") or {}).get("transports") or []
    return [str(t) for t in found if isinstance(t, str)][:8]


def info(row: Any) -> AuthenticatorInfo:
    return AuthenticatorInfo(**{f.name: row._mapping[f.name] for f in dataclasses.fields(AuthenticatorInfo)})


def authenticators(engine: Engine, user_id: str | None = None) -> list[AuthenticatorInfo]:
    """Registered authenticators (revoked ones too), oldest first; one account's when ``user_id``."""
    q = sa.select(webauthn_credentials).order_by(webauthn_credentials.c.user_id, webauthn_credentials.c.registered_at)
    if user_id is not None:
        q = q.where(webauthn_credentials.c.user_id == user_id)
    with read_only(engine.connect()) as conn:
        return [info(r) for r in conn.execute(q)]


def revoke(conn: Connection, credential_id: str, *, actor: str, reason: str, now: dt.datetime) -> bool:
    """Revoke a credential (kept, never deleted).  False when it was already revoked."""
    done = conn.execute(
        webauthn_credentials.update()
        .where(webauthn_credentials.c.credential_id == credential_id, webauthn_credentials.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by=actor, revoke_reason=reason)
    )
    return done.rowcount == 1


__all__ = [
    "ANY_AAGUID",
    "LABEL_MAX",
    "AuthenticatorInfo",
    "Ceremony",
    "Refused",
    "RelyingParty",
    "authenticators",
]
