"""Loading OCI image layouts: nested indexes pick the host platform; unnamed images load by ID."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import tarfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.images import ImageService
from dockyard.oci import host_platform
from dockyard.snapshots import CopySnapshotter


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


class Layout:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def add(self, data: bytes) -> dict[str, Any]:
        self.blobs[_sha(data)] = data
        return {"digest": _sha(data), "size": len(data)}

    def image(self, arch: str, text: bytes) -> dict[str, Any]:
        layer = _tar({"etc/arch": text})
        config = json.dumps(
            {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": [_sha(layer)]}}
        ).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **self.add(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **self.add(layer)}],
        }
        desc = self.add(json.dumps(manifest).encode())
        return {"mediaType": manifest["mediaType"], **desc, "platform": {"os": "linux", "architecture": arch}}

    def tar(self, manifests: list[dict[str, Any]]) -> bytes:
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}
        members = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": json.dumps(index).encode()}
        members.update({"blobs/sha256/" + d.split(":")[1]: b for d, b in self.blobs.items()})
        return _tar(members)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


def load(svc: ImageService, data: bytes) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        return [m async for m in svc.load(_chunks(data))]

    return asyncio.run(go())


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[ImageService]:
    s = ImageService(str(tmp_path), CopySnapshotter(str(tmp_path / "snap")))
    yield s
    s.meta.db.close()


def test_nested_index_picks_the_host_platform(svc: ImageService) -> None:
    lay = Layout()
    other_arch = "s390x" if host_platform().architecture != "s390x" else "arm64"
    mine = lay.image(host_platform().architecture, b"host")
    theirs = lay.image(other_arch, b"other")
    nested = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [theirs, mine],
    }
    idx = lay.add(json.dumps(nested).encode())
    top = {
        "mediaType": "application/vnd.oci.image.index.v1+json",
        **idx,
        "annotations": {"io.containerd.image.name": "docker.io/library/multi:1"},
    }
    assert load(svc, lay.tar([top])) == [{"stream": "Loaded image: multi:1\n"}]
    rec = svc.resolve("multi:1")
    assert rec.config["architecture"] == host_platform().architecture


def test_unnamed_image_loads_by_id(svc: ImageService) -> None:
    lay = Layout()
    desc = lay.image(host_platform().architecture, b"x")
    desc.pop("platform")
    desc["annotations"] = {"org.opencontainers.image.ref.name": "latest"}  # a bare tag names no repository
    msgs = load(svc, lay.tar([desc]))
    assert len(msgs) == 1 and msgs[0]["stream"].startswith("Loaded image ID: sha256:")
    image_id = msgs[0]["stream"].split(": ", 1)[1].strip()
    assert svc.resolve(image_id).repo_tags == ()


def test_missing_blob_is_refused(svc: ImageService) -> None:
    lay = Layout()
    desc = lay.image(host_platform().architecture, b"x")
    data = lay.tar([desc])
    del lay.blobs[next(d for d, b in lay.blobs.items() if b.startswith(b"etc/arch"))]
    with pytest.raises(errors.InvalidArgument):
        load(svc, lay.tar([desc]))
    assert load(svc, data)  # the complete layout still loads
