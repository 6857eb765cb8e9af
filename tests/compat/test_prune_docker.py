"""container prune, image prune and system df through the docker CLI and docker-py."""

from __future__ import annotations

import json
import subprocess

import pytest

from dockyard.testing.daemon import DaemonProcess

pytestmark = [pytest.mark.compat, pytest.mark.root]


def docker(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["docker", *args], env=env, capture_output=True, timeout=timeout)


def ok(env: dict[str, str], *args: str) -> bytes:
    r = docker(env, *args)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


def _names(env: dict[str, str]) -> set[str]:
    return set(ok(env, "ps", "-a", "--format", "{{.Names}}").decode().split())


def test_container_prune_removes_only_stopped(docker_cli: dict[str, str]) -> None:
    ok(docker_cli, "run", "--name", "pr-exited", "busybox", "sh", "-c", "echo data > /f")
    ok(docker_cli, "create", "--name", "pr-created", "busybox")
    ok(docker_cli, "run", "-d", "--name", "pr-running", "busybox", "sleep", "300")
    out = ok(docker_cli, "container", "prune", "-f").decode()
    assert "Deleted Containers:" in out and "Total reclaimed space:" in out
    names = _names(docker_cli)
    assert "pr-running" in names
    assert not names & {"pr-exited", "pr-created"}


def test_container_prune_label_filter(docker_cli: dict[str, str]) -> None:
    ok(docker_cli, "create", "--name", "pr-a", "--label", "team=a", "busybox")
    ok(docker_cli, "create", "--name", "pr-b", "--label", "team=b", "busybox")
    ok(docker_cli, "container", "prune", "-f", "--filter", "label=team=a")
    names = _names(docker_cli)
    assert "pr-b" in names and "pr-a" not in names
    ok(docker_cli, "container", "prune", "-f", "--filter", "until=1h")  # created just now: kept
    assert "pr-b" in _names(docker_cli)


def test_docker_py_prune_and_df(clean_daemon: DaemonProcess) -> None:
    docker_py = pytest.importorskip("docker")
    client = docker_py.DockerClient(base_url=clean_daemon.host, timeout=60)
    try:
        c = client.containers.run("busybox", ["sh", "-c", "head -c 5000 /dev/zero > /blob"], detach=True)
        c.wait(timeout=60)
        df = client.df()
        assert set(df) >= {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"}
        mine = [x for x in df["Containers"] if x["Id"] == c.id]
        assert mine and mine[0]["SizeRw"] >= 5000
        busybox = client.images.get("busybox")
        img = [x for x in df["Images"] if x["Id"] == busybox.id]
        assert img and img[0]["Containers"] >= 1 and img[0]["Size"] > 0
        assert df["LayersSize"] >= img[0]["Size"]
        result = client.containers.prune()
        assert c.id in result["ContainersDeleted"]
        assert result["SpaceReclaimed"] >= 5000
        with pytest.raises(docker_py.errors.NotFound):
            client.containers.get(c.id)
        images = client.images.prune()
        assert "SpaceReclaimed" in images
        assert client.images.get("busybox").id == busybox.id  # tagged: not dangling
    finally:
        client.close()


def test_system_df_and_prune_cli(docker_cli: dict[str, str]) -> None:
    ok(docker_cli, "run", "--name", "pr-df", "busybox", "true")
    rows = [json.loads(line) for line in ok(docker_cli, "system", "df", "--format", "{{json .}}").splitlines()]
    types = {r["Type"]: r for r in rows}
    assert set(types) >= {"Images", "Containers", "Local Volumes", "Build Cache"}
    assert int(types["Containers"]["TotalCount"]) >= 1
    out = ok(docker_cli, "system", "prune", "-f").decode()
    assert "Total reclaimed space" in out
    assert "pr-df" not in _names(docker_cli)
