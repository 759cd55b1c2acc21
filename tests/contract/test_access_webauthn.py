"""Contract: WebAuthn as the second factor (SEC-1 生体認証/FIDO2) on SQLite and PostgreSQL, with a software
authenticator (tests/softkey.py: real keys, CBOR and signatures) -- enrolment in a session with the password
asked again, login with password + a user-verified assertion, and every refusal: no authenticator, a
replayed or expired ceremony, another terminal, a phishing origin, another RP ID, another ceremony's
challenge, no user verification, a forged signature, an unknown or another user's credential, a revoked
credential and a cloned authenticator (whose credential is then revoked)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from juki.access.auth import EnrolmentRefused
from juki.access.authenticator_tables import webauthn_ceremonies, webauthn_credentials
from juki.access.authenticators import RelyingParty, parse_aaguids
from juki.access.tables import staff
from juki.audit.chain import no_individual_number
from juki.domain.errors import Conflict, InvalidInput, NotFound, RuleViolation

from ..softkey import SoftKey
from .test_access_auth import refused
from .test_access_helpers import PASSWORD, Env, env_fixture  # noqa: F401  (fixtures)

ORIGIN = "https://juki.city.example"
RP = RelyingParty.of(ORIGIN)


def enrol(e: Env, user: str, key: SoftKey, label: str = "窓口1の指紋センサー", origin: str = ORIGIN) -> Any:
    login = e.login(user)
    e.clock.advance(seconds=30)
    ceremony = e.auth.begin_authenticator_enrolment(login.principal, PASSWORD, RP, label)
    return e.auth.enrol_authenticator(login.principal, ceremony.token, key.create(ceremony.options, origin), label)


def begin(e: Env, user: str = "clerk", *, terminal: tuple[str, str] | None = None) -> Any:
    tid, tkey = terminal or (e.terminal_id, e.terminal_key)
    return e.auth.begin_authenticator_login(user, PASSWORD, tid, tkey, RP)


def finish(e: Env, token: str, response: dict[str, Any], *, terminal: tuple[str, str] | None = None) -> Any:
    tid, tkey = terminal or (e.terminal_id, e.terminal_key)
    return e.auth.login_with_authenticator(token, response, tid, tkey)


def failures(e: Env, user: str = "clerk") -> int:
    with e.engine.connect() as conn:
        return int(conn.execute(sa.select(staff.c.failed_logins).where(staff.c.user_id == user)).scalar_one())


def stored(e: Env, key: SoftKey) -> Any:
    from ..softkey import b64

    with e.engine.connect() as conn:
        return conn.execute(sa.select(webauthn_credentials)
                            .where(webauthn_credentials.c.credential_id == b64(key.credential_id))).one()


@pytest.fixture
def clerk(env: Env) -> tuple[Env, SoftKey]:
    env.add_user("clerk")
    key = SoftKey()
    enrol(env, "clerk", key)
    return env, key


def test_enrol_then_log_in_with_password_and_a_verified_assertion(env: Env) -> None:
    env.add_user("clerk")
    key = SoftKey()
    info = enrol(env, "clerk", key, label="  窓口1の指紋センサー ")
    assert (info.user_id, info.label, info.rp_id, info.active) == ("clerk", "窓口1の指紋センサー", "juki.city.example", True)
    assert info.registered_terminal == env.terminal_id and info.sign_count == 1
    ceremony = begin(env)
    options = ceremony.options
    assert options["rpId"] == "juki.city.example" and options["userVerification"] == "required"
    assert [c["id"] for c in options["allowCredentials"]] == [info.credential_id]
    assert ceremony.expires_at == env.clock.now + dt.timedelta(minutes=3)
    env.clock.advance(seconds=5)
    login = finish(env, ceremony.token, key.get(options, ORIGIN))
    assert login.principal.user_id == "clerk" and login.principal.terminal_id == env.terminal_id
    assert env.auth.authenticate(login.token, env.terminal_id).user_id == "clerk"
    row = stored(env, key)
    assert row.sign_count == 2 and row.last_used_at == env.clock.now
    with env.engine.connect() as conn:  # the browser holds the token; only its hash and the challenge are stored
        ceremonies = conn.execute(sa.select(webauthn_ceremonies)).all()
    assert all(ceremony.token not in (c.ceremony_id, c.challenge) for c in ceremonies)
    assert all(c.used_at is not None for c in ceremonies)
    # the TOTP path stays (the fallback where the browser offers no authenticator)
    env.clock.advance(seconds=30)
    assert env.login("clerk").principal.user_id == "clerk"


def test_enrolment_needs_the_password_again_a_name_and_a_verified_authenticator(env: Env) -> None:
    env.add_user("clerk")
    login = env.login("clerk")
    p = login.principal
    with pytest.raises(InvalidInput) as exc:
        env.auth.begin_authenticator_enrolment(p, PASSWORD, RP, " ")
    assert exc.value.problems[0].field == "label"
    refused("SEC-1/credentials", env.auth.begin_authenticator_enrolment, p, "wrong password!", RP, "鍵")
    assert failures(env) == 1
    cases = [
        ("https://evil.example", SoftKey()),  # a page of another origin
        (ORIGIN, SoftKey(verifies_user=False)),  # no fingerprint, face or PIN on the device
    ]
    for origin, key in cases:
        c = env.auth.begin_authenticator_enrolment(p, PASSWORD, RP, "鍵")
        with pytest.raises(InvalidInput) as exc:
            env.auth.enrol_authenticator(p, c.token, key.create(c.options, origin), "鍵")
        assert (exc.value.problems[0].field, exc.value.problems[0].rule) == ("authenticator", "SEC-1/webauthn-registration")
    key = SoftKey()
    c = env.auth.begin_authenticator_enrolment(p, PASSWORD, RP, "鍵")
    response = key.create(c.options, ORIGIN)
    env.auth.enrol_authenticator(p, c.token, response, "鍵")
    with pytest.raises(InvalidInput) as exc:  # the ceremony is used once
        env.auth.enrol_authenticator(p, c.token, response, "鍵")
    assert exc.value.problems[0].rule == "SEC-1/webauthn-replay"
    c = env.auth.begin_authenticator_enrolment(p, PASSWORD, RP, "鍵")
    assert [x["id"] for x in c.options["excludeCredentials"]] == [stored(env, key).credential_id]
    assert c.options["authenticatorSelection"]["userVerification"] == "required"
    with pytest.raises(Conflict):  # one authenticator once (the browser would refuse it from excludeCredentials)
        env.auth.enrol_authenticator(p, c.token, key.clone().create(c.options, ORIGIN), "鍵")
    # a registration ceremony belongs to its session: another session (here, a new login) cannot finish it
    c = env.auth.begin_authenticator_enrolment(p, PASSWORD, RP, "鍵")
    env.clock.advance(seconds=30)
    other = env.login("clerk").principal
    with pytest.raises(InvalidInput) as exc:
        env.auth.enrol_authenticator(other, c.token, SoftKey().create(c.options, ORIGIN), "鍵")
    assert exc.value.problems[0].rule == "SEC-1/webauthn-ceremony"
    assert [a.label for a in env.auth.authenticators("clerk")] == ["鍵"]


def test_no_authenticator_or_a_wrong_password_opens_no_ceremony(env: Env) -> None:
    env.add_user("clerk")
    refused("SEC-1/webauthn-none", begin, env)
    assert failures(env) == 0
    with pytest.raises(Exception) as exc:
        env.auth.begin_authenticator_login("clerk", "wrong password!", env.terminal_id, env.terminal_key, RP)
    assert exc.value.rule == "SEC-1/credentials" and failures(env) == 1  # type: ignore[attr-defined]
    refused("SEC-1/terminal", env.auth.begin_authenticator_login, "clerk", PASSWORD, env.terminal_id, "guessed", RP)
    with env.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(webauthn_ceremonies)).scalar() == 0
    # a credential made for another RP ID (another host name of the service) is not offered here
    key = SoftKey()
    login = env.login("clerk")
    other_rp = RelyingParty.of("https://other.city.example")
    c = env.auth.begin_authenticator_enrolment(login.principal, PASSWORD, other_rp, "鍵")
    env.auth.enrol_authenticator(login.principal, c.token, key.create(c.options, other_rp.origin), "鍵")
    refused("SEC-1/webauthn-none", begin, env)


def test_a_ceremony_is_used_once_on_its_own_terminal_in_time(clerk: tuple[Env, SoftKey]) -> None:
    env, key = clerk
    c = begin(env)
    response = key.get(c.options, ORIGIN)
    finish(env, c.token, response)
    refused("SEC-1/webauthn-replay", finish, env, c.token, response)  # a captured response, posted again
    assert failures(env) == 1
    refused("SEC-1/webauthn-ceremony", finish, env, "not-a-ceremony", response)
    t2 = ("T-002", env.auth.register_terminal("T-002", "市民課 窓口2", "市民課", actor="admin0"))
    c = begin(env)
    refused("SEC-1/webauthn-terminal", finish, env, c.token, key.get(c.options, ORIGIN), terminal=t2)
    refused("SEC-1/webauthn-replay", finish, env, c.token, key.get(c.options, ORIGIN))  # burnt by that attempt
    c = begin(env)
    env.clock.advance(minutes=3)
    refused("SEC-1/webauthn-expired", finish, env, c.token, key.get(c.options, ORIGIN))
    # one ceremony's response does not open another: the challenge is the ceremony's
    a, b = begin(env), begin(env)
    refused("SEC-1/webauthn-challenge", finish, env, b.token, key.get(a.options, ORIGIN))
    login = finish(env, a.token, key.get(a.options, ORIGIN))
    assert login.principal.user_id == "clerk" and failures(env) == 0


@pytest.mark.parametrize(
    ("rule", "make"),
    [
        ("SEC-1/webauthn-origin", lambda key, o: key.get(o, "https://juki-city.example")),  # phishing page, same RP ID
        ("SEC-1/webauthn-origin", lambda key, o: key.get(o, "http://juki.city.example")),  # not HTTPS
        ("SEC-1/webauthn-rp-id", lambda key, o: key.get(o, "https://evil.example", rp_id="evil.example")),
        ("SEC-1/webauthn-uv", lambda key, o: SoftKey(key.key, key.credential_id, 99, verifies_user=False).get(o, ORIGIN)),
        ("SEC-1/webauthn-signature", lambda key, o: SoftKey(credential_id=key.credential_id, sign_count=99).get(o, ORIGIN)),
        ("SEC-1/webauthn-credential", lambda key, o: SoftKey().get(o, ORIGIN)),
    ],
)
def test_an_assertion_for_another_site_or_without_the_users_verification_is_refused(
    clerk: tuple[Env, SoftKey], rule: str, make: Any
) -> None:
    env, key = clerk
    c = begin(env)
    refused(rule, finish, env, c.token, make(key, c.options))
    assert failures(env) == 1 and stored(env, key).revoked_at is None and stored(env, key).sign_count == 1


def test_another_users_credential_is_refused(clerk: tuple[Env, SoftKey]) -> None:
    env, _ = clerk
    env.add_user("chief")
    enrol(env, "chief", chief_key := SoftKey())
    c = begin(env, "clerk")
    refused("SEC-1/webauthn-credential", finish, env, c.token, chief_key.get(c.options, ORIGIN))


def test_a_cloned_authenticator_is_refused_and_its_credential_revoked(clerk: tuple[Env, SoftKey]) -> None:
    env, key = clerk
    clone = key.clone()  # copied at counter 1
    for _ in range(2):
        c = begin(env)
        finish(env, c.token, key.get(c.options, ORIGIN))  # the original goes on to 3
    c = begin(env)
    e = refused("SEC-1/webauthn-sign-count", finish, env, c.token, clone.get(c.options, ORIGIN))  # presents 2
    assert e.detail["stored"] == 3 and e.detail["presented"] == 2 and e.detail["revoked"] is True
    row = stored(env, key)
    assert row.revoked_at is not None and row.revoke_reason == "sign-count" and row.sign_count == 3
    refused("SEC-1/webauthn-none", begin, env)  # the original too must be registered again; TOTP still works
    env.clock.advance(seconds=30)
    assert env.login("clerk").principal.user_id == "clerk"


def test_a_revoked_credential_is_refused_even_in_a_ceremony_opened_before(clerk: tuple[Env, SoftKey]) -> None:
    env, key = clerk
    cid = stored(env, key).credential_id
    c = begin(env)
    with pytest.raises(InvalidInput):
        env.auth.revoke_authenticator(cid, actor="admin0", reason=" ")
    with pytest.raises(NotFound):  # a user revokes only their own
        env.auth.revoke_authenticator(cid, actor="chief", reason="紛失", owner="chief")
    info = env.auth.revoke_authenticator(cid, actor="admin0", reason="退職者の端末から回収")
    assert (info.active, info.revoked_by, info.revoke_reason) == (False, "admin0", "退職者の端末から回収")
    with pytest.raises(RuleViolation):
        env.auth.revoke_authenticator(cid, actor="admin0", reason="二度目")
    refused("SEC-1/webauthn-revoked", finish, env, c.token, key.get(c.options, ORIGIN))
    refused("SEC-1/webauthn-none", begin, env)
    with env.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(webauthn_credentials)).scalar() == 1  # kept


def test_refusals_count_towards_the_lockout_and_the_password_rules_still_apply(clerk: tuple[Env, SoftKey]) -> None:
    env, key = clerk
    for _ in range(5):
        c = begin(env)
        refused("SEC-1/webauthn-origin", finish, env, c.token, key.get(c.options, "https://evil.example"))
    refused("SEC-1/lockout", begin, env)
    env.auth.unlock("clerk", actor="admin0")
    with env.engine.begin() as conn:
        conn.execute(staff.update().where(staff.c.user_id == "clerk").values(password_expires_at=env.clock.now))
    c = begin(env)
    refused("SEC-1/password-expired", finish, env, c.token, key.get(c.options, ORIGIN))
    env.clock.advance(days=15)  # past the grace period: the account locks, whichever second factor
    c = begin(env)
    refused("SEC-1/password-lock", finish, env, c.token, key.get(c.options, ORIGIN))
    refused("SEC-1/lockout", begin, env)


def ceremony_rows(e: Env) -> dict[str, Any]:
    with e.engine.connect() as conn:
        return {r.ceremony_id: r.used_at for r in conn.execute(sa.select(webauthn_ceremonies))}


def test_used_and_expired_ceremonies_are_purged_but_a_replay_in_time_is_still_named(clerk: tuple[Env, SoftKey]) -> None:
    env, key = clerk
    assert len(ceremony_rows(env)) == 1  # the enrolment's, used
    used = begin(env)
    response = key.get(used.options, ORIGIN)
    finish(env, used.token, response)
    abandoned = begin(env)  # the user walked away from this one
    env.clock.advance(minutes=3)
    # a new ceremony within a timeout of their expiry deletes neither: a replay is still named as one
    begin(env)
    assert len(ceremony_rows(env)) == 4
    refused("SEC-1/webauthn-replay", finish, env, used.token, response)
    refused("SEC-1/webauthn-expired", finish, env, abandoned.token, key.get(abandoned.options, ORIGIN))
    env.clock.advance(minutes=3, seconds=1)
    fresh = begin(env)  # opening a ceremony sweeps the ones that expired more than a timeout ago
    assert len(ceremony_rows(env)) == 2
    refused("SEC-1/webauthn-ceremony", finish, env, used.token, response)  # gone: an unknown ceremony
    env.clock.advance(minutes=7)
    assert env.auth.purge_ceremonies() == 2  # the daily sweep (juki staff sweep), used or not
    assert ceremony_rows(env) == {}
    refused("SEC-1/webauthn-ceremony", finish, env, fresh.token, key.get(fresh.options, ORIGIN))
    login = finish(env, (c := begin(env)).token, key.get(c.options, ORIGIN))
    assert login.principal.user_id == "clerk"


ISSUED = "6d44ba9b-f6ec-2e49-b930-0c8fe920cb73"  # the make the city issues (an AAGUID as vendors publish them)


def test_only_allowed_makes_of_authenticator_are_registered(env: Env) -> None:
    env.add_user("clerk")
    p = env.login("clerk").principal
    c = env.auth.begin_authenticator_enrolment(p, PASSWORD, RP, "鍵")
    assert c.options["attestation"] == "none"  # any make: no attestation asked
    env.auth.policy = dataclasses.replace(env.auth.policy, webauthn_aaguids=parse_aaguids(f"{ISSUED}, {uuid.uuid4()}"))
    c = env.auth.begin_authenticator_enrolment(p, PASSWORD, RP, "鍵")
    assert c.options["attestation"] == "direct"  # so that the browser does not blank out the AAGUID
    other = SoftKey(aaguid=uuid.UUID("0bb43545-fd2c-4185-87dd-feb0b2916ace").bytes)
    with pytest.raises(EnrolmentRefused) as exc:
        env.auth.enrol_authenticator(p, c.token, other.create(c.options, ORIGIN), "鍵")
    problem = exc.value.problems[0]
    assert (problem.field, problem.rule) == ("authenticator", "SEC-1/webauthn-aaguid")
    assert "0bb43545-fd2c-4185-87dd-feb0b2916ace" in problem.ja and "not allowed" in problem.en
    assert exc.value.detail == {"aaguid": "0bb4-3545-fd2c-4185-87dd-feb0-b291-6ace", "attestation": "none"}
    assert env.auth.authenticators("clerk") == []
    # an AAGUID whose last group could be taken for a 個人番号 is logged in groups of four, which the
    # audit log accepts (it would refuse the whole entry otherwise) and the setting reads back
    odd = SoftKey(aaguid=uuid.UUID("00000000-0000-0000-0000-123456789018").bytes)
    c = env.auth.begin_authenticator_enrolment(p, PASSWORD, RP, "鍵")
    with pytest.raises(EnrolmentRefused) as exc:
        env.auth.enrol_authenticator(p, c.token, odd.create(c.options, ORIGIN), "鍵")
    logged = exc.value.detail["aaguid"]
    assert logged == "0000-0000-0000-0000-0000-1234-5678-9018" and "123456789018" in exc.value.problems[0].ja
    no_individual_number(exc.value.detail)
    with pytest.raises(InvalidInput):
        no_individual_number({"aaguid": "00000000-0000-0000-0000-123456789018"})
    assert parse_aaguids(logged) == frozenset({"00000000-0000-0000-0000-123456789018"})
    issued = SoftKey(aaguid=uuid.UUID(ISSUED).bytes)
    c = env.auth.begin_authenticator_enrolment(p, PASSWORD, RP, "鍵")
    info = env.auth.enrol_authenticator(p, c.token, issued.create(c.options, ORIGIN), "鍵")
    assert (info.aaguid, info.active) == (ISSUED, True)


@pytest.mark.parametrize(("text", "allowed"), [
    ("any", None), ("", None), (" ANY ", None),
    (ISSUED.upper(), frozenset({ISSUED})),
    (f"{ISSUED},\n  00000000-0000-0000-0000-000000000000", frozenset({ISSUED, "00000000-0000-0000-0000-000000000000"})),
])
def test_the_allow_list_setting(text: str, allowed: frozenset[str] | None) -> None:
    assert parse_aaguids(text) == allowed


def test_a_wrong_allow_list_setting_names_itself_and_the_value() -> None:
    with pytest.raises(ValueError, match=r"JUKI_WEBAUTHN_AAGUIDS: 'yubikey'"):
        parse_aaguids(f"{ISSUED}, yubikey")
