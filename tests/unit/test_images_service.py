"""The image service without root: look-ups, tags, removal rules, import, list filters, views."""

from __future__ import annotations

import asyncio
import io
import json
import os
import tarfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.images import ImageService
from dockyard.snapshots import CopySnapshotter

SAMPLE_INSPECT_KEYS = {
    "Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "Container", "ContainerConfig",
    "DockerVersion", "Author", "Config", "Architecture", "Os", "Size", "VirtualSize", "GraphDriver",
    "RootFS", "Metadata",
}  # fmt: skip


def rootfs_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), 0o755
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 7000):
        yield data[i : i + 7000]


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[ImageService]:
    s = ImageService(str(tmp_path), CopySnapshotter(str(tmp_path / "snapshots" / "copy")))
    yield s
    s.meta.db.close()


def imp(svc: ImageService, files: dict[str, bytes], repo: str = "", changes: tuple[str, ...] = ()) -> str:
    return asyncio.run(svc.import_(_chunks(rootfs_tar(files)), repo=repo, changes=list(changes), message="m"))


def test_import_and_lookups(svc: ImageService) -> None:
    iid = imp(svc, {"bin/x": b"1"}, "localhost:5000/team/app:v1", ('CMD ["x"]', "LABEL a=b"))
    rec = svc.resolve("localhost:5000/team/app:v1")
    assert rec.id == iid
    assert rec.repo_tags == ("localhost:5000/team/app:v1",)
    assert rec.container_config["Cmd"] == ["x"]
    assert rec.top_chain_id == rec.diff_ids[0]  # one layer: chain ID = diff ID
    hexid = iid.split(":")[1]
    for name in (iid, hexid, hexid[:12], hexid[:5], "sha256:" + hexid[:10]):
        assert svc.resolve(name).id == iid
    for missing, msg in (("nosuch", "No such image: nosuch:latest"), ("ffffffffffff", None), ("app:v1", None)):
        with pytest.raises(errors.ImageNotFound) as ei:
            svc.resolve(missing)
        if msg:
            assert ei.value.message == msg


def test_tag_names_and_defaults(svc: ImageService) -> None:
    iid = imp(svc, {"f": b"1"})
    assert svc.resolve(iid).repo_tags == ()
    assert svc.tag(iid, "busybox") == "busybox:latest"
    assert svc.tag(iid, "docker.io/library/busybox", "2") == "busybox:2"
    assert svc.tag(iid, "me/app", "x") == "me/app:x"
    assert svc.resolve("busybox").id == iid
    assert svc.resolve("docker.io/library/busybox:latest").id == iid
    assert svc.resolve("index.docker.io/library/busybox:2").id == iid
    assert svc.resolve(iid).repo_tags == ("busybox:2", "busybox:latest", "me/app:x")
    with pytest.raises(errors.InvalidArgument):
        svc.tag(iid, "Bad/Name")


def test_remove_rules(svc: ImageService) -> None:
    iid = imp(svc, {"f": b"1"}, "a:1")
    svc.tag(iid, "b", "1")
    short = iid.split(":")[1][:12]
    with pytest.raises(errors.Conflict) as ei:
        asyncio.run(svc.remove(iid))
    assert (
        ei.value.message
        == f"conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
    )
    assert asyncio.run(svc.remove("a:1")) == [{"Untagged": "a:1"}]
    svc.set_usage_check(lambda image_id: [("c" * 64, False)] if image_id == iid else [])
    with pytest.raises(errors.Conflict) as ei:
        asyncio.run(svc.remove("b:1"))
    assert ei.value.message == (
        f'conflict: unable to remove repository reference "b:1" (must force) - container cccccccccccc is using its '
        f"referenced image {short}"
    )
    # forced while a container runs it: untagged, and the image stays for that container
    svc.set_usage_check(lambda image_id: [("d" * 64, True)] if image_id == iid else [])
    assert asyncio.run(svc.remove("b:1", force=True)) == [{"Untagged": "b:1"}]
    assert svc.resolve(iid).repo_tags == ()
    with pytest.raises(errors.Conflict) as ei:
        asyncio.run(svc.remove(iid, force=True))
    assert ei.value.message == (
        f"conflict: unable to delete {short} (cannot be forced) - image is being used by running container dddddddddddd"
    )
    svc.set_usage_check(lambda image_id: [("c" * 64, False)] if image_id == iid else [])
    with pytest.raises(errors.Conflict) as ei:
        asyncio.run(svc.remove(iid))
    assert ei.value.message == (
        f"conflict: unable to delete {short} (must be forced) - image is being used by stopped container cccccccccccc"
    )
    out = asyncio.run(svc.remove(iid, force=True))  # a stopped container does not stop a forced delete
    assert out[0] == {"Deleted": iid}
    assert {"Deleted": svc_chain(out)} in out
    assert svc.list() == []
    assert svc.snapshotter.all_keys() == []
    assert list(svc.content.walk()) == []


def svc_chain(records: list[dict[str, str]]) -> str:
    return records[-1]["Deleted"]


def test_shared_layers_survive_removal(svc: ImageService) -> None:
    a = imp(svc, {"f": b"same"}, "a", ('CMD ["a"]',))
    b = imp(svc, {"f": b"same"}, "b", ('CMD ["b"]',))
    assert a != b
    out = asyncio.run(svc.remove("a"))
    assert out == [{"Untagged": "a:latest"}, {"Deleted": a}]  # the layer stays for b
    top = asyncio.run(svc.ensure_unpacked(b))
    assert top is not None and svc.snapshotter.exists(top)


def test_list_filters_and_shapes(svc: ImageService) -> None:
    a = imp(svc, {"f": b"1"}, "alpha:1", ("LABEL tier=web",))
    b = imp(svc, {"f": b"2"}, "beta:2")
    c = imp(svc, {"f": b"3"})
    ids = [x["Id"] for x in svc.list()]
    assert set(ids) == {a, b, c}
    assert [x["Id"] for x in svc.list({"reference": ["alpha"]})] == [a]
    assert [x["Id"] for x in svc.list({"reference": ["be*:2"]})] == [b]
    assert [x["Id"] for x in svc.list({"dangling": ["true"]})] == [c]
    assert {x["Id"] for x in svc.list({"dangling": ["false"]})} == {a, b}
    assert [x["Id"] for x in svc.list({"label": ["tier=web"]})] == [a]
    assert svc.list({"label": ["tier=db"]}) == []
    with pytest.raises(errors.InvalidArgument):
        svc.list({"bogus": ["1"]})
    entry = svc.list({"reference": ["alpha"]})[0]
    assert entry["Labels"] == {"tier": "web"} and entry["RepoTags"] == ["alpha:1"]
    assert entry["Containers"] == -1 and entry["SharedSize"] == -1 and entry["Size"] > 0
    inspect = svc.inspect("alpha:1")
    assert set(inspect) == SAMPLE_INSPECT_KEYS
    assert inspect["Comment"] == "m" and inspect["RootFS"]["Layers"] == list(svc.resolve(a).diff_ids)
    assert inspect["Config"]["Labels"] == {"tier": "web"} and inspect["Config"]["Cmd"] is None
    hist = svc.history("alpha:1")
    assert hist[0]["Id"] == a and hist[0]["Tags"] == ["alpha:1"] and hist[0]["Comment"] == "m"


def test_prune_dangling(svc: ImageService) -> None:
    keep = imp(svc, {"f": b"1"}, "keep")
    gone = imp(svc, {"f": b"2"})
    out = asyncio.run(svc.prune())
    assert {"Deleted": gone} in out["ImagesDeleted"] and out["SpaceReclaimed"] > 0
    assert [x["Id"] for x in svc.list()] == [keep]
    out = asyncio.run(svc.prune(dangling_only=False))
    assert {"Untagged": "keep:latest"} in out["ImagesDeleted"]
    assert svc.list() == []


def test_import_rejects_non_tars_and_changes_first(svc: ImageService) -> None:
    with pytest.raises(errors.InvalidArgument):
        asyncio.run(svc.import_(_chunks(b"this is not a tar archive" * 50), repo="x"))
    with pytest.raises(errors.InvalidArgument):
        asyncio.run(svc.import_(_chunks(rootfs_tar({"f": b"1"})), repo="x", changes=["RUN rm -rf /"]))
    assert svc.list() == []
    assert list(svc.content.walk()) == []


def test_save_load_round_trip_without_root(svc: ImageService, tmp_path: Path) -> None:
    iid = imp(svc, {"bin/tool": b"#!/bin/sh\n"}, "tool:1", ('ENTRYPOINT ["/bin/tool"]',))

    async def save() -> bytes:
        return b"".join([c async for c in await svc.save(["tool:1"])])

    data = asyncio.run(save())
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert manifest[0]["RepoTags"] == ["tool:1"]
    assert manifest[0]["Config"] == "blobs/sha256/" + iid.split(":")[1]
    assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == "docker.io/library/tool:1"
    other = ImageService(str(tmp_path / "other"), CopySnapshotter(str(tmp_path / "other" / "snap")))

    async def load() -> list[dict[str, Any]]:
        return [m async for m in other.load(_chunks(data))]

    assert asyncio.run(load()) == [{"stream": "Loaded image: tool:1\n"}]
    assert other.resolve("tool:1").id == iid
    other.meta.db.close()


def test_import_compressed_rootfs(svc: ImageService) -> None:
    import gzip

    import zstandard

    raw = rootfs_tar({"bin/x": b"payload"})
    plain = imp(svc, {"bin/x": b"payload"}, "plain")
    for name, blob in (("gz", gzip.compress(raw)), ("zst", zstandard.ZstdCompressor().compress(raw))):
        image_id = asyncio.run(svc.import_(_chunks(blob), repo=name))
        assert svc.resolve(image_id).diff_ids == svc.resolve(plain).diff_ids  # the layer is the uncompressed tar


def test_restart_drops_crash_leftovers(svc: ImageService, tmp_path: Path) -> None:
    image_id = imp(svc, {"f": b"1"}, "kept")
    svc.snapshotter.prepare("extract-deadbeef", None)
    with open(tmp_path / "content" / "ingest" / "ingest-half", "wb") as f:
        f.write(b"half a blob")
    with open(tmp_path / "tmp" / "upload-x", "wb") as f:
        f.write(b"half an upload")
    again = ImageService(str(tmp_path), CopySnapshotter(str(tmp_path / "snapshots" / "copy")))
    try:
        assert not again.snapshotter.exists("extract-deadbeef")
        assert os.listdir(tmp_path / "content" / "ingest") == []
        assert os.listdir(tmp_path / "tmp") == []
        assert again.resolve("kept").id == image_id
    finally:
        again.meta.db.close()


def test_concurrent_unpacks_agree(svc: ImageService) -> None:
    image_id = imp(svc, {"f": b"1"}, "x")
    rec = svc.resolve(image_id)
    assert rec.top_chain_id is not None
    svc.snapshotter.remove(rec.top_chain_id)

    async def both() -> list[str | None]:
        return list(await asyncio.gather(*(svc.ensure_unpacked(image_id) for _ in range(4))))

    assert asyncio.run(both()) == [rec.top_chain_id] * 4
    assert svc.snapshotter.all_keys() == [rec.top_chain_id]
