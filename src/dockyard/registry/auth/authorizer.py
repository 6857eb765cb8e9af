"""Authorizers: decide whether a request's credentials cover the scopes it needs.

One Protocol, three implementations (none, htpasswd basic auth, bearer tokens).
They raise the registry's Unauthorized (with the WWW-Authenticate challenge)
or Denied; they never look at anything but the Authorization header.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Protocol

from dockyard.registry.auth.scopes import AccessPolicy, Scope
from dockyard.registry.auth.tokens import InvalidToken, TokenIssuer
from dockyard.registry.auth.users import UserDB
from dockyard.registry.errors import Denied, Unauthorized

__all__ = ["Authorizer", "BasicAuth", "NoAuth", "TokenAuth", "parse_basic"]


class Authorizer(Protocol):
    def authorize(self, authorization: str, needs: Sequence[Scope], realm_base: str) -> str | None:
        """The account (None = anonymous) if ``authorization`` covers ``needs``, else raise.

        ``needs`` empty means "any valid credentials" (``GET /v2/``).
        ``realm_base`` is this server's URL as the client sees it.
        """
        ...

    def allows(self, authorization: str, scope: Scope) -> bool:
        """Like authorize, without raising (optional extras such as a mount's source)."""
        ...


def parse_basic(authorization: str) -> tuple[str, str] | None:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class NoAuth:
    def authorize(self, authorization: str, needs: Sequence[Scope], realm_base: str) -> str | None:
        return None

    def allows(self, authorization: str, scope: Scope) -> bool:
        return True


class BasicAuth:
    def __init__(self, users: UserDB, policy: AccessPolicy, realm: str) -> None:
        self.users = users
        self.policy = policy
        self.realm = realm

    def _account(self, authorization: str) -> str | None:
        creds = parse_basic(authorization)
        if creds is None or not self.users.check(*creds):
            return None
        return creds[0]

    def authorize(self, authorization: str, needs: Sequence[Scope], realm_base: str) -> str | None:
        account = self._account(authorization)
        if account is None:
            msg = "authentication required" if not authorization else "invalid credentials"
            raise Unauthorized(msg, f'Basic realm="{self.realm}"')
        for need in needs:
            if self.policy.grant(account, need) != need.actions:
                raise Denied(f"access to {need} denied", {"scope": str(need)})
        return account

    def allows(self, authorization: str, scope: Scope) -> bool:
        account = self._account(authorization)
        return account is not None and self.policy.grant(account, scope) == scope.actions


class TokenAuth:
    def __init__(self, issuer: TokenIssuer, realm: str) -> None:
        self.issuer = issuer
        self.realm = realm

    def challenge(self, realm_base: str, needs: Sequence[Scope], error: str = "") -> str:
        realm = self.realm or f"{realm_base}/token"
        parts = [f'Bearer realm="{realm}"', f'service="{self.issuer.service}"']
        if needs:
            parts.append(f'scope="{" ".join(str(n) for n in needs)}"')
        if error:
            parts.append(f'error="{error}"')
        return ",".join(parts)

    def _verify(self, authorization: str) -> tuple[str, tuple[Scope, ...]] | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        try:
            return self.issuer.verify(token.strip())
        except InvalidToken:
            return None

    def authorize(self, authorization: str, needs: Sequence[Scope], realm_base: str) -> str | None:
        verified = self._verify(authorization)
        if verified is None:
            msg = "authentication required" if not authorization else "invalid or expired token"
            raise Unauthorized(msg, self.challenge(realm_base, needs, "invalid_token" if authorization else ""))
        account, granted = verified
        missing = [n for n in needs if not n.covered_by(granted)]
        if missing:
            raise Unauthorized(
                "insufficient scope",
                self.challenge(realm_base, needs, "insufficient_scope"),
                [{"Type": n.type, "Name": n.name, "Action": ",".join(sorted(n.actions))} for n in missing],
            )
        return account or None

    def allows(self, authorization: str, scope: Scope) -> bool:
        verified = self._verify(authorization)
        return verified is not None and scope.covered_by(verified[1])
