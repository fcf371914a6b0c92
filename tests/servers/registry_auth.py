"""A token service for the docker-registry's token authentication, run by tests.

It does what Docker's token servers do: a client sends basic credentials (or none) to
``/token?service=...&scope=repository:NAME:ACTIONS``; known users get a JWT signed with an
EC key (ES256) whose self-signed certificate is the registry's ``rootcertbundle`` and
travels in the token's ``x5c`` header. The access it grants is what was asked for.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from tests.servers.endpoints import Endpoints, Route, reply, reply_json


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Signer:
    """An EC key and its self-signed certificate, written where the registry reads it."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    path: Path

    @classmethod
    def create(cls, path: Path) -> Signer:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reconciler tests tokens")])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return cls(key, certificate, path)

    def token(self, claims: dict[str, object]) -> str:
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(der).decode()]}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(
            self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        )
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@dataclass
class TokenService:
    """What the token route grants, and what it was asked for."""

    signer: Signer
    service: str
    issuer: str
    users: dict[str, str]
    lifetime: int = 300
    asked: list[tuple[str | None, tuple[str, ...]]] = field(default_factory=list)

    def route(self) -> Route:
        """The ``/token`` route for a ``tests.servers.endpoints`` server."""
        return self._answer

    def _answer(self, handler: Any, endpoints: Endpoints) -> None:
        request, headers = handler.path, handler.headers
        query = parse_qs(urlsplit(request).query)
        scopes = tuple(query.get("scope", []))
        user = self._user(headers.get("Authorization"))
        self.asked.append((user, scopes))
        if user is None and headers.get("Authorization"):
            reply(401, b'{"details": "bad credentials"}')(handler, endpoints)
            return
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = actions.split(",") if user is not None else []
            access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": query.get("service", [self.service])[0],
            "exp": now + self.lifetime,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        token = self.signer.token(claims)
        reply_json({"token": token, "expires_in": self.lifetime})(handler, endpoints)

    def _user(self, authorization: str | None) -> str | None:
        if not authorization or not authorization.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        except ValueError:
            return None
        return user if self.users.get(user) == password else None
