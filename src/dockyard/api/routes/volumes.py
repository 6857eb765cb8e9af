"""Engine API routes: volumes (create, list, inspect, remove, prune)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.api.app import Route, json_response, qbool, read_json
from dockyard.api.filters import parse_filters

__all__ = ["routes"]


def _str_map(body: dict[str, Any], key: str) -> dict[str, str]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise errors.InvalidArgument(f"invalid {key}: expected an object of strings")
    return {str(k): v for k, v in value.items()}


def routes(engine: Any) -> list[Route]:
    async def create(request: web.Request) -> web.Response:
        body = await read_json(request)
        name = body.get("Name") or ""
        driver = body.get("Driver") or ""
        if not isinstance(name, str) or not isinstance(driver, str):
            raise errors.InvalidArgument("invalid Name or Driver: expected strings")
        vol = await engine.volumes.create(name, driver, _str_map(body, "DriverOpts"), _str_map(body, "Labels"))
        return json_response(vol, status=201)

    async def list_(request: web.Request) -> web.Response:
        return json_response(await engine.volumes.list_volumes(parse_filters(request.query.get("filters"))))

    async def inspect(request: web.Request) -> web.Response:
        return json_response(await engine.volumes.inspect(request.match_info["name"]))

    async def remove(request: web.Request) -> web.Response:
        await engine.volumes.remove(request.match_info["name"], force=qbool(request, "force"))
        return web.Response(status=204)

    async def prune(request: web.Request) -> web.Response:
        return json_response(await engine.volumes.prune(parse_filters(request.query.get("filters"))))

    return [
        ("POST", "/volumes/create", create),
        ("GET", "/volumes", list_),
        ("POST", "/volumes/prune", prune),
        ("GET", "/volumes/{name}", inspect),
        ("DELETE", "/volumes/{name}", remove),
    ]
