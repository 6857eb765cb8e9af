"""A pull cut short by ``kill -9`` of dockyardd resumes after restart from what the content store
already holds; pulled images round-trip through ``docker save`` / ``docker load``; image prune
sweeps what an abandoned pull left."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dockyard.oci import mediatypes as mt
from dockyard.registry import RegistryConfig, RunningRegistry
from dockyard.testing.daemon import DaemonProcess

pytestmark = [pytest.mark.compat, pytest.mark.root]


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(name: str, size: int) -> tuple[bytes, bytes]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = size
        tar.addfile(info, io.BytesIO(os.urandom(size)))
    raw = buf.getvalue()
    return raw, gzip.compress(raw, compresslevel=1)


class StallingRegistry:
    """Serves one image; GETs of the blob in ``stall`` wait until ``release`` is set."""

    def __init__(self, sizes: list[int]) -> None:
        layers = [_layer(f"f{i}", s) for i, s in enumerate(sizes)]
        self.layers = [gz for _, gz in layers]
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [_sha(r) for r, _ in layers]},
            }
        ).encode()
        self.manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_MANIFEST,
                "config": {"mediaType": mt.OCI_CONFIG, "digest": _sha(config), "size": len(config)},
                "layers": [{"mediaType": mt.OCI_LAYER_GZIP, "digest": _sha(b), "size": len(b)} for b in self.layers],
            }
        ).encode()
        self.blobs = {_sha(b): b for b in [config, *self.layers]}
        self.hits: dict[str, int] = {}
        self.stall = ""
        self.release = threading.Event()
        me = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                status, body, ctype = 404, b"{}", "application/json"
                if path == "/v2/":
                    status = 200
                elif path.endswith("/manifests/1"):
                    status, body, ctype = 200, me.manifest, mt.OCI_MANIFEST
                elif "/blobs/" in path:
                    digest = path.rsplit("/", 1)[1]
                    me.hits[digest] = me.hits.get(digest, 0) + 1
                    if digest == me.stall:
                        me.release.wait(60)
                        if me.stall == digest:  # still stalled: drop the connection
                            self.close_connection = True
                            return
                    if digest in me.blobs:
                        status, body, ctype = 200, me.blobs[digest], "application/octet-stream"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def private_daemon() -> Iterator[DaemonProcess]:
    d = DaemonProcess()
    try:
        d.start()
        yield d
    finally:
        d.destroy()


def _blob_path(d: DaemonProcess, digest: str) -> str:
    return os.path.join(d.data_root, "content", "blobs", "sha256", digest.split(":", 1)[1])


def _wait(cond: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_pull_resumes_after_daemon_kill(private_daemon: DaemonProcess) -> None:
    d = private_daemon
    reg = StallingRegistry([300_000, 200_000, 100_000])
    try:
        first, second, last = (_sha(b) for b in reg.layers)
        reg.stall = last
        worker = threading.Thread(
            target=lambda: _ignore(d.request, "POST", f"/images/create?fromImage={reg.host}/app&tag=1", None, 120),
            daemon=True,
        )
        worker.start()
        _wait(lambda: os.path.exists(_blob_path(d, first)) and os.path.exists(_blob_path(d, second)))
        _wait(lambda: reg.hits.get(last, 0) >= 1)
        d.kill9()
        reg.stall = ""
        reg.release.set()
        worker.join(30)
        d.start()
        status, body = d.request("POST", f"/images/create?fromImage={reg.host}/app&tag=1", timeout=120)
        assert status == 200, body
        assert b"Status: Downloaded newer image" in body
        assert reg.hits[first] == 1 and reg.hits[second] == 1, reg.hits
        assert d.request("GET", f"/images/{reg.host}/app:1/json")[0] == 200

    finally:
        reg.close()


def test_image_prune_sweeps_what_a_killed_pull_left(private_daemon: DaemonProcess) -> None:
    d = private_daemon
    reg = StallingRegistry([300_000, 100_000])
    try:
        first, last = (_sha(b) for b in reg.layers)
        reg.stall = last
        worker = threading.Thread(
            target=lambda: _ignore(d.request, "POST", f"/images/create?fromImage={reg.host}/app&tag=1", None, 120),
            daemon=True,
        )
        worker.start()
        _wait(lambda: os.path.exists(_blob_path(d, first)) and reg.hits.get(last, 0) >= 1)
        d.kill9()
        reg.release.set()
        worker.join(30)
        d.start()
        assert os.path.exists(_blob_path(d, first))
        status, body = d.request("POST", "/images/prune")
        assert status == 200, body
        assert body["SpaceReclaimed"] >= len(reg.layers[0])
        assert not os.path.exists(_blob_path(d, first))
    finally:
        reg.close()


def _ignore(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        pass


def test_pulled_images_round_trip_through_save_and_load(clean_daemon: DaemonProcess) -> None:
    root = tempfile.mkdtemp(prefix="dockyard-reg-")
    env = clean_daemon.env()
    made: list[str] = []

    def docker(*args: str) -> str:
        p = subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, (args, p.stdout, p.stderr)
        return p.stdout

    try:
        with RunningRegistry(RegistryConfig(root=root, access_log=False)) as reg:
            host = f"127.0.0.1:{reg.port}"
            name = "s" + uuid.uuid4().hex[:8]
            refs = [f"{host}/{name}:a", f"{host}/{name}:b", f"{host}/{name}2:c"]
            made.extend(refs)
            for ref in refs:
                docker("tag", "busybox", ref)
                docker("push", ref)
                docker("rmi", ref)
            for ref in refs:
                docker("pull", ref)
            archive = os.path.join(root, "images.tar")
            docker("save", "-o", archive, *refs)
            for ref in refs:
                docker("rmi", ref)
            out = docker("load", "-i", archive)
            for ref in refs:
                assert f"Loaded image: {ref}" in out
            assert docker("run", "--rm", refs[2], "echo", "loaded") == "loaded\n"
    finally:
        for ref in made:
            clean_daemon.request("DELETE", f"/images/{ref}?force=1")
        shutil.rmtree(root, ignore_errors=True)
