"""Registry credentials in the docker CLI's config.json, credential helpers, and X-Registry-Auth.

The file format and helper protocol are Docker's, so ``docker`` and ``dockyard``
share logins: ``auths`` entries hold base64 ``user:password``; when ``credsStore``
or ``credHelpers`` name a helper, ``docker-credential-<name> get|store|erase``
holds the secret instead and ``auths`` keeps only an empty entry.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dockyard import errors

__all__ = [
    "DEFAULT_INDEX",
    "AuthConfig",
    "CredentialHelper",
    "DockerConfig",
    "HelperRunner",
    "config_dir",
    "encode_registry_auth",
    "normalize_server",
    "registry_of",
]

DEFAULT_INDEX = "https://index.docker.io/v1/"
_HUB_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io", DEFAULT_INDEX)
_TOKEN_USER = "<token>"


@dataclass(frozen=True)
class AuthConfig:
    """Credentials for one registry, as the Engine API takes them."""

    serveraddress: str
    username: str = ""
    password: str = ""
    identitytoken: str = ""

    def as_api(self) -> dict[str, str]:
        out = {"username": self.username, "password": self.password, "serveraddress": self.serveraddress}
        if self.identitytoken:
            out["identitytoken"] = self.identitytoken
        return out


def encode_registry_auth(auth: AuthConfig | None) -> str:
    """The ``X-Registry-Auth`` header value: base64url of the JSON auth config (``{}`` when anonymous)."""
    payload = json.dumps(auth.as_api() if auth else {}).encode()
    return base64.urlsafe_b64encode(payload).decode()


def registry_of(image: str) -> str:
    """The registry key an image name's credentials are stored under (Docker Hub's index URL by default)."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return DEFAULT_INDEX if first in _HUB_NAMES else first
    return DEFAULT_INDEX


def normalize_server(server: str | None) -> str:
    """``docker login``'s server argument as the key config.json uses."""
    if not server:
        return DEFAULT_INDEX
    bare = server.removeprefix("https://").removeprefix("http://").rstrip("/")
    if bare in _HUB_NAMES or bare.removesuffix("/v1") in _HUB_NAMES:
        return DEFAULT_INDEX
    return bare


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"])
    return Path(env.get("HOME") or Path.home()) / ".docker"


class HelperRunner(Protocol):
    """Runs ``docker-credential-<name> <action>`` with ``stdin``; returns (exit code, stdout)."""

    def __call__(self, program: str, action: str, stdin: str) -> tuple[int, str]: ...


def run_helper(program: str, action: str, stdin: str) -> tuple[int, str]:
    import subprocess  # here, not at the top: only a configured credential helper needs it

    try:
        proc = subprocess.run([program, action], input=stdin, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise errors.InvalidArgument(f'exec: "{program}": executable file not found in $PATH') from None
    except subprocess.TimeoutExpired:
        raise errors.Unavailable(f"{program} {action}: timed out") from None
    return proc.returncode, proc.stdout if proc.returncode == 0 else (proc.stdout or proc.stderr)


@dataclass(frozen=True)
class CredentialHelper:
    name: str
    runner: HelperRunner = run_helper

    @property
    def program(self) -> str:
        return f"docker-credential-{self.name}"

    def get(self, server: str) -> AuthConfig | None:
        rc, out = self.runner(self.program, "get", server)
        if rc != 0:
            if "credentials not found" in out.lower():
                return None  # the helper protocol's own "not found" answer
            raise errors.Internal(f"error getting credentials - err: {self.program} get: {out.strip()}")
        data = json.loads(out)
        user, secret = str(data.get("Username") or ""), str(data.get("Secret") or "")
        if user == _TOKEN_USER:
            return AuthConfig(server, identitytoken=secret)
        return AuthConfig(server, user, secret)

    def store(self, auth: AuthConfig) -> None:
        user, secret = (_TOKEN_USER, auth.identitytoken) if auth.identitytoken else (auth.username, auth.password)
        payload = json.dumps({"ServerURL": auth.serveraddress, "Username": user, "Secret": secret})
        rc, out = self.runner(self.program, "store", payload)
        if rc != 0:
            raise errors.Internal(f"error storing credentials - err: {self.program} store: {out.strip()}")

    def erase(self, server: str) -> None:
        rc, out = self.runner(self.program, "erase", server)
        if rc != 0:
            raise errors.Internal(f"error erasing credentials - err: {self.program} erase: {out.strip()}")


class DockerConfig:
    """``config.json`` in ``directory``: read, and rewritten atomically keeping keys it does not know."""

    def __init__(self, directory: Path, runner: HelperRunner = run_helper) -> None:
        self.directory = directory
        self.path = directory / "config.json"
        self.runner = runner
        self.data: dict[str, Any] = self._read()

    def _read(self) -> dict[str, Any]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            raise errors.InvalidArgument(f"loading config file {self.path}: {exc}") from None
        if not isinstance(data, dict):
            raise errors.InvalidArgument(f"loading config file {self.path}: not a JSON object")
        return data

    def save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(f".config.json.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.data, f, indent="\t")
            f.write("\n")
        os.replace(tmp, self.path)

    def helper_for(self, server: str) -> CredentialHelper | None:
        name = (self.data.get("credHelpers") or {}).get(server) or self.data.get("credsStore")
        return CredentialHelper(str(name), self.runner) if name else None

    def _auths(self) -> dict[str, Any]:
        auths = self.data.setdefault("auths", {})
        assert isinstance(auths, dict)
        return auths

    def get(self, server: str) -> AuthConfig | None:
        """Stored credentials for ``server``, None when there are none."""
        helper = self.helper_for(server)
        if helper is not None:
            return helper.get(server)
        entry = (self.data.get("auths") or {}).get(server)
        if entry is None and server == DEFAULT_INDEX:
            entry = next((v for k, v in (self.data.get("auths") or {}).items() if normalize_server(k) == server), None)
        if not isinstance(entry, dict):
            return None
        if entry.get("identitytoken"):
            return AuthConfig(server, identitytoken=str(entry["identitytoken"]))
        raw = entry.get("auth")
        if not raw:
            return None
        try:
            user, _, password = base64.b64decode(raw).decode().partition(":")
        except ValueError:
            raise errors.InvalidArgument(f"invalid auth entry for {server} in {self.path}") from None
        return AuthConfig(server, user, password)

    def store(self, auth: AuthConfig) -> None:
        helper = self.helper_for(auth.serveraddress)
        if helper is not None:
            helper.store(auth)
            self._auths()[auth.serveraddress] = {}  # docker keeps the server listed, secret in the helper
        else:
            entry: dict[str, str] = {"auth": base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()}
            if auth.identitytoken:
                entry = {"identitytoken": auth.identitytoken}
            self._auths()[auth.serveraddress] = entry
        self.save()

    def erase(self, server: str) -> bool:
        """Forget ``server``; False when nothing was stored for it."""
        helper = self.helper_for(server)
        known = server in (self.data.get("auths") or {})
        if helper is not None:
            helper.erase(server)
        if known:
            del self._auths()[server]
            self.save()
        return known or helper is not None
