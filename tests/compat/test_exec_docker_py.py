"""Exec through docker-py (the ``docker`` package) against dockyardd."""

from __future__ import annotations

import time
from typing import Any

import pytest

docker = pytest.importorskip("docker")

pytestmark = [pytest.mark.compat, pytest.mark.root]


@pytest.fixture
def box(client: Any) -> Any:
    return client.containers.run("busybox", ["sleep", "1000"], detach=True, name="pybox", environment={"BASE": "1"})


def test_exec_run_output_and_exit_code(box: Any) -> None:
    res = box.exec_run(["sh", "-c", "echo hi; exit 4"])
    assert res.exit_code == 4 and res.output == b"hi\n"


def test_exec_run_demux(box: Any) -> None:
    res = box.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
    assert res.output == (b"out\n", b"err\n")


def test_exec_run_user_workdir_environment(box: Any) -> None:
    res = box.exec_run(["sh", "-c", "id -u; pwd; echo $K $BASE"], user="nobody", workdir="/tmp", environment={"K": "v"})
    assert res.exit_code == 0
    assert res.output == b"65534\n/tmp\nv 1\n"


def test_exec_run_tty(box: Any) -> None:
    res = box.exec_run(["sh", "-c", "test -t 1 && echo tty"], tty=True)
    assert res.output == b"tty\r\n"


def test_exec_run_stream(box: Any) -> None:
    res = box.exec_run(["sh", "-c", "echo a; sleep 0.2; echo b"], stream=True)
    assert b"".join(res.output) == b"a\nb\n"


def test_low_level_exec_inspect_and_detach(client: Any, box: Any) -> None:
    api = client.api
    ex = api.exec_create(box.id, ["sh", "-c", "sleep 0.5; exit 6"])
    info = api.exec_inspect(ex["Id"])
    assert info["Running"] is False and info["ExitCode"] is None and info["ContainerID"] == box.id
    assert info["ProcessConfig"]["entrypoint"] == "sh"
    assert not api.exec_start(ex["Id"], detach=True)  # an empty body
    info = api.exec_inspect(ex["Id"])
    assert info["Running"] is True and info["Pid"] > 0
    deadline = time.monotonic() + 20
    while api.exec_inspect(ex["Id"])["Running"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert api.exec_inspect(ex["Id"])["ExitCode"] == 6
    with pytest.raises(docker.errors.APIError) as exc:
        api.exec_start(ex["Id"])
    assert exc.value.status_code == 409


def test_exec_socket_stdin(client: Any, box: Any) -> None:
    api = client.api
    ex = api.exec_create(box.id, ["cat"], stdin=True)
    sock = api.exec_start(ex["Id"], socket=True)
    raw = sock._sock
    try:
        raw.sendall(b"ping\n")
        raw.shutdown(1)  # half-close: cat sees EOF
        data = b""
        raw.settimeout(20)
        while True:
            chunk = raw.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    assert data == b"\x01\x00\x00\x00\x00\x00\x00\x05ping\n"
    deadline = time.monotonic() + 20
    while api.exec_inspect(ex["Id"])["ExitCode"] is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert api.exec_inspect(ex["Id"])["ExitCode"] == 0


def test_exec_not_found(client: Any) -> None:
    with pytest.raises(docker.errors.NotFound):
        client.api.exec_inspect("0" * 64)


def test_exec_events(client: Any, box: Any) -> None:
    since = int(time.time()) - 1
    res = box.exec_run(["sh", "-c", "exit 2"])
    assert res.exit_code == 2
    events = client.events(since=since, until=int(time.time()) + 1, filters={"container": box.id}, decode=True)
    got = [(e["Action"], e["Actor"]["Attributes"]) for e in events]
    actions = [a for a, _ in got]
    assert "exec_create: sh -c exit 2" in actions and "exec_start: sh -c exit 2" in actions
    die = [attrs for a, attrs in got if a == "exec_die"]
    assert die and die[-1]["exitCode"] == "2" and die[-1]["execID"]
