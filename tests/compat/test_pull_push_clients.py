"""The docker CLI and docker-py pulling, pushing and logging in through dockyardd.

Registries run on 127.0.0.1 (plain HTTP, allowed for loopback): dockyard's own, without auth and
with htpasswd. Every image a test creates in the shared daemon is removed afterwards.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import bcrypt
import pytest

from dockyard.registry import RegistryConfig, RunningRegistry
from dockyard.registry.config import AuthConfig as RegAuth
from dockyard.testing.daemon import DaemonProcess

pytestmark = [pytest.mark.compat, pytest.mark.root]
USER, PASSWORD = "bob", "builder-42"


@pytest.fixture
def registry(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(host, auth mode) of a fresh dockyard registry."""
    mode = getattr(request, "param", "none")
    root = tempfile.mkdtemp(prefix="dockyard-reg-")
    users = {USER: bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()}
    cfg = RegistryConfig(root=root, access_log=False, auth=RegAuth(mode=mode, users=users))
    try:
        with RunningRegistry(cfg) as reg:
            yield f"127.0.0.1:{reg.port}", mode
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def cli(clean_daemon: DaemonProcess) -> Iterator[Any]:
    """Runs the docker CLI with a private config dir; removes the images the test tagged or pulled."""
    config_dir = tempfile.mkdtemp(prefix="docker-config-")
    env = {**clean_daemon.env(), "DOCKER_CONFIG": config_dir}
    made: list[str] = []

    def run(*args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        p = subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=120, input=input)
        if check:
            assert p.returncode == 0, (args, p.stdout, p.stderr)
        return p

    run.made = made  # type: ignore[attr-defined]
    try:
        yield run
    finally:
        for ref in made:
            clean_daemon.request("DELETE", f"/images/{ref}?force=1")
        shutil.rmtree(config_dir, ignore_errors=True)


def _name() -> str:
    return "t" + uuid.uuid4().hex[:10]


def test_docker_push_pull_and_run_of_a_missing_image(cli: Any, registry: tuple[str, str]) -> None:
    host, _ = registry
    ref = f"{host}/{_name()}:v1"
    cli.made.append(ref)
    cli("tag", "busybox", ref)
    out = cli("push", ref).stdout
    assert "Pushed" in out and "v1: digest: sha256:" in out
    cli("rmi", ref)
    out = cli("pull", ref).stdout
    assert "Pull complete" in out or "Download complete" in out or "Already exists" in out
    assert f"Status: Downloaded newer image for {ref}" in out
    assert cli("run", "--rm", ref, "echo", "pulled").stdout == "pulled\n"
    # docker run of an image that is not local pulls it first (create -> 404 -> pull -> create)
    ref2 = f"{host}/{_name()}:v2"
    cli.made.append(ref2)
    cli("tag", "busybox", ref2)
    cli("push", ref2)
    cli("rmi", ref2)
    p = cli("run", "--rm", ref2, "echo", "auto")
    assert p.stdout == "auto\n"
    assert "Unable to find image" in p.stderr
    # a second push finds every layer in place
    assert "Layer already exists" in cli("push", ref2).stdout


def test_docker_pull_errors(cli: Any, registry: tuple[str, str]) -> None:
    host, _ = registry
    p = cli("pull", f"{host}/nothing-here:v1", check=False)
    assert p.returncode != 0
    assert "not found" in p.stderr
    p = cli("pull", "127.0.0.1:1/x:v1", check=False)
    assert p.returncode != 0
    assert "connection refused" in p.stderr


@pytest.mark.parametrize("registry", ["htpasswd", "token"], indirect=True)
def test_docker_login_then_push_and_pull(cli: Any, registry: tuple[str, str]) -> None:
    host, _ = registry
    ref = f"{host}/{_name()}:v1"
    cli.made.append(ref)
    cli("tag", "busybox", ref)
    assert cli("push", ref, check=False).returncode != 0
    bad = cli("login", "-u", USER, "--password-stdin", host, check=False, input="nope")
    assert bad.returncode != 0
    p = cli("login", "-u", USER, "--password-stdin", host, input=PASSWORD)
    assert "Login Succeeded" in p.stdout
    assert "Pushed" in cli("push", ref).stdout
    cli("rmi", ref)
    assert f"Status: Downloaded newer image for {ref}" in cli("pull", ref).stdout


def test_docker_py_pull_push_login(clean_daemon: DaemonProcess, registry: tuple[str, str]) -> None:
    docker = pytest.importorskip("docker")
    host, _ = registry
    repo = f"{host}/{_name()}"
    client = docker.DockerClient(base_url=clean_daemon.host, timeout=120)
    try:
        client.images.get("busybox").tag(repo, "py")
        lines = list(client.images.push(repo, "py", stream=True, decode=True))
        assert any(line.get("aux", {}).get("Tag") == "py" for line in lines)
        client.images.remove(f"{repo}:py")
        img = client.images.pull(repo, tag="py")
        assert f"{repo}:py" in img.tags
        assert client.login(USER, PASSWORD, registry=host)["Status"] == "Login Succeeded"
        with pytest.raises(docker.errors.NotFound):
            client.images.pull(repo, tag="missing")
    finally:
        clean_daemon.request("DELETE", f"/images/{repo}:py?force=1")
        client.close()


def test_docker_pull_all_tags(cli: Any, registry: tuple[str, str]) -> None:
    host, _ = registry
    repo = f"{host}/{_name()}"
    refs = [f"{repo}:one", f"{repo}:two"]
    cli.made.extend(refs)
    for ref in refs:
        cli("tag", "busybox", ref)
        cli("push", ref)
        cli("rmi", ref)
    out = cli("pull", "--all-tags", repo).stdout
    for ref in refs:
        assert f"Status: Downloaded newer image for {ref}" in out
        assert cli("image", "inspect", "--format", "{{.Id}}", ref).stdout.startswith("sha256:")
