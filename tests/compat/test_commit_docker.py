"""docker commit through the real docker CLI and docker-py."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator

import pytest

from dockyard.testing.daemon import DaemonProcess

pytestmark = [pytest.mark.compat, pytest.mark.root]


def docker(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["docker", *args], env=env, capture_output=True, timeout=timeout)


def ok(env: dict[str, str], *args: str) -> bytes:
    r = docker(env, *args)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


@pytest.fixture
def images(docker_cli: dict[str, str]) -> Iterator[list[str]]:
    """Image names a test creates; removed afterwards (after its containers, which clean_daemon removes)."""
    made: list[str] = []
    yield made
    for c in ok(docker_cli, "ps", "-aq").split():
        docker(docker_cli, "rm", "-f", c.decode())
    for name in made:
        docker(docker_cli, "rmi", "-f", name)


def test_commit_then_run_sees_the_file(docker_cli: dict[str, str], images: list[str]) -> None:
    ok(docker_cli, "run", "--name", "cm1", "busybox", "sh", "-c", "echo committed > /x && rm /bin/ls")
    images.append("cmtest:one")
    image_id = ok(docker_cli, "commit", "cm1", "cmtest:one").decode().strip()
    assert image_id.startswith("sha256:")
    assert ok(docker_cli, "run", "--rm", "cmtest:one", "cat", "/x") == b"committed\n"
    r = docker(docker_cli, "run", "--rm", "cmtest:one", "ls", "/")
    assert r.returncode != 0  # the deletion is part of the image too
    inspect = json.loads(ok(docker_cli, "image", "inspect", "cmtest:one"))[0]
    base = json.loads(ok(docker_cli, "image", "inspect", "busybox"))[0]
    assert len(inspect["RootFS"]["Layers"]) == len(base["RootFS"]["Layers"]) + 1
    assert inspect["RootFS"]["Layers"][:-1] == base["RootFS"]["Layers"]
    # the runtime's mountpoint stubs are not in the image
    assert docker(docker_cli, "run", "--rm", "cmtest:one", "cat", "/etc/hostname").returncode == 0
    assert ok(docker_cli, "diff", "cm1").decode().splitlines() == ["C /bin", "D /bin/ls", "A /x"]


def test_commit_with_change_cmd_comment_and_author(docker_cli: dict[str, str], images: list[str]) -> None:
    ok(docker_cli, "run", "--name", "cm2", "busybox", "sh", "-c", "echo from-cmd > /x")
    images.append("cmtest:two")
    ok(
        docker_cli,
        "commit",
        "--change",
        'CMD ["cat","/x"]',
        "--change",
        "ENV HELLO=world",
        "-m",
        "my message",
        "-a",
        "me <me@example.com>",
        "cm2",
        "cmtest:two",
    )
    assert ok(docker_cli, "run", "--rm", "cmtest:two") == b"from-cmd\n"
    inspect = json.loads(ok(docker_cli, "image", "inspect", "cmtest:two"))[0]
    assert inspect["Config"]["Cmd"] == ["cat", "/x"]
    assert "HELLO=world" in inspect["Config"]["Env"]
    assert inspect["Comment"] == "my message"
    assert inspect["Author"] == "me <me@example.com>"
    history = ok(docker_cli, "history", "--no-trunc", "--format", "{{.Comment}}", "cmtest:two").decode()
    assert history.splitlines()[0] == "my message"


def test_commit_running_container(docker_cli: dict[str, str], images: list[str]) -> None:
    ok(docker_cli, "run", "-d", "--name", "cm3", "busybox", "sh", "-c", "echo live > /live && sleep 300")
    for _ in range(100):
        if docker(docker_cli, "cp", "cm3:/live", "-").returncode == 0:
            break
        subprocess.run(["sleep", "0.1"], check=True)
    images.append("cmtest:three")
    since = str(int(time.time()) - 1)
    ok(docker_cli, "commit", "cm3", "cmtest:three")
    state = json.loads(ok(docker_cli, "inspect", "cm3"))[0]["State"]
    assert state["Running"] is True and state["Paused"] is False
    until = str(int(time.time()) + 1)
    events = (
        ok(
            docker_cli,
            "events",
            "--since",
            since,
            "--until",
            until,
            "--filter",
            "container=cm3",
            "--format",
            "{{.Action}}",
        )
        .decode()
        .split()
    )
    assert events[-3:] == ["pause", "unpause", "commit"]  # paused while the layer was written
    assert ok(docker_cli, "run", "--rm", "cmtest:three", "cat", "/live") == b"live\n"


def test_commit_errors(docker_cli: dict[str, str]) -> None:
    r = docker(docker_cli, "commit", "no-such-container", "cmtest:x")
    assert r.returncode != 0
    ok(docker_cli, "create", "--name", "cm4", "busybox")
    r = docker(docker_cli, "commit", "--change", "RUN echo", "cm4", "cmtest:bad")
    assert r.returncode != 0
    assert docker(docker_cli, "image", "inspect", "cmtest:bad").returncode != 0


def test_docker_py_commit_and_event(clean_daemon: DaemonProcess) -> None:
    docker_py = pytest.importorskip("docker")
    client = docker_py.DockerClient(base_url=clean_daemon.host, timeout=60)
    try:
        c = client.containers.run("busybox", ["sh", "-c", "echo py > /p"], name="cmpy", detach=True)
        c.wait(timeout=60)
        since = client.api.inspect_container(c.id)["State"]["FinishedAt"]
        img = c.commit(repository="cmtest", tag="py", message="via py", changes=['CMD ["cat", "/p"]'])
        try:
            assert img.attrs["Comment"] == "via py"
            out = client.containers.run(img.id, remove=True)
            assert out == b"py\n"
            events = client.events(
                since=since,
                until=str(int(time.time()) + 1),
                decode=True,
                filters={"type": "container", "event": "commit"},
            )
            got = [e for e in events if e.get("Actor", {}).get("ID") == c.id]
            assert got and got[0]["Actor"]["Attributes"]["imageID"] == img.id
        finally:
            c.remove(force=True)
            client.images.remove(img.id, force=True)
    finally:
        client.close()
