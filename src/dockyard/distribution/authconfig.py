"""Registry credentials as clients send them: the ``X-Registry-Auth`` header and ``POST /auth`` bodies."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard import errors

__all__ = ["AuthConfig", "auth_from_json", "decode_registry_auth"]


@dataclass(frozen=True)
class AuthConfig:
    """Docker's AuthConfig: a user name and password, or an identity token (OAuth refresh token)."""

    username: str = ""
    password: str = ""
    server_address: str = ""
    identity_token: str = ""
    registry_token: str = ""

    @property
    def empty(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)


def auth_from_json(obj: Mapping[str, Any]) -> AuthConfig:
    """Keys as Docker spells them (``username``, ``serveraddress``, ``identitytoken``...), any case."""
    low = {str(k).lower(): v for k, v in obj.items()}

    def s(key: str) -> str:
        v = low.get(key)
        return v if isinstance(v, str) else ""

    username, password = s("username"), s("password")
    if not username and s("auth"):
        # config.json style: base64("user:password")
        try:
            username, _, password = base64.b64decode(s("auth")).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise errors.InvalidArgument("invalid auth field in credentials") from None
    return AuthConfig(username, password, s("serveraddress"), s("identitytoken"), s("registrytoken"))


def decode_registry_auth(header: str | None) -> AuthConfig:
    """The ``X-Registry-Auth`` header: base64url (padding optional) of a JSON AuthConfig.

    Like dockerd, a header that does not decode is treated as no credentials rather than an error,
    because old clients send placeholders such as ``e30=`` (``{}``) or plain garbage.
    """
    if not header or not header.strip():
        return AuthConfig()
    text = header.strip()
    text += "=" * (-len(text) % 4)
    try:
        raw = base64.urlsafe_b64decode(text.encode())
        obj = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return AuthConfig()
    if not isinstance(obj, dict):
        return AuthConfig()
    return auth_from_json(obj)
