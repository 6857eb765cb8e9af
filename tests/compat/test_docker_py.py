"""docker-py (the ``docker`` package) against dockyardd."""

from __future__ import annotations

import json
import socket

import pytest

from dockyard.testing.daemon import DaemonProcess

docker = pytest.importorskip("docker")

pytestmark = [pytest.mark.compat, pytest.mark.root]


def test_ping_and_version(client: docker.DockerClient) -> None:
    assert client.ping() is True
    v = client.version()
    assert v["ApiVersion"] >= "1.44"
    assert client.info()["OSType"] == "linux"


def test_run_returns_output(client: docker.DockerClient) -> None:
    out = client.containers.run("busybox", ["sh", "-c", "echo hello; echo oops >&2"], remove=True, stderr=False)
    assert out == b"hello\n"


def test_run_nonzero_raises_container_error(client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.ContainerError) as exc:
        client.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 9"], remove=True)
    assert exc.value.exit_status == 9


def test_detached_container_lifecycle(client: docker.DockerClient) -> None:
    c = client.containers.run(
        "busybox",
        ["sh", "-c", "echo ready; sleep 100"],
        detach=True,
        name="pyd",
        labels={"a": "b"},
        environment={"K": "V"},
    )
    c.reload()
    assert c.status == "running"
    assert c.labels["a"] == "b"
    assert "K=V" in c.attrs["Config"]["Env"]
    assert [x.name for x in client.containers.list(filters={"label": "a=b"})] == ["pyd"]
    c.kill()
    assert c.wait()["StatusCode"] == 137
    c.reload()
    assert c.status == "exited"
    assert b"ready" in c.logs()
    c.remove()
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("pyd")


def test_attach_socket_stdin(client: docker.DockerClient) -> None:
    c = client.containers.create("busybox", ["cat"], stdin_open=True)  # docker-py sets StdinOnce
    sock = c.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1})
    c.start()
    raw = sock._sock
    raw.sendall(b"ping\n")
    raw.shutdown(socket.SHUT_WR)
    data = b""
    raw.settimeout(20)
    while True:
        chunk = raw.recv(4096)
        if not chunk:
            break
        data += chunk
    sock.close()
    # 8-byte frame header, stream 1 (stdout)
    assert data[0] == 1 and data[8:] == b"ping\n"
    assert c.wait()["StatusCode"] == 0
    c.remove()


def test_images_api(client: docker.DockerClient) -> None:
    img = client.images.get("busybox")
    assert "busybox:latest" in img.tags
    img.tag("pytag", "x")
    assert client.images.get("pytag:x").id == img.id
    client.images.remove("pytag:x")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("pytag:x")
    data = b"".join(img.save(named=True))
    loaded = client.images.load(data)
    assert loaded[0].id == img.id


def test_errors_are_typed(client: docker.DockerClient, clean_daemon: DaemonProcess) -> None:
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("nope")
    with pytest.raises(docker.errors.ImageNotFound):
        client.containers.create("nosuchimage:latest", ["true"])
    status, body = clean_daemon.request("POST", "/containers/create", b"{not json")
    assert status == 400 and "message" in body
    status, body = clean_daemon.request("GET", "/v1.44/no/such/endpoint")
    assert status == 404 and isinstance(body, dict) and body.get("message")
    status, body = clean_daemon.request("DELETE", "/containers/somename?link=1")
    assert status == 409 and "default link name" in body["message"]
    status, body = clean_daemon.request("GET", "/v1.99/version")
    assert status == 400 and "too new" in json.dumps(body)
