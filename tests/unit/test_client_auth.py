"""config.json credentials in Docker's format, credential helpers, and the X-Registry-Auth encoding."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.client.auth import (
    DEFAULT_INDEX,
    AuthConfig,
    DockerConfig,
    config_dir,
    encode_registry_auth,
    normalize_server,
    registry_of,
)


class FakeHelper:
    """A behavioural fake of ``docker-credential-*``: the same stdin/stdout protocol, in memory."""

    def __init__(self) -> None:
        self.db: dict[str, dict[str, str]] = {}
        self.calls: list[tuple[str, str]] = []

    def __call__(self, program: str, action: str, stdin: str) -> tuple[int, str]:
        self.calls.append((program, action))
        if action == "store":
            entry = json.loads(stdin)
            self.db[entry["ServerURL"]] = entry
            return 0, ""
        if action == "get":
            if stdin not in self.db:
                return 1, "credentials not found in native keychain\n"
            return 0, json.dumps(self.db[stdin])
        self.db.pop(stdin, None)
        return 0, ""


def test_registry_keys() -> None:
    assert registry_of("busybox") == DEFAULT_INDEX
    assert registry_of("library/busybox:1") == DEFAULT_INDEX
    assert registry_of("docker.io/library/busybox") == DEFAULT_INDEX
    assert registry_of("localhost:5000/a/b") == "localhost:5000"
    assert registry_of("localhost/a") == "localhost"
    assert registry_of("ghcr.io/o/r") == "ghcr.io"
    assert normalize_server(None) == DEFAULT_INDEX
    assert normalize_server("https://index.docker.io/v1/") == DEFAULT_INDEX
    assert normalize_server("https://reg.example:5000/") == "reg.example:5000"
    assert config_dir({"DOCKER_CONFIG": "/x"}) == Path("/x")
    assert config_dir({"HOME": "/home/u"}) == Path("/home/u/.docker")


def test_encode_registry_auth_is_base64url_json() -> None:
    enc = encode_registry_auth(AuthConfig("r:5000", "u", "p?>>"))
    assert "+" not in enc and "/" not in enc
    assert json.loads(base64.urlsafe_b64decode(enc)) == {"username": "u", "password": "p?>>", "serveraddress": "r:5000"}
    assert json.loads(base64.urlsafe_b64decode(encode_registry_auth(None))) == {}
    tok = json.loads(base64.urlsafe_b64decode(encode_registry_auth(AuthConfig("r", identitytoken="t"))))
    assert tok["identitytoken"] == "t"


def test_plain_file_round_trip(tmp_path: Path) -> None:
    cfg = DockerConfig(tmp_path / "d")
    assert cfg.get("r:5000") is None
    cfg.store(AuthConfig("r:5000", "user", "pa:ss"))
    again = DockerConfig(tmp_path / "d")
    assert again.data["auths"]["r:5000"] == {"auth": base64.b64encode(b"user:pa:ss").decode()}
    assert again.get("r:5000") == AuthConfig("r:5000", "user", "pa:ss")
    again.store(AuthConfig("r2", identitytoken="tok"))
    assert DockerConfig(tmp_path / "d").get("r2") == AuthConfig("r2", identitytoken="tok")
    assert again.erase("r:5000") and not again.erase("r:5000")
    assert set(DockerConfig(tmp_path / "d").data["auths"]) == {"r2"}


def test_hub_legacy_key_found(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"https://index.docker.io/v1": {"auth": "dTpw"}}}))
    assert DockerConfig(tmp_path).get(DEFAULT_INDEX) == AuthConfig(DEFAULT_INDEX, "u", "p")


def test_helpers_creds_store_and_per_registry(tmp_path: Path) -> None:
    store, special = FakeHelper(), FakeHelper()

    def runner(program: str, action: str, stdin: str) -> tuple[int, str]:
        return (special if program == "docker-credential-special" else store)(program, action, stdin)

    (tmp_path / "config.json").write_text(
        json.dumps({"credsStore": "desktop", "credHelpers": {"ecr.example": "special"}, "other": 1})
    )
    cfg = DockerConfig(tmp_path, runner)
    cfg.store(AuthConfig("r:5000", "u", "p"))
    cfg.store(AuthConfig("ecr.example", "AWS", "t"))
    assert store.db == {"r:5000": {"ServerURL": "r:5000", "Username": "u", "Secret": "p"}}
    assert set(special.db) == {"ecr.example"}
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["auths"] == {"r:5000": {}, "ecr.example": {}} and data["other"] == 1
    assert DockerConfig(tmp_path, runner).get("r:5000") == AuthConfig("r:5000", "u", "p")
    assert DockerConfig(tmp_path, runner).get("unknown") is None
    cfg.store(AuthConfig("tok.example", identitytoken="idt"))
    assert store.db["tok.example"]["Username"] == "<token>"
    assert cfg.get("tok.example") == AuthConfig("tok.example", identitytoken="idt")
    assert cfg.erase("r:5000") and "r:5000" not in store.db


def test_helper_failures_and_bad_files(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": "broken"}))
    cfg = DockerConfig(tmp_path, lambda program, action, stdin: (1, "keychain locked"))
    with pytest.raises(errors.Internal, match="keychain locked"):
        cfg.get("r")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(errors.InvalidArgument, match="loading config file"):
        DockerConfig(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": "nonexistent-xyz"}))
    with pytest.raises(errors.InvalidArgument, match="executable file not found"):
        DockerConfig(tmp_path).get("r")
