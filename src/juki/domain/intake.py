"""窓口の受付 (CTR-1): who files a 届出, how their identity was checked, and the agent's 委任状.

Identity check (本人確認, 000 III-2 R3; 住基法27条): **one photo identity document** (マイナンバーカード,
運転免許証 …) or **two documents without a photo** (健康保険の資格確認書, 年金手帳 …).  A 届出 filed by
someone other than the person or a member of the same household is filed by an **agent (代理人)**, who
must show a **委任状** and whose own identity is the one checked; the agent's name and address are
recorded, so that the resident can later learn that an agent filed a change about them (the forged
委任状 incident of 002 別紙2).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .errors import Problems


class FiledBy(StrEnum):
    """届出人: the person (本人), a member of the same household (同一世帯員), or an agent (代理人)."""

    SELF = "self"
    HOUSEHOLD = "household"
    AGENT = "agent"

    @property
    def ja(self) -> str:
        return {"self": "本人", "household": "同一世帯の者", "agent": "代理人"}[self.value]


PHOTO_DOCUMENTS: dict[str, str] = {
    "my_number_card": "マイナンバーカード",
    "driver_licence": "運転免許証",
    "passport": "旅券（パスポート）",
    "residence_card": "在留カード",
    "special_permanent_resident_certificate": "特別永住者証明書",
    "disability_certificate": "身体障害者手帳",
}
"""官公署が発行した写真付きの書類: one is enough."""

NON_PHOTO_DOCUMENTS: dict[str, str] = {
    "health_insurance": "健康保険の資格確認書",
    "pension_book": "年金手帳・基礎年金番号通知書",
    "pension_certificate": "年金証書",
    "care_insurance": "介護保険被保険者証",
    "bank_book": "預金通帳",
    "student_card": "学生証（写真なし）",
}
"""写真のない書類: two are needed."""

DOCUMENTS: dict[str, str] = {**PHOTO_DOCUMENTS, **NON_PHOTO_DOCUMENTS}


@dataclass(frozen=True)
class Intake:
    """The counter's record of one 届出: who filed it and what was checked."""

    filed_by: FiledBy
    identity_documents: tuple[str, ...]
    agent_name: str = ""
    agent_address: str = ""
    power_of_attorney: bool = False  # 委任状 seen and kept


def check_intake(intake: Intake, problems: Problems | None = None) -> Problems:
    """The rules of the counter's identity check, each fault naming its field (CTR-1)."""
    problems = problems if problems is not None else Problems()
    unknown = [d for d in intake.identity_documents if d not in DOCUMENTS]
    if unknown:
        problems.add("identity_documents", "CTR-1/identity", "不明な本人確認書類です: " + ", ".join(unknown),
                     "Unknown identity document: " + ", ".join(unknown))
    photo = sum(1 for d in set(intake.identity_documents) if d in PHOTO_DOCUMENTS)
    other = sum(1 for d in set(intake.identity_documents) if d in NON_PHOTO_DOCUMENTS)
    if photo < 1 and other < 2:
        problems.add("identity_documents", "CTR-1/identity",
                     "本人確認書類は、写真付きのもの1点か、写真のないもの2点を確認してください。",
                     "Check one photo identity document, or two documents without a photo.")
    if intake.filed_by is FiledBy.AGENT:
        if not intake.agent_name.strip():
            problems.add("agent_name", "CTR-1/agent", "代理人の氏名を入力してください。", "Enter the agent's name.")
        if not intake.agent_address.strip():
            problems.add("agent_address", "CTR-1/agent", "代理人の住所を入力してください。", "Enter the agent's address.")
        if not intake.power_of_attorney:
            problems.add("power_of_attorney", "CTR-1/agent", "代理人による届出には委任状が必要です。",
                         "A filing by an agent needs a power of attorney (委任状).")
    elif intake.agent_name.strip() or intake.power_of_attorney:
        problems.add("filed_by", "CTR-1/agent", "代理人の情報があります。届出人を「代理人」にしてください。",
                     "Agent details were given: set the filer to agent.")
    return problems
