"""The image routes in-process (aiohttp test client) over a real service on a copy snapshotter."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from dockyard.api.app import build_app
from dockyard.api.routes import images as image_routes
from dockyard.images import ImageService
from dockyard.snapshots import CopySnapshotter


def rootfs_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ti = tarfile.TarInfo("etc/hello")
        ti.size = 3
        tar.addfile(ti, io.BytesIO(b"hi\n"))
    return buf.getvalue()


def run(tmp_path: Path, body: Callable[[TestClient[Any, Any], ImageService], Awaitable[None]]) -> None:
    svc = ImageService(str(tmp_path), CopySnapshotter(str(tmp_path / "snap")))

    async def main() -> None:
        app = build_app([image_routes.routes(SimpleNamespace(images=svc))])
        async with TestClient(TestServer(app)) as client:
            await body(client, svc)

    try:
        asyncio.run(main())
    finally:
        svc.meta.db.close()


def _lines(raw: bytes) -> list[Any]:
    return [json.loads(x) for x in raw.splitlines() if x.strip()]


def test_import_tag_inspect_list_delete(tmp_path: Path) -> None:
    async def body(client: TestClient[Any, Any], svc: ImageService) -> None:
        params = [("fromSrc", "-"), ("repo", "localhost:5000/a/b"), ("tag", "v1"), ("changes", 'CMD ["cat"]')]
        r = await client.post("/v1.44/images/create", params=params, data=rootfs_tar())
        assert r.status == 200, await r.text()
        image_id = _lines(await r.read())[-1]["status"]
        assert image_id.startswith("sha256:")
        r = await client.get("/v1.44/images/localhost:5000/a/b:v1/json")
        assert r.status == 200
        assert (await r.json())["Config"]["Cmd"] == ["cat"]
        r = await client.post("/images/localhost:5000/a/b:v1/tag", params={"repo": "other/name", "tag": "x"})
        assert r.status == 201
        r = await client.get("/images/json", params={"filters": json.dumps({"reference": ["other/*"]})})
        assert [i["RepoTags"] for i in await r.json()] == [["localhost:5000/a/b:v1", "other/name:x"]]
        r = await client.get("/images/other/name:x/history")
        assert (await r.json())[0]["Id"] == image_id
        r = await client.get("/images/nosuch/json")
        assert r.status == 404 and (await r.json())["message"] == "No such image: nosuch:latest"
        r = await client.delete("/images/" + image_id)
        assert r.status == 409 and "must be forced" in (await r.json())["message"]
        r = await client.delete("/images/" + image_id, params={"force": "1"})
        assert r.status == 200
        assert {"Deleted": image_id} in await r.json()
        r = await client.get("/images/json")
        assert await r.json() == []

    run(tmp_path, body)


def test_save_and_load_over_http(tmp_path: Path) -> None:
    async def body(client: TestClient[Any, Any], svc: ImageService) -> None:
        r = await client.post("/images/create", params={"fromSrc": "-", "repo": "saved:1"}, data=rootfs_tar())
        image_id = _lines(await r.read())[-1]["status"]
        r = await client.get("/images/saved:1/get")
        assert r.status == 200 and r.content_type == "application/x-tar"
        one = await r.read()
        r = await client.get("/images/get", params=[("names", "saved:1"), ("names", image_id)])
        assert r.status == 200
        r = await client.delete("/images/saved:1")
        assert r.status == 200
        r = await client.post("/images/load", params={"quiet": "1"}, data=one)
        assert r.status == 200
        assert _lines(await r.read()) == [{"stream": "Loaded image: saved:1\n"}]
        assert svc.resolve("saved:1").id == image_id
        r = await client.post("/images/load", data=one[: len(one) // 2])
        assert r.status == 400
        r = await client.get("/images/nosuch/get")
        assert r.status == 404

    run(tmp_path, body)


def test_pull_is_not_implemented_and_prune(tmp_path: Path) -> None:
    async def body(client: TestClient[Any, Any], svc: ImageService) -> None:
        r = await client.post("/images/create", params={"fromImage": "busybox", "tag": "latest"})
        assert r.status == 501 and "not implemented" in (await r.json())["message"]
        r = await client.post("/images/create", params={"fromSrc": "-"}, data=rootfs_tar())
        dangling = _lines(await r.read())[-1]["status"]
        r = await client.post("/images/prune", params={"filters": json.dumps({"dangling": ["true"]})})
        out = await r.json()
        assert {"Deleted": dangling} in out["ImagesDeleted"]
        r = await client.post("/dockyard/images/bootstrap", params={"kind": "alpine"})
        assert r.status == 400 and "busybox or debian" in (await r.json())["message"]

    run(tmp_path, body)
