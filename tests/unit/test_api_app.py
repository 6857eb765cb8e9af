"""The API app: versioned routing, error mapping, hijack framing, filters."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from dockyard import errors
from dockyard.api.app import build_app, read_json
from dockyard.api.errors import status_for
from dockyard.api.filters import parse_filters
from dockyard.api.hijack import frame
from dockyard.api.routes import system


class _Engine:
    def version(self) -> dict[str, Any]:
        return {"ApiVersion": "1.44"}


def _routes() -> list[Any]:
    async def boom(request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        exc: dict[str, Exception] = {
            "notfound": errors.ContainerNotFound("No such container: x"),
            "conflict": errors.NameConflict("taken"),
            "invalid": errors.InvalidArgument("bad"),
            "bug": ZeroDivisionError("oops"),
            "notmodified": errors.NotModified("same"),
        }
        raise exc[kind]

    async def echo(request: web.Request) -> web.Response:
        return web.json_response(await read_json(request, allow_empty=False))

    return [("GET", "/boom/{kind}", boom), ("POST", "/echo", echo)]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _with_client(fn: Any) -> Any:
    app = build_app([system.routes(_Engine()), _routes()])
    async with TestClient(TestServer(app)) as c:
        return await fn(c)


@pytest.mark.parametrize(
    ("kind", "status"), [("notfound", 404), ("conflict", 409), ("invalid", 400), ("bug", 500), ("notmodified", 304)]
)
def test_errors_map_to_docker_status_and_body(kind: str, status: int) -> None:
    async def go(c: TestClient) -> None:
        r = await c.get(f"/v1.44/boom/{kind}")
        assert r.status == status
        if status != 304:
            body = await r.json()
            assert set(body) == {"message"} and body["message"]
            assert "Traceback" not in body["message"]

    run(_with_client(go))


def test_versions_prefix_and_limits() -> None:
    async def go(c: TestClient) -> None:
        assert (await c.get("/version")).status == 200
        assert (await c.get("/v1.24/version")).status == 200
        r = await c.get("/v1.45/version")
        assert r.status == 400 and "too new" in (await r.json())["message"]
        r = await c.get("/v1.23/version")
        assert r.status == 400 and "too old" in (await r.json())["message"]
        r = await c.get("/v1.44/no/such/thing")
        assert r.status == 404 and (await r.json())["message"] == "page not found"
        r = await c.get("/v1.44/swarm")
        assert r.status == 501
        r = await c.head("/_ping")
        assert r.status == 200 and r.headers["Api-Version"] == "1.44"

    run(_with_client(go))


def test_malformed_json_body_is_400() -> None:
    async def go(c: TestClient) -> None:
        r = await c.post("/echo", data=b"{nope")
        assert r.status == 400 and "invalid JSON" in (await r.json())["message"]
        r = await c.post("/echo", data=b"[1,2]")
        assert r.status == 400
        r = await c.post("/echo", data=b"")
        assert r.status == 400
        r = await c.post("/echo", data=json.dumps({"a": 1}).encode())
        assert r.status == 200 and await r.json() == {"a": 1}

    run(_with_client(go))


def test_status_table_prefers_specific_classes() -> None:
    assert status_for(errors.DigestMismatch("x")) == 400
    assert status_for(errors.InUse("x")) == 409
    assert status_for(errors.Unavailable("x")) == 503
    assert status_for(errors.NotImplementedYet("x")) == 501


def test_frame_header() -> None:
    assert frame(1, b"hi") == b"\x01\x00\x00\x00\x00\x00\x00\x02hi"
    assert frame(2, b"") == b"\x02\x00\x00\x00\x00\x00\x00\x00"


def test_filters_both_forms() -> None:
    assert parse_filters('{"label":["a=b"],"status":{"running":true,"exited":false}}') == {
        "label": ["a=b"],
        "status": ["running"],
    }
    assert parse_filters(None) == {}
    with pytest.raises(errors.InvalidArgument):
        parse_filters("{bad")
