"""The client library against an in-process fake Engine API on a unix socket."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.client import APIError, Client, DaemonUnreachable, FrameDecoder
from dockyard.client.fake_engine import FakeEngine


@pytest.fixture
def sockdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="dyc", dir="/tmp"))  # short: unix socket paths are limited
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def engine(sockdir: Path) -> Iterator[FakeEngine]:
    with FakeEngine(str(sockdir / "d.sock")) as eng:
        yield eng


@pytest.fixture
def client(engine: FakeEngine) -> Client:
    return Client("unix://" + engine.socket_path, timeout=10)


def _read_all(stream: object) -> list[tuple[int, bytes]]:
    dec = FrameDecoder()
    out: list[tuple[int, bytes]] = []
    while data := stream.recv(65536):  # type: ignore[attr-defined]
        out += dec.feed(data)
    return out


def test_ping_and_version_use_the_versioned_prefix(client: Client, engine: FakeEngine) -> None:
    assert client.ping() == "OK"
    assert client.version()["ApiVersion"] == "1.44"
    assert ("GET", "/_ping") in engine.requests  # the ping is unversioned, as docker sends it
    assert ("GET", "/version") in engine.requests


def test_error_body_becomes_category_error(client: Client) -> None:
    with pytest.raises(errors.NotFound) as info:
        client.inspect_container("nosuch")
    assert isinstance(info.value, APIError)
    assert info.value.status == 404
    assert info.value.message == "No such container: nosuch"


def test_conflict_on_duplicate_name(client: Client) -> None:
    client.create_container({"Image": "busybox", "Cmd": ["echo", "x"]}, name="dup")
    with pytest.raises(errors.Conflict):
        client.create_container({"Image": "busybox", "Cmd": ["echo", "x"]}, name="dup")


def test_attach_hijack_demuxes_stdout_and_stderr(client: Client) -> None:
    cid = client.create_container({"Image": "busybox", "Cmd": ["fail", "4"]})["Id"]
    with client.attach(cid) as stream:
        waiter = client.wait_later(cid, "next-exit")
        assert waiter.read_in_background(5), "the fake sends the wait head at once"
        client.start(cid)
        assert _read_all(stream) == [(2, b"failing\n")]
    assert waiter.json() == {"StatusCode": 4}
    assert client.inspect_container(cid)["State"]["ExitCode"] == 4


def test_attach_stdin_then_half_close(client: Client) -> None:
    cid = client.create_container({"Image": "busybox", "Cmd": ["cat"], "OpenStdin": True})["Id"]
    with client.attach(cid, stdin=True) as stream:
        client.start(cid)
        stream.sendall(b"one\n")
        stream.sendall(b"two\n")
        stream.close_write()  # EOF for the container's stdin; output still flows back
        got = b"".join(d for _, d in _read_all(stream))
    assert got == b"one\ntwo\n"
    assert client.wait(cid)["StatusCode"] == 0


def test_attach_to_missing_container_raises_not_found(client: Client) -> None:
    with pytest.raises(errors.NotFound):
        client.attach("nosuch")


def test_logs_are_demultiplexed(client: Client) -> None:
    cid = client.create_container({"Image": "busybox", "Cmd": ["echo", "a", "b"]})["Id"]
    client.start(cid)
    client.wait(cid)
    assert list(client.logs(cid, tty=False)) == [(1, b"a b\n")]


def test_streamed_messages_arrive_decoded(client: Client, engine: FakeEngine) -> None:
    msgs = list(client.bootstrap("busybox", "bb:1"))
    assert msgs[0] == {"status": "Bootstrapping busybox"}
    assert "bb:1" in client.inspect_image("bb:1")["RepoTags"]


def test_chunked_upload_of_a_stream(client: Client, sockdir: Path) -> None:
    src = sockdir / "img.tar"
    src.write_bytes(b"FAKETAR up:2")
    with src.open("rb") as f:
        msgs = list(client.load(f))
    assert msgs == [{"stream": "Loaded image: up:2\n"}]
    assert client.inspect_image("up:2")["Id"].startswith("sha256:")


def test_missing_socket_is_daemon_unreachable(sockdir: Path) -> None:
    c = Client(f"unix://{sockdir}/absent.sock")
    with pytest.raises(DaemonUnreachable) as info:
        c.ping()
    assert isinstance(info.value, errors.Unavailable)
    assert str(sockdir) in info.value.message


def test_refused_socket_is_daemon_unreachable(sockdir: Path) -> None:
    path = str(sockdir / "dead.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)  # bound, never listening: connect() is refused
    try:
        with pytest.raises(DaemonUnreachable):
            Client("unix://" + path).ping()
    finally:
        s.close()


def test_wait_removed_returns_after_autoremove(client: Client, engine: FakeEngine) -> None:
    cid = client.create_container({"Image": "busybox", "Cmd": ["echo"], "HostConfig": {"AutoRemove": True}})["Id"]
    waiter = client.wait_later(cid, "removed")
    waiter.read_in_background(5)
    client.start(cid)
    assert waiter.json() == {"StatusCode": 0}
    with pytest.raises(errors.NotFound):
        client.inspect_container(cid)


def test_tcp_host_with_hijack() -> None:
    with FakeEngine(tcp=True) as eng:
        assert eng.host.startswith("tcp://127.0.0.1:")
        c = Client(eng.host, timeout=10)
        cid = c.create_container({"Image": "busybox", "Cmd": ["cat"], "OpenStdin": True})["Id"]
        with c.attach(cid, stdin=True) as stream:
            c.start(cid)
            stream.sendall(b"over tcp\n")
            stream.close_write()
            assert _read_all(stream) == [(1, b"over tcp\n")]


def test_exec_hijack_and_exit_code(client: Client, engine: FakeEngine) -> None:
    cid = client.create_container({"Image": "busybox", "Cmd": ["sleep"]})["Id"]
    client.start(cid)
    exec_id = client.exec_create(cid, {"Cmd": ["fail", "6"], "AttachStdout": True, "AttachStderr": True})
    with client.exec_start(exec_id) as stream:
        assert _read_all(stream) == [(2, b"failing\n")]
    assert client.exec_inspect(exec_id)["ExitCode"] == 6
    with pytest.raises(errors.NotFound):
        client.exec_inspect("nosuch")
    client.stop(cid)
