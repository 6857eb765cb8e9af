"""Engine API routes: container prune and system df (system prune is the client calling each prune)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from dockyard.api.app import Route, json_response
from dockyard.api.filters import parse_filters
from dockyard.api.routes.containers import list_json
from dockyard.engine.prune import image_usage

__all__ = ["routes"]

_DF_TYPES = frozenset({"container", "image", "volume", "build-cache"})


async def _maybe(x: Any) -> Any:
    return await x if asyncio.iscoroutine(x) else x


def routes(engine: Any) -> list[Route]:
    async def prune_containers(request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        return json_response(await engine.container_prune.prune(filters))

    async def df(request: web.Request) -> web.Response:
        wanted = set(request.query.getall("type", [])) & _DF_TYPES or set(_DF_TYPES)
        recs = engine.containers.all()
        out: dict[str, Any] = {}
        if "image" in wanted:
            out.update(await asyncio.to_thread(image_usage, engine.images, recs))
        if "container" in wanted:
            out["Containers"] = await asyncio.to_thread(lambda: [list_json(r, engine, True) for r in recs])
        if "volume" in wanted:
            volumes = getattr(engine, "volumes", None)
            usage = await _maybe(volumes.disk_usage()) if volumes is not None else []
            if isinstance(usage, dict):
                usage = usage.get("Volumes") or []
            out["Volumes"] = list(usage or [])
        if "build-cache" in wanted:
            out["BuildCache"] = []
        return json_response(out)

    return [
        ("POST", "/containers/prune", prune_containers),
        ("GET", "/system/df", df),
    ]
