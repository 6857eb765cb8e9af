"""System endpoints: ping, version, info, events."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from dockyard import API_VERSION, errors
from dockyard.api.app import Route, json_response
from dockyard.api.filters import parse_filters
from dockyard.engine.timefmt import parse_since

__all__ = ["routes"]

_PING_HEADERS = {
    "Api-Version": API_VERSION,
    "Builder-Version": "1",
    "Docker-Experimental": "false",
    "Ostype": "linux",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
}


def routes(engine: Any) -> list[Route]:
    async def ping(request: web.Request) -> web.Response:
        if request.method == "HEAD":
            return web.Response(status=200, headers={**_PING_HEADERS, "Content-Type": "text/plain; charset=utf-8"})
        return web.Response(status=200, text="OK", headers=_PING_HEADERS)

    async def version(request: web.Request) -> web.Response:
        return json_response(engine.version())

    async def info(request: web.Request) -> web.Response:
        return json_response(await engine.info())

    async def events(request: web.Request) -> web.StreamResponse:
        filters = parse_filters(request.query.get("filters"))
        try:
            since = parse_since(request.query["since"]) if request.query.get("since") else None
            until = parse_since(request.query["until"]) if request.query.get("until") else None
        except ValueError:
            raise errors.InvalidArgument("invalid since/until") from None
        resp = web.StreamResponse(status=200)
        resp.content_type = "application/json"
        await resp.prepare(request)
        async for ev in engine.events.stream(since, until, filters):
            await resp.write(json.dumps(ev, separators=(",", ":")).encode() + b"\n")
        await resp.write_eof()
        return resp

    async def unsupported(request: web.Request) -> web.Response:
        area = request.match_info.get("area", "")
        raise errors.NotImplementedYet(f"{area} is not supported by dockyard")

    # Known Engine API areas that dockyard does not implement: 501, not 404.
    known = [
        (method, f"/{{area:{area}}}{tail}", unsupported)
        for area in ("swarm", "services", "nodes", "tasks", "secrets", "configs", "plugins", "session", "distribution")
        for method in ("GET", "POST", "DELETE")
        for tail in ("", "/{rest:.*}")
    ]
    return [
        *known,
        ("GET", "/_ping", ping),
        ("HEAD", "/_ping", ping),
        ("GET", "/version", version),
        ("GET", "/info", info),
        ("GET", "/events", events),
    ]
