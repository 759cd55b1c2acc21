"""Provisioning staff, terminals and approved rights in one step: for the demo and for tests.

A real municipality does this through ``juki staff``/``juki terminal``/``juki rights`` with each right
approved by a business owner (SEC-2); this module follows the same path (the owner is bootstrapped, every
other right is requested and then approved by that owner), only all at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from juki.access.rights import approve_right, bootstrap_owner, request_right
from juki.config import Register
from juki.domain.life_events import INSURANCE_SECTION

SECTION = "市民課"

DEMO_STAFF: tuple[tuple[str, str, str, str], ...] = (
    # user id, name, section, role
    ("owner", "業務　責任者", "*", "business_owner"),
    ("clerk", "窓口　一郎", SECTION, "counter_clerk"),
    ("chief", "決裁　花子", SECTION, "approver"),
    ("bango", "番号　次郎", SECTION, "number_use_clerk"),
    ("viewer", "照会　三郎", SECTION, "viewer"),
    ("auditor", "監査　四郎", "*", "auditor"),
    ("admin", "管理　五郎", "*", "system_admin"),
    ("teikyo", "提供　六子", SECTION, "provision_officer"),  # the prefecture's 本人確認情報提供担当 (PRF-5..7)
    # the 国保・年金 system's integration account: pulls 保険年金課's 総合受付 hand-offs (CTR-2 庁内連携)
    ("renkei", "保険年金課　連携", INSURANCE_SECTION, "section_liaison"),
)
DEMO_TERMINALS = (("T001", "窓口端末1"), ("T002", "窓口端末2"))


@dataclass(frozen=True)
class Provisioned:
    totp_secrets: dict[str, str]  # user id → TOTP secret (shown once)
    roles: dict[str, str]
    terminal_keys: dict[str, str]  # terminal id → key (shown once)


def provision(reg: Register, *, password: str, staff: tuple[tuple[str, str, str, str], ...] = DEMO_STAFF,
              terminals: tuple[tuple[str, str], ...] = DEMO_TERMINALS, actor: str = "juki-provision") -> Provisioned:
    secrets: dict[str, str] = {}
    roles: dict[str, str] = {}
    for user_id, name, section, role in staff:
        home = SECTION if section == "*" else section
        secrets[user_id] = reg.auth.create_staff(user_id, name, home, password=password, actor=actor,
                                                 must_change=False).totp_secret
        roles[user_id] = role
    owner = next(u for u, _, _, r in staff if r == "business_owner")
    bootstrap_owner(reg.engine, owner, actor=actor, clock=reg.now)
    for user_id, _name, section, role in staff:
        if user_id != owner:
            grant = request_right(reg.engine, user_id=user_id, role=role, section=section, requested_by=actor, clock=reg.now)
            approve_right(reg.engine, grant, approved_by=owner, clock=reg.now)
    keys = {tid: reg.auth.register_terminal(tid, name, SECTION, actor=actor) for tid, name in terminals}
    return Provisioned(secrets, roles, keys)
