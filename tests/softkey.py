"""A software WebAuthn authenticator for tests without a browser: a real P-256 key pair, real CBOR
attestation and authenticator data, real ECDSA signatures over exactly what a browser and an authenticator
sign (W3C WebAuthn Level 2 §6.1, §6.5, §7).  It plays the browser's part too (``clientDataJSON`` with the
origin the page is on), so a test can be a phishing page (another origin), a site with another RP ID, a
clone (the same key with an older counter) or an authenticator that does not verify the user.

The browser tests use chromium's own virtual authenticator instead (tests/e2e)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field, replace
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40
AAGUID = bytes(16)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftKey:
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    sign_count: int = 0
    verifies_user: bool = True
    aaguid: bytes = AAGUID  # the make of authenticator it claims to be

    def clone(self) -> SoftKey:
        """The same key and id, with the counter as it is now (it then diverges from the original)."""
        return replace(self)

    def _cose(self) -> bytes:
        nums = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: nums.x.to_bytes(32, "big"), -3: nums.y.to_bytes(32, "big")})

    def _auth_data(self, rp_id: str, *, attested: bool) -> bytes:
        self.sign_count += 1
        flags = UP | (UV if self.verifies_user else 0) | (AT if attested else 0)
        data = hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", self.sign_count)
        if attested:
            data += self.aaguid + struct.pack(">H", len(self.credential_id)) + self.credential_id + self._cose()
        return data

    @staticmethod
    def _client_data(kind: str, options: dict[str, Any], origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": options["challenge"], "origin": origin, "crossOrigin": False},
                          separators=(",", ":")).encode()

    def create(self, options: dict[str, Any], origin: str) -> dict[str, Any]:
        """navigator.credentials.create() on a page at ``origin``: the RegistrationResponseJSON."""
        client = self._client_data("webauthn.create", options, origin)
        auth_data = self._auth_data(options["rp"]["id"], attested=True)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {"id": b64(self.credential_id), "rawId": b64(self.credential_id), "type": "public-key",
                "response": {"clientDataJSON": b64(client), "attestationObject": b64(attestation),
                             "transports": ["usb"]},
                "clientExtensionResults": {}, "authenticatorAttachment": "cross-platform"}

    def get(self, options: dict[str, Any], origin: str, rp_id: str | None = None) -> dict[str, Any]:
        """navigator.credentials.get() on a page at ``origin`` (for ``rp_id``, by default the options')."""
        client = self._client_data("webauthn.get", options, origin)
        auth_data = self._auth_data(rp_id or options["rpId"], attested=False)
        signature = self.key.sign(auth_data + hashlib.sha256(client).digest(), ec.ECDSA(hashes.SHA256()))
        return {"id": b64(self.credential_id), "rawId": b64(self.credential_id), "type": "public-key",
                "response": {"clientDataJSON": b64(client), "authenticatorData": b64(auth_data),
                             "signature": b64(signature), "userHandle": None},
                "clientExtensionResults": {}, "authenticatorAttachment": "cross-platform"}
