"""dockyard login / push / pull / logout through a real dockyardd against dockyard's registry with htpasswd auth."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import bcrypt
import pytest

from dockyard.registry import RegistryConfig, RunningRegistry
from dockyard.registry.config import AuthConfig as RegAuth
from dockyard.testing.daemon import DaemonProcess

pytestmark = [pytest.mark.root, pytest.mark.compat]

Run = Callable[..., subprocess.CompletedProcess[str]]
USER, PASSWORD = "dyuser", "dy-secret"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    users = {USER: bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()}
    cfg = RegistryConfig(root=str(tmp_path / "registry"), access_log=False, auth=RegAuth(mode="htpasswd", users=users))
    with RunningRegistry(cfg) as reg:
        yield f"127.0.0.1:{reg.port}"


@pytest.fixture
def dy(clean_daemon: DaemonProcess, tmp_path: Path, registry: str) -> Iterator[Run]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env["DOCKYARD_HOST"] = clean_daemon.host
    env["DOCKER_CONFIG"] = str(tmp_path / "docker-config")

    def run(*args: str, input: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dockyard.cli", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )

    yield run
    with contextlib.suppress(subprocess.TimeoutExpired):
        run("rmi", "-f", f"{registry}/dytest/bb:1")


def test_login_push_pull_logout(dy: Run, registry: str, tmp_path: Path) -> None:
    ref = f"{registry}/dytest/bb:1"
    assert dy("tag", "busybox:latest", ref).returncode == 0
    r = dy("push", ref)
    assert r.returncode == 1 and r.stderr.startswith("Error response from daemon:"), (r.stdout, r.stderr)
    r = dy("login", "-u", USER, "--password-stdin", registry, input="wrong\n")
    assert r.returncode == 1 and "Error response from daemon:" in r.stderr
    assert not (tmp_path / "docker-config" / "config.json").exists()
    r = dy("login", "-u", USER, "--password-stdin", registry, input=PASSWORD + "\n")
    assert (r.returncode, r.stdout) == (0, "Login Succeeded\n"), r.stderr
    auths = json.loads((tmp_path / "docker-config" / "config.json").read_text())["auths"]
    assert base64.b64decode(auths[registry]["auth"]).decode() == f"{USER}:{PASSWORD}"
    r = dy("push", ref)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "1: digest: sha256:" in r.stdout
    assert dy("rmi", ref).returncode == 0
    r = dy("pull", ref)
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == ref, (r.stdout, r.stderr)
    r = dy("run", "--rm", ref, "echo", "pulled")
    assert (r.returncode, r.stdout) == (0, "pulled\n"), r.stderr
    assert dy("logout", registry).stdout == f"Removing login credentials for {registry}\n"
    assert dy("rmi", ref).returncode == 0
    r = dy("pull", ref)
    assert r.returncode == 1 and "Error response from daemon:" in r.stderr
