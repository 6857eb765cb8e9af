"""The classic builder through docker-py's ``images.build`` and the low-level ``api.build``; cache across restarts."""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterator
from typing import Any

import pytest

from dockyard.testing.daemon import DaemonProcess

docker = pytest.importorskip("docker")

pytestmark = [pytest.mark.compat, pytest.mark.root]

CORPUS = os.path.join(os.path.dirname(__file__), "dockerfiles")


@pytest.fixture
def client(clean_daemon: DaemonProcess) -> Iterator[Any]:
    c = docker.DockerClient(base_url=clean_daemon.host, timeout=120)
    made: list[str] = []
    c.made = made  # type: ignore[attr-defined]
    try:
        yield c
    finally:
        for tag in made:
            try:
                c.images.remove(tag, force=True)
            except docker.errors.APIError:
                pass
        c.close()


def _context(files: dict[str, bytes], mode: str = "w") -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:  # type: ignore[call-overload]
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def test_images_build_from_a_directory(client: Any) -> None:
    client.made.append("bt-py-multi:1")  # type: ignore[attr-defined]
    image, logs = client.images.build(path=os.path.join(CORPUS, "multistage"), tag="bt-py-multi:1", rm=True)
    assert "bt-py-multi:1" in image.tags
    text = "".join(chunk.get("stream", "") for chunk in logs)
    assert "Successfully built" in text
    out = client.containers.run("bt-py-multi:1", remove=True)
    assert out == b"tool-output\nSOME DATA\nsome data\n"


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_compressed_contexts_and_buildargs(client: Any, mode: str) -> None:
    tag = f"bt-py-ctx:{mode.replace(':', '-').replace('w', 'plain') if mode == 'w' else mode.split(':')[1]}"
    client.made.append(tag)  # type: ignore[attr-defined]
    dockerfile = b'FROM busybox\nARG WHO=nobody\nCOPY msg.txt /msg.txt\nRUN echo "$WHO: $(cat /msg.txt)" > /out\n'
    ctx = _context({"Dockerfile": dockerfile, "msg.txt": b"compressed " + mode.encode()}, mode)
    image, _ = client.images.build(
        fileobj=ctx, custom_context=True, encoding="gzip" if mode == "w:gz" else None, tag=tag,
        buildargs={"WHO": "py"}, labels={"built-by": "docker-py"},
    )  # fmt: skip
    assert image.labels == {"built-by": "docker-py"}
    assert client.containers.run(tag, ["cat", "/out"], remove=True) == f"py: compressed {mode}\n".encode()


def test_failure_raises_build_error(client: Any) -> None:
    ctx = _context({"Dockerfile": b"FROM busybox\nRUN echo visible; exit 7\n"})
    with pytest.raises(docker.errors.BuildError) as exc:
        client.images.build(fileobj=ctx, custom_context=True, tag="bt-py-fail:1", forcerm=True)
    assert "returned a non-zero code: 7" in str(exc.value)
    assert any("visible" in chunk.get("stream", "") for chunk in exc.value.build_log)


def test_parse_error_is_an_api_error(client: Any) -> None:
    ctx = _context({"Dockerfile": b"FROM busybox\n\nBOGUS x\n"})
    with pytest.raises(docker.errors.APIError) as exc:
        client.images.build(fileobj=ctx, custom_context=True)
    assert exc.value.status_code == 400
    assert "line 3" in str(exc.value)


def test_low_level_stream_shape(client: Any) -> None:
    client.made.append("bt-py-stream:1")  # type: ignore[attr-defined]
    ctx = _context({"Dockerfile": b"FROM busybox\nRUN echo building\nLABEL a=b\n"})
    msgs = [json.loads(line) for line in client.api.build(fileobj=ctx, custom_context=True, tag="bt-py-stream:1")
            for line in line.decode().splitlines() if line.strip()]  # fmt: skip
    streams = [m["stream"] for m in msgs if "stream" in m]
    assert streams[0] == "Step 1/3 : FROM busybox" and streams[1] == "\n"
    assert "building\n" in streams
    assert any(s.startswith(" ---> Running in ") for s in streams)
    aux = [m["aux"]["ID"] for m in msgs if "aux" in m]
    assert len(aux) == 1 and aux[0].startswith("sha256:")
    assert streams[-2] == f"Successfully built {aux[0][7:19]}\n"
    assert streams[-1] == "Successfully tagged bt-py-stream:1\n"


def test_cache_survives_a_daemon_restart() -> None:
    d = DaemonProcess()
    try:
        d.start()
        status, body = d.request("POST", "/dockyard/images/bootstrap?kind=busybox&tag=busybox:latest", timeout=120)
        assert status == 200, body
        c = docker.DockerClient(base_url=d.host, timeout=120)
        try:
            files = {"Dockerfile": b'FROM busybox\nCOPY a /a\nRUN cat /a > /b\nCMD ["cat", "/b"]\n', "a": b"A\n"}
            first, _ = c.images.build(fileobj=_context(files), custom_context=True, tag="restart:1")
        finally:
            c.close()
        d.stop()
        d.start()
        c = docker.DockerClient(base_url=d.host, timeout=120)
        try:
            again, logs = c.images.build(fileobj=_context(files), custom_context=True, tag="restart:1")
            text = "".join(chunk.get("stream", "") for chunk in logs)
            assert text.count("Using cache") == 3 and "Running in" not in text
            assert again.id == first.id
            assert c.containers.run("restart:1", remove=True) == b"A\n"
        finally:
            c.close()
    finally:
        d.destroy()


@pytest.fixture
def http_files(tmp_path: os.PathLike[str]) -> Iterator[str]:
    """A small HTTP server on 127.0.0.1 serving ``tmp_path``; yields its base URL."""
    import functools
    import http.server
    import threading

    with open(os.path.join(str(tmp_path), "remote.txt"), "w") as f:
        f.write("fetched over http\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_add_from_a_url(client: Any, http_files: str) -> None:
    client.made.append("bt-py-url:1")  # type: ignore[attr-defined]
    dockerfile = f"FROM busybox\nADD {http_files}/remote.txt /dl/\nRUN stat -c %a /dl/remote.txt > /dl/mode\n"
    client.images.build(fileobj=_context({"Dockerfile": dockerfile.encode()}), custom_context=True, tag="bt-py-url:1")
    out = client.containers.run("bt-py-url:1", ["cat", "/dl/remote.txt", "/dl/mode"], remove=True)
    assert out == b"fetched over http\n600\n"


def test_a_bare_dockerfile_body_and_build_host_options(client: Any) -> None:
    client.made.append("bt-py-bare:1")  # type: ignore[attr-defined]
    body = io.BytesIO(b"FROM busybox\nRUN grep buildhost /etc/hosts > /hosts.txt\n")
    client.images.build(
        fileobj=body, custom_context=True, tag="bt-py-bare:1", network_mode="none",
        extra_hosts={"buildhost": "10.9.8.7"},
    )  # fmt: skip
    out = client.containers.run("bt-py-bare:1", ["cat", "/hosts.txt"], remove=True)
    assert b"10.9.8.7" in out and b"buildhost" in out
