"""Docker registry tokens: JWTs with an ``access`` claim, signed with an EC or RSA key."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from dockyard.errors import InvalidArgument
from dockyard.registry.auth.scopes import Scope

__all__ = ["InvalidToken", "IssuedToken", "TokenIssuer", "TokenKey"]


class InvalidToken(Exception):
    """A token that is malformed, expired, or not ours."""


@dataclass(frozen=True)
class TokenKey:
    private_pem: bytes
    algorithm: str
    kid: str

    @classmethod
    def generate(cls) -> TokenKey:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return cls.from_pem(pem)

    @classmethod
    def load(cls, path: str) -> TokenKey:
        return cls.from_pem(Path(path).read_bytes())

    @classmethod
    def from_pem(cls, pem: bytes) -> TokenKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            alg = "ES256"
        elif isinstance(key, rsa.RSAPrivateKey):
            alg = "RS256"
        else:
            raise InvalidArgument("token key must be an EC P-256 or RSA private key")
        der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        # libtrust's key id: base32 of the first 240 bits of sha256(SPKI), in groups of four.
        b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
        kid = ":".join(b32[i : i + 4] for i in range(0, len(b32), 4))
        return cls(pem, alg, kid)

    def public_pem(self) -> bytes:
        key = serialization.load_pem_private_key(self.private_pem, password=None)
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int
    issued_at: str


class TokenIssuer:
    """Signs and verifies tokens for one ``service``."""

    def __init__(self, key: TokenKey, *, issuer: str, service: str, expiration: int = 300) -> None:
        self.key = key
        self.issuer = issuer
        self.service = service
        self.expiration = expiration
        self._public = key.public_pem()

    def issue(self, account: str | None, granted: Iterable[Scope], *, now: float | None = None) -> IssuedToken:
        t = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": account or "",
            "aud": self.service,
            "exp": t + self.expiration,
            "nbf": t - 10,
            "iat": t,
            "jti": secrets.token_hex(16),
            "access": [{"type": s.type, "name": s.name, "actions": sorted(s.actions)} for s in granted if s.actions],
        }
        token = jwt.encode(claims, self.key.private_pem, algorithm=self.key.algorithm, headers={"kid": self.key.kid})
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
        return IssuedToken(token, self.expiration, issued)

    def verify(self, token: str) -> tuple[str, tuple[Scope, ...]]:
        """The account and granted scopes of a valid token."""
        try:
            claims = jwt.decode(
                token,
                self._public,
                algorithms=[self.key.algorithm],
                audience=self.service,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        scopes = []
        for item in claims.get("access") or ():
            if isinstance(item, dict) and isinstance(item.get("actions"), list):
                scopes.append(Scope(str(item.get("type")), str(item.get("name")), frozenset(map(str, item["actions"]))))
        return str(claims.get("sub") or ""), tuple(scopes)
