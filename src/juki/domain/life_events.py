"""総合窓口 (CTR-2): life events (ライフイベント), the procedures each one leads to, and their progress.

Chiba's 総合窓口支援システム (000 システム5) has two parts, both built on this module:

* **総合受付** -- 「市民からのライフイベントに応じた申請や届出等の受付登録を行い、その後の異動入力や交付書類
  作成等の進行状況を管理」: a clerk opens a **受付** (reception) for a visitor's life event; the event's
  **checklist** (:data:`CHECKLISTS`) lists the procedures (手続) it usually involves, each at its 窓口 with
  what to bring (持ち物); each procedure is a **step** whose status (未着手 / 処理中 / 完了 / 不要) clerks
  change, and which the 届出 or the certificate made for it completes;
* **市民への案内** -- 「ライフイベントや申請・届出処理の結果を踏まえた市民への案内文書」:
  :func:`guidance_letter` says what was done today and what remains, where and with what
  (:class:`GuidanceLetter`, printed by ``juki.adapters.pdf.guidance``).

A procedure is one of three kinds (:class:`StepKind`):

* **届出** (``register``): a change to the register (転入届, 転居届 …).  It is entered on the counter's form
  from the step and the step is *linked* to the change request: its status then follows the request
  (決裁待ち → 完了 on approval, 差戻し when returned or rejected) and cannot be set by hand to 完了;
* **証明書** (``certificate``): a certificate issued from the step (its issuance log entry completes it);
* **関連手続** (``related``): the procedures of other sections that the 総合窓口 routes the resident to
  (国民健康保険, 国民年金, 児童手当, 印鑑登録, マイナンバーカード …); the clerk records their status.

Rules (each refusal names its field and the rule ``CTR-2/...``):

* opening: at least one person concerned; names of persons new to the register only for the events
  that bring them (転入, 出生); a registered person for every other event; the 来庁者 is 本人, 同一世帯の者
  or a 代理人 (:class:`~juki.domain.intake.FiledBy`), and a 代理人 is named;
* a step's status changes (:func:`check_status_change`); a 届出 or certificate is linked only to a step
  of its kind (:func:`check_request_link`, :func:`check_certificate_link`);
* a reception closes only when every step is 完了 or 不要 (:func:`check_close`);
* a closed reception is **reopened** (受付の再開) with a reason (:func:`check_reopen`), e.g. when the resident
  comes back for a procedure that was marked 不要 or a 届出 that must be entered again.

**庁内連携 hand-offs** (「総合窓口においてワンストップサービスを実施するための国民健康保険や福祉業務等との資格情報を
連携」, 000 システム5 3): a procedure handled by another section (:attr:`Procedure.section`: 国保・年金・後期高齢者医療
at 保険年金課, 介護保険 at 介護保険課, 児童手当 and 子ども医療 at こども家庭課, the school at 教育委員会学事課) is
handed off to that section's system when its step is created; the system pulls its section's pending
hand-offs and acknowledges each (which completes the step).  A hand-off's status is derived
(:func:`handoff_status`).

Standard library only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from .certificates import CertificateKind
from .errors import Problems
from .events import ChangeKind
from .intake import FiledBy
from .wareki import wareki

MAX_PERSONS = 10
MAX_NAME = 100
MAX_NOTE = 500


class LifeEvent(StrEnum):
    """ライフイベント: why the resident came to the 総合窓口."""

    MOVE_IN = "move_in"  # 転入 (REG-E1)
    MOVE_WITHIN = "move_within"  # 転居 (REG-E2)
    MOVE_OUT = "move_out"  # 転出 (REG-E3)
    HOUSEHOLD = "household"  # 世帯変更 (REG-E4)
    BIRTH = "birth"  # 出生 (REG-E5)
    DEATH = "death"  # 死亡 (REG-E6)
    MARRIAGE = "marriage"  # 婚姻 (戸籍の届出; 世帯・氏名に及ぶ: REG-E10)
    DIVORCE = "divorce"  # 離婚 (同上)

    @property
    def ja(self) -> str:
        return EVENT_JA[self]


EVENT_JA: dict[LifeEvent, str] = {
    LifeEvent.MOVE_IN: "転入", LifeEvent.MOVE_WITHIN: "転居", LifeEvent.MOVE_OUT: "転出",
    LifeEvent.HOUSEHOLD: "世帯変更", LifeEvent.BIRTH: "出生", LifeEvent.DEATH: "死亡",
    LifeEvent.MARRIAGE: "婚姻", LifeEvent.DIVORCE: "離婚",
}

NEWCOMER_EVENTS: frozenset[LifeEvent] = frozenset({LifeEvent.MOVE_IN, LifeEvent.BIRTH})
"""Events that bring persons not yet in the register (転入する人, 生まれた子): named by the visitor."""
REGISTERED_EVENTS: frozenset[LifeEvent] = frozenset(LifeEvent) - {LifeEvent.MOVE_IN}
"""Events about someone already in the register (出生: the household the child joins)."""


class StepKind(StrEnum):
    REGISTER = "register"  # 届出 (linked to the change request)
    CERTIFICATE = "certificate"  # 証明書の交付 (linked to the issuance log)
    RELATED = "related"  # 関連手続 (another section's; recorded by the clerk)

    @property
    def ja(self) -> str:
        return {"register": "届出", "certificate": "証明書", "related": "関連手続"}[self.value]


class StepStatus(StrEnum):
    """A step's status.  The first four are recorded by clerks; ``returned`` (差戻し) is derived from the
    linked 届出's decision and never recorded."""

    NOT_STARTED = "not_started"  # 未着手
    IN_PROGRESS = "in_progress"  # 処理中 (a linked 届出: 決裁待ち)
    DONE = "done"  # 完了
    NOT_NEEDED = "not_needed"  # 不要
    RETURNED = "returned"  # 差戻し (the linked 届出 was returned or rejected: enter it again)

    @property
    def ja(self) -> str:
        return STATUS_JA[self]

    @property
    def finished(self) -> bool:
        """完了 or 不要: nothing left to do for this step."""
        return self in (StepStatus.DONE, StepStatus.NOT_NEEDED)


STATUS_JA: dict[StepStatus, str] = {
    StepStatus.NOT_STARTED: "未着手", StepStatus.IN_PROGRESS: "処理中", StepStatus.DONE: "完了",
    StepStatus.NOT_NEEDED: "不要", StepStatus.RETURNED: "差戻し",
}
RECORDED_STATUSES: tuple[StepStatus, ...] = (StepStatus.NOT_STARTED, StepStatus.IN_PROGRESS, StepStatus.DONE,
                                             StepStatus.NOT_NEEDED)


@dataclass(frozen=True)
class Procedure:
    """One procedure (手続) the 総合窓口 handles or routes: where (窓口) and with what (持ち物)."""

    code: str
    name: str
    kind: StepKind
    desk: str  # 窓口 (課・係)
    bring: tuple[str, ...] = ()  # 持ち物
    who: str = ""  # 対象 (who needs it)
    note: str = ""
    change_kinds: tuple[ChangeKind, ...] = ()  # REGISTER: the 届出 that complete it
    certificate_kinds: tuple[CertificateKind, ...] = ()  # CERTIFICATE: the certificates that complete it
    section: str = ""
    """庁内連携先: the other section (課) whose system is handed this procedure off (``""``: the 総合窓口's own)."""

    @property
    def handed_off(self) -> bool:
        """Whether a step of this procedure is handed off to another section's system (庁内連携)."""
        return bool(self.section)


# 窓口 (the sections of a ward office's 総合窓口; a municipality renames them in one place)
RESIDENT_DESK = "市民課 住民異動窓口"
CERTIFICATE_DESK = "市民課 証明窓口"
FAMILY_REGISTER_DESK = "市民課 戸籍窓口"
CARD_DESK = "市民課 マイナンバーカード窓口"
INSURANCE_DESK = "保険年金課 国民健康保険窓口"
PENSION_DESK = "保険年金課 国民年金窓口"
ELDERLY_DESK = "保険年金課 後期高齢者医療窓口"
CARE_DESK = "介護保険課"
CHILD_DESK = "こども家庭課"
SCHOOL_DESK = "教育委員会 学事課"

# 庁内連携先 (the sections whose systems pull their hand-offs; a section is what a staff account's rights
# are granted in, so the integration account of 保険年金課 is a staff account of the section 保険年金課)
INSURANCE_SECTION = "保険年金課"  # 国民健康保険・国民年金・後期高齢者医療
CARE_SECTION = "介護保険課"
CHILD_SECTION = "こども家庭課"
SCHOOL_SECTION = "教育委員会学事課"

ID_DOCUMENT = "本人確認書類（マイナンバーカード・運転免許証など）"
MY_NUMBER_CARDS = "世帯全員分のマイナンバーカード（お持ちの方）"
HOUSEHOLD_CHANGES = (ChangeKind.HEAD_CHANGE, ChangeKind.HOUSEHOLD_SPLIT, ChangeKind.HOUSEHOLD_MERGE,
                     ChangeKind.HOUSEHOLD_REORGANISE)

PROCEDURES: dict[str, Procedure] = {p.code: p for p in (
    # 届出 (the register: each completed by the approval of the change request entered for it)
    Procedure("move_in_notice", "転入届", StepKind.REGISTER, RESIDENT_DESK,
              ("転出証明書（マイナンバーカードによる転入ではカード）", ID_DOCUMENT, MY_NUMBER_CARDS),
              "転入した全員", "住み始めた日から14日以内", change_kinds=(ChangeKind.MOVE_IN,)),
    Procedure("move_within_notice", "転居届", StepKind.REGISTER, RESIDENT_DESK, (ID_DOCUMENT, MY_NUMBER_CARDS),
              "市内で住所が変わった全員", "住み始めた日から14日以内", change_kinds=(ChangeKind.MOVE_WITHIN,)),
    Procedure("move_out_notice", "転出届", StepKind.REGISTER, RESIDENT_DESK, (ID_DOCUMENT,),
              "市外へ引っ越す全員", "引っ越す日のおよそ14日前から", change_kinds=(ChangeKind.MOVE_OUT,)),
    Procedure("household_notice", "世帯変更届", StepKind.REGISTER, RESIDENT_DESK, (ID_DOCUMENT,),
              "世帯主が変わる・世帯を分ける・一つにするとき", "変更のあった日から14日以内", change_kinds=HOUSEHOLD_CHANGES),
    Procedure("birth_entry", "出生による住民票の記載", StepKind.REGISTER, FAMILY_REGISTER_DESK,
              ("出生届（出生証明書）", "母子健康手帳", "届出人の" + ID_DOCUMENT), "生まれた子",
              "生まれた日から14日以内（出生届）", change_kinds=(ChangeKind.BIRTH,)),
    Procedure("death_entry", "死亡による住民票の消除", StepKind.REGISTER, FAMILY_REGISTER_DESK,
              ("死亡届（死亡診断書）", "届出人の" + ID_DOCUMENT), "亡くなった方",
              "亡くなったことを知った日から7日以内（死亡届）", change_kinds=(ChangeKind.DEATH,)),
    # 戸籍の届出 (another register: recorded here, the 住民票's 氏名 follows the 戸籍's notice, REG-E10)
    Procedure("marriage_notice", "婚姻届（戸籍の届出）", StepKind.RELATED, FAMILY_REGISTER_DESK,
              ("婚姻届（成年の証人2名の署名）", ID_DOCUMENT, "戸籍謄本（本籍が他の市区町村のとき）"), "婚姻する2人"),
    Procedure("divorce_notice", "離婚届（戸籍の届出）", StepKind.RELATED, FAMILY_REGISTER_DESK,
              ("離婚届（協議離婚は成年の証人2名の署名）", ID_DOCUMENT, "戸籍謄本（本籍が他の市区町村のとき）"), "離婚する2人"),
    # 証明書 (each completed by the certificate issued for it)
    Procedure("resident_copy", "住民票の写しの交付", StepKind.CERTIFICATE, CERTIFICATE_DESK, (ID_DOCUMENT, "手数料"),
              "勤務先・学校などに提出する方", certificate_kinds=(CertificateKind.RESIDENT_COPY,
                                                     CertificateKind.ENTRY_CERTIFICATE)),
    Procedure("move_out_certificate", "転出証明書の交付", StepKind.CERTIFICATE, RESIDENT_DESK, (ID_DOCUMENT,),
              "転出届をした方（マイナンバーカードによる転出を除く）", "転入先の市区町村に提出します",
              certificate_kinds=(CertificateKind.MOVE_OUT,)),
    # 関連手続 (other sections)
    Procedure("card_address", "マイナンバーカードの住所変更（券面記載）", StepKind.RELATED, CARD_DESK,
              (MY_NUMBER_CARDS, "カードの暗証番号（数字4桁）"), "マイナンバーカードをお持ちの方",
              "転入は転入届の日から90日以内に継続利用の手続きが必要です"),
    Procedure("card_name", "マイナンバーカードの氏名変更（券面記載）", StepKind.RELATED, CARD_DESK,
              ("マイナンバーカード", "カードの暗証番号（数字4桁）"), "氏名が変わりマイナンバーカードをお持ちの方"),
    Procedure("health_insurance", "国民健康保険（加入・脱退・変更）", StepKind.RELATED, INSURANCE_DESK,
              (ID_DOCUMENT, "資格確認書など国民健康保険の資格がわかるもの", "勤務先の健康保険の資格情報（脱退のとき）"),
              "国民健康保険に加入する方・加入している方", section=INSURANCE_SECTION),
    Procedure("pension", "国民年金（資格取得・種別変更・氏名変更）", StepKind.RELATED, PENSION_DESK,
              ("基礎年金番号通知書または年金手帳", ID_DOCUMENT), "20歳以上60歳未満で、会社員・公務員とその扶養の配偶者でない方",
              section=INSURANCE_SECTION),
    Procedure("elderly_medical", "後期高齢者医療（資格・住所変更）", StepKind.RELATED, ELDERLY_DESK,
              ("資格確認書", "負担区分等証明書（転入のとき）"), "75歳以上の方", section=INSURANCE_SECTION),
    Procedure("care_insurance", "介護保険（資格取得・喪失・住所変更）", StepKind.RELATED, CARE_DESK,
              ("介護保険被保険者証", "受給資格証明書（要介護認定を受けている方の転入）"), "65歳以上の方・要介護認定を受けている方",
              section=CARE_SECTION),
    Procedure("child_allowance", "児童手当（認定請求・住所変更・消滅）", StepKind.RELATED, CHILD_DESK,
              ("請求者の健康保険の資格情報", "請求者名義の預金通帳", ID_DOCUMENT), "高校生年代までの子を養育している方",
              "手続きが遅れると手当を受けられない月があります（15日特例）", section=CHILD_SECTION),
    Procedure("child_medical", "子ども医療費助成", StepKind.RELATED, CHILD_DESK,
              ("子の健康保険の資格情報", "保護者の" + ID_DOCUMENT), "高校生年代までの子",
              section=CHILD_SECTION),
    Procedure("single_parent", "児童扶養手当・ひとり親家庭等医療費助成", StepKind.RELATED, CHILD_DESK,
              ("戸籍謄本", "請求者名義の預金通帳", ID_DOCUMENT), "ひとり親となり子を養育している方", section=CHILD_SECTION),
    Procedure("school", "小・中学校の転校・入学", StepKind.RELATED, SCHOOL_DESK,
              ("在学証明書", "教科書給与証明書"), "小・中学生の子がいる方", section=SCHOOL_SECTION),
    Procedure("seal_registration", "印鑑登録（登録・変更）", StepKind.RELATED, CERTIFICATE_DESK,
              ("登録する印鑑", "写真付きの本人確認書類"), "印鑑登録をする方",
              "転出・死亡のときは届出により自動で廃止されます"),
    Procedure("funeral_benefit", "葬祭費の支給申請", StepKind.RELATED, INSURANCE_DESK,
              ("葬儀の領収書または会葬礼状", "喪主名義の預金通帳"), "国民健康保険・後期高齢者医療の加入者が亡くなったとき",
              section=INSURANCE_SECTION),
    Procedure("pension_death", "年金の受給停止・未支給年金の請求", StepKind.RELATED, PENSION_DESK,
              ("年金証書", "亡くなったことがわかる書類"), "年金を受け取っていた方が亡くなったとき",
              section=INSURANCE_SECTION),
)}

CHECKLISTS: dict[LifeEvent, tuple[str, ...]] = {
    LifeEvent.MOVE_IN: ("move_in_notice", "card_address", "health_insurance", "pension", "elderly_medical",
                        "care_insurance", "child_allowance", "child_medical", "school", "seal_registration",
                        "resident_copy"),
    LifeEvent.MOVE_WITHIN: ("move_within_notice", "card_address", "health_insurance", "elderly_medical",
                            "care_insurance", "child_allowance", "school", "resident_copy"),
    LifeEvent.MOVE_OUT: ("move_out_notice", "move_out_certificate", "health_insurance", "elderly_medical",
                         "care_insurance", "child_allowance", "child_medical", "school"),
    LifeEvent.HOUSEHOLD: ("household_notice", "health_insurance", "resident_copy"),
    LifeEvent.BIRTH: ("birth_entry", "health_insurance", "child_allowance", "child_medical", "resident_copy"),
    LifeEvent.DEATH: ("death_entry", "health_insurance", "elderly_medical", "care_insurance", "pension_death",
                      "funeral_benefit", "resident_copy"),
    LifeEvent.MARRIAGE: ("marriage_notice", "household_notice", "card_name", "health_insurance", "pension",
                         "seal_registration", "resident_copy"),
    LifeEvent.DIVORCE: ("divorce_notice", "household_notice", "card_name", "health_insurance", "pension",
                        "child_allowance", "single_parent", "seal_registration", "resident_copy"),
}
"""Each event's procedures, in the order the counter usually takes them (the 届出 first).  The clerk marks
those that do not apply 不要 and may add any other procedure (:data:`PROCEDURES`)."""


def checklist(event: LifeEvent) -> tuple[Procedure, ...]:
    return tuple(PROCEDURES[c] for c in CHECKLISTS[event])


def procedure(code: str) -> Procedure:
    """The procedure ``code`` names; an unknown code (a procedure retired since) is shown as recorded."""
    return PROCEDURES.get(code) or Procedure(code, code, StepKind.RELATED, "")


def number_text(number: int) -> str:
    """受付番号 as printed and called: three digits, per day (``007``)."""
    return f"{number:03d}"


# --- opening -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Opening:
    """What the clerk enters to open a reception."""

    event: LifeEvent
    person_ids: tuple[str, ...] = ()  # persons concerned in the register (宛名番号)
    newcomers: tuple[str, ...] = ()  # names of persons new to the register (転入, 出生)
    filed_by: FiledBy = FiledBy.SELF  # 来庁者: 本人 / 同一世帯の者 / 代理人
    visitor_name: str = ""  # 来庁者の氏名 (for a 代理人: required)


def check_opening(o: Opening, problems: Problems | None = None) -> Problems:
    """The rules of :class:`Opening` (CTR-2), every fault at once."""
    problems = problems if problems is not None else Problems()
    ids = [p.strip() for p in o.person_ids]
    names = [n.strip() for n in o.newcomers]
    if not ids and not names:
        problems.add("persons", "CTR-2/persons", "対象となる人を1人以上指定してください。",
                     "Name at least one person concerned.")
    if len(ids) + len(names) > MAX_PERSONS:
        problems.add("persons", "CTR-2/persons", f"対象となる人は{MAX_PERSONS}人までです。",
                     f"At most {MAX_PERSONS} persons per reception.")
    for i, pid in enumerate(ids):
        if not pid.isdigit() or len(pid) > 16:
            problems.add(f"person_ids[{i}]", "CTR-2/persons", "宛名番号は数字で入力してください。",
                         "A 宛名番号 is digits.")
    if len(set(ids)) != len(ids):
        problems.add("persons", "CTR-2/persons", "同じ人が2回指定されています。", "A person is named twice.")
    if names and o.event not in NEWCOMER_EVENTS:
        problems.add("newcomers", "CTR-2/newcomer",
                     f"新しく記載される人は転入・出生のときだけ入力します（{o.event.ja}では住民票のある人を指定してください）。",
                     f"Persons new to the register are named only for a move-in or a birth, not for {o.event.value}.")
    for i, name in enumerate(names):
        if not name or len(name) > MAX_NAME:
            problems.add(f"newcomers[{i}]", "CTR-2/newcomer", f"氏名は1〜{MAX_NAME}文字で入力してください。",
                         f"A name is 1-{MAX_NAME} characters.")
    if o.event in REGISTERED_EVENTS and not ids:
        problems.add("person_ids", "CTR-2/registered",
                     f"{o.event.ja}では、住民票のある人（出生では子が入る世帯の人）を1人以上指定してください。",
                     f"A {o.event.value} names at least one person in the register.")
    visitor = o.visitor_name.strip()
    if len(visitor) > MAX_NAME:
        problems.add("visitor_name", "CTR-2/visitor", f"来庁者の氏名は{MAX_NAME}文字までです。",
                     f"The visitor's name is at most {MAX_NAME} characters.")
    if o.filed_by is FiledBy.AGENT and not visitor:
        problems.add("visitor_name", "CTR-2/visitor", "代理人の氏名を入力してください。", "Enter the agent's name.")
    return problems


# --- steps ---------------------------------------------------------------------------------------


def step_status(recorded: StepStatus, decision: str | None, *, linked: bool) -> StepStatus:
    """A step's status now: a step whose latest record links a 届出 follows the request (``decision`` is
    None while it waits for approval, else ``approved``, ``returned`` or ``rejected``); any other step is
    what the clerk (or a certificate) recorded."""
    if not linked:
        return recorded
    if decision is None:
        return StepStatus.IN_PROGRESS
    return StepStatus.DONE if decision == "approved" else StepStatus.RETURNED


def status_label(status: StepStatus, *, linked: bool) -> str:
    """The status as the screens and the letter show it (a linked 届出 waiting: 処理中（決裁待ち）)."""
    if linked and status is StepStatus.IN_PROGRESS:
        return "処理中（決裁待ち）"
    if linked and status is StepStatus.DONE:
        return "完了（決裁済み）"
    return status.ja


def check_status_change(proc: Procedure, current: StepStatus, new: StepStatus, *, field: str = "status",
                        pending_request: bool = False) -> Problems:
    """Whether a clerk may set a step to ``new`` by hand."""
    problems = Problems()
    if new not in RECORDED_STATUSES:
        problems.add(field, "CTR-2/status", "未着手・処理中・完了・不要のいずれかを選んでください。",
                     "Choose not started, in progress, done or not needed.")
        return problems
    if current is StepStatus.DONE and proc.kind is not StepKind.RELATED:
        problems.add(field, "CTR-2/linked",
                     f"{proc.name}は、決裁された届出（交付した証明書）で完了しています。手で変えることはできません。",
                     f"{proc.code} was completed by its approved 届出 (issued certificate) and cannot be changed by hand.")
    elif pending_request:
        problems.add(field, "CTR-2/pending",
                     f"{proc.name}は届出が決裁待ちです。決裁（または差戻し）の後に変更できます。",
                     f"{proc.code}: its 届出 awaits a decision; change it after the decision.")
    elif new is StepStatus.DONE and proc.kind is StepKind.REGISTER:
        problems.add(field, "CTR-2/linked",
                     f"{proc.name}は、この受付から入力した届出が決裁されると完了になります（手で完了にはできません）。",
                     f"{proc.code} is completed by the approval of the 届出 entered from this reception, not by hand.")
    elif new is StepStatus.DONE and proc.kind is StepKind.CERTIFICATE:
        problems.add(field, "CTR-2/linked",
                     f"{proc.name}は、この受付から証明書を交付すると完了になります（手で完了にはできません）。",
                     f"{proc.code} is completed by issuing the certificate from this reception, not by hand.")
    elif new is StepStatus.IN_PROGRESS and proc.kind is not StepKind.RELATED:
        problems.add(field, "CTR-2/linked",
                     f"{proc.name}は、届出の入力または証明書の交付で処理中・完了になります。",
                     f"{proc.code} moves on by its 届出 or certificate.")
    return problems


def check_request_link(proc: Procedure, kind: ChangeKind, current: StepStatus, *, field: str = "step") -> Problems:
    """Whether a 届出 of ``kind`` may be entered for (and linked to) a step."""
    problems = Problems()
    if proc.kind is not StepKind.REGISTER:
        problems.add(field, "CTR-2/link", f"{proc.name}は届出の手続ではありません。", f"{proc.code} is not a 届出.")
    elif kind not in proc.change_kinds:
        wanted = "・".join(k.ja for k in proc.change_kinds)
        problems.add(field, "CTR-2/link", f"{proc.name}には{wanted}の届出を入力してください（{kind.ja}は入力できません）。",
                     f"{proc.code} takes a {'/'.join(k.value for k in proc.change_kinds)}, not a {kind.value}.")
    elif current is StepStatus.IN_PROGRESS:
        problems.add(field, "CTR-2/link", f"{proc.name}の届出は既に決裁待ちです。", f"{proc.code} already has a 届出 awaiting a decision.")
    elif current is StepStatus.DONE:
        problems.add(field, "CTR-2/link", f"{proc.name}は完了しています。", f"{proc.code} is done.")
    return problems


def check_certificate_link(proc: Procedure, kind: CertificateKind, *, field: str = "step") -> Problems:
    """Whether a certificate of ``kind`` may be issued for a step (a second copy is allowed)."""
    problems = Problems()
    if proc.kind is not StepKind.CERTIFICATE:
        problems.add(field, "CTR-2/link", f"{proc.name}は証明書の手続ではありません。", f"{proc.code} is not a certificate.")
    elif kind not in proc.certificate_kinds:
        wanted = "・".join(k.ja for k in proc.certificate_kinds)
        problems.add(field, "CTR-2/link", f"{proc.name}では{wanted}を交付します（{kind.ja}は交付できません）。",
                     f"{proc.code} issues {'/'.join(k.value for k in proc.certificate_kinds)}, not {kind.value}.")
    return problems


@dataclass(frozen=True)
class StepState:
    """One step as it stands (for closing and for the letter)."""

    step_no: int
    procedure: Procedure
    status: StepStatus
    linked: bool = False  # the latest record links a 届出


def check_close(steps: Sequence[StepState]) -> Problems:
    """A reception closes only when every step is 完了 or 不要; each open step is named."""
    problems = Problems()
    for s in steps:
        if not s.status.finished:
            problems.add(f"steps[{s.step_no}]", "CTR-2/open-steps",
                         f"{s.procedure.name}が{status_label(s.status, linked=s.linked)}です。完了または不要にしてから受付を終了してください。",
                         f"{s.procedure.code} is {s.status.value}: mark it done or not needed before closing.")
    return problems


MAX_REASON = 500


def check_reopen(closed: bool, reason: str) -> Problems:
    """Whether a reception may be reopened (受付の再開): only a closed one, and only with a reason (1-500
    characters), which is kept in its history."""
    problems = Problems()
    if not closed:
        problems.add("reception", "CTR-2/reopen", "この受付は終了していません（再開できるのは終了した受付だけです）。",
                     "The reception is not closed; only a closed reception is reopened.")
    text = reason.strip()
    if not text or len(text) > MAX_REASON:
        problems.add("reason", "CTR-2/reopen", f"再開の理由を1〜{MAX_REASON}文字で入力してください。",
                     f"Give the reason for reopening (1-{MAX_REASON} characters).")
    return problems


# --- 庁内連携 hand-offs --------------------------------------------------------------------------------


class HandoffStatus(StrEnum):
    """A hand-off's status, derived from its acknowledgement and its step (nothing is updated):

    * ``pending`` (未処理): not acknowledged, and the step is still to do -- in the section's list;
    * ``acknowledged`` (処理済み): the section's system acknowledged it (which completed the step);
    * ``withdrawn`` (取下げ): not acknowledged, but the step was settled at the counter (marked 不要, or
      完了 by hand) -- out of the list until the step is set to be done again."""

    PENDING = "pending"
    ACKNOWLEDGED = "acknowledged"
    WITHDRAWN = "withdrawn"

    @property
    def ja(self) -> str:
        return {"pending": "未処理", "acknowledged": "処理済み", "withdrawn": "取下げ"}[self.value]


def handoff_status(acknowledged: bool, step: StepStatus) -> HandoffStatus:
    if acknowledged:
        return HandoffStatus.ACKNOWLEDGED
    return HandoffStatus.WITHDRAWN if step.finished else HandoffStatus.PENDING


def check_acknowledge(section: str, handoff_section: str, status: HandoffStatus, *, note: str = "") -> Problems:
    """Whether a section's system may acknowledge a hand-off: only its own section's, only a pending one
    (once), with a note of at most 500 characters.  A hand-off of another section is refused with
    ``SEC-2/section`` (the caller raises it as Forbidden: it is not this section's to see)."""
    problems = Problems()
    if section != handoff_section:
        problems.add("handoff_id", "SEC-2/section", "他の課への連携です。自課の連携だけを処理できます。",
                     "This hand-off is for another section; a section acknowledges only its own.")
        return problems
    if status is HandoffStatus.ACKNOWLEDGED:
        problems.add("handoff_id", "CTR-2/handoff", "この連携は処理済みです。", "This hand-off is already acknowledged.")
    elif status is HandoffStatus.WITHDRAWN:
        problems.add("handoff_id", "CTR-2/handoff", "この連携は窓口で完了または不要とされ、取り下げられています。",
                     "This hand-off was withdrawn: the counter settled its step (done or not needed).")
    if len(note) > MAX_NOTE:
        problems.add("note", "CTR-2/handoff", f"備考は{MAX_NOTE}文字までです。", f"A note is at most {MAX_NOTE} characters.")
    return problems


# --- retention (文書の保存期間) --------------------------------------------------------------------------

RECEPTION_RETENTION_YEARS = 5
"""The default keeping period of a 総合受付 record, counted from its last write (normally its closing).
The seeds give none for the 総合窓口's 受付記録; 5 years follows Chiba's 公文書管理規則 as the seed cites it
for the access logs (000 III-7: 「千葉市公文書管理規則に準じ５年間保存」).  A **local decision**: a
municipality sets its own (``JUKI_RECEPTION_RETENTION_YEARS``)."""


def reception_expired(last_write: dt.date, cutoff: dt.date) -> bool:
    """Whether a reception whose last write (JST day) is ``last_write`` has expired by ``cutoff`` (the
    newest day that has expired: today minus the keeping period, :func:`juki.domain.retention.years_before`)."""
    return last_write <= cutoff


# --- the guidance letter (案内文書) ----------------------------------------------------------------


@dataclass(frozen=True)
class GuidanceItem:
    name: str
    desk: str
    status: str  # as shown (完了, 処理中（決裁待ち）…)
    bring: tuple[str, ...] = ()
    who: str = ""
    note: str = ""


@dataclass(frozen=True)
class GuidanceLetter:
    """案内文書: what the resident takes home.  It names only the persons concerned (by name, no number,
    no address, no date of birth) and the procedures: done today, accepted and under review, still to do
    (where and with what).  Procedures marked 不要 are left out."""

    municipality: str
    number: str  # 受付番号
    date: str  # 受付日 (和暦)
    event: str
    persons: tuple[str, ...]
    done: tuple[GuidanceItem, ...]
    accepted: tuple[GuidanceItem, ...]  # 届出 accepted today and awaiting the decision
    remaining: tuple[GuidanceItem, ...]
    printed_at: str  # 和暦 and time


def guidance_letter(*, municipality: str, number: int, day: dt.date, event: LifeEvent, persons: Sequence[str],
                    steps: Sequence[StepState], printed_at: dt.datetime) -> GuidanceLetter:
    """The letter for a reception's current state (``printed_at`` in local time)."""
    def item(s: StepState) -> GuidanceItem:
        p = s.procedure
        return GuidanceItem(p.name, p.desk, status_label(s.status, linked=s.linked), p.bring, p.who, p.note)

    done = tuple(item(s) for s in steps if s.status is StepStatus.DONE)
    accepted = tuple(item(s) for s in steps if s.status is StepStatus.IN_PROGRESS and s.linked)
    remaining = tuple(item(s) for s in steps
                      if not s.status.finished and not (s.status is StepStatus.IN_PROGRESS and s.linked))
    return GuidanceLetter(municipality, number_text(number), wareki(day), event.ja, tuple(persons), done, accepted,
                          remaining, f"{wareki(printed_at.date())} {printed_at:%H:%M}")
