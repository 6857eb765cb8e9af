"""Hostile or broken registries: every bad blob or manifest is refused and nothing is stored;
an interrupted pull resumes from the content store, and GC removes what an abandoned one left."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dockyard import errors
from dockyard.images.gc import collect
from dockyard.oci import mediatypes as mt

from .test_distribution_pull_push import Blobs, Store, layer_tar, make_image, new_store, sha, statuses

pytestmark = [pytest.mark.root]


@dataclass
class Route:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    cut_once: int = 0  # the first response promises the whole body, sends this many bytes and hangs up


class FakeRegistry:
    """A registry that serves exactly what a test tells it to, and counts requests per path."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def _serve(self, head: bool) -> None:
                path = self.path.split("?", 1)[0]
                fake.hits[path] = fake.hits.get(path, 0) + 1
                route = fake.routes.get(path) or (Route(200, b"{}") if path == "/v2/" else Route(404, b""))
                body = route.body
                self.send_response(route.status)
                for k, v in route.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if head:
                    return
                if route.cut_once:
                    self.wfile.write(body[: route.cut_once])
                    route.cut_once = 0
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._serve(False)

            def do_HEAD(self) -> None:
                self._serve(True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def serve_image(self, repo: str, img: Blobs, tag: str = "1") -> None:
        self.routes[f"/v2/{repo}/manifests/{tag}"] = Route(200, img.manifest, {"Content-Type": img.media_type})
        for blob in img.blobs:
            self.routes[f"/v2/{repo}/blobs/{sha(blob)}"] = Route(200, blob)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def store() -> Iterator[Store]:
    s = new_store()
    try:
        yield s
    finally:
        shutil.rmtree(s.root, ignore_errors=True)


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    f = FakeRegistry()
    try:
        yield f
    finally:
        f.close()


def _assert_nothing_stored(store: Store) -> None:
    assert store.blob_count() == 0
    assert not [k for k in store.images.snapshotter.all_keys()]
    assert store.images.records() == []


def test_blob_with_wrong_digest_is_refused(fake: FakeRegistry, store: Store) -> None:
    img = make_image([{"a": b"a"}])
    fake.serve_image("x", img)
    layer = img.blobs[1]
    fake.routes[f"/v2/x/blobs/{sha(layer)}"] = Route(
        200, gzip.compress(b"something else" * 3)[: len(layer)].ljust(len(layer), b"\0")
    )
    with pytest.raises(errors.DigestMismatch):
        store.pull(f"{fake.host}/x", "1")
    _assert_nothing_stored(store)


def test_truncated_blob_is_refused(fake: FakeRegistry, store: Store) -> None:
    img = make_image([{"a": b"a" * 4000}])
    fake.serve_image("x", img)
    layer = img.blobs[1]
    fake.routes[f"/v2/x/blobs/{sha(layer)}"] = Route(200, layer[: len(layer) // 2])
    with pytest.raises(errors.SizeMismatch):
        store.pull(f"{fake.host}/x", "1")
    _assert_nothing_stored(store)


def test_manifest_with_unknown_media_type_is_refused(fake: FakeRegistry, store: Store) -> None:
    img = make_image([{"a": b"a"}])
    fake.serve_image("x", img)
    odd = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.example.thing+json"}).encode()
    fake.routes["/v2/x/manifests/1"] = Route(200, odd, {"Content-Type": "application/vnd.example.thing+json"})
    with pytest.raises(errors.InvalidArgument, match="unsupported manifest media type"):
        store.pull(f"{fake.host}/x", "1")
    # a known manifest type with an unknown layer type is refused too
    man = json.loads(img.manifest)
    man["layers"][0]["mediaType"] = "application/x-rar"
    fake.routes["/v2/x/manifests/1"] = Route(200, json.dumps(man).encode(), {"Content-Type": mt.OCI_MANIFEST})
    with pytest.raises(errors.InvalidArgument, match="unsupported layer media type"):
        store.pull(f"{fake.host}/x", "1")
    _assert_nothing_stored(store)


def test_layer_with_escaping_paths_is_refused(fake: FakeRegistry, store: Store) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../../escaped")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    tar_bytes = buf.getvalue()
    layer = gzip.compress(tar_bytes)
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [sha(tar_bytes)]}}
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": mt.OCI_CONFIG, "digest": sha(config), "size": len(config)},
            "layers": [{"mediaType": mt.OCI_LAYER_GZIP, "digest": sha(layer), "size": len(layer)}],
        }
    ).encode()
    fake.serve_image("x", Blobs(manifest, mt.OCI_MANIFEST, [config, layer], config))
    with pytest.raises(errors.InvalidArgument):
        store.pull(f"{fake.host}/x", "1")
    _assert_nothing_stored(store)


def test_interrupted_pull_resumes_and_gc_cleans_abandoned_pulls(fake: FakeRegistry, store: Store) -> None:
    img = make_image([{"one": b"1" * 10000}, {"two": b"2" * 10000}, {"three": b"3"}])
    fake.serve_image("x", img)
    first, broken = img.blobs[1], img.blobs[3]
    fake.routes[f"/v2/x/blobs/{sha(broken)}"] = Route(500, b'{"errors":[{"code":"UNKNOWN","message":"down"}]}')
    with pytest.raises(errors.Unavailable):
        store.pull(f"{fake.host}/x", "1")
    assert store.images.content.exists(Digest_parse(sha(first)))
    assert store.images.records() == []
    hits_first = fake.hits[f"/v2/x/blobs/{sha(first)}"]

    fake.serve_image("x", img)  # the registry recovers
    st = statuses(store.pull(f"{fake.host}/x", "1"))
    assert st[-1] == f"Status: Downloaded newer image for {fake.host}/x:1"
    assert fake.hits[f"/v2/x/blobs/{sha(first)}"] == hits_first, "a stored layer was downloaded again"
    assert store.rootfs_file(f"{fake.host}/x:1", "three") == b"3"

    # an abandoned pull: its blobs and layers are garbage once no image holds them
    other = make_image([{"lonely": b"L" * 3000}, {"never": b"N"}])
    fake.serve_image("y", other)
    fake.routes[f"/v2/y/blobs/{sha(other.blobs[2])}"] = Route(500, b"")
    with pytest.raises(errors.Unavailable):
        store.pull(f"{fake.host}/y", "1")
    before = store.blob_count()
    result = collect(store.images)
    assert result.blobs_removed >= 1
    assert store.blob_count() < before
    assert not store.images.content.exists(Digest_parse(sha(other.blobs[1])))
    # the complete image is untouched
    assert store.rootfs_file(f"{fake.host}/x:1", "one") == b"1" * 10000
    assert collect(store.images).blobs_removed == 0


def Digest_parse(text: str) -> Any:
    from dockyard.oci.digest import Digest

    return Digest.parse(text)


def test_layer_tar_helper_is_deterministic() -> None:
    assert layer_tar({"a": b"1"}) == layer_tar({"a": b"1"})


def test_download_cut_mid_blob_by_a_registry_that_ignores_range(fake: FakeRegistry, store: Store) -> None:
    img = make_image([{"big": bytes(range(256)) * 2000}, {"small": b"s"}])
    fake.serve_image("x", img)
    layer = img.blobs[1]
    fake.routes[f"/v2/x/blobs/{sha(layer)}"] = Route(200, layer, cut_once=len(layer) // 3)
    st = statuses(store.pull(f"{fake.host}/x", "1"))
    assert st[-1] == f"Status: Downloaded newer image for {fake.host}/x:1"
    assert fake.hits[f"/v2/x/blobs/{sha(layer)}"] == 2
    assert store.rootfs_file(f"{fake.host}/x:1", "big") == bytes(range(256)) * 2000
    assert not [n for n in os.listdir(store.images.tmp_dir) if n.startswith("unpack-")]
