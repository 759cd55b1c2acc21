"""Authentication (SEC-1, SEC-9, PRF-11): staff accounts, terminals, sessions.

* Passwords: argon2id (argon2-cffi ``PasswordHasher``, whose defaults are argon2id), never stored in
  clear; rehashed on login when the parameters change.  Expiry after ``password_max_age`` (90 days):
  login is refused with ``SEC-1/password-expired`` and :meth:`AuthService.change_password` works; not
  changed within ``password_grace`` (14 days) after expiry, the account is **locked**.  A new or reset
  account must change its password at first login (``initial_password_must_change``).
* Second factor: TOTP (pyotp; 30 s step, one step either side).  The secret is AES-GCM encrypted with the
  register's key ring (AAD ``totp:<user_id>``); the last accepted step is stored and a code whose step is
  not newer is refused (``SEC-1/totp-replay``), atomically (a conditional UPDATE), so two concurrent
  logins cannot both use one code.
* Or, instead of the TOTP code, a registered authenticator (WebAuthn / FIDO2, 生体認証) with user
  verification: :meth:`AuthService.begin_authenticator_login` checks the password and opens a single-use
  ceremony bound to the account and terminal, :meth:`AuthService.login_with_authenticator` verifies the
  assertion (see :mod:`juki.access.authenticators`); registration and revocation are here too.
* Lockout: ``max_failed_logins`` (5) consecutive failures of password or code lock the account
  (``status = 'locked'``); only an administrator unlocks it (:meth:`AuthService.unlock`).
* Terminals: only registered, unrevoked terminals presenting their terminal key (random 32 bytes,
  shown once, stored as SHA-256) may log in (``SEC-1/terminal``); a session is bound to its terminal.
* Sessions: the bearer token is random (32 bytes); only its SHA-256 is stored (``sessions.session_id``).
  Idle timeout (``idle_timeout``; SEC-1 asks 5 min on the 統合端末), absolute lifetime
  (``session_max_age``), logout; a new login ends the user's other sessions (``single_session``).

Every refusal is an :class:`AuthenticationFailed` (a :class:`~juki.domain.errors.Forbidden` with
``kind = "unauthenticated"``) carrying a specific rule id and ``user_id`` / ``terminal_id`` /
``session_id`` / ``detail`` for the audit log.  An unknown user id, a disabled account and a wrong
password give the **same** problem (``SEC-1/credentials``).  State changes that a refusal implies (the
failure counter, a lock, an ended session) are committed before the error is raised.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Connection, Engine

from juki.adapters.db.engine import read_only
from juki.adapters.keys import Keyring
from juki.clock import Clock, utcnow
from juki.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem, Problems, RuleViolation

from . import authenticators as fido
from .authenticators import Ceremony, RelyingParty
from .model import Principal
from .store import disable_account, effective_grant_pairs, end_session, end_sessions
from .tables import STAFF_KINDS, sessions, staff, terminals

USER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TERMINAL_ID_RE = USER_ID_RE


@dataclass(frozen=True)
class AuthPolicy:
    """Parameters of SEC-1 (each a policy decision of the municipality)."""

    max_failed_logins: int = 5
    password_max_age: dt.timedelta = dt.timedelta(days=90)
    password_grace: dt.timedelta = dt.timedelta(days=14)
    password_min_length: int = 12
    initial_password_must_change: bool = True
    idle_timeout: dt.timedelta = dt.timedelta(minutes=15)
    screen_lock_after: dt.timedelta = dt.timedelta(minutes=5)
    """The counter UI locks its screen after this long without activity (SEC-1: 5 min on the 統合端末);
    the session itself ends at ``idle_timeout`` (automatic logout)."""
    session_max_age: dt.timedelta = dt.timedelta(hours=12)
    touch_interval: dt.timedelta = dt.timedelta(seconds=0)
    """Write ``last_seen_at`` at most this often (0: on every request).  Idle timeout precision."""
    single_session: bool = True
    totp_interval: int = 30
    totp_digits: int = 6
    totp_valid_window: int = 1
    totp_issuer: str = "juki"
    webauthn_timeout: dt.timedelta = dt.timedelta(minutes=3)
    """How long a WebAuthn ceremony (the authenticator step of a login or a registration) stays open."""
    webauthn_aaguids: frozenset[str] | None = None
    """The makes of authenticator (AAGUIDs) that may be registered; None: any (``JUKI_WEBAUTHN_AAGUIDS``)."""


class EnrolmentRefused(InvalidInput):
    """A refused registration of an authenticator; ``detail`` is what juki checked, for the audit log."""

    def __init__(self, problem: Problem, detail: dict[str, Any]) -> None:
        super().__init__(problem)
        self.detail = detail


Recorder = Callable[[Connection, fido.AuthenticatorInfo], object]
"""Writes the audit entry of a change to an authenticator, in the change's transaction."""


class AuthenticationFailed(Forbidden):
    """A refused login, session check, logout or password change.  ``rule`` (e.g. ``SEC-1/lockout``)
    says why; ``user_id``/``terminal_id``/``session_id``/``detail`` are for the audit log only (never
    shown to the person at the terminal)."""

    kind = "unauthenticated"

    def __init__(
        self,
        problem: Problem,
        *,
        user_id: str | None = None,
        terminal_id: str | None = None,
        session_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(problem)
        self.user_id = user_id
        self.terminal_id = terminal_id
        self.session_id = session_id
        self.detail = detail or {}

    @property
    def rule(self) -> str:
        return self.problems[0].rule


_MESSAGES: dict[str, tuple[str, str, str]] = {
    # rule: (field, ja, en)
    "SEC-1/credentials": (
        "user_id",
        "利用者IDまたはパスワードが正しくありません。",
        "The user id or password is wrong.",
    ),
    "SEC-1/lockout": (
        "user_id",
        "この利用者IDはロックされています。システム管理者に解除を依頼してください。",
        "This user id is locked. Ask the system administrator to unlock it.",
    ),
    "SEC-1/password-lock": (
        "password",
        "パスワードが期限内に変更されなかったため、利用者IDをロックしました。システム管理者に連絡してください。",
        "The password was not changed in time, so the user id is locked. Contact the system administrator.",
    ),
    "SEC-1/password-expired": (
        "password",
        "パスワードの有効期限が切れています。パスワードを変更してください。",
        "Your password has expired. Change your password.",
    ),
    "SEC-1/totp": (
        "totp_code",
        "ワンタイムパスワードが正しくないか、既に使用されています。",
        "The one-time code is wrong or was already used.",
    ),
    "SEC-1/totp-replay": (
        "totp_code",
        "ワンタイムパスワードが正しくないか、既に使用されています。",
        "The one-time code is wrong or was already used.",
    ),
    "SEC-1/terminal": (
        "terminal_id",
        "この端末は登録されていないか、認証できません。",
        "This terminal is not registered or could not be authenticated.",
    ),
    "SEC-1/session": (
        "token",
        "セッションが無効です。ログインし直してください。",
        "The session is not valid. Log in again.",
    ),
    "SEC-1/session-expired": (
        "token",
        "セッションの有効時間が過ぎました。ログインし直してください。",
        "The session has expired. Log in again.",
    ),
    "SEC-1/idle-timeout": (
        "token",
        "一定時間操作がなかったため、ログアウトしました。ログインし直してください。",
        "You were logged out after a period of inactivity. Log in again.",
    ),
    "SEC-1/account": (
        "token",
        "この利用者IDは利用できません。ログインし直してください。",
        "This user id cannot be used. Log in again.",
    ),
    # WebAuthn (生体認証 / FIDO2): see juki.access.authenticators for what each rule checks
    "SEC-1/webauthn-none": (
        "authenticator",
        "この利用者IDには、この画面で使える認証器が登録されていません。ワンタイムパスワードでログインしてください。",
        "No authenticator for this site is registered for this user id. Log in with the one-time code.",
    ),
    "SEC-1/webauthn-expired": (
        "authenticator",
        "認証器での確認が時間内に終わりませんでした。もう一度ログインしてください。",
        "The authenticator step timed out. Log in again.",
    ),
    "SEC-1/webauthn-revoked": (
        "authenticator",
        "この認証器の登録は取り消されています。ワンタイムパスワードでログインしてください。",
        "This authenticator's registration was revoked. Log in with the one-time code.",
    ),
    "SEC-1/webauthn-sign-count": (
        "authenticator",
        "この認証器は複製された疑いがあるため、登録を取り消しました。ワンタイムパスワードでログインし、システム管理者に連絡してください。",
        "This authenticator may have been cloned, so its registration was revoked. Log in with the one-time code "
        "and contact the system administrator.",
    ),
    "SEC-1/webauthn-uv": (
        "authenticator",
        "認証器で本人確認（指紋・顔・PIN）が行われませんでした。本人確認のできる認証器を使ってください。",
        "The authenticator did not verify the user (fingerprint, face or PIN). Use one that does.",
    ),
    **{
        rule: ("authenticator", "認証器で確認できませんでした。もう一度ログインするか、ワンタイムパスワードでログインしてください。",
               "The authenticator could not be verified. Log in again, or log in with the one-time code.")
        for rule in (
            "SEC-1/webauthn-ceremony",
            "SEC-1/webauthn-replay",
            "SEC-1/webauthn-terminal",
            "SEC-1/webauthn-credential",
            "SEC-1/webauthn-challenge",
            "SEC-1/webauthn-rp-id",
            "SEC-1/webauthn-origin",
            "SEC-1/webauthn-signature",
        )
    },
}


def _fail(rule: str, **kw: Any) -> AuthenticationFailed:
    fld, ja, en = _MESSAGES[rule]
    return AuthenticationFailed(Problem(fld, rule, ja, en), **kw)


def token_hash(token: str) -> str:
    """``sessions.session_id``: SHA-256 (hex) of the bearer token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def terminal_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class Login(NamedTuple):
    token: str  # give to the client once; never stored
    principal: Principal


@dataclass(frozen=True)
class NewStaff:
    user_id: str
    totp_secret: str = field(repr=False)
    totp_uri: str = field(repr=False)  # otpauth://totp/... shown once (QR code)


@dataclass(frozen=True)
class StaffInfo:
    user_id: str
    name: str
    section: str
    kind: str
    status: str
    failed_logins: int
    locked_reason: str | None
    password_changed_at: dt.datetime
    password_expires_at: dt.datetime
    last_login_at: dt.datetime | None
    created_by: str
    created_at: dt.datetime
    disabled_at: dt.datetime | None


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    user_id: str
    terminal_id: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    ended_at: dt.datetime | None
    end_reason: str | None


def _check_id(value: str, fld: str, what_ja: str) -> None:
    if not isinstance(value, str) or not USER_ID_RE.match(value):
        raise InvalidInput(
            Problem(
                fld,
                "SEC-1/id-format",
                f"{what_ja}は英数字と . _ - の64文字以内で、英数字で始めてください。",
                f"{fld} must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit.",
            )
        )


class AuthService:
    """Accounts, terminals, login, sessions.  Administrative methods take ``actor`` (the user id
    recorded as doing it); the caller (API/CLI) checks the actor's permission with
    :func:`juki.access.policy.require` first."""

    def __init__(
        self,
        engine: Engine,
        keyring: Keyring,
        clock: Clock = utcnow,
        policy: AuthPolicy | None = None,
        *,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.engine = engine
        self.keyring = keyring
        self.clock = clock
        self.policy = policy or AuthPolicy()
        self.hasher = hasher or PasswordHasher()  # argon2id
        self._dummy_hash: str | None = None

    # -- helpers ------------------------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        now = self.clock()
        if now.tzinfo is None:
            now = now.replace(tzinfo=dt.UTC)
        return now.astimezone(dt.UTC)

    def _totp(self, secret: str) -> pyotp.TOTP:
        return pyotp.TOTP(secret, digits=self.policy.totp_digits, interval=self.policy.totp_interval)

    def _secret(self, row: Any) -> str:
        return self.keyring.decrypt(row.totp_secret_ciphertext, row.totp_key_id, f"totp:{row.user_id}")

    def _verify_password(self, password_hash: str | None, password: str) -> bool:
        if password_hash is None:  # same work for an unknown user id
            if self._dummy_hash is None:
                self._dummy_hash = self.hasher.hash(secrets.token_hex(16))
            password_hash = self._dummy_hash
            password = password + "\x00"
        try:
            return bool(self.hasher.verify(password_hash, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _match_step(self, secret: str, code: str, now: dt.datetime) -> int | None:
        code = (code or "").replace(" ", "")
        if not code.isdigit() or len(code) != self.policy.totp_digits:
            return None
        totp = self._totp(secret)
        current = int(now.timestamp()) // self.policy.totp_interval
        w = self.policy.totp_valid_window
        for step in range(current - w, current + w + 1):
            if hmac.compare_digest(totp.generate_otp(step), code):
                return step
        return None

    def _password_problems(self, user_id: str, password: str, old: str | None = None) -> Problems:
        problems = Problems()
        if not isinstance(password, str) or len(password) < self.policy.password_min_length:
            n = self.policy.password_min_length
            problems.add(
                "new_password",
                "SEC-1/password-strength",
                f"パスワードは{n}文字以上にしてください。",
                f"The password must be at least {n} characters long.",
            )
        elif user_id.lower() in password.lower():
            problems.add(
                "new_password",
                "SEC-1/password-strength",
                "パスワードに利用者IDを含めないでください。",
                "The password must not contain the user id.",
            )
        if old is not None and password == old:
            problems.add(
                "new_password",
                "SEC-1/password-reuse",
                "新しいパスワードは現在のものと異なるものにしてください。",
                "The new password must differ from the current one.",
            )
        return problems

    def _staff_row(self, conn: Connection, user_id: str, *, lock: bool = False) -> Any:
        q = sa.select(staff).where(staff.c.user_id == user_id)
        if lock:
            q = q.with_for_update()
        return conn.execute(q).first()

    def _require_staff(self, conn: Connection, user_id: str, *, lock: bool = True) -> Any:
        row = self._staff_row(conn, user_id, lock=lock)
        if row is None:
            raise NotFound(
                Problem("user_id", "SEC-1/unknown-user", f"利用者ID {user_id} はありません。", f"No user id {user_id}.")
            )
        return row

    def _check_terminal(self, conn: Connection, terminal_id: str, terminal_key: str | None) -> Any:
        row = conn.execute(sa.select(terminals).where(terminals.c.terminal_id == terminal_id)).first()
        ok = (
            row is not None
            and row.revoked_at is None
            and (terminal_key is None or hmac.compare_digest(row.credential_hash, terminal_key_hash(terminal_key)))
        )
        return row if ok else None

    def _record_failure(self, conn: Connection, user_id: str, now: dt.datetime) -> bool:
        """Count a failed attempt; lock at the limit.  True when this attempt locked the account."""
        conn.execute(
            staff.update().where(staff.c.user_id == user_id).values(failed_logins=staff.c.failed_logins + 1)
        )
        failures = conn.execute(sa.select(staff.c.failed_logins).where(staff.c.user_id == user_id)).scalar_one()
        if failures >= self.policy.max_failed_logins:
            conn.execute(
                staff.update()
                .where(staff.c.user_id == user_id, staff.c.status == "active")
                .values(status="locked", locked_reason="too-many-failures", locked_at=now)
            )
            end_sessions(conn, now=now, reason="account-locked", user_id=user_id)
            return True
        return False

    def _principal(self, conn: Connection, row: Any, terminal_id: str, session_id: str) -> Principal:
        return Principal.build(
            user_id=row.user_id,
            terminal_id=terminal_id,
            session_id=session_id,
            section=row.section,
            grants=effective_grant_pairs(conn, row.user_id),
            kind=row.kind,
        )

    # -- accounts -----------------------------------------------------------------------------------

    def create_staff(
        self,
        user_id: str,
        name: str,
        section: str,
        *,
        password: str,
        actor: str,
        kind: str = "staff",
        must_change: bool | None = None,
    ) -> NewStaff:
        """Create an account with an initial password and a fresh TOTP secret (returned once, as the
        secret and an ``otpauth://`` URI).  A user id that ever existed is refused (SEC-9)."""
        problems = Problems()
        _check_id(user_id, "user_id", "利用者ID")
        if not name or not name.strip():
            problems.add("name", "SEC-1/required", "氏名を入力してください。", "The name is required.")
        if not section or not section.strip():
            problems.add("section", "SEC-1/required", "所属を入力してください。", "The section is required.")
        if kind not in STAFF_KINDS:
            problems.add(
                "kind", "SEC-9/kind", "種別は staff か contractor です。", "kind must be 'staff' or 'contractor'."
            )
        problems.extend(self._password_problems(user_id, password).items)
        problems.raise_if_any()
        now = self._now()
        must = self.policy.initial_password_must_change if must_change is None else must_change
        secret = pyotp.random_base32()
        ciphertext, key_id = self.keyring.encrypt(secret, f"totp:{user_id}")
        with self.engine.begin() as conn:
            if self._staff_row(conn, user_id) is not None:
                raise Conflict(
                    Problem(
                        "user_id",
                        "SEC-9/id-reuse",
                        f"利用者ID {user_id} は既に使われています (IDは再利用しません)。",
                        f"User id {user_id} exists or existed; user ids are never reused.",
                    )
                )
            conn.execute(
                staff.insert().values(
                    user_id=user_id,
                    name=name.strip(),
                    section=section.strip(),
                    kind=kind,
                    status="active",
                    password_hash=self.hasher.hash(password),
                    password_changed_at=now,
                    password_expires_at=now if must else now + self.policy.password_max_age,
                    failed_logins=0,
                    totp_secret_ciphertext=ciphertext,
                    totp_key_id=key_id,
                    created_by=actor,
                    created_at=now,
                )
            )
        uri = self._totp(secret).provisioning_uri(name=user_id, issuer_name=self.policy.totp_issuer)
        return NewStaff(user_id, secret, uri)

    def reset_totp(self, user_id: str, *, actor: str) -> NewStaff:
        """A new TOTP secret (e.g. a lost token); returned once.  Ends the user's sessions."""
        secret = pyotp.random_base32()
        ciphertext, key_id = self.keyring.encrypt(secret, f"totp:{user_id}")
        with self.engine.begin() as conn:
            self._require_staff(conn, user_id)
            conn.execute(
                staff.update()
                .where(staff.c.user_id == user_id)
                .values(totp_secret_ciphertext=ciphertext, totp_key_id=key_id)
            )
            end_sessions(conn, now=self._now(), reason="totp-reset", user_id=user_id)
        uri = self._totp(secret).provisioning_uri(name=user_id, issuer_name=self.policy.totp_issuer)
        return NewStaff(user_id, secret, uri)

    def reset_password(self, user_id: str, new_password: str, *, actor: str) -> None:
        """An administrator sets a temporary password, which must be changed at the next login (and
        within the grace period).  Ends the user's sessions; does not unlock."""
        self._password_problems(user_id, new_password).raise_if_any()
        now = self._now()
        with self.engine.begin() as conn:
            self._require_staff(conn, user_id)
            conn.execute(
                staff.update()
                .where(staff.c.user_id == user_id)
                .values(
                    password_hash=self.hasher.hash(new_password),
                    password_changed_at=now,
                    password_expires_at=now,
                )
            )
            end_sessions(conn, now=now, reason="password-reset", user_id=user_id)

    def unlock(self, user_id: str, *, actor: str) -> None:
        """Unlock a locked account (failure counter back to 0).  An account locked because its password
        was not changed in time needs :meth:`reset_password` first (rule ``SEC-1/password-lock``)."""
        now = self._now()
        with self.engine.begin() as conn:
            row = self._require_staff(conn, user_id)
            if row.status != "locked":
                raise RuleViolation(
                    Problem(
                        "user_id",
                        "SEC-1/not-locked",
                        f"利用者ID {user_id} はロックされていません ({row.status})。",
                        f"User id {user_id} is not locked ({row.status}).",
                    )
                )
            if now >= row.password_expires_at + self.policy.password_grace:
                raise RuleViolation(
                    Problem(
                        "user_id",
                        "SEC-1/password-lock",
                        "パスワードの変更期限を過ぎています。先にパスワードを再設定してください。",
                        "The password is past its grace period: reset the password first.",
                    )
                )
            conn.execute(
                staff.update()
                .where(staff.c.user_id == user_id)
                .values(status="active", failed_logins=0, locked_reason=None, locked_at=None)
            )

    def disable_staff(self, user_id: str, *, actor: str, reason: str = "disabled") -> list[str]:
        """Disable an account for good (it stays, and its id is never reused): sessions end, open rights
        are revoked.  Returns the session ids ended."""
        now = self._now()
        with self.engine.begin() as conn:
            row = self._require_staff(conn, user_id)
            if row.status == "disabled":
                return []
            ended, _ = disable_account(conn, user_id, now=now, actor=actor, reason=reason)
            return ended

    def lock_stale_passwords(self) -> list[str]:
        """The daily sweep: lock every active account whose password expired more than the grace
        period ago (SEC-1: ID lock if not changed).  Returns the user ids locked."""
        now = self._now()
        limit = now - self.policy.password_grace
        with self.engine.begin() as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    sa.select(staff.c.user_id).where(staff.c.status == "active", staff.c.password_expires_at <= limit)
                )
            ]
            for uid in ids:
                conn.execute(
                    staff.update()
                    .where(staff.c.user_id == uid)
                    .values(status="locked", locked_reason="password-not-changed", locked_at=now)
                )
                end_sessions(conn, now=now, reason="account-locked", user_id=uid)
        return ids

    def purge_ceremonies(self) -> int:
        """Delete the WebAuthn ceremonies (used or not) that expired more than a timeout ago (the daily
        sweep; every new ceremony does it too).  Returns how many were deleted."""
        with self.engine.begin() as conn:
            return fido.purge_ceremonies(conn, now=self._now(), keep=self.policy.webauthn_timeout)

    def staff_info(self, user_id: str) -> StaffInfo:
        with read_only(self.engine.connect()) as conn:
            row = self._require_staff(conn, user_id, lock=False)
        return _info(row)

    def list_staff(self) -> list[StaffInfo]:
        with read_only(self.engine.connect()) as conn:
            return [_info(r) for r in conn.execute(sa.select(staff).order_by(staff.c.user_id))]

    # -- terminals ----------------------------------------------------------------------------------

    def register_terminal(self, terminal_id: str, name: str, section: str, *, actor: str) -> str:
        """Register a terminal; returns its terminal key (shown once; only its SHA-256 is stored)."""
        _check_id(terminal_id, "terminal_id", "端末ID")
        key = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(terminals.c.terminal_id).where(terminals.c.terminal_id == terminal_id)
            ).first()
            if exists is not None:
                raise Conflict(
                    Problem(
                        "terminal_id",
                        "SEC-1/terminal-id-reuse",
                        f"端末ID {terminal_id} は既に使われています。",
                        f"Terminal id {terminal_id} exists or existed.",
                    )
                )
            conn.execute(
                terminals.insert().values(
                    terminal_id=terminal_id,
                    name=name or terminal_id,
                    section=section,
                    credential_hash=terminal_key_hash(key),
                    registered_by=actor,
                    registered_at=self._now(),
                )
            )
        return key

    def revoke_terminal(self, terminal_id: str, *, actor: str) -> list[str]:
        """Revoke a terminal: no more logins from it; its open sessions end.  Returns those sessions."""
        now = self._now()
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(terminals).where(terminals.c.terminal_id == terminal_id)).first()
            if row is None:
                raise NotFound(
                    Problem(
                        "terminal_id", "SEC-1/terminal", f"端末ID {terminal_id} はありません。", f"No terminal {terminal_id}."
                    )
                )
            if row.revoked_at is None:
                conn.execute(
                    terminals.update()
                    .where(terminals.c.terminal_id == terminal_id)
                    .values(revoked_at=now, revoked_by=actor)
                )
            return end_sessions(conn, now=now, reason="terminal-revoked", terminal_id=terminal_id)

    # -- login, sessions ----------------------------------------------------------------------------

    def _check_password(
        self, conn: Connection, user_id: str, password: str, terminal_id: str, now: dt.datetime
    ) -> tuple[Any, AuthenticationFailed | None]:
        """The first factor inside the caller's write transaction: the account exists, is not disabled or
        locked, and the password is right.  Returns (row, failure); a failure's side effects (counter,
        lock) are written in ``conn``."""
        kw: dict[str, Any] = {"user_id": user_id, "terminal_id": terminal_id}
        row = self._staff_row(conn, user_id, lock=True) if USER_ID_RE.match(user_id or "") else None
        if row is None or row.status == "disabled":
            self._verify_password(None, password)
            return row, _fail("SEC-1/credentials", **kw, detail={"known_user": row is not None})
        if not self._verify_password(row.password_hash, password):
            locked_now = row.status == "active" and self._record_failure(conn, user_id, now)
            return row, _fail("SEC-1/credentials", **kw, detail={"locked_now": locked_now, "status": row.status})
        if row.status == "locked":
            return row, _fail("SEC-1/lockout", **kw, detail={"locked_reason": row.locked_reason})
        return row, None

    def _check_password_lock(self, conn: Connection, row: Any, terminal_id: str, now: dt.datetime) -> AuthenticationFailed | None:
        """After both factors: a password not changed within the grace period after its expiry locks the
        account (SEC-1)."""
        if now < row.password_expires_at + self.policy.password_grace:
            return None
        conn.execute(
            staff.update()
            .where(staff.c.user_id == row.user_id)
            .values(status="locked", locked_reason="password-not-changed", locked_at=now)
        )
        end_sessions(conn, now=now, reason="account-locked", user_id=row.user_id)
        return _fail("SEC-1/password-lock", user_id=row.user_id, terminal_id=terminal_id)

    def _authenticate_user(
        self, conn: Connection, user_id: str, password: str, totp_code: str, terminal_id: str, now: dt.datetime
    ) -> tuple[Any, AuthenticationFailed | None]:
        """Password and code checks inside the caller's write transaction.  Returns (row, failure);
        a failure's side effects (counter, lock) are written in ``conn``."""
        row, failure = self._check_password(conn, user_id, password, terminal_id, now)
        if failure is not None:
            return row, failure
        kw: dict[str, Any] = {"user_id": user_id, "terminal_id": terminal_id}
        step = self._match_step(self._secret(row), totp_code, now)
        if step is None:
            locked_now = self._record_failure(conn, user_id, now)
            return row, _fail("SEC-1/totp", **kw, detail={"locked_now": locked_now})
        claimed = conn.execute(
            staff.update()
            .where(
                staff.c.user_id == user_id,
                sa.or_(staff.c.last_totp_step.is_(None), staff.c.last_totp_step < step),
            )
            .values(last_totp_step=step)
        )
        if claimed.rowcount != 1:
            locked_now = self._record_failure(conn, user_id, now)
            return row, _fail("SEC-1/totp-replay", **kw, detail={"step": step, "locked_now": locked_now})
        return row, self._check_password_lock(conn, row, terminal_id, now)

    def _open_session(
        self, conn: Connection, row: Any, terminal_id: str, now: dt.datetime, password: str | None = None
    ) -> tuple[Login | None, AuthenticationFailed | None]:
        """Both factors passed: refuse an expired password (it must be changed first), else reset the
        failure counter and open a session.  ``password`` (when the caller has it) is rehashed if the
        hasher's parameters changed."""
        user_id = row.user_id
        if now >= row.password_expires_at:
            conn.execute(staff.update().where(staff.c.user_id == user_id).values(failed_logins=0))
            return None, _fail(
                "SEC-1/password-expired",
                user_id=user_id,
                terminal_id=terminal_id,
                detail={"expired_at": row.password_expires_at.isoformat()},
            )
        values: dict[str, Any] = {"failed_logins": 0, "last_login_at": now}
        if password is not None and self.hasher.check_needs_rehash(row.password_hash):
            values["password_hash"] = self.hasher.hash(password)
        conn.execute(staff.update().where(staff.c.user_id == user_id).values(**values))
        token = secrets.token_urlsafe(32)
        sid = token_hash(token)
        if self.policy.single_session:
            end_sessions(conn, now=now, reason="superseded", user_id=user_id)
        conn.execute(
            sessions.insert().values(
                session_id=sid,
                user_id=user_id,
                terminal_id=terminal_id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + self.policy.session_max_age,
            )
        )
        return Login(token, self._principal(conn, row, terminal_id, sid)), None

    def login(self, user_id: str, password: str, totp_code: str, terminal_id: str, terminal_key: str) -> Login:
        """Log in from a registered terminal with password and TOTP code.  Returns the bearer token
        (once) and the :class:`Principal`; raises :class:`AuthenticationFailed` otherwise."""
        now = self._now()
        failure: AuthenticationFailed | None = None
        result: Login | None = None
        with self.engine.begin() as conn:
            if self._check_terminal(conn, terminal_id, terminal_key or "") is None:
                failure = _fail("SEC-1/terminal", user_id=user_id, terminal_id=terminal_id)
            else:
                row, failure = self._authenticate_user(conn, user_id, password, totp_code, terminal_id, now)
                if failure is None:
                    result, failure = self._open_session(conn, row, terminal_id, now, password)
        if failure is not None:
            raise failure
        assert result is not None
        return result

    # -- WebAuthn (生体認証 / FIDO2) -------------------------------------------------------------------

    def begin_authenticator_login(
        self, user_id: str, password: str, terminal_id: str, terminal_key: str, rp: RelyingParty
    ) -> Ceremony:
        """First step of a login with an authenticator instead of the TOTP code: the password is checked
        (a wrong one counts towards the lockout as in :meth:`login`), then a ceremony bound to this
        account and terminal is opened for the account's active credentials of ``rp``.  Returns the
        ceremony (token and request options for ``navigator.credentials.get``)."""
        now = self._now()
        failure: AuthenticationFailed | None = None
        result: Ceremony | None = None
        ttl = self.policy.webauthn_timeout
        with self.engine.begin() as conn:
            if self._check_terminal(conn, terminal_id, terminal_key or "") is None:
                failure = _fail("SEC-1/terminal", user_id=user_id, terminal_id=terminal_id)
            else:
                row, failure = self._check_password(conn, user_id, password, terminal_id, now)
                creds = fido.active_credentials(conn, user_id, rp.rp_id) if failure is None else []
                if failure is None and not creds:
                    failure = _fail("SEC-1/webauthn-none", user_id=user_id, terminal_id=terminal_id,
                                    detail={"rp_id": rp.rp_id})
                if failure is None:
                    if self.hasher.check_needs_rehash(row.password_hash):
                        conn.execute(staff.update().where(staff.c.user_id == user_id)
                                     .values(password_hash=self.hasher.hash(password)))
                    fido.purge_ceremonies(conn, now=now, keep=ttl)
                    token, challenge = fido.open_ceremony(conn, purpose="login", user_id=user_id,
                                                          terminal_id=terminal_id, rp=rp, now=now, ttl=ttl)
                    result = Ceremony(token, fido.login_options(rp, challenge, creds, ttl), now + ttl)
        if failure is not None:
            raise failure
        assert result is not None
        return result

    def login_with_authenticator(
        self, ceremony_token: str, credential: str | dict[str, Any], terminal_id: str, terminal_key: str
    ) -> Login:
        """Second step: the browser's assertion for the ceremony of ``ceremony_token``, from the terminal
        that started it.  The ceremony is used up whatever the outcome; a refusal (see
        :mod:`juki.access.authenticators` for the checks) counts towards the lockout, and a signature
        counter that did not go up revokes the credential (a cloned authenticator).  Then as
        :meth:`login`: password expiry and grace, a new session."""
        now = self._now()
        failure: AuthenticationFailed | None = None
        result: Login | None = None
        with self.engine.begin() as conn:
            kw: dict[str, Any] = {"terminal_id": terminal_id}
            try:
                if self._check_terminal(conn, terminal_id, terminal_key or "") is None:
                    raise fido.Refused("SEC-1/terminal")
                ceremony = fido.claim_ceremony(conn, ceremony_token, purpose="login", terminal_id=terminal_id, now=now)
                kw["user_id"] = ceremony.user_id
                row = self._staff_row(conn, ceremony.user_id, lock=True)
                if row is None or row.status != "active":
                    raise fido.Refused("SEC-1/lockout" if row is not None and row.status == "locked"
                                       else "SEC-1/credentials", user_id=ceremony.user_id)
                parsed, stored = fido.credential_of(conn, credential)
                kw["detail"] = {"credential_id": stored.credential_id[:64]} if stored is not None else {}
                new_count = fido.check_assertion(parsed, ceremony, stored)
            except fido.Refused as refused:
                user = refused.detail.pop("user_id", kw.get("user_id"))
                detail = {**kw.get("detail", {}), **refused.detail}
                if refused.rule == "SEC-1/webauthn-sign-count":
                    fido.revoke(conn, detail["credential_id"], actor="(juki)", reason="sign-count", now=now)
                    detail["revoked"] = True
                counted = user is not None and refused.rule not in (
                    "SEC-1/terminal", "SEC-1/credentials", "SEC-1/lockout", "SEC-1/webauthn-expired")
                if counted:
                    detail["locked_now"] = self._record_failure(conn, user, now)
                failure = _fail(refused.rule, user_id=user, terminal_id=terminal_id, detail=detail)
            else:
                fido.record_use(conn, stored.credential_id, new_count, now)
                failure = self._check_password_lock(conn, row, terminal_id, now)
                if failure is None:
                    result, failure = self._open_session(conn, row, terminal_id, now)
        if failure is not None:
            raise failure
        assert result is not None
        return result

    def begin_authenticator_enrolment(
        self, principal: Principal, password: str, rp: RelyingParty, label: str
    ) -> Ceremony:
        """A logged-in user starts registering an authenticator named ``label``: the password is asked
        again (a wrong one counts towards the lockout), and a ceremony bound to the user, terminal and
        session is opened.  Returns the creation options for ``navigator.credentials.create``."""
        fido.check_label(label)
        self._confirm_session_password(principal.session_id, password)
        now = self._now()
        ttl = self.policy.webauthn_timeout
        with self.engine.begin() as conn:
            row = self._require_staff(conn, principal.user_id, lock=False)
            existing = fido.active_credentials(conn, principal.user_id)
            fido.purge_ceremonies(conn, now=now, keep=ttl)
            token, challenge = fido.open_ceremony(conn, purpose="register", user_id=principal.user_id,
                                                  terminal_id=principal.terminal_id, session_id=principal.session_id,
                                                  rp=rp, now=now, ttl=ttl)
        options = fido.registration_options(rp, challenge, user_id=row.user_id, name=row.name, existing=existing, ttl=ttl,
                                            attestation=self.policy.webauthn_aaguids is not None)
        return Ceremony(token, options, now + ttl)

    def enrol_authenticator(
        self, principal: Principal, ceremony_token: str, credential: str | dict[str, Any], label: str,
        *, audit: Recorder | None = None,
    ) -> fido.AuthenticatorInfo:
        """Finish a registration: the ceremony must be this session's, unused and unexpired, and the new
        credential must verify (challenge, origin, RP ID, user verified).  Refusals are
        :class:`~juki.domain.errors.InvalidInput` naming the field (``label`` or ``authenticator``).
        ``audit(conn, info)`` records the registration in its transaction (no credential without its
        entry)."""
        label = fido.check_label(label)
        now = self._now()
        refused: fido.Refused | None = None
        info: fido.AuthenticatorInfo | None = None
        with self.engine.begin() as conn:
            try:
                ceremony = fido.claim_ceremony(conn, ceremony_token, purpose="register", terminal_id=principal.terminal_id,
                                               now=now)
                if ceremony.session_id != principal.session_id or ceremony.user_id != principal.user_id:
                    raise fido.Refused("SEC-1/webauthn-ceremony", ceremony_user=ceremony.user_id)
                verified = fido.check_registration(credential, ceremony)
                fido.check_aaguid(verified, self.policy.webauthn_aaguids)
                info = fido.add_credential(conn, ceremony, verified, credential, label=label, now=now)
                if audit is not None:
                    audit(conn, info)
            except fido.Refused as e:
                refused = e  # the ceremony stays used
        if refused is not None:
            if refused.rule == "SEC-1/webauthn-registered":
                raise Conflict(Problem("authenticator", refused.rule, "この認証器は既に登録されています。",
                                       "This authenticator is already registered."))
            if refused.rule == "SEC-1/webauthn-aaguid":
                make = str(uuid.UUID(refused.detail["aaguid"]))
                raise EnrolmentRefused(Problem(
                    "authenticator", refused.rule,
                    f"この認証器の機種（AAGUID {make}）は、登録が認められていません。認められた機種はシステム管理者に確認してください。",
                    f"This make of authenticator (AAGUID {make}) is not allowed. Ask the system administrator "
                    "which makes are."), refused.detail)
            raise EnrolmentRefused(Problem("authenticator", refused.rule,
                                           "認証器を登録できませんでした。もう一度「認証器を登録する」からやり直してください。",
                                           "The authenticator could not be registered. Start again."), refused.detail)
        assert info is not None
        return info

    def authenticators(self, user_id: str | None = None) -> list[fido.AuthenticatorInfo]:
        """Registered authenticators, revoked ones too (one account's when ``user_id``)."""
        return fido.authenticators(self.engine, user_id)

    def revoke_authenticator(
        self, credential_id: str, *, actor: str, reason: str, owner: str | None = None, audit: Recorder | None = None
    ) -> fido.AuthenticatorInfo:
        """Revoke a registered authenticator (kept, never deleted).  ``owner``: only if it is theirs (a
        user revoking their own); an administrator passes None.  A reason is required.  ``audit(conn,
        info)`` records the revocation in its transaction."""
        reason = (reason or "").strip()
        if not reason:
            raise InvalidInput(Problem("reason", "SEC-1/required", "取消しの理由を入力してください。",
                                       "Give the reason for the revocation."))
        with self.engine.begin() as conn:
            row = fido.credential(conn, credential_id)
            if row is None or (owner is not None and row.user_id != owner):
                raise NotFound(Problem("credential_id", "SEC-1/webauthn-credential", "その認証器は登録されていません。",
                                       "No such registered authenticator."))
            if not fido.revoke(conn, credential_id, actor=actor, reason=reason, now=self._now()):
                raise RuleViolation(Problem("credential_id", "SEC-1/webauthn-revoked", "この認証器は既に取り消されています。",
                                            "This authenticator is already revoked."))
            info = fido.info(fido.credential(conn, credential_id))
            if audit is not None:
                audit(conn, info)
            return info

    def change_password(
        self,
        user_id: str,
        old_password: str,
        new_password: str,
        totp_code: str,
        *,
        terminal_id: str,
        terminal_key: str,
    ) -> None:
        """Change one's password (works while the password is expired, within the grace period): needs
        the old password, a fresh TOTP code and a registered terminal.  Ends the user's sessions."""
        self._password_problems(user_id, new_password, old_password).raise_if_any()
        now = self._now()
        failure: AuthenticationFailed | None = None
        with self.engine.begin() as conn:
            if self._check_terminal(conn, terminal_id, terminal_key or "") is None:
                failure = _fail("SEC-1/terminal", user_id=user_id, terminal_id=terminal_id)
            else:
                _, failure = self._authenticate_user(conn, user_id, old_password, totp_code, terminal_id, now)
                if failure is None:
                    conn.execute(
                        staff.update()
                        .where(staff.c.user_id == user_id)
                        .values(
                            password_hash=self.hasher.hash(new_password),
                            password_changed_at=now,
                            password_expires_at=now + self.policy.password_max_age,
                            failed_logins=0,
                        )
                    )
                    end_sessions(conn, now=now, reason="password-changed", user_id=user_id)
        if failure is not None:
            raise failure

    def authenticate(self, token: str, terminal_id: str, terminal_key: str | None = None) -> Principal:
        """The :class:`Principal` of a bearer token used from ``terminal_id`` (and, if given, its key).
        Rights are read afresh, so a revocation takes effect on the next request."""
        now = self._now()
        sid = token_hash(token or "")
        with read_only(self.engine.connect()) as conn, conn.begin():
            sess = conn.execute(sa.select(sessions).where(sessions.c.session_id == sid)).first()
            if sess is None:
                raise _fail("SEC-1/session", terminal_id=terminal_id, detail={"known_session": False})
            row = self._staff_row(conn, sess.user_id)
            term_ok = self._check_terminal(conn, terminal_id, terminal_key) is not None
            principal = self._principal(conn, row, sess.terminal_id, sid)
        kw: dict[str, Any] = {"user_id": sess.user_id, "terminal_id": terminal_id, "session_id": sid}
        if sess.ended_at is not None:
            raise _fail("SEC-1/session", **kw, detail={"ended_at": sess.ended_at.isoformat(), "end_reason": sess.end_reason})
        reason: str | None = None
        failure: AuthenticationFailed | None = None
        if terminal_id != sess.terminal_id or not term_ok:
            reason, failure = "terminal-mismatch", _fail(
                "SEC-1/terminal", **kw, detail={"session_terminal": sess.terminal_id}
            )
        elif row.status != "active":
            reason, failure = f"account-{row.status}", _fail("SEC-1/account", **kw, detail={"status": row.status})
        elif now >= sess.expires_at:
            reason, failure = "expired", _fail("SEC-1/session-expired", **kw)
        elif now - sess.last_seen_at >= self.policy.idle_timeout:
            reason, failure = "idle-timeout", _fail(
                "SEC-1/idle-timeout", **kw, detail={"last_seen_at": sess.last_seen_at.isoformat()}
            )
        if failure is not None:
            with self.engine.begin() as wconn:
                end_session(wconn, sid, now=now, reason=reason or "refused")
            raise failure
        if now - sess.last_seen_at >= self.policy.touch_interval:
            with self.engine.begin() as wconn:
                touched = wconn.execute(
                    sessions.update()
                    .where(sessions.c.session_id == sid, sessions.c.ended_at.is_(None))
                    .values(last_seen_at=sa.case((sessions.c.last_seen_at < now, now), else_=sessions.c.last_seen_at))
                )
            if touched.rowcount != 1:
                raise _fail("SEC-1/session", **kw, detail={"ended_concurrently": True})
        return principal

    def confirm_password(self, token: str, password: str) -> str:
        """Unlock a locked screen (SEC-1 画面ロック): the user of the open session ``token`` enters their
        password again.  A wrong one counts towards the lockout like a failed login (five lock the account
        and end its sessions).  Returns the user id."""
        return self._confirm_session_password(token_hash(token or ""), password)

    def _confirm_session_password(self, sid: str, password: str) -> str:
        now = self._now()
        failure: AuthenticationFailed | None = None
        with self.engine.begin() as conn:
            sess = conn.execute(sa.select(sessions).where(sessions.c.session_id == sid)).first()
            if sess is None or sess.ended_at is not None:
                raise _fail("SEC-1/session", session_id=sid)
            kw: dict[str, Any] = {"user_id": sess.user_id, "terminal_id": sess.terminal_id, "session_id": sid}
            row = self._staff_row(conn, sess.user_id, lock=True)
            if row.status != "active":
                failure = _fail("SEC-1/account", **kw, detail={"status": row.status})
            elif not self._verify_password(row.password_hash, password):
                locked_now = self._record_failure(conn, row.user_id, now)
                failure = _fail("SEC-1/credentials", **kw, detail={"unlock": True, "locked_now": locked_now})
            else:
                conn.execute(staff.update().where(staff.c.user_id == row.user_id).values(failed_logins=0))
        if failure is not None:
            raise failure
        return str(sess.user_id)

    def logout(self, token: str) -> str:
        """End the session of ``token``; returns its session id (for the audit log)."""
        sid = token_hash(token or "")
        with self.engine.begin() as conn:
            ok = end_session(conn, sid, now=self._now(), reason="logout")
            user = conn.execute(sa.select(sessions.c.user_id).where(sessions.c.session_id == sid)).scalar()
        if not ok:
            raise _fail("SEC-1/session", user_id=user, session_id=sid)
        return sid

    def session(self, session_id: str) -> SessionInfo:
        with read_only(self.engine.connect()) as conn:
            row = conn.execute(sa.select(sessions).where(sessions.c.session_id == session_id)).first()
        if row is None:
            raise NotFound(Problem("session_id", "SEC-1/session", "セッションがありません。", "No such session."))
        return SessionInfo(**row._mapping)

    def open_sessions(self, user_id: str | None = None) -> list[SessionInfo]:
        q = sa.select(sessions).where(sessions.c.ended_at.is_(None)).order_by(sessions.c.created_at)
        if user_id is not None:
            q = q.where(sessions.c.user_id == user_id)
        with read_only(self.engine.connect()) as conn:
            return [SessionInfo(**r._mapping) for r in conn.execute(q)]


def _info(row: Any) -> StaffInfo:
    return StaffInfo(
        user_id=row.user_id,
        name=row.name,
        section=row.section,
        kind=row.kind,
        status=row.status,
        failed_logins=row.failed_logins,
        locked_reason=row.locked_reason,
        password_changed_at=row.password_changed_at,
        password_expires_at=row.password_expires_at,
        last_login_at=row.last_login_at,
        created_by=row.created_by,
        created_at=row.created_at,
        disabled_at=row.disabled_at,
    )


__all__ = [
    "AuthPolicy",
    "AuthService",
    "AuthenticationFailed",
    "Login",
    "NewStaff",
    "SessionInfo",
    "StaffInfo",
    "terminal_key_hash",
    "token_hash",
]
