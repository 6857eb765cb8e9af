"""Engine API routes: networks."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dockyard.api.app import Route, json_response, read_json
from dockyard.api.filters import parse_filters

__all__ = ["routes"]


def routes(engine: Any) -> list[Route]:
    async def list_networks(request: web.Request) -> web.Response:
        nets = engine.networks.list_networks(parse_filters(request.query.get("filters")))
        return json_response([engine.networks.to_json(n) for n in nets])

    async def inspect(request: web.Request) -> web.Response:
        net = engine.networks.get(request.match_info["id"])
        return json_response(engine.networks.to_json(net))

    async def create(request: web.Request) -> web.Response:
        body = await read_json(request)
        nid, warning = await engine.networks.create(body)
        return json_response({"Id": nid, "Warning": warning}, status=201)

    async def remove(request: web.Request) -> web.Response:
        await engine.networks.remove(request.match_info["id"])
        return web.Response(status=204)

    async def connect(request: web.Request) -> web.Response:
        body = await read_json(request)
        await engine.networks.connect(
            request.match_info["id"], str(body.get("Container") or ""), body.get("EndpointConfig") or {}
        )
        return web.Response(status=200)

    async def disconnect(request: web.Request) -> web.Response:
        body = await read_json(request)
        await engine.networks.disconnect(
            request.match_info["id"], str(body.get("Container") or ""), bool(body.get("Force"))
        )
        return web.Response(status=200)

    async def prune(request: web.Request) -> web.Response:
        removed = await engine.networks.prune(parse_filters(request.query.get("filters")))
        return json_response({"NetworksDeleted": removed})

    return [
        ("GET", "/networks", list_networks),
        ("GET", "/networks/{id}", inspect),
        ("POST", "/networks/create", create),
        ("DELETE", "/networks/{id}", remove),
        ("POST", "/networks/{id}/connect", connect),
        ("POST", "/networks/{id}/disconnect", disconnect),
        ("POST", "/networks/prune", prune),
    ]
