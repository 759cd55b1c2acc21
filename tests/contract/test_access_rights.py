"""Contract: rights per user/section/function take effect only after a business owner approves them
(SEC-2); separation of duties; the daily roster; the export for periodic review."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
import sqlalchemy as sa

from juki.access import policy, rights
from juki.access.auth import AuthenticationFailed
from juki.access.tables import right_approvals
from juki.access.tables import rights as rights_table
from juki.domain.errors import Conflict, Forbidden, RuleViolation

from .test_access_helpers import Env, env_fixture, owned_fixture  # noqa: F401  (fixtures)

TODAY = dt.date(2024, 4, 1)


def test_unapproved_right_has_no_effect_until_approved(owned: Env) -> None:
    e = owned
    e.add_user("clerk")
    gid = rights.request_right(e.engine, user_id="clerk", role="counter_clerk", section="市民課", requested_by="admin0")
    token, p = e.login("clerk")
    assert p.roles == frozenset() and not policy.can(p, "person.read")
    assert rights.effective_rights(e.engine, "clerk") == []
    rights.approve_right(e.engine, gid, approved_by="owner", clock=e.clock)
    p2 = e.auth.authenticate(token, e.terminal_id)  # rights are read afresh on every request
    assert policy.can(p2, "person.read") and policy.can(p2, "change.submit")
    [g] = rights.effective_rights(e.engine, "clerk")
    assert (g.role, g.section, g.requested_by, g.approved_by) == ("counter_clerk", "市民課", "admin0", "owner")
    rights.revoke_right(e.engine, gid, revoked_by="admin0", reason="異動", clock=e.clock)
    p3 = e.auth.authenticate(token, e.terminal_id)
    assert not policy.can(p3, "person.read")


def test_self_approval_refused(owned: Env) -> None:
    e = owned
    e.add_user("owner2", section="総務課")
    e.grant("owner2", "business_owner", "*")
    # owner2 requests a right for someone and tries to approve it himself.
    e.add_user("clerk")
    gid = rights.request_right(e.engine, user_id="clerk", role="viewer", section="市民課", requested_by="owner2")
    with pytest.raises(Forbidden) as exc:
        rights.approve_right(e.engine, gid, approved_by="owner2")
    assert exc.value.problems[0].rule == "SEC-2/self-approval"
    # ... or his own right.
    gid2 = rights.request_right(e.engine, user_id="owner2", role="viewer", section="総務課", requested_by="admin0")
    with pytest.raises(Forbidden) as exc:
        rights.approve_right(e.engine, gid2, approved_by="owner2")
    assert exc.value.problems[0].rule == "SEC-2/self-approval"
    rights.approve_right(e.engine, gid, approved_by="owner")


def test_only_a_business_owner_of_the_section_approves(owned: Env) -> None:
    e = owned
    e.add_user("boss", section="市民課")
    e.grant("boss", "business_owner", "市民課")
    e.add_user("clerk")
    e.add_user("tax", section="税務課")
    g_other = rights.request_right(e.engine, user_id="tax", role="viewer", section="税務課", requested_by="admin0")
    with pytest.raises(Forbidden) as exc:
        rights.approve_right(e.engine, g_other, approved_by="boss")
    assert exc.value.problems[0].rule == "SEC-2/rights.approve"
    g = rights.request_right(e.engine, user_id="clerk", role="viewer", section="市民課", requested_by="hr")
    # Neither the system administrator nor an ordinary user may approve.
    for who in ("admin0", "tax"):
        with pytest.raises(Forbidden) as exc:
            rights.approve_right(e.engine, g, approved_by=who)
        assert exc.value.problems[0].rule == "SEC-2/rights.approve"
    rights.approve_right(e.engine, g, approved_by="boss")
    with pytest.raises(Conflict):
        rights.approve_right(e.engine, g, approved_by="owner")


def test_sysadmin_has_no_resident_permissions_and_separation_refused(owned: Env) -> None:
    e = owned
    _, p = e.login("admin0")
    assert policy.can(p, "staff.manage") and policy.can(p, "terminal.manage")
    assert not any(perm.startswith(("person.", "number.", "change.")) for perm in p.permissions)
    assert not policy.can(p, "rights.approve")
    with pytest.raises(RuleViolation) as exc:
        rights.request_right(e.engine, user_id="admin0", role="viewer", section="市民課", requested_by="admin0")
    assert exc.value.problems[0].rule == "SEC-2/separation"
    with pytest.raises(RuleViolation):
        rights.request_right(e.engine, user_id="admin0", role="business_owner", section="*", requested_by="owner")
    # And the other way round: a clerk cannot become system administrator.
    e.add_user("clerk")
    e.grant("clerk", "counter_clerk")
    with pytest.raises(RuleViolation):
        rights.request_right(e.engine, user_id="clerk", role="system_admin", section="*", requested_by="admin0")
    # Pending requests count as well: the second of two conflicting requests is refused.
    e.add_user("new")
    rights.request_right(e.engine, user_id="new", role="viewer", section="市民課", requested_by="admin0")
    with pytest.raises(RuleViolation):
        rights.request_right(e.engine, user_id="new", role="auditor", section="*", requested_by="admin0")


def test_sysadmin_cannot_read_residents_even_if_the_database_says_so(owned: Env) -> None:
    """Second line of defence: a resident right slipped into the tables by hand has no effect."""
    e = owned
    with e.engine.begin() as conn:
        gid = conn.execute(
            rights_table.insert().values(
                user_id="admin0", role="number_use_clerk", section="情報政策課", requested_by="x",
                requested_at=e.clock.now, reason="",
            )
        ).inserted_primary_key[0]
        conn.execute(right_approvals.insert().values(grant_id=gid, approved_by="owner", approved_at=e.clock.now))
    _, p = e.login("admin0")
    assert "number_use_clerk" in p.roles
    assert not policy.can(p, "person.read") and not policy.may_see_number(p)


def test_rights_tables_are_insert_only(owned: Env) -> None:
    e = owned
    for stmt in (
        sa.update(rights_table).values(role="approver"),
        sa.delete(right_approvals),
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), e.engine.begin() as conn:
            conn.execute(stmt)


def test_bootstrap_only_once(owned: Env) -> None:
    owned.add_user("x")
    with pytest.raises(RuleViolation) as exc:
        rights.bootstrap_owner(owned.engine, "x", actor="installer")
    assert exc.value.problems[0].rule == "SEC-2/bootstrap"


def test_unknown_role_and_wildcard_section_refused(owned: Env) -> None:
    owned.add_user("clerk")
    with pytest.raises(Exception) as exc:
        rights.request_right(owned.engine, user_id="clerk", role="god", section="市民課", requested_by="admin0")
    assert exc.value.problems[0].rule == "SEC-2/role"  # type: ignore[attr-defined]
    with pytest.raises(Exception) as exc:
        rights.request_right(owned.engine, user_id="clerk", role="counter_clerk", section="*", requested_by="admin0")
    assert exc.value.problems[0].rule == "SEC-2/section"  # type: ignore[attr-defined]


# --- roster --------------------------------------------------------------------------------------


def write_roster(tmp: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    p = tmp / "roster.csv"
    with p.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user_id", "name", "section", "status"])
        w.writerows(rows)
    return p


def test_roster_disables_leavers_and_ends_their_sessions(owned: Env, tmp_path: Path) -> None:
    e = owned
    for u in ("a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"):
        e.add_user(u)
        e.grant(u, "viewer")
    token_leaver, p_leaver = e.login("a1")
    token_mover, _ = e.login("a2")
    e.grant("a2", "viewer", "税務課")
    path = write_roster(
        tmp_path,
        [
            ("owner", "職員 owner", "総務課", "在籍"),
            ("admin0", "職員 admin0", "情報政策課", "active"),
            ("a1", "職員 a1", "市民課", "退職"),
            ("a2", "職員 a2", "税務課", "active"),  # moved 市民課 → 税務課
            ("a3", "新しい名前", "市民課", "active"),
            ("a4", "職員 a4", "市民課", "active"),
            ("a5", "職員 a5", "市民課", "active"),
            ("a6", "職員 a6", "市民課", "active"),
            ("a7", "職員 a7", "市民課", "active"),
            # a8 is absent
            ("zz", "未登録", "市民課", "active"),
        ],
    )
    report = rights.apply_roster(e.engine, path, today=TODAY, actor="roster-job", clock=e.clock)
    assert report.disabled == ["a1", "a8"]
    assert report.moved == {"a2": ("市民課", "税務課")}
    assert report.renamed == ["a3"] and report.unknown == ["zz"]
    assert p_leaver.session_id in report.ended_sessions
    with pytest.raises(AuthenticationFailed):
        e.auth.authenticate(token_leaver, e.terminal_id)
    with pytest.raises(AuthenticationFailed):
        e.auth.authenticate(token_mover, e.terminal_id)
    assert e.auth.staff_info("a1").status == "disabled"
    assert rights.effective_rights(e.engine, "a1") == []
    # The mover keeps the new section's right only, and now works in 税務課.
    assert [(g.role, g.section) for g in rights.effective_rights(e.engine, "a2")] == [("viewer", "税務課")]
    e.clock.advance(seconds=30)
    _, p2 = e.login("a2")
    assert p2.section == "税務課" and policy.can(p2, "person.read")
    # Applying the same roster again changes nothing.
    again = rights.apply_roster(e.engine, path, today=TODAY, actor="roster-job", clock=e.clock)
    assert again.disabled == [] and again.moved == {} and again.revoked_grants == []


def test_roster_guard_refuses_a_truncated_file(owned: Env) -> None:
    e = owned
    for u in ("a1", "a2", "a3"):
        e.add_user(u)
    rows = [{"user_id": "owner", "name": "職員 owner", "section": "総務課", "status": "active"}]
    with pytest.raises(RuleViolation) as exc:
        rights.apply_roster(e.engine, rows, today=TODAY, actor="job")
    assert exc.value.problems[0].rule == "SEC-2/roster-guard"
    assert e.auth.staff_info("a1").status == "active"
    report = rights.apply_roster(e.engine, rows, today=TODAY, actor="job", dry_run=True, force=True)
    assert report.disabled == ["a1", "a2", "a3", "admin0"]
    assert e.auth.staff_info("a1").status == "active"


# --- export --------------------------------------------------------------------------------------


def test_export_lists_rights_with_approvers(owned: Env) -> None:
    e = owned
    e.add_user("clerk")
    e.grant("clerk", "counter_clerk")
    rights.request_right(e.engine, user_id="clerk", role="viewer", section="税務課", requested_by="admin0")
    e.add_user("idle")
    e.login("clerk")
    rows = list(csv.DictReader(io.StringIO(rights.export_users(e.engine))))
    clerk = {r["role"]: r for r in rows if r["user_id"] == "clerk"}
    assert clerk["counter_clerk"]["approved_by"] == "owner"
    assert clerk["counter_clerk"]["grant_status"] == "effective"
    assert clerk["counter_clerk"]["requested_by"] == "admin0"
    assert clerk["counter_clerk"]["last_login_at"].startswith("2024-04-01")
    assert clerk["viewer"]["grant_status"] == "pending" and clerk["viewer"]["approved_by"] == ""
    assert [r["role"] for r in rows if r["user_id"] == "idle"] == [""]
    owner = next(r for r in rows if r["user_id"] == "owner")
    assert owner["approved_by"] == rights.BOOTSTRAP
