"""Volumes through docker-py, and across a daemon restart (a private dockyardd)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import docker
import docker.errors
import pytest

from dockyard.testing.daemon import DaemonProcess

pytestmark = [pytest.mark.compat, pytest.mark.root]


@pytest.fixture
def client(clean_daemon: DaemonProcess) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=clean_daemon.host, version="1.44", timeout=60)
    try:
        yield c
    finally:
        clean_daemon.remove_all_containers()
        for v in c.volumes.list():
            try:
                v.remove(force=True)
            except docker.errors.APIError:
                pass
        c.close()


def test_volume_api_through_docker_py(client: docker.DockerClient) -> None:
    vol = client.volumes.create("pyvol", labels={"app": "test"})
    assert vol.name == "pyvol" and vol.attrs["Labels"] == {"app": "test"} and vol.attrs["Driver"] == "local"
    assert [v.name for v in client.volumes.list(filters={"label": "app=test"})] == ["pyvol"]
    out = client.containers.run(
        "busybox", ["sh", "-c", "echo py > /data/f"], volumes={"pyvol": {"bind": "/data", "mode": "rw"}}, remove=True
    )
    assert out == b""
    out = client.containers.run("busybox", ["cat", "/data/f"], volumes=["pyvol:/data:ro"], remove=True)
    assert out == b"py\n"
    ctr = client.containers.create("busybox", ["true"], volumes={"pyvol": {"bind": "/data", "mode": "ro"}})
    mounts = client.api.inspect_container(ctr.id)["Mounts"]
    assert [(m["Type"], m["Name"], m["Destination"], m["RW"]) for m in mounts] == [("volume", "pyvol", "/data", False)]
    with pytest.raises(docker.errors.APIError) as info:
        vol.remove()
    assert info.value.status_code == 409 and "in use" in str(info.value)
    ctr.remove()
    with pytest.raises(docker.errors.APIError) as info:
        client.volumes.create("x")  # too short: two characters at least
    assert info.value.status_code == 400
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get("missing-volume")
    vol.remove()
    assert client.volumes.list(filters={"name": "pyvol"}) == []


def test_prune_through_docker_py(client: docker.DockerClient) -> None:
    client.volumes.create("prune-named")
    ctr = client.containers.create("busybox", ["true"], volumes=["/anon"])
    anon = client.api.inspect_container(ctr.id)["Mounts"][0]["Name"]
    ctr.remove()  # without v: the anonymous volume stays
    assert anon in [v.name for v in client.volumes.list()]
    result = client.volumes.prune()
    assert result["VolumesDeleted"] == [anon] and result["SpaceReclaimed"] == 0
    result = client.volumes.prune(filters={"all": "true"})
    assert result["VolumesDeleted"] == ["prune-named"]


def test_volume_events(client: docker.DockerClient) -> None:
    since = int(time.time()) - 1
    client.volumes.create("evvol")
    client.containers.run("busybox", ["true"], volumes=["evvol:/d"], remove=True)
    client.volumes.get("evvol").remove()
    until = int(time.time()) + 1
    events = list(client.events(since=since, until=until, decode=True, filters={"type": "volume"}))
    actions = [(e["Action"], e["Actor"]["ID"]) for e in events if e["Actor"]["ID"] == "evvol"]
    assert actions == [("create", "evvol"), ("mount", "evvol"), ("unmount", "evvol"), ("destroy", "evvol")]


def test_disk_usage_lists_volume_sizes(client: docker.DockerClient) -> None:
    client.containers.run("busybox", ["sh", "-c", "head -c 3000 /dev/zero > /d/f"], volumes=["sized:/d"], remove=True)
    ctr = client.containers.create("busybox", ["true"], volumes=["sized:/d"])
    usage = {v["Name"]: v["UsageData"] for v in client.df()["Volumes"]}
    assert usage["sized"] == {"Size": 3000, "RefCount": 1}
    ctr.remove()
    usage = {v["Name"]: v["UsageData"] for v in client.df()["Volumes"]}
    assert usage["sized"] == {"Size": 3000, "RefCount": 0}


def test_volume_survives_daemon_restart(own_daemon: DaemonProcess) -> None:
    d = own_daemon

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", *args], env=d.env(), capture_output=True, text=True, timeout=60)

    assert (
        cli(
            "run", "--name", "holder", "-v", "durable:/data", "busybox", "sh", "-c", "echo survived > /data/f"
        ).returncode
        == 0
    )
    d.kill9()
    d.start()
    assert cli("volume", "ls", "-q").stdout.split() == ["durable"]
    r = cli("volume", "rm", "durable")  # the reference of "holder" survived too
    assert r.returncode != 0 and "volume is in use" in r.stderr
    r = cli("run", "--rm", "-v", "durable:/data", "busybox", "cat", "/data/f")
    assert r.returncode == 0 and r.stdout == "survived\n", r.stderr
    d.stop()
    d.start()
    assert cli("rm", "holder").returncode == 0
    assert cli("volume", "rm", "durable").returncode == 0
