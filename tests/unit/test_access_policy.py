"""Unit: roles as data, separation of duties, the policy decisions (no I/O)."""

from __future__ import annotations

import datetime as dt

import pytest

from juki.access import policy, roles
from juki.access.model import Principal, Requester, SupportMeasure
from juki.adapters.db.store import SearchCriteria
from juki.domain.errors import Forbidden


def principal(*grants: tuple[str, str], section: str = "市民課") -> Principal:
    return Principal.build(user_id="u", terminal_id="t", session_id="s", section=section, grants=set(grants))


def test_every_role_maps_to_known_permissions() -> None:
    for role, perms in roles.ROLE_PERMISSIONS.items():
        assert perms <= roles.PERMISSIONS, role
        assert role in roles.ROLE_NAMES_JA


@pytest.mark.parametrize("role", sorted(roles.ROLES))
def test_only_number_use_clerk_sees_and_searches_numbers(role: str) -> None:
    p = principal((role, "市民課"))
    assert policy.may_see_number(p) is (role == roles.NUMBER_USE_CLERK)
    assert policy.may_search_number(p) is (role == roles.NUMBER_USE_CLERK)


def test_auditor_and_sysadmin_read_no_residents() -> None:
    for role in (roles.AUDITOR, roles.SYSTEM_ADMIN):
        p = principal((role, "*"))
        assert not p.permissions & roles.RESIDENT_PERMISSIONS
    assert policy.can(principal((roles.AUDITOR, "*")), "audit.read")
    # By construction: even combined with resident roles (which the grant path refuses).
    p = principal((roles.SYSTEM_ADMIN, "*"), (roles.NUMBER_USE_CLERK, "市民課"))
    assert not p.permissions & roles.RESIDENT_PERMISSIONS and "rights.approve" not in p.permissions
    p = principal((roles.SYSTEM_ADMIN, "情報政策課"), (roles.VIEWER, "市民課"))  # held in another section
    assert not policy.can(p, "person.read")


def test_separation_pairs() -> None:
    assert roles.incompatible_with(roles.SYSTEM_ADMIN, {roles.VIEWER}) == {roles.VIEWER}
    assert roles.incompatible_with(roles.SYSTEM_ADMIN, {roles.BUSINESS_OWNER}) == {roles.BUSINESS_OWNER}
    assert roles.incompatible_with(roles.AUDITOR, {roles.COUNTER_CLERK, roles.APPROVER}) == {
        roles.COUNTER_CLERK,
        roles.APPROVER,
    }
    assert roles.incompatible_with(roles.COUNTER_CLERK, {roles.APPROVER, roles.NUMBER_USE_CLERK}) == set()


def test_rights_are_per_section() -> None:
    p = principal((roles.COUNTER_CLERK, "税務課"))
    assert not policy.can(p, "person.read")
    assert policy.can(principal((roles.COUNTER_CLERK, "税務課"), section="税務課"), "person.read")


def test_require_raises_bilingual_forbidden() -> None:
    p = principal((roles.VIEWER, "市民課"))
    policy.require(p, "person.read")
    with pytest.raises(Forbidden) as exc:
        policy.require(p, "change.approve")
    prob = exc.value.problems[0]
    assert (prob.field, prob.rule) == ("permission", "SEC-2/change.approve") and prob.ja and prob.en
    with pytest.raises(Forbidden):
        policy.require(None, "person.read")
    with pytest.raises(ValueError):
        policy.can(p, "person.reed")


def test_number_search_refused_outside_number_use_work() -> None:
    clerk = principal((roles.COUNTER_CLERK, "市民課"))
    policy.check_search(clerk, SearchCriteria(kana="ヤマダ"))
    with pytest.raises(Forbidden) as exc:
        policy.check_search(clerk, SearchCriteria(individual_number="123456789018"))
    assert exc.value.problems[0].rule == "SEC-2/number.search"
    policy.check_search(principal((roles.NUMBER_USE_CLERK, "市民課")), SearchCriteria(individual_number="123456789018"))
    with pytest.raises(Forbidden):
        policy.check_search(principal((roles.AUDITOR, "*")), SearchCriteria(kana="ヤマダ"))


M = SupportMeasure(
    measure_id=1,
    person_id="0000000001",
    offender_name="加害 太郎",
    offender_birth_date=dt.date(1975, 6, 1),
    valid_from=dt.date(2024, 4, 1),
    valid_to=dt.date(2025, 3, 31),
)
DAY = dt.date(2024, 5, 1)


def test_offender_matching() -> None:
    assert policy.is_offender(Requester(name="加害太郎", birth_date=dt.date(1975, 6, 1)), M)
    assert policy.is_offender(Requester(name="加害 太郎"), M)  # unknown birth date: withhold (safe side)
    assert not policy.is_offender(Requester(name="加害 太郎", birth_date=dt.date(1980, 1, 1)), M)
    assert not policy.is_offender(Requester(name="別人 次郎", birth_date=dt.date(1975, 6, 1)), M)
    assert not policy.is_offender(None, M)
    assert not policy.is_offender(Requester(), M)


def test_screen_on_dicts_and_period() -> None:
    items = [{"person_id": "0000000001"}, {"person_id": "0000000002"}]
    off = Requester(name="加害 太郎", birth_date=dt.date(1975, 6, 1))
    s = policy.screen(items, off, [M], on=DAY)
    assert s.visible == [items[1]] and s.withheld == ["0000000001"]
    assert policy.screen(items, off, [M], on=dt.date(2025, 4, 1)).withheld == []  # expired
    assert policy.requires_manual_handling("0000000001", [M], on=DAY)
    assert not policy.requires_manual_handling("0000000001", [M], on=dt.date(2024, 3, 31))
