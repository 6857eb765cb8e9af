"""Loading and saving image archives on overlay snapshots, and the busybox bootstrap (as root)."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.images import ImageService
from dockyard.mount.linux import mount_all, unmount_all
from dockyard.snapshots import OverlaySnapshotter

pytestmark = pytest.mark.root


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 1_700_000_000
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _layers() -> list[bytes]:
    return [_tar({"etc/one": b"1", "etc/two": b"2"}), _tar({"etc/.wh.one": b"", "etc/three": b"3"})]


def _config(diff_ids: list[str], cmd: str) -> bytes:
    cfg = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "config": {"Cmd": [cmd]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-01-02T03:04:05Z", "created_by": f"layer {i}"} for i in range(len(diff_ids))],
    }
    return json.dumps(cfg).encode()


def docker_save_tar(tags: list[str]) -> tuple[bytes, str]:
    """A classic ``docker save`` archive: <id>/layer.tar, <config>.json, manifest.json, repositories."""
    layers = _layers()
    config = _config([_sha(x) for x in layers], "docker-save")
    members: dict[str, bytes] = {}
    paths = []
    for i, layer in enumerate(layers):
        path = f"{hashlib.sha256(str(i).encode()).hexdigest()}/layer.tar"
        members[path] = layer
        paths.append(path)
    cfg_name = _sha(config).split(":")[1] + ".json"
    members[cfg_name] = config
    members["manifest.json"] = json.dumps([{"Config": cfg_name, "RepoTags": tags, "Layers": paths}]).encode()
    return _tar(members), _sha(config)


def oci_layout_tar(name: str) -> tuple[bytes, str]:
    """An OCI image layout with gzip layers, named by the containerd annotation."""
    layers = _layers()
    blobs = {}
    descs = []
    for layer in layers:
        gz = gzip.compress(layer, mtime=0)
        blobs[_sha(gz)] = gz
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": _sha(gz), "size": len(gz)})
    config = _config([_sha(x) for x in layers], "oci")
    blobs[_sha(config)] = config
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _sha(config),
                "size": len(config),
            },
            "layers": descs,
        }
    ).encode()
    blobs[_sha(manifest)] = manifest
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": _sha(manifest),
                "size": len(manifest),
                "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "latest"},
            }
        ],
    }
    members = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": json.dumps(index).encode()}
    members.update({"blobs/sha256/" + d.split(":")[1]: b for d, b in blobs.items()})
    return _tar(members), _sha(config)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 65536):
        yield data[i : i + 65536]


def load(svc: ImageService, data: bytes) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        return [m async for m in svc.load(_chunks(data))]

    return asyncio.run(go())


def save(svc: ImageService, names: list[str]) -> bytes:
    async def go() -> bytes:
        return b"".join([c async for c in await svc.save(names)])

    return asyncio.run(go())


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[ImageService]:
    s = ImageService(str(tmp_path / "root"), OverlaySnapshotter(str(tmp_path / "root" / "snapshots" / "overlay")))
    yield s
    s.meta.db.close()


@pytest.fixture
def rootfs(tmp_path: Path) -> Iterator[str]:
    target = str(tmp_path / "rootfs")
    os.makedirs(target)
    yield target
    unmount_all(target)


def _state(svc: ImageService) -> tuple[object, ...]:
    return (
        svc.list(),
        sorted(str(b.digest) for b in svc.content.walk()),
        sorted(svc.snapshotter.all_keys()),
        os.listdir(svc.content.ingest_dir),
    )


def test_load_docker_save_and_oci_layout(svc: ImageService, rootfs: str) -> None:
    data, want = docker_save_tar(["example/app:1", "example/app:2"])
    assert load(svc, data) == [
        {"stream": "Loaded image: example/app:1\n"},
        {"stream": "Loaded image: example/app:2\n"},
    ]
    rec = svc.resolve("example/app:2")
    assert rec.id == want and rec.repo_tags == ("example/app:1", "example/app:2")
    oci, want_oci = oci_layout_tar("localhost:5000/oci/app:latest")
    assert load(svc, oci) == [{"stream": "Loaded image: localhost:5000/oci/app:latest\n"}]
    assert svc.resolve("localhost:5000/oci/app").id == want_oci
    # both images share their layers (same diffIDs): one chain of snapshots
    assert svc.resolve(want).top_chain_id == svc.resolve(want_oci).top_chain_id
    top = asyncio.run(svc.ensure_unpacked(want_oci))
    assert top is not None
    mount_all(svc.snapshotter.view("check", top), rootfs)
    try:
        assert sorted(os.listdir(os.path.join(rootfs, "etc"))) == ["three", "two"]
    finally:
        unmount_all(rootfs)
        svc.snapshotter.remove("check")


def test_save_load_round_trip_keeps_ids(svc: ImageService, tmp_path: Path) -> None:
    data, want = docker_save_tar(["rt:1"])
    load(svc, data)
    oci, want_oci = oci_layout_tar("rt-oci:2")
    load(svc, oci)
    saved = save(svc, ["rt:1", "rt-oci:2"])
    other = ImageService(str(tmp_path / "other"), OverlaySnapshotter(str(tmp_path / "other" / "ov")))
    try:
        msgs = load(other, saved)
        assert {"stream": "Loaded image: rt:1\n"} in msgs and {"stream": "Loaded image: rt-oci:2\n"} in msgs
        assert other.resolve("rt:1").id == want
        assert other.resolve("rt-oci:2").id == want_oci
        assert save(other, ["rt:1"]) == save(svc, ["rt:1"])  # deterministic output
    finally:
        other.meta.db.close()


def test_loading_over_a_tag_reports_the_rename(svc: ImageService) -> None:
    first, first_id = docker_save_tar(["same:tag"])
    load(svc, first)
    second, second_id = oci_layout_tar("same:tag")
    assert load(svc, second)[0] == {
        "stream": f"The image same:tag already exists, renaming the old one with ID {first_id} to empty string\n"
    }
    assert svc.resolve("same:tag").id == second_id
    assert svc.resolve(first_id).repo_tags == ()


def test_corrupt_and_truncated_archives_change_nothing(svc: ImageService) -> None:
    good, _ = docker_save_tar(["kept:1"])
    load(svc, good)
    before = _state(svc)
    oci, _ = oci_layout_tar("bad:1")
    gz = gzip.compress(_layers()[1], mtime=0)
    assert oci.count(gz) == 1
    tampered = oci.replace(gz, gz[:40] + bytes([gz[40] ^ 0xFF]) + gz[41:])  # the blob no longer matches its digest
    bad_manifest = _tar({"manifest.json": b"[{]"})
    untagged_missing_layer = _tar(
        {"manifest.json": json.dumps([{"Config": "c.json", "Layers": ["x/layer.tar"]}]).encode()}
    )
    for blob in (
        good[: len(good) // 2],
        oci[: len(oci) // 2],
        tampered,
        bad_manifest,
        untagged_missing_layer,
        b"junk" * 100,
    ):
        with pytest.raises(errors.InvalidArgument):
            load(svc, blob)
        assert _state(svc) == before


def test_unsafe_layer_is_refused_without_trace(svc: ImageService) -> None:
    before = _state(svc)
    evil = _tar({"../../escape": b"x"})
    config = _config([_sha(evil)], "evil")
    data = _tar(
        {
            "l/layer.tar": evil,
            "c.json": config,
            "manifest.json": json.dumps(
                [{"Config": "c.json", "RepoTags": ["evil:1"], "Layers": ["l/layer.tar"]}]
            ).encode(),
        }
    )
    with pytest.raises(errors.UnsafePath):
        load(svc, data)
    assert _state(svc) == before


@pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs busybox-static")
def test_bootstrap_busybox_is_runnable_and_deterministic(svc: ImageService, rootfs: str, tmp_path: Path) -> None:
    image_id = asyncio.run(svc.bootstrap_busybox("busybox:latest"))
    rec = svc.resolve("busybox")
    assert rec.id == image_id and rec.container_config["Cmd"] == ["sh"]
    top = asyncio.run(svc.ensure_unpacked(image_id))
    assert top == rec.top_chain_id
    mount_all(svc.snapshotter.prepare("ctr", top), rootfs)
    try:
        out = subprocess.run(
            [
                "chroot",
                rootfs,
                "/bin/sh",
                "-c",
                "echo ok > /tmp/x && cat /tmp/x && stat -c %a /tmp && id -un && ls /proc",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
        assert out == ["ok", "1777", "root"]
        assert "nobody:x:65534" in Path(rootfs, "etc/passwd").read_text()
    finally:
        unmount_all(rootfs)
        svc.snapshotter.remove("ctr")
    other = ImageService(str(tmp_path / "again"), OverlaySnapshotter(str(tmp_path / "again" / "ov")))
    try:
        assert asyncio.run(other.bootstrap_busybox("busybox:latest")) == image_id
    finally:
        other.meta.db.close()


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")
def test_skopeo_reads_our_save_and_we_read_skopeo_oci(svc: ImageService, tmp_path: Path) -> None:
    data, want = docker_save_tar(["interop:1"])
    load(svc, data)
    saved = tmp_path / "saved.tar"
    saved.write_bytes(save(svc, ["interop:1"]))
    out = tmp_path / "oci.tar"
    for src in (f"docker-archive:{saved}", f"oci-archive:{saved}"):
        dst = tmp_path / "tmp-oci.tar"
        r = subprocess.run(
            ["skopeo", "copy", "-q", src, f"oci-archive:{dst}:skopeo/copy:1"], capture_output=True, timeout=120
        )
        assert r.returncode == 0, r.stderr.decode()
        dst.rename(out)
    other = ImageService(str(tmp_path / "other"), OverlaySnapshotter(str(tmp_path / "other" / "ov")))
    try:
        load(other, out.read_bytes())
        assert other.resolve(want).id == want
    finally:
        other.meta.db.close()
