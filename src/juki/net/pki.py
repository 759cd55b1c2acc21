"""The deployment's own certificate authority (相互認証 of the 住基ネット nodes, NET-2, SEC-5).

juki creates and manages one CA per deployment (``juki pki init``).  Every node gets a certificate from
it that names **what the node is** -- its tier and its code -- so that a peer can decide what the node may
do without any other lookup:

* Subject ``CN=<tier>:<code>``, ``OU=<tier>``, ``O=<deployment name>``;
* SubjectAltName ``URI:urn:juki:node:<tier>:<code>`` (the identity the code reads), plus the DNS names and
  IP addresses the node is reached at (TLS host name checking);
* ExtendedKeyUsage serverAuth + clientAuth (a node is both: it serves its peers and calls them);
* ECDSA P-256 keys and signatures (every TLS stack accepts them; OpenSSL 3 with TLS 1.3 here).

Tiers (:class:`Tier`): ``municipality`` (市町村CS, code = 地方公共団体コード), ``prefecture`` (都道府県サーバ,
code = the prefecture's 地方公共団体コード), ``national`` (全国サーバ, 機構; code ``000000`` by convention: it
has no 地方公共団体コード) and ``operator`` (an operator's client certificate for status reads; code = a
user id).

The CA directory (keep it offline, or at least apart from the nodes)::

    ca.pem        the CA certificate (distributed to every node)
    ca-key.pem    its private key (mode 0600; never leaves this directory)
    crl.pem       the certificate revocation list, signed by the CA (distributed to every node)
    index.json    every certificate issued: serial, tier, code, validity, revocation

Revocation is by CRL: ``juki pki revoke SERIAL`` re-signs ``crl.pem`` (and copies it to the node
directories named with ``--publish``); a node re-reads its CRL when the file changes and refuses a peer
whose certificate is on it (see :mod:`juki.net.tls`).  Serial numbers are shown as colon-separated hex.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from juki.clock import utcnow

CA_DAYS = 3650
NODE_DAYS = 397  # the CA/Browser Forum limit; a deployment renews yearly
CRL_DAYS = 30
URN_PREFIX = "urn:juki:node:"
NATIONAL_CODE = "000000"
"""The national server (機構) has no 地方公共団体コード; ``000000`` names it in certificates and directories."""


class PkiError(Exception):
    """The CA directory, a certificate or a CRL is missing, malformed or not ours."""


class Tier(StrEnum):
    """The tier of a node in the 住基ネット (and the operator's client)."""

    MUNICIPALITY = "municipality"  # 市町村CS
    PREFECTURE = "prefecture"  # 都道府県サーバ (+ 附票都道府県サーバ)
    NATIONAL = "national"  # 全国サーバ (機構)
    OPERATOR = "operator"  # 運用者 (status reads with a client certificate)

    @property
    def ja(self) -> str:
        return {"municipality": "市町村CS", "prefecture": "都道府県サーバ", "national": "全国サーバ",
                "operator": "運用者"}[self.value]


@dataclass(frozen=True, order=True)
class NodeIdentity:
    """What a certificate says its holder is: a tier and a code."""

    tier: Tier
    code: str

    @property
    def uri(self) -> str:
        return f"{URN_PREFIX}{self.tier.value}:{self.code}"

    @property
    def label(self) -> str:
        """``municipality:011002``: the CN, and the user id of a peer in the audit log."""
        return f"{self.tier.value}:{self.code}"

    @classmethod
    def from_uri(cls, uri: str) -> NodeIdentity:
        if not uri.startswith(URN_PREFIX):
            raise PkiError(f"not a juki node URI: {uri!r}")
        tier, _, code = uri[len(URN_PREFIX):].partition(":")
        try:
            t = Tier(tier)
        except ValueError:
            raise PkiError(f"unknown tier {tier!r} in {uri!r}") from None
        if not code or not code.replace("-", "").replace("_", "").isalnum() or len(code) > 64:
            raise PkiError(f"bad code {code!r} in {uri!r}")
        return cls(t, code)


def serial_text(serial: int) -> str:
    """A certificate serial as colon-separated hex (``3a:0f:…``), the way the CLI shows and takes it."""
    h = format(serial, "x")
    h = "0" * (len(h) % 2) + h
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))


def parse_serial(text: str) -> int:
    try:
        return int(text.replace(":", "").strip(), 16)
    except ValueError:
        raise PkiError(f"not a certificate serial (hex, colons allowed): {text!r}") from None


def identity_of(cert: x509.Certificate) -> NodeIdentity:
    """The node identity in ``cert``'s SubjectAltName URI (exactly one is allowed)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise PkiError("the certificate has no SubjectAltName") from None
    uris = [u for u in san.get_values_for_type(x509.UniformResourceIdentifier) if u.startswith(URN_PREFIX)]
    if len(uris) != 1:
        raise PkiError(f"the certificate names {len(uris)} juki node identities (exactly one is needed)")
    return NodeIdentity.from_uri(uris[0])


def load_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as e:
        raise PkiError(f"cannot read the certificate {path}: {e}") from None


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write a file created with ``mode`` (0600 for a secret), replaced atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_private(path: Path, data: bytes) -> None:
    _write(path, data, 0o600)


def _write_public(path: Path, data: bytes) -> None:
    _write(path, data, 0o644)


def _load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        mode = path.stat().st_mode
    except OSError as e:
        raise PkiError(f"cannot read the key {path}: {e}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PkiError(f"{path} is readable by others (mode {stat.S_IMODE(mode):o}); chmod 600 it")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{path} is not an EC private key")
    return key


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class Issued:
    """One line of ``index.json``: a certificate the CA issued."""

    serial: str
    tier: str
    code: str
    name: str
    not_before: str
    not_after: str
    issued_at: str
    hosts: list[str]
    revoked_at: str | None = None
    revocation_reason: str | None = None

    @property
    def identity(self) -> NodeIdentity:
        return NodeIdentity(Tier(self.tier), self.code)

    def status(self, now: dt.datetime) -> str:
        if self.revoked_at:
            return "revoked"
        if dt.datetime.fromisoformat(self.not_after) < now:
            return "expired"
        if dt.datetime.fromisoformat(self.not_before) > now:
            return "not yet valid"
        return "valid"


REASONS: dict[str, x509.ReasonFlags] = {
    "key_compromise": x509.ReasonFlags.key_compromise,
    "superseded": x509.ReasonFlags.superseded,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
    "affiliation_changed": x509.ReasonFlags.affiliation_changed,
}


def _host_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for h in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    return names


class DeploymentCA:
    """The CA in one directory (see the module docstring for its files)."""

    def __init__(self, directory: Path | str) -> None:
        self.dir = Path(directory)
        self.cert_path = self.dir / "ca.pem"
        self.key_path = self.dir / "ca-key.pem"
        self.crl_path = self.dir / "crl.pem"
        self.index_path = self.dir / "index.json"
        if not self.cert_path.exists():
            raise PkiError(f"no CA in {self.dir} (run `juki pki init --dir {self.dir}` first)")
        self.cert = load_certificate(self.cert_path)

    # -- creation ----------------------------------------------------------------------------------

    @classmethod
    def init(cls, directory: Path | str, name: str, *, days: int = CA_DAYS,
             now: dt.datetime | None = None) -> DeploymentCA:
        """Create a new CA (key, self-signed certificate, empty CRL, empty index).  Refuses to
        overwrite an existing one: re-keying a CA means re-issuing every node certificate."""
        d = Path(directory)
        if (d / "ca.pem").exists() or (d / "ca-key.pem").exists():
            raise PkiError(f"a CA already exists in {d}")
        now = now or utcnow()
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{name} 住基ネット 認証局 (juki deployment CA)"),
        ])
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        d.mkdir(parents=True, exist_ok=True)
        _write_private(d / "ca-key.pem", _pem_key(key))
        _write_public(d / "ca.pem", _pem_cert(cert))
        _write_public(d / "index.json", b"[]\n")
        ca = cls(d)
        ca.publish_crl(now=now)
        return ca

    # -- the index ---------------------------------------------------------------------------------

    def issued(self) -> list[Issued]:
        try:
            rows = json.loads(self.index_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        return [Issued(**r) for r in rows]

    def _save(self, rows: Sequence[Issued]) -> None:
        text = json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=1) + "\n"
        _write_public(self.index_path, text.encode("utf-8"))

    def find(self, serial: str | int) -> Issued:
        s = serial_text(serial if isinstance(serial, int) else parse_serial(serial))
        for r in self.issued():
            if r.serial == s:
                return r
        raise PkiError(f"no certificate with serial {s} was issued by this CA")

    # -- issuing -----------------------------------------------------------------------------------

    def issue(
        self,
        identity: NodeIdentity,
        out_dir: Path | str,
        *,
        name: str = "",
        hosts: Sequence[str] = ("127.0.0.1", "localhost"),
        days: int = NODE_DAYS,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        now: dt.datetime | None = None,
    ) -> Issued:
        """Issue a certificate for ``identity`` and write ``cert.pem``, ``key.pem`` (0600), ``ca.pem``
        and ``crl.pem`` into ``out_dir`` (a node directory).  ``not_before``/``not_after`` override the
        validity (an already expired certificate, for a test of the refusal)."""
        now = now or utcnow()
        key = ec.generate_private_key(ec.SECP256R1())
        ca_key = _load_private_key(self.key_path)
        start = not_before or now - dt.timedelta(minutes=5)
        end = not_after or now + dt.timedelta(days=days)
        if end <= start:
            raise PkiError("the certificate would end before it starts")
        org = self.cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, str(org[0].value))] if org else []
        attrs += [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, identity.tier.value),
                  x509.NameAttribute(NameOID.COMMON_NAME, identity.label)]
        san = [x509.UniformResourceIdentifier(identity.uri), *_host_names(hosts)]
        serial = x509.random_serial_number()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        out = Path(out_dir)
        _write_private(out / "key.pem", _pem_key(key))
        _write_public(out / "cert.pem", _pem_cert(cert))
        self.publish(out)
        entry = Issued(serial=serial_text(serial), tier=identity.tier.value, code=identity.code, name=name,
                       not_before=start.isoformat(), not_after=end.isoformat(), issued_at=now.isoformat(),
                       hosts=list(hosts))
        self._save([*self.issued(), entry])
        return entry

    def publish(self, node_dir: Path | str) -> None:
        """Copy ``ca.pem`` and ``crl.pem`` into a node directory."""
        out = Path(node_dir)
        out.mkdir(parents=True, exist_ok=True)
        for src in (self.cert_path, self.crl_path):
            if src.exists():
                tmp = out / f".{src.name}.tmp"
                shutil.copyfile(src, tmp)
                os.replace(tmp, out / src.name)

    # -- revocation --------------------------------------------------------------------------------

    def revoke(self, serial: str | int, reason: str = "cessation_of_operation", *,
               now: dt.datetime | None = None, publish_to: Iterable[Path | str] = ()) -> Issued:
        """Put a certificate on the CRL, re-sign the CRL and copy it to ``publish_to`` node directories."""
        if reason not in REASONS:
            raise PkiError(f"unknown revocation reason {reason!r}; one of {', '.join(REASONS)}")
        now = now or utcnow()
        target = self.find(serial)
        if target.revoked_at:
            raise PkiError(f"certificate {target.serial} was already revoked at {target.revoked_at}")
        rows = self.issued()
        for r in rows:
            if r.serial == target.serial:
                r.revoked_at = now.isoformat()
                r.revocation_reason = reason
                target = r
        self._save(rows)
        self.publish_crl(now=now)
        for d in publish_to:
            self.publish(d)
        return target

    def publish_crl(self, *, now: dt.datetime | None = None) -> Path:
        """Sign a fresh ``crl.pem`` listing every revoked certificate (valid ``CRL_DAYS`` days)."""
        now = now or utcnow()
        key = _load_private_key(self.key_path)
        b = (x509.CertificateRevocationListBuilder()
             .issuer_name(self.cert.subject)
             .last_update(now)
             .next_update(now + dt.timedelta(days=CRL_DAYS)))
        for r in self.issued():
            if r.revoked_at:
                b = b.add_revoked_certificate(
                    x509.RevokedCertificateBuilder()
                    .serial_number(parse_serial(r.serial))
                    .revocation_date(dt.datetime.fromisoformat(r.revoked_at))
                    .add_extension(x509.CRLReason(REASONS[r.revocation_reason or "cessation_of_operation"]),
                                   critical=False)
                    .build()
                )
        crl = b.sign(key, hashes.SHA256())
        _write_public(self.crl_path, crl.public_bytes(serialization.Encoding.PEM))
        return self.crl_path


class RevocationList:
    """The CRL a node checks its peers against, re-read whenever the file changes.

    The CRL must be signed by the deployment CA (a CRL from anywhere else is refused, and so is a
    missing one: a node without its CRL does not start).  A CRL past its ``next_update`` still applies
    and :attr:`stale` says so (the status page shows it); serials are compared as integers."""

    def __init__(self, crl_path: Path, ca_cert: x509.Certificate) -> None:
        self.path = crl_path
        self.ca_cert = ca_cert
        self._mtime: float | None = None
        self._revoked: frozenset[int] = frozenset()
        self._next_update: dt.datetime | None = None
        self.reload()

    def reload(self) -> None:
        try:
            st = self.path.stat()
        except OSError as e:
            raise PkiError(f"cannot read the CRL {self.path}: {e}") from None
        if self._mtime == st.st_mtime:
            return
        try:
            crl = x509.load_pem_x509_crl(self.path.read_bytes())
        except ValueError as e:
            raise PkiError(f"{self.path} is not a PEM CRL: {e}") from None
        if crl.issuer != self.ca_cert.subject:
            raise PkiError(f"{self.path} was not issued by the deployment CA")
        public = self.ca_cert.public_key()
        try:
            if not crl.is_signature_valid(public):  # type: ignore[arg-type]
                raise PkiError(f"{self.path} has a bad signature")
        except InvalidSignature:
            raise PkiError(f"{self.path} has a bad signature") from None
        self._revoked = frozenset(r.serial_number for r in crl)
        self._next_update = crl.next_update_utc
        self._mtime = st.st_mtime

    def is_revoked(self, serial: int) -> bool:
        self.reload()
        return serial in self._revoked

    def stale(self, now: dt.datetime) -> bool:
        return self._next_update is not None and self._next_update < now

    @property
    def count(self) -> int:
        return len(self._revoked)


def describe(entry: Issued, now: dt.datetime) -> dict[str, Any]:
    """One issued certificate as the CLI lists it."""
    return {**asdict(entry), "status": entry.status(now)}
