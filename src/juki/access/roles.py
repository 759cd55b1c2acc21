"""Roles and permissions as data (SEC-2): rights per user, per section and per function.

A *permission* names one function (``person.read``, ``change.approve``, ...).  A *role* is a named set of
permissions that a user holds **in a section** (e.g. 市民課) once a business owner has approved it
(see :mod:`juki.access.rights`).  Everything here is plain data so that the API's matrix test can walk
every endpoint × role.

Separation of duties is data too (:data:`INCOMPATIBLE`): the system administrator holds no register
rights (SEC-2: 「システム管理者は住民記録の閲覧権限を持たない」), the auditor reads logs and not residents,
and neither approves rights.  :func:`permissions_for` enforces the first rule *by construction*: whatever
roles a principal is given, the system administrator's permissions never include a resident function.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType

# --- permissions ---------------------------------------------------------------------------------

PERSON_READ = "person.read"  # read a 住民票 / 世帯 (now, as of, history)
PERSON_SEARCH = "person.search"  # search by 4情報, kana, 宛名番号, 世帯番号
CHANGE_SUBMIT = "change.submit"  # enter a 異動 (counter clerk)
CHANGE_APPROVE = "change.approve"  # approve a 異動 (four eyes)
CHANGE_DECIDE = "change.decide"  # return / reject a 異動
NUMBER_VIEW = "number.view"  # see the 個人番号 unmasked (番号利用事務)
NUMBER_SEARCH = "number.search"  # search by 個人番号 (番号利用事務)
AUDIT_READ = "audit.read"  # read the access log
STAFF_MANAGE = "staff.manage"  # create / disable / unlock accounts, request rights
RIGHTS_APPROVE = "rights.approve"  # approve a requested right (business owner)
TERMINAL_MANAGE = "terminal.manage"  # register / revoke terminals
SUPPORT_MANAGE = "support.manage"  # register / end DV 支援措置
EXPORT = "export"  # export data (SEC-4: administrators only, recorded)
# certificates, cards and seals (REG-CERT, REG-LINK5; juki.issuance)
CERTIFICATE_ISSUE = "certificate.issue"  # 証明書の交付 at the counter (and by mail, in batches)
CERTIFICATE_PROTECTED = "certificate.protected"  # 交付 about a person under 支援措置, after the supervisor's check
CERTIFICATE_LOG_READ = "certificate.log.read"  # the issuance log (交付記録) and counts by type
CARD_MANAGE = "card.manage"  # コンビニ交付: issue a resident's card, unlock it after 3 wrong PINs, revoke it
SEAL_REGISTER = "seal.register"  # 印鑑登録: register, abolish, 亡失届
SEAL_CONFIRM = "seal.confirm"  # 印鑑登録: confirm a registration by 照会書 (another user than who entered it)
KIOSK_MANAGE = "kiosk.manage"  # register / revoke a コンビニ交付 kiosk (a device, like a terminal)
# the prefecture's provision of 本人確認情報 (PRF-5..PRF-7; juki.api.provision at a prefecture node)
PROVISION_PROVIDE = "provision.provide"  # 提供・移転 for a configured 別表 use (single and batch), ask for approval
PROVISION_APPROVE = "provision.approve"  # approve a large batch output in advance (another user than who asked)
PROVISION_MANAGE = "provision.manage"  # load the configuration of 別表 uses
PROVISION_DISCLOSE = "provision.disclose"  # 開示 (30条の32) and 訂正等の申出 (30条の35)
PROVISION_LOG_READ = "provision.log.read"  # the provision log (PRF-6)
# the 総合窓口 (CTR-2; juki.services.life_events)
RECEPTION_MANAGE = "reception.manage"  # 総合受付: open a reception, update its steps, print the 案内文書, close it
INQUIRY_READ = "inquiry.read"  # 総合照会: one person's record, household, 届出, 受付, 交付履歴, 印鑑登録, ワンストップ
RECEPTION_HANDOFF = "reception.handoff"  # 庁内連携: pull and acknowledge the 総合受付's hand-offs of one's own section

PERMISSIONS: frozenset[str] = frozenset(
    {
        PERSON_READ,
        PERSON_SEARCH,
        CHANGE_SUBMIT,
        CHANGE_APPROVE,
        CHANGE_DECIDE,
        NUMBER_VIEW,
        NUMBER_SEARCH,
        AUDIT_READ,
        STAFF_MANAGE,
        RIGHTS_APPROVE,
        TERMINAL_MANAGE,
        SUPPORT_MANAGE,
        EXPORT,
        CERTIFICATE_ISSUE,
        CERTIFICATE_PROTECTED,
        CERTIFICATE_LOG_READ,
        CARD_MANAGE,
        SEAL_REGISTER,
        SEAL_CONFIRM,
        KIOSK_MANAGE,
        PROVISION_PROVIDE,
        PROVISION_APPROVE,
        PROVISION_MANAGE,
        PROVISION_DISCLOSE,
        PROVISION_LOG_READ,
        RECEPTION_MANAGE,
        INQUIRY_READ,
        RECEPTION_HANDOFF,
    }
)

RESIDENT_PERMISSIONS: frozenset[str] = frozenset(
    p for p in PERMISSIONS if p.split(".")[0] in {"person", "change", "number", "certificate", "card", "seal", "provision",
                                          "reception", "inquiry"}
)
"""Every permission that touches residents' records: never held by a system administrator."""

# --- roles ---------------------------------------------------------------------------------------

COUNTER_CLERK = "counter_clerk"
APPROVER = "approver"
NUMBER_USE_CLERK = "number_use_clerk"
VIEWER = "viewer"
AUDITOR = "auditor"
SYSTEM_ADMIN = "system_admin"
BUSINESS_OWNER = "business_owner"
SUPPORT_OFFICER = "support_officer"
PROVISION_OFFICER = "provision_officer"
SECTION_LIAISON = "section_liaison"

ROLE_PERMISSIONS: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        # the counter clerk staffs the 総合窓口 too: opens and follows receptions, and looks a person up in
        # the 総合照会 (CTR-2)
        COUNTER_CLERK: frozenset({PERSON_READ, PERSON_SEARCH, CHANGE_SUBMIT, CERTIFICATE_ISSUE, CARD_MANAGE,
                                  SEAL_REGISTER, RECEPTION_MANAGE, INQUIRY_READ}),
        # the supervisor (決裁者) also checks requests about persons under 支援措置, confirms 印鑑登録 by
        # 照会書 and reviews the issuance log
        # (and uses the 総合照会 to answer questions; the 受付 themselves are the counter's)
        APPROVER: frozenset({PERSON_READ, PERSON_SEARCH, CHANGE_APPROVE, CHANGE_DECIDE, CERTIFICATE_ISSUE,
                             CERTIFICATE_PROTECTED, CERTIFICATE_LOG_READ, SEAL_CONFIRM, PROVISION_APPROVE,
                             PROVISION_LOG_READ, INQUIRY_READ}),
        NUMBER_USE_CLERK: frozenset({PERSON_READ, PERSON_SEARCH, NUMBER_VIEW, NUMBER_SEARCH, CHANGE_SUBMIT,
                                     CERTIFICATE_ISSUE, RECEPTION_MANAGE, INQUIRY_READ}),
        # 照会専用 reads the register only: not the 総合照会, which adds the certificate issuance history,
        # the 総合受付 and the 印鑑登録 of a person (CTR-2)
        VIEWER: frozenset({PERSON_READ, PERSON_SEARCH}),
        AUDITOR: frozenset({AUDIT_READ}),
        SYSTEM_ADMIN: frozenset({STAFF_MANAGE, TERMINAL_MANAGE, EXPORT, KIOSK_MANAGE}),
        BUSINESS_OWNER: frozenset({RIGHTS_APPROVE}),
        # 支援措置 are registered by the section that handles DV support (a resident function: it reads
        # the protected person's record), never by the system administrator.
        SUPPORT_OFFICER: frozenset({PERSON_READ, PERSON_SEARCH, SUPPORT_MANAGE}),
        # the prefecture's 本人確認情報 provision (PRF-5..PRF-7): provides for configured uses only, keeps the
        # configuration and the 開示; a large batch needs the approver's prior approval
        PROVISION_OFFICER: frozenset({PROVISION_PROVIDE, PROVISION_MANAGE, PROVISION_DISCLOSE, PROVISION_LOG_READ}),
        # the integration account of another section's system (国保, 年金, 介護, 児童手当 …; CTR-2 庁内連携):
        # pulls and acknowledges the 総合受付's hand-offs of the section its right is granted in, nothing else
        SECTION_LIAISON: frozenset({RECEPTION_HANDOFF}),
    }
)

ROLES: frozenset[str] = frozenset(ROLE_PERMISSIONS)

ROLE_NAMES_JA: MappingProxyType[str, str] = MappingProxyType(
    {
        COUNTER_CLERK: "窓口担当",
        APPROVER: "決裁者",
        NUMBER_USE_CLERK: "番号利用事務担当",
        VIEWER: "照会専用",
        AUDITOR: "監査担当",
        SYSTEM_ADMIN: "システム管理者",
        BUSINESS_OWNER: "業務主管課(権限承認者)",
        SUPPORT_OFFICER: "支援措置担当",
        PROVISION_OFFICER: "本人確認情報提供担当",
        SECTION_LIAISON: "庁内連携（他課システム）",
    }
)

RESIDENT_ROLES: frozenset[str] = frozenset(
    r for r, perms in ROLE_PERMISSIONS.items() if perms & RESIDENT_PERMISSIONS
)
"""Roles that read or change residents' records."""

ALL_SECTIONS = "*"
"""Section wildcard; allowed only for :data:`WILDCARD_ROLES` (a business owner for every section)."""
WILDCARD_ROLES: frozenset[str] = frozenset({BUSINESS_OWNER, AUDITOR, SYSTEM_ADMIN})


def _pairs(a: Iterable[str], b: Iterable[str]) -> set[frozenset[str]]:
    return {frozenset({x, y}) for x in a for y in b if x != y}


INCOMPATIBLE: frozenset[frozenset[str]] = frozenset(
    _pairs({SYSTEM_ADMIN}, RESIDENT_ROLES | {BUSINESS_OWNER, AUDITOR})
    | _pairs({AUDITOR}, RESIDENT_ROLES | {BUSINESS_OWNER})
)
"""Pairs of roles one user may never hold together, in any sections (rule ``SEC-2/separation``):
system administrator vs resident roles, business owner and auditor; auditor vs resident roles and
business owner (who audits must not be audited by himself, who grants must not approve)."""


def incompatible_with(role: str, held: Iterable[str]) -> set[str]:
    """The roles in ``held`` that may not be combined with ``role``."""
    return {h for h in held if frozenset({role, h}) in INCOMPATIBLE}


def permissions_for(roles: Iterable[str], *, also_held: Iterable[str] = ()) -> frozenset[str]:
    """The permissions of a set of roles.  Unknown roles give nothing.

    ``also_held``: roles the user holds in other sections.  By construction a system administrator (or
    an auditor) never gets a resident permission, even if the database somehow held a resident role
    for the same user in any section (the grant path refuses that; this is the second line)."""
    roles = set(roles)
    perms: set[str] = set()
    for r in roles:
        perms |= ROLE_PERMISSIONS.get(r, frozenset())
    roles |= set(also_held)
    if SYSTEM_ADMIN in roles:
        perms -= RESIDENT_PERMISSIONS
        perms.discard(RIGHTS_APPROVE)
    if AUDITOR in roles:
        perms -= RESIDENT_PERMISSIONS
    return frozenset(perms)
