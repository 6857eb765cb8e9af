"""Registry configuration: frozen values, read from YAML or TOML, then overridden by flags."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from dockyard.errors import InvalidArgument

__all__ = [
    "ACTIONS",
    "AccessRule",
    "AuthConfig",
    "RegistryConfig",
    "TLSConfig",
    "TokenConfig",
    "config_from_mapping",
    "load_config",
]

ACTIONS = frozenset({"pull", "push", "delete"})
AUTH_MODES = ("none", "htpasswd", "token")


@dataclass(frozen=True)
class AccessRule:
    """``account`` may do ``actions`` on repositories matching the glob ``repository``.

    ``account`` is a user name, ``*`` (any signed-in user) or ``anonymous``.
    """

    account: str
    repository: str
    actions: frozenset[str]


@dataclass(frozen=True)
class TokenConfig:
    realm: str = ""
    """Token endpoint URL; empty means this server's own ``/token`` as the client reached it."""
    service: str = "dockyard-registry"
    issuer: str = "dockyard-registry"
    key_file: str = ""
    """PEM private key (EC P-256 or RSA) that signs tokens. Replicas must share it; empty generates one."""
    expiration: int = 300


@dataclass(frozen=True)
class AuthConfig:
    mode: str = "none"
    htpasswd: str = ""
    """Path of an htpasswd file with bcrypt hashes (users for both htpasswd and token modes)."""
    users: Mapping[str, str] = field(default_factory=dict)
    """Inline users: name -> bcrypt hash (merged with the htpasswd file)."""
    realm: str = "dockyard-registry"
    access: tuple[AccessRule, ...] = ()
    """Empty: every signed-in user may do everything, anonymous nothing."""
    token: TokenConfig = field(default_factory=TokenConfig)


@dataclass(frozen=True)
class TLSConfig:
    certificate: str
    key: str


@dataclass(frozen=True)
class RegistryConfig:
    addr: str = "127.0.0.1:5000"
    root: str = "/var/lib/dockyard/registry"
    auth: AuthConfig = field(default_factory=AuthConfig)
    tls: TLSConfig | None = None
    delete_enabled: bool = True
    max_manifest_size: int = 4 * 1024 * 1024
    max_blob_size: int = 0
    """0 means no limit."""
    max_concurrent_uploads: int = 0
    """Request bodies received at once per process; over it: 429 TOOMANYREQUESTS. 0 means no limit."""
    upload_ttl: float = 24 * 3600.0
    """Uploads without activity for this long are removed."""
    purge_interval: float = 3600.0
    access_log: bool = True

    def with_overrides(self, **changes: Any) -> RegistryConfig:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def host_port(self) -> tuple[str, int]:
        host, sep, port = self.addr.rpartition(":")
        if not sep or not port.isdigit():
            raise InvalidArgument(f"address must be HOST:PORT, not {self.addr!r}")
        return host.strip("[]") or "0.0.0.0", int(port)


def _section(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key) or {}
    if not isinstance(value, Mapping):
        raise InvalidArgument(f"config: {key!r} must be a mapping")
    return value


def _rule(obj: Any) -> AccessRule:
    if not isinstance(obj, Mapping):
        raise InvalidArgument("config: each access rule must be a mapping")
    actions = obj.get("actions", [])
    if isinstance(actions, str):
        actions = [a.strip() for a in actions.split(",")]
    acts = frozenset(ACTIONS if "*" in actions else actions)
    if not acts <= ACTIONS:
        raise InvalidArgument(f"config: unknown actions {sorted(acts - ACTIONS)}")
    return AccessRule(str(obj.get("account", "*")), str(obj.get("repository", "*")), acts)


def config_from_mapping(obj: Mapping[str, Any], base_dir: str | os.PathLike[str] = ".") -> RegistryConfig:
    """Build a config from parsed YAML/TOML; relative paths are resolved against ``base_dir``."""
    base = Path(base_dir)

    def path(value: Any) -> str:
        return str(base / str(value)) if value else ""

    auth = _section(obj, "auth")
    token = _section(auth, "token")
    tls = _section(obj, "tls")
    limits = _section(obj, "limits")
    uploads = _section(obj, "uploads")
    delete = _section(obj, "delete")
    mode = str(auth.get("mode", "none"))
    if mode not in AUTH_MODES:
        raise InvalidArgument(f"config: auth.mode must be one of {AUTH_MODES}")
    users = auth.get("users") or {}
    if not isinstance(users, Mapping):
        raise InvalidArgument("config: auth.users must map names to bcrypt hashes")
    defaults = RegistryConfig()
    tdefaults = TokenConfig()
    return RegistryConfig(
        addr=str(obj.get("addr", defaults.addr)),
        root=path(obj.get("root")) or defaults.root,
        auth=AuthConfig(
            mode=mode,
            htpasswd=path(auth.get("htpasswd")),
            users={str(k): str(v) for k, v in users.items()},
            realm=str(auth.get("realm", "dockyard-registry")),
            access=tuple(_rule(r) for r in auth.get("access") or ()),
            token=TokenConfig(
                realm=str(token.get("realm", "")),
                service=str(token.get("service", tdefaults.service)),
                issuer=str(token.get("issuer", tdefaults.issuer)),
                key_file=path(token.get("key")),
                expiration=int(token.get("expiration", tdefaults.expiration)),
            ),
        ),
        tls=TLSConfig(path(tls["certificate"]), path(tls["key"])) if tls.get("certificate") else None,
        delete_enabled=bool(delete.get("enabled", True)),
        max_manifest_size=int(limits.get("manifest_size", defaults.max_manifest_size)),
        max_blob_size=int(limits.get("blob_size", 0)),
        max_concurrent_uploads=int(limits.get("concurrent_uploads", 0)),
        upload_ttl=float(uploads.get("ttl", defaults.upload_ttl)),
        purge_interval=float(uploads.get("purge_interval", defaults.purge_interval)),
        access_log=bool(obj.get("access_log", True)),
    )


def load_config(file: str | os.PathLike[str]) -> RegistryConfig:
    """Read a ``.toml`` file with tomllib, anything else as YAML."""
    p = Path(file)
    text = p.read_text()
    try:
        obj = tomllib.loads(text) if p.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise InvalidArgument(f"config {p}: {exc}") from None
    if obj is None:
        obj = {}
    if not isinstance(obj, Mapping):
        raise InvalidArgument(f"config {p}: top level must be a mapping")
    return config_from_mapping(obj, p.parent)
