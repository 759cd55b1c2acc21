"""Settings from the environment, and the composition root that wires a register together."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from juki.adapters.db.engine import default_database_url, make_engine
from juki.adapters.db.store import Store
from juki.adapters.keys import Keyring
from juki.clock import Clock, utcnow
from juki.domain.municipalities import jurisdiction
from juki.domain.register import Jurisdiction

if TYPE_CHECKING:  # the services are imported lazily, so that the CLI starts fast
    from juki.access.auth import AuthService
    from juki.adapters.pdf.signing import CertificateSigner
    from juki.audit.log import AuditLog
    from juki.audit.queue import AuditQueue
    from juki.issuance.cards import CardService
    from juki.issuance.kiosk import KioskService
    from juki.issuance.mail import MailService
    from juki.issuance.seals import SealService
    from juki.issuance.service import CertificateIssuer, IssuanceService
    from juki.services.changes import ChangeService
    from juki.services.inquiry import InquiryService
    from juki.services.life_events import ReceptionService
    from juki.services.onestop import OneStopService
    from juki.services.queries import QueryService
    from juki.services.reading import ReadService
    from juki.services.reception_retention import ReceptionRetention


@dataclass(frozen=True)
class Settings:
    """``JUKI_DATABASE_URL`` (default: a SQLite file ``./var/juki.db``), ``JUKI_KEY_FILE`` (the 個人番号
    encryption keys, kept outside the database; default ``./var/juki-keys.json``), ``JUKI_MUNICIPALITY``
    (地方公共団体コード, default 011002 札幌市), ``JUKI_CERT_KEY_FILE`` (the certificate-signing key, Ed25519
    PEM outside the database; default ``./var/juki-cert-key.pem``), ``JUKI_MAYOR``, ``JUKI_RECEPTION_RETENTION_YEARS``, ``JUKI_WEB_ORIGIN``,
    ``JUKI_WEBAUTHN_RP_ID`` and ``JUKI_WEBAUTHN_AAGUIDS`` (WebAuthn)."""

    database_url: str = field(default_factory=default_database_url)
    key_file: Path = field(default_factory=lambda: Path(os.environ.get("JUKI_KEY_FILE", "var/juki-keys.json")))
    lg_code: str = field(default_factory=lambda: os.environ.get("JUKI_MUNICIPALITY", "011002"))
    web_origin: str | None = field(default_factory=lambda: os.environ.get("JUKI_WEB_ORIGIN") or None)
    """The counter UI's origin as browsers see it (``https://juki.city.example.lg.jp``): WebAuthn accepts
    only assertions made there.  Unset, the origin a ceremony expects is the one its page was served from
    (the request's scheme and Host), which suits the demo; set it in production, behind a TLS proxy."""
    webauthn_rp_id: str | None = field(default_factory=lambda: os.environ.get("JUKI_WEBAUTHN_RP_ID") or None)
    """The WebAuthn RP ID (a domain the origin's host ends with); default: the origin's host."""
    webauthn_aaguids: str = field(default_factory=lambda: os.environ.get("JUKI_WEBAUTHN_AAGUIDS", "any"))
    """The makes of authenticator that may be registered: ``any``, or their AAGUIDs separated by commas."""
    cert_key_file: Path = field(default_factory=lambda: Path(os.environ.get("JUKI_CERT_KEY_FILE", "var/juki-cert-key.pem")))
    mayor: str = field(default_factory=lambda: os.environ.get("JUKI_MAYOR", "").strip())
    """The issuer line printed on certificates (``JUKI_MAYOR``, e.g. "札幌市長　秋元　克広"); empty: the
    office's title alone.  A node takes it from ``mayor`` in its node.json."""
    reception_retention_years: int = field(default_factory=lambda: _years("JUKI_RECEPTION_RETENTION_YEARS", 5))
    """How long a 総合受付 record is kept after its last write before the four-eyes purge may delete it
    (CTR-2, ``juki reception-retention``).  A local decision (the seeds give no period); default 5 years."""


def env_int(name: str, default: int, *, low: int, high: int | None = None, unit: str) -> int:
    """A whole-number setting from the environment variable ``name``: ``default`` when unset or blank;
    anything else that is not a whole number ``low``..``high`` (``unit``: years, days, seconds) is refused
    with a ValueError naming the variable and the bounds."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    value = int(raw) if raw.lstrip("-").isdigit() else None
    if value is None or value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be a whole number of {unit} ({bounds}), not {raw!r}")
    return value


def _years(name: str, default: int) -> int:
    return env_int(name, default, low=1, unit="years")


class Register:
    """One municipality's register: engine, keys, store and services, built once."""

    def __init__(self, settings: Settings | None = None, *, audit_enabled: bool = True, password_hasher: object = None) -> None:
        self.settings = settings or Settings()
        self.audit_enabled = audit_enabled
        self.password_hasher = password_hasher  # argon2id with argon2-cffi's defaults unless given (tests)
        self.clock: Clock = utcnow
        """Every service reads the time through here, so tests (and the demo) can move it."""
        self.net: Any = None
        """The 住基ネット services of the municipality node this register runs in (set by the node,
        :mod:`juki.net.services`); None for a register served on its own."""

    def now(self) -> dt.datetime:
        return self.clock()

    @cached_property
    def jurisdiction(self) -> Jurisdiction:
        return jurisdiction(self.settings.lg_code)

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @cached_property
    def keyring(self) -> Keyring:
        return Keyring.load_or_create(self.settings.key_file)

    @cached_property
    def certificate_signer(self) -> CertificateSigner:
        """The key that signs certificates (REG-CERT), created on first use; publish its public half."""
        from juki.adapters.pdf.signing import CertificateSigner

        return CertificateSigner.load_or_create(self.settings.cert_key_file)

    @cached_property
    def store(self) -> Store:
        return Store(self.engine, self.keyring)

    @cached_property
    def changes(self) -> ChangeService:
        from juki.services.changes import ChangeService

        return ChangeService(self.store, self.jurisdiction, clock=self.now, audit=self.audit if self.audit_enabled else None)

    @cached_property
    def queries(self) -> QueryService:
        from juki.services.queries import QueryService

        return QueryService(self.store)

    @cached_property
    def reads(self) -> ReadService:
        """Reads made by a user: screened (支援措置), masked (個人番号) and audited, for every entry point."""
        from juki.services.reading import ReadService

        return ReadService(self.queries, self.engine, today=self.changes.today,
                           audit=(lambda: self.audit_queue) if self.audit_enabled else None)

    @cached_property
    def auth(self) -> AuthService:
        from juki.access.auth import AuthPolicy, AuthService
        from juki.access.authenticators import parse_aaguids

        policy = AuthPolicy(webauthn_aaguids=parse_aaguids(self.settings.webauthn_aaguids))
        return AuthService(self.engine, self.keyring, clock=self.now, policy=policy,
                           hasher=self.password_hasher)  # type: ignore[arg-type]

    @cached_property
    def audit(self) -> AuditLog:
        from juki.audit.log import AuditLog, AuditPolicy

        return AuditLog(AuditPolicy.from_env(), clock=self.now)

    @cached_property
    def audit_queue(self) -> AuditQueue:
        """Read entries, appended in batches by a background writer (see :mod:`juki.audit.queue`)."""
        from juki.audit.queue import AuditQueue

        return AuditQueue(self.audit, self.engine)

    # --- certificates, cards, seals (juki.issuance) -------------------------------------------------

    @cached_property
    def seals(self) -> SealService:
        """印鑑登録 (REG-LINK5)."""
        from juki.issuance.seals import SealService

        return SealService(self.engine, clock=self.now, audit=self.audit if self.audit_enabled else None)

    @cached_property
    def cards(self) -> CardService:
        """コンビニ交付 cards: key pair and PIN."""
        from juki.issuance.cards import CardService

        return CardService(self.engine, self.store, clock=self.now, hasher=self.password_hasher,  # type: ignore[arg-type]
                           audit=self.audit if self.audit_enabled else None)

    def certificate_issuer(self) -> CertificateIssuer:
        """Render and sign with this municipality's certificate key (``juki.adapters.pdf``), at the
        register's clock."""
        from juki.adapters.pdf.signing import issue

        signer = self.certificate_signer
        return lambda document, issued_by: issue(document, signer, issued_by, at=self.now())

    @property
    def mayor(self) -> str:
        """The issuer line printed on certificates: ``Settings.mayor`` (``JUKI_MAYOR``, or ``mayor`` in a
        node's node.json; e.g. "札幌市長　秋元　克広"), else the office's title alone."""
        return self.settings.mayor.strip() or f"{self.jurisdiction.name}長"

    @cached_property
    def issuance(self) -> IssuanceService:
        """Certificate issuance: path checks, DV screening, signed PDF, issuance log (REG-CERT)."""
        from juki.issuance.service import IssuanceService

        return IssuanceService(self.store, self.engine, self.reads, self.seals, self.jurisdiction, clock=self.now,
                               issuer=self.certificate_issuer, mayor=lambda: self.mayor,
                               audit=self.audit if self.audit_enabled else None)

    @cached_property
    def mail(self) -> MailService:
        """郵送請求: recorded, issued at once or queued for the day's 一括交付 with 送付状 (REG-CERT)."""
        from juki.issuance.mail import MailService

        return MailService(self.engine, self.store, self.issuance, clock=self.now,
                           municipality=lambda: self.jurisdiction.name,
                           audit=self.audit if self.audit_enabled else None)

    @cached_property
    def kiosks(self) -> KioskService:
        """コンビニ交付: kiosks, card authentication, kiosk transactions."""
        from juki.issuance.kiosk import KioskService

        return KioskService(self.engine, self.store, self.cards, self.issuance, self.seals, self.reads,
                            clock=self.now, audit=self.audit if self.audit_enabled else None)

    # --- the 総合窓口 (CTR-2) --------------------------------------------------------------------------

    @cached_property
    def receptions(self) -> ReceptionService:
        """総合受付: receptions per life event, their steps and the 案内文書."""
        from juki.services.life_events import ReceptionService

        return ReceptionService(self.engine, self.reads, clock=self.now, municipality=lambda: self.jurisdiction.name,
                                audit=self.audit if self.audit_enabled else None)

    @cached_property
    def reception_retention(self) -> ReceptionRetention:
        """The four-eyes purge of 総合受付 records past ``Settings.reception_retention_years``."""
        from juki.services.reception_retention import ReceptionRetention

        return ReceptionRetention(self.engine, audit=self.audit, clock=self.now,
                                  years=self.settings.reception_retention_years)

    @cached_property
    def onestop(self) -> OneStopService:
        """引越しワンストップ: online applications, their queue and status (CTR-3)."""
        from juki.services.onestop import OneStopService

        return OneStopService(self.engine, self.now, self.audit if self.audit_enabled else None)

    @cached_property
    def inquiry(self) -> InquiryService:
        """総合照会: one person's record, household, 届出, receptions, certificates, 印鑑登録, applications."""
        from juki.services.inquiry import InquiryService

        return InquiryService(self.engine, self.store, self.reads, self.onestop,
                              audit=self.audit if self.audit_enabled else None)

    def close(self) -> None:
        """Write queued audit entries and release the database."""
        if "audit_queue" in self.__dict__:
            self.audit_queue.close()
            del self.__dict__["audit_queue"]
        if "engine" in self.__dict__:
            self.engine.dispose()
