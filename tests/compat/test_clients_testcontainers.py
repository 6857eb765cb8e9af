"""testcontainers-python drives dockyardd: DockerContainer with a command, env, published ports,
volume mappings, wait strategies, exec, file copies, networks with aliases, DockerImage, and the
`with` lifecycle leaving nothing behind."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.registry import RegistryConfig, RunningRegistry
from dockyard.testing.daemon import DaemonProcess

tc_container = pytest.importorskip("testcontainers.core.container", reason="testcontainers is not installed")

from testcontainers.core.config import ConnectionMode  # noqa: E402
from testcontainers.core.config import testcontainers_config as tc_config  # noqa: E402
from testcontainers.core.image import DockerImage  # noqa: E402
from testcontainers.core.labels import LABEL_SESSION_ID, SESSION_ID  # noqa: E402
from testcontainers.core.network import Network  # noqa: E402
from testcontainers.core.wait_strategies import (  # noqa: E402
    ExecWaitStrategy,
    HealthcheckWaitStrategy,
    HttpWaitStrategy,
    LogMessageWaitStrategy,
    PortWaitStrategy,
)
from testcontainers.core.waiting_utils import wait_for_logs  # noqa: E402

DockerContainer = tc_container.DockerContainer

pytestmark = [pytest.mark.compat, pytest.mark.root, pytest.mark.timeout(300)]

STARTUP = 60  # seconds a wait strategy may take on a loaded machine


class TC:
    """The test daemon as testcontainers sees it, plus API checks for what it leaves behind."""

    def __init__(self, daemon: DaemonProcess) -> None:
        self.daemon = daemon

    def session_filter(self) -> str:
        return urllib.parse.quote(json.dumps({"label": [f"{LABEL_SESSION_ID}={SESSION_ID}"]}))

    def containers(self) -> list[dict[str, Any]]:
        status, items = self.daemon.request("GET", f"/containers/json?all=1&filters={self.session_filter()}")
        assert status == 200, items
        return list(items)

    def networks(self) -> list[dict[str, Any]]:
        status, items = self.daemon.request("GET", f"/networks?filters={self.session_filter()}")
        assert status == 200, items
        return list(items)

    def exists(self, kind: str, ref: str) -> bool:
        path = {"container": f"/containers/{ref}/json", "image": f"/images/{ref}/json", "volume": f"/volumes/{ref}"}
        status, body = self.daemon.request("GET", path[kind])
        assert status in (200, 404), body
        return status == 200

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            for c in self.containers():
                self.daemon.request("DELETE", f"/containers/{c['Id']}?force=1&v=1")
            for n in self.networks():
                self.daemon.request("DELETE", f"/networks/{n['Id']}")
            for tag in ("dy-tc-built:1",):
                self.daemon.request("DELETE", f"/images/{tag}?force=1")


@pytest.fixture
def tc(daemon: DaemonProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[TC]:
    monkeypatch.setenv("DOCKER_HOST", daemon.host)
    # Ryuk, testcontainers' reaper, is an image from Docker Hub, which this machine cannot reach;
    # the fixture's finalizer does its job (removing what this session labelled) instead.
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    monkeypatch.setattr(tc_config, "ryuk_disabled", True)
    # Connect through the published ports on 127.0.0.1. Left alone, testcontainers sees /.dockerenv
    # on this machine and would pick the bridge gateway (tested separately below).
    monkeypatch.setattr(tc_config, "connection_mode_override", ConnectionMode.docker_host)
    monkeypatch.setattr(tc_config, "tc_host_override", "127.0.0.1")
    t = TC(daemon)
    try:
        yield t
    finally:
        t.cleanup()


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as resp:
        body: bytes = resp.read()
        return body


def test_container_with_command_env_ports_volume_exec(tc: TC, tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hello-from-host\n")
    container = (
        DockerContainer("busybox")
        .with_command(["sh", "-c", "echo starting as $WHO; exec httpd -f -v -p 8080 -h /www"])
        .with_env("WHO", "testcontainers")
        .with_exposed_ports(8080)
        .with_volume_mapping(str(www), "/www", "ro")
    )
    with container:
        cid = container.get_container_id()
        wait_for_logs(container, LogMessageWaitStrategy("starting as testcontainers"), timeout=STARTUP, interval=0.2)
        host, port = container.get_container_host_ip(), container.get_exposed_port(8080)
        assert host == "127.0.0.1"
        assert http_get(f"http://{host}:{port}/index.html") == b"hello-from-host\n"

        result = container.exec(["sh", "-c", "echo $WHO; cat /www/index.html; touch /www/x; exit 3"])
        assert result.exit_code == 3
        assert result.output.startswith(b"testcontainers\nhello-from-host\n")
        assert b"Read-only file system" in result.output

        stdout, stderr = container.get_logs()
        assert stdout == b"starting as testcontainers\n"
        assert b"response:200" in stderr  # httpd -v logs each request to stderr
        info = container.get_container_info()
        assert info is not None and info.State is not None and info.State.Status == "running"
        assert info.Config is not None and "WHO=testcontainers" in (info.Config.Env or [])
        assert tc.containers()[0]["Labels"]["org.testcontainers.lang"] == "python"
    assert not tc.exists("container", cid)
    assert tc.containers() == []


def test_wait_strategies_and_bound_port(tc: TC) -> None:
    # nc -ll: busybox's persistent listener (it has no -k)
    nc = (
        DockerContainer("busybox")
        .with_command(["nc", "-ll", "-p", "7000", "-e", "echo", "hi-from-nc"])
        .with_bind_ports(7000, None)
        .waiting_for(PortWaitStrategy(7000).with_startup_timeout(STARTUP))
    )
    with nc:
        port = nc.get_exposed_port(7000)
        out = subprocess.run(
            ["busybox", "nc", "127.0.0.1", str(port)], capture_output=True, timeout=30, stdin=subprocess.DEVNULL
        )
        assert out.stdout == b"hi-from-nc\n"

    http = (
        DockerContainer("busybox")
        .with_command(["sh", "-c", "mkdir /www && echo ok > /www/ready && exec httpd -f -p 80 -h /www"])
        .with_exposed_ports(80)
        .waiting_for(HttpWaitStrategy(80, "/ready").for_status_code(200).with_startup_timeout(STARTUP))
    )
    with http:
        assert http_get(f"http://127.0.0.1:{http.get_exposed_port(80)}/ready") == b"ok\n"

    healthy = (
        DockerContainer("busybox")
        .with_command(["sleep", "300"])
        .with_kwargs(healthcheck={"test": ["CMD", "true"], "interval": 200_000_000, "retries": 3})
        .waiting_for(HealthcheckWaitStrategy().with_startup_timeout(STARTUP))
    )
    with healthy:
        info = healthy.get_container_info()
        assert info is not None and info.State is not None and info.State.Health is not None
        assert info.State.Health.Status == "healthy"

    logs = (
        DockerContainer("busybox")
        .with_command(["sh", "-c", "echo one; echo ready; echo ready; exec sleep 300"])
        .waiting_for(LogMessageWaitStrategy("ready", times=2).with_startup_timeout(STARTUP))
    )
    with logs:
        assert logs.get_logs()[0] == b"one\nready\nready\n"
    assert tc.containers() == []


def test_copy_tmpfs_and_exec_wait(tc: TC, tmp_path: Path) -> None:
    container = (
        DockerContainer("busybox")
        .with_command(["sleep", "300"])
        .with_tmpfs_mount("/scratch", "size=4m")
        .with_copy_into_container(b"payload\n", "/opt/payload.txt", 0o600)
        .waiting_for(ExecWaitStrategy(["test", "-f", "/opt/payload.txt"]).with_startup_timeout(STARTUP))
    )
    with container:
        stat = container.exec(["stat", "-c", "%a %s", "/opt/payload.txt"])
        assert (stat.exit_code, stat.output) == (0, b"600 8\n")
        mount = container.exec(["sh", "-c", "grep ' /scratch ' /proc/mounts"]).output.decode()
        assert mount.startswith("tmpfs /scratch tmpfs") and "size=4096k" in mount

        # (not into /scratch: as with dockerd, an archive lands in the container's filesystem, under the tmpfs)
        container.copy_into_container(b"second\n", "/opt/two.txt")
        assert container.exec(["cat", "/opt/two.txt"]).output == b"second\n"
        container.exec(["sh", "-c", "echo made-inside > /tmp/out.txt"])
        target = tmp_path / "out.txt"
        container.copy_from_container("/tmp/out.txt", target)
        assert target.read_bytes() == b"made-inside\n"
    assert tc.containers() == []


def test_network_aliases_and_gateway_connection_mode(tc: TC, monkeypatch: pytest.MonkeyPatch) -> None:
    with Network() as net:
        assert [n["Name"] for n in tc.networks()] == [net.name]
        server = (
            DockerContainer("busybox")
            .with_command(["sh", "-c", "mkdir /www && echo by-alias > /www/i && exec httpd -f -p 80 -h /www"])
            .with_network(net)
            .with_network_aliases("web-alias")
            .with_exposed_ports(80)
            .waiting_for(HttpWaitStrategy(80, "/i").with_startup_timeout(STARTUP))
        )
        with server:
            client = DockerContainer("busybox").with_command("wget -q -O - http://web-alias/i").with_network(net)
            with client:
                assert client.wait() == 0
                assert client.get_logs()[0] == b"by-alias\n"

            # testcontainers' choice inside a container: the gateway of the container's network,
            # read from the container list's NetworkSettings; the published port answers there too
            monkeypatch.setattr(tc_config, "connection_mode_override", ConnectionMode.gateway_ip)
            gateway = server.get_container_host_ip()
            [listed] = [c for c in tc.containers() if c["Id"] == server.get_container_id()]
            assert gateway == listed["NetworkSettings"]["Networks"][net.name]["Gateway"] != ""
            assert http_get(f"http://{gateway}:{server.get_exposed_port(80)}/i") == b"by-alias\n"
    assert tc.containers() == [] and tc.networks() == []


def test_docker_image_build_and_run(tc: TC, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text('FROM busybox\nRUN echo built-here > /built\nCMD ["cat", "/built"]\n')
    with DockerImage(path=tmp_path, tag="dy-tc-built:1") as image:
        assert str(image) == "dy-tc-built:1" and tc.exists("image", "dy-tc-built:1")
        with DockerContainer(str(image)) as container:
            assert container.wait() == 0
            assert container.get_logs() == (b"built-here\n", b"")
    assert not tc.exists("image", "dy-tc-built:1")
    assert tc.containers() == []


def test_missing_image_is_pulled_from_a_registry(tc: TC, tmp_path: Path) -> None:
    """testcontainers pulls an image it doesn't find locally (docker-py's pull, through dockyardd)."""
    with RunningRegistry(RegistryConfig(root=str(tmp_path / "registry"), access_log=False)) as reg:
        ref = f"{reg.url.removeprefix('http://')}/tc/busybox:pulled"
        repo, tag = ref.rsplit(":", 1)
        tag_path = f"/images/busybox/tag?repo={urllib.parse.quote(repo)}&tag={tag}"
        try:
            assert tc.daemon.request("POST", tag_path)[0] == 201
            status, body = tc.daemon.request("POST", f"/images/{urllib.parse.quote(ref, safe='')}/push")
            assert status == 200 and b"errorDetail" not in body, body
            assert tc.daemon.request("DELETE", f"/images/{urllib.parse.quote(ref, safe='')}")[0] == 200
            assert not tc.exists("image", ref)
            with DockerContainer(ref).with_command("echo pulled-and-ran") as container:
                assert container.wait() == 0
                assert container.get_logs() == (b"pulled-and-ran\n", b"")
            assert tc.exists("image", ref)
        finally:
            tc.daemon.request("DELETE", f"/images/{urllib.parse.quote(ref, safe='')}?force=1")
    assert tc.containers() == []


def _compose_v2_available() -> bool:
    if shutil.which("docker") is None:
        return False
    r = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30, env={**os.environ})
    return r.returncode == 0


def test_docker_compose_module(tc: TC, tmp_path: Path) -> None:
    if not _compose_v2_available():
        pytest.skip(
            "testcontainers.compose.DockerCompose runs `docker compose` (Compose v2: the CLI plugin, "
            "`ps --format json`, `up --wait`); only Compose v1 (docker-compose) is installed here"
        )
    from testcontainers.compose import DockerCompose

    (tmp_path / "docker-compose.yml").write_text(
        "services:\n"
        "  web:\n"
        "    image: busybox\n"
        '    command: ["sh", "-c", "mkdir /www && echo compose-v2 > /www/i && exec httpd -f -p 80 -h /www"]\n'
        '    ports: ["127.0.0.1::80"]\n'
    )
    with DockerCompose(tmp_path, wait=False) as compose:
        host, port = compose.get_service_host_and_port("web", 80)
        compose.wait_for(f"http://{host}:{port}/i")
        assert http_get(f"http://{host}:{port}/i") == b"compose-v2\n"
        out, _, code = compose.exec_in_container(["cat", "/www/i"], "web")
        assert (out, code) == ("compose-v2\n", 0)
