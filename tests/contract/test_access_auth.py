"""Contract: authentication (SEC-1, SEC-9) on SQLite and PostgreSQL -- argon2id, TOTP with replay
refusal, lockout, password expiry with grace and lock, registered terminals, sessions."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from juki.access.auth import AuthenticationFailed, AuthPolicy, AuthService, token_hash
from juki.access.tables import sessions, staff, terminals
from juki.domain.errors import Conflict, InvalidInput, RuleViolation

from .test_access_helpers import PASSWORD, Env, env_fixture, owned_fixture  # noqa: F401  (fixtures)


def staff_row(e: Env, user_id: str):  # type: ignore[no-untyped-def]
    with e.engine.connect() as conn:
        return conn.execute(sa.select(staff).where(staff.c.user_id == user_id)).one()


def refused(rule: str, fn, *args, **kw) -> AuthenticationFailed:  # type: ignore[no-untyped-def]
    with pytest.raises(AuthenticationFailed) as exc:
        fn(*args, **kw)
    assert exc.value.rule == rule, exc.value
    assert exc.value.problems[0].ja and exc.value.problems[0].en
    return exc.value


# --- passwords ---------------------------------------------------------------------------------


def test_password_is_argon2id_never_plaintext(env: Env) -> None:
    env.add_user("u1")
    row = staff_row(env, "u1")
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash
    with env.engine.connect() as conn:
        dump = " ".join(str(v) for r in conn.execute(sa.select(staff)) for v in r)
    assert PASSWORD not in dump
    assert env.secrets["u1"] not in dump  # the TOTP secret is encrypted too
    # The production default hasher is argon2id as well.
    assert PasswordHasher().hash("x" * 12).startswith("$argon2id$")


def test_weak_password_and_bad_user_id_refused(env: Env) -> None:
    with pytest.raises(InvalidInput) as exc:
        env.auth.create_staff("u1", "名前", "市民課", password="short", actor="a")
    assert exc.value.problems[0].rule == "SEC-1/password-strength"
    with pytest.raises(InvalidInput):
        env.auth.create_staff("bad id!", "名前", "市民課", password=PASSWORD, actor="a")


def test_user_ids_are_never_reused_even_after_disable(env: Env) -> None:
    env.add_user("u1")
    env.auth.disable_staff("u1", actor="admin0")
    with pytest.raises(Conflict) as exc:
        env.auth.create_staff("u1", "別人", "市民課", password=PASSWORD, actor="a")
    assert exc.value.problems[0].rule == "SEC-9/id-reuse"
    with env.engine.begin() as conn, pytest.raises(sa.exc.DBAPIError):
        conn.execute(staff.delete().where(staff.c.user_id == "u1"))


# --- login -------------------------------------------------------------------------------------


def test_login_happy_path(owned: Env) -> None:
    e = owned
    e.add_user("clerk")
    e.grant("clerk", "counter_clerk")
    token, p = e.login("clerk")
    assert p.user_id == "clerk" and p.terminal_id == e.terminal_id and p.section == "市民課"
    assert p.roles == {"counter_clerk"}
    assert "change.submit" in p.permissions and "number.view" not in p.permissions
    assert p.session_id == token_hash(token)
    with e.engine.connect() as conn:
        stored = conn.execute(sa.select(sessions.c.session_id)).scalars().all()
    assert token not in stored and token_hash(token) in stored
    again = e.auth.authenticate(token, e.terminal_id)
    assert again.user_id == "clerk" and again.session_id == p.session_id
    assert staff_row(e, "clerk").last_login_at == e.clock.now


def test_same_refusal_for_unknown_user_and_wrong_password(env: Env) -> None:
    env.add_user("u1")
    a = refused("SEC-1/credentials", env.login, "u1", password="wrong password!")
    env.secrets["ghost"] = pyotp.random_base32()
    b = refused("SEC-1/credentials", env.login, "ghost")
    assert a.problems == b.problems


def test_five_failures_lock_and_the_right_password_is_still_refused(env: Env) -> None:
    env.add_user("u1")
    for i in range(5):
        err = refused("SEC-1/credentials", env.login, "u1", password=f"wrong password {i}")
    assert err.detail["locked_now"] is True
    row = staff_row(env, "u1")
    assert row.status == "locked" and row.locked_reason == "too-many-failures"
    env.clock.advance(seconds=30)
    refused("SEC-1/lockout", env.login, "u1")
    env.auth.unlock("u1", actor="admin0")
    env.clock.advance(seconds=30)
    assert env.login("u1").principal.user_id == "u1"
    assert staff_row(env, "u1").failed_logins == 0


def test_wrong_totp_counts_towards_lockout(env: Env) -> None:
    env.add_user("u1")
    for _ in range(4):
        refused("SEC-1/totp", env.login, "u1", code="000000" if env.code("u1") != "000000" else "111111")
    assert staff_row(env, "u1").failed_logins == 4
    env.login("u1")  # success resets the counter
    assert staff_row(env, "u1").failed_logins == 0


def test_replayed_totp_refused(env: Env) -> None:
    env.add_user("u1")
    code = env.code("u1")
    token, _ = env.login("u1", code=code)
    env.clock.advance(seconds=5)
    refused("SEC-1/totp-replay", env.login, "u1", code=code)
    # The session of the first login is untouched by the refused replay.
    env.auth.authenticate(token, env.terminal_id)
    # An older code (previous step, still inside valid_window) is a replay too.
    env.clock.advance(seconds=30)
    refused("SEC-1/totp-replay", env.login, "u1", code=code)
    env.login("u1")  # the current step is fresh


def test_code_beyond_the_valid_window_refused(env: Env) -> None:
    env.add_user("u1")
    old = env.code("u1", env.clock.now - dt.timedelta(seconds=60))
    future = env.code("u1", env.clock.now + dt.timedelta(seconds=60))
    previous = env.code("u1", env.clock.now - dt.timedelta(seconds=30))
    refused("SEC-1/totp", env.login, "u1", code=old)
    refused("SEC-1/totp", env.login, "u1", code=future)
    assert env.login("u1", code=previous).principal.user_id == "u1"  # one step of drift is accepted


def test_unregistered_revoked_or_wrong_key_terminal_refused(env: Env) -> None:
    env.add_user("u1")
    refused("SEC-1/terminal", env.auth.login, "u1", PASSWORD, env.code("u1"), "T-999", env.terminal_key)
    refused("SEC-1/terminal", env.auth.login, "u1", PASSWORD, env.code("u1"), env.terminal_id, "forged-key")
    assert staff_row(env, "u1").failed_logins == 0  # nothing about the user was even tried
    key2 = env.auth.register_terminal("T-002", "2", "市民課", actor="admin0")
    token, _ = env.auth.login("u1", PASSWORD, env.code("u1"), "T-002", key2)
    ended = env.auth.revoke_terminal("T-002", actor="admin0")
    assert ended == [token_hash(token)]
    env.clock.advance(seconds=30)
    refused("SEC-1/terminal", env.auth.login, "u1", PASSWORD, env.code("u1"), "T-002", key2)
    with env.engine.connect() as conn:
        assert conn.execute(sa.select(terminals.c.credential_hash).where(terminals.c.terminal_id == "T-002")).scalar() != key2


# --- sessions ----------------------------------------------------------------------------------


def test_idle_timeout(env: Env) -> None:
    env.add_user("u1")
    token, _ = env.login("u1")
    env.clock.advance(minutes=14)
    env.auth.authenticate(token, env.terminal_id)  # activity moves last_seen
    env.clock.advance(minutes=14, seconds=59)
    env.auth.authenticate(token, env.terminal_id)
    env.clock.advance(minutes=15)
    refused("SEC-1/idle-timeout", env.auth.authenticate, token, env.terminal_id)
    refused("SEC-1/session", env.auth.authenticate, token, env.terminal_id)  # stays ended
    assert env.auth.session(token_hash(token)).end_reason == "idle-timeout"


def test_idle_timeout_is_a_policy_parameter(env: Env) -> None:
    env.add_user("u1")
    short = AuthService(env.engine, env.keyring, env.clock, AuthPolicy(idle_timeout=dt.timedelta(minutes=5)))
    token, _ = env.login("u1")
    env.clock.advance(minutes=4)
    short.authenticate(token, env.terminal_id)
    env.clock.advance(minutes=5)
    refused("SEC-1/idle-timeout", short.authenticate, token, env.terminal_id)


def test_absolute_session_expiry(env: Env) -> None:
    env.add_user("u1")
    token, _ = env.login("u1")
    for _ in range(12 * 6):
        env.clock.advance(minutes=10)
        if env.clock.now >= dt.datetime(2024, 4, 1, 12, tzinfo=dt.UTC):
            break
        env.auth.authenticate(token, env.terminal_id)
    refused("SEC-1/session-expired", env.auth.authenticate, token, env.terminal_id)


def test_logout_ends_the_session(env: Env) -> None:
    env.add_user("u1")
    token, p = env.login("u1")
    assert env.auth.logout(token) == p.session_id
    refused("SEC-1/session", env.auth.authenticate, token, env.terminal_id)
    refused("SEC-1/session", env.auth.logout, token)
    assert env.auth.session(p.session_id).end_reason == "logout"


def test_forged_token_and_other_terminal_refused(env: Env) -> None:
    env.add_user("u1")
    token, _ = env.login("u1")
    err = refused("SEC-1/session", env.auth.authenticate, token + "x", env.terminal_id)
    assert err.detail == {"known_session": False}
    refused("SEC-1/session", env.auth.authenticate, "", env.terminal_id)
    env.auth.register_terminal("T-002", "2", "市民課", actor="admin0")
    refused("SEC-1/terminal", env.auth.authenticate, token, "T-002")
    # A token seen on another terminal is burnt.
    refused("SEC-1/session", env.auth.authenticate, token, env.terminal_id)


def test_new_login_supersedes_the_old_session(env: Env) -> None:
    env.add_user("u1")
    old, _ = env.login("u1")
    env.clock.advance(seconds=30)
    new, _ = env.login("u1")
    refused("SEC-1/session", env.auth.authenticate, old, env.terminal_id)
    env.auth.authenticate(new, env.terminal_id)


def test_disabling_ends_sessions(env: Env) -> None:
    env.add_user("u1")
    token, p = env.login("u1")
    assert env.auth.disable_staff("u1", actor="admin0") == [p.session_id]
    refused("SEC-1/session", env.auth.authenticate, token, env.terminal_id)
    env.clock.advance(seconds=30)
    refused("SEC-1/credentials", env.login, "u1")


# --- password expiry ---------------------------------------------------------------------------


def test_expired_password_refused_change_works_then_login(env: Env) -> None:
    env.add_user("u1")
    env.clock.advance(days=91)
    refused("SEC-1/password-expired", env.login, "u1")
    env.clock.advance(seconds=30)
    with pytest.raises(InvalidInput):  # same password again
        env.auth.change_password("u1", PASSWORD, PASSWORD, env.code("u1"), terminal_id=env.terminal_id, terminal_key=env.terminal_key)
    env.auth.change_password(
        "u1", PASSWORD, "a brand new passphrase", env.code("u1"), terminal_id=env.terminal_id, terminal_key=env.terminal_key
    )
    env.clock.advance(seconds=30)
    refused("SEC-1/credentials", env.login, "u1")
    env.clock.advance(seconds=30)
    assert env.login("u1", password="a brand new passphrase").principal.user_id == "u1"


def test_not_changed_within_grace_locks(env: Env) -> None:
    env.add_user("u1")
    env.clock.advance(days=90 + 14)
    refused("SEC-1/password-lock", env.login, "u1")
    row = staff_row(env, "u1")
    assert row.status == "locked" and row.locked_reason == "password-not-changed"
    env.clock.advance(seconds=30)
    refused("SEC-1/lockout", env.login, "u1")
    with pytest.raises(AuthenticationFailed):
        env.auth.change_password(
            "u1", PASSWORD, "a brand new passphrase", env.code("u1"), terminal_id=env.terminal_id, terminal_key=env.terminal_key
        )
    with pytest.raises(RuleViolation):  # unlocking needs a password reset first
        env.auth.unlock("u1", actor="admin0")
    env.auth.reset_password("u1", "temporary passphrase", actor="admin0")
    env.auth.unlock("u1", actor="admin0")
    env.clock.advance(seconds=30)
    refused("SEC-1/password-expired", env.login, "u1", password="temporary passphrase")


def test_daily_sweep_locks_stale_passwords(env: Env) -> None:
    env.add_user("u1")
    env.clock.advance(days=50)
    env.add_user("u2")
    env.clock.advance(days=55)
    assert env.auth.lock_stale_passwords() == ["u1"]
    assert staff_row(env, "u1").status == "locked" and staff_row(env, "u2").status == "active"


def test_initial_password_must_be_changed(env: Env) -> None:
    env.add_user("u1", must_change=True)
    refused("SEC-1/password-expired", env.login, "u1")
    env.clock.advance(seconds=30)
    env.auth.change_password(
        "u1", PASSWORD, "my own passphrase", env.code("u1"), terminal_id=env.terminal_id, terminal_key=env.terminal_key
    )
    env.clock.advance(seconds=30)
    env.login("u1", password="my own passphrase")


def test_reset_totp_invalidates_old_secret(env: Env) -> None:
    env.add_user("u1")
    old = env.secrets["u1"]
    new = env.auth.reset_totp("u1", actor="admin0")
    assert new.totp_uri.startswith("otpauth://totp/") and new.totp_secret != old
    refused("SEC-1/totp", env.login, "u1", code=pyotp.TOTP(old).at(env.clock.now))
    env.secrets["u1"] = new.totp_secret
    env.login("u1")
