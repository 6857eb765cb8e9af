"""The volume routes over HTTP (aiohttp test server) with a real VolumeService on a temp dir."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from dockyard import errors
from dockyard.api.app import build_app
from dockyard.api.routes import volumes as volume_routes
from dockyard.containers.create_request import parse_create_request
from dockyard.containers.store import ContainerRecord
from dockyard.engine.events import EventBus
from dockyard.engine.volumes import VolumeService
from dockyard.testing.fake_volumes import FakeVolumeMounter
from dockyard.volumes import LocalDriver, VolumeStore


class _Engine:
    def __init__(self, root: str) -> None:
        self.store = VolumeStore(os.path.join(root, "volumes.db"))
        driver = LocalDriver(os.path.join(root, "volumes"), self.store, FakeVolumeMounter())
        self.volumes = VolumeService(
            store=self.store, drivers={"local": driver}, events=EventBus(), lookup_container=self._lookup
        )

    @staticmethod
    def _lookup(ref: str) -> ContainerRecord:
        raise errors.ContainerNotFound(f"No such container: {ref}")


def with_client(tmp: str, body: Callable[[TestClient[Any, Any], _Engine], Awaitable[None]]) -> None:
    engine = _Engine(tmp)

    async def go() -> None:
        async with TestClient(TestServer(build_app([volume_routes.routes(engine)]))) as client:
            await body(client, engine)

    try:
        asyncio.run(go())
    finally:
        engine.store.close()


def test_create_list_inspect_delete(tmp_path: Any) -> None:
    async def body(client: TestClient[Any, Any], engine: _Engine) -> None:
        r = await client.post("/v1.44/volumes/create", json={"Name": "rv", "Labels": {"a": "b"}})
        assert r.status == 201
        created = await r.json()
        assert created["Name"] == "rv" and created["Labels"] == {"a": "b"} and created["Driver"] == "local"
        r = await client.get("/volumes", params={"filters": json.dumps({"label": ["a=b"]})})
        assert (await r.json())["Volumes"] == [created]
        r = await client.get("/v1.44/volumes/rv")
        assert r.status == 200 and await r.json() == created
        assert (await client.delete("/volumes/rv")).status == 204
        r = await client.get("/volumes/rv")
        assert r.status == 404 and (await r.json())["message"] == "get rv: no such volume"
        assert (await client.delete("/volumes/rv?force=1")).status == 204

    with_client(str(tmp_path), body)


def test_errors_map_to_docker_statuses(tmp_path: Any) -> None:
    async def body(client: TestClient[Any, Any], engine: _Engine) -> None:
        r = await client.post("/volumes/create", json={"Name": "bad/name"})
        assert r.status == 400 and "invalid characters" in (await r.json())["message"]
        r = await client.post("/volumes/create", json={"Name": "vv", "DriverOpts": {"type": 1}})
        assert r.status == 400
        r = await client.post("/volumes/create", json={"Name": "vv", "Driver": "no-such"})
        assert r.status == 404
        r = await client.get("/volumes", params={"filters": json.dumps({"bogus": ["x"]})})
        assert r.status == 400
        req = parse_create_request({"Image": "busybox", "HostConfig": {"Binds": ["used:/d"]}})
        await engine.volumes.on_create("c" * 64, req.config, req.host_config, {})
        r = await client.delete("/volumes/used")
        assert r.status == 409 and "volume is in use" in (await r.json())["message"]
        r = await client.post("/volumes/prune")
        assert r.status == 200 and await r.json() == {"VolumesDeleted": [], "SpaceReclaimed": 0}

    with_client(str(tmp_path), body)
