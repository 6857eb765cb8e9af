"""Engine API routes: top, stats, pause/unpause, rename, update."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from aiohttp import web

from dockyard.api.app import Route, json_response, qbool, read_json

__all__ = ["routes"]


def routes(engine: Any) -> list[Route]:
    ops = engine.ops

    async def top(request: web.Request) -> web.Response:
        return json_response(await ops.top(request.match_info["id"], request.query.get("ps_args", "")))

    async def stats(request: web.Request) -> web.StreamResponse:
        frames = ops.stats(
            request.match_info["id"], stream=qbool(request, "stream", True), one_shot=qbool(request, "one-shot")
        )
        resp: web.StreamResponse | None = None
        try:
            async for frame in frames:
                if resp is None:  # errors before the first frame still become HTTP statuses
                    resp = web.StreamResponse(status=200)
                    resp.content_type = "application/json"
                    await resp.prepare(request)
                await resp.write(json.dumps(frame, separators=(",", ":")).encode() + b"\n")
        except (ConnectionError, RuntimeError):
            pass  # the client went away (aiohttp raises ClientConnectionResetError, a ConnectionError)
        finally:
            with contextlib.suppress(Exception):
                await frames.aclose()
        if resp is None:
            return web.Response(status=200, content_type="application/json")
        with contextlib.suppress(ConnectionError, RuntimeError):
            await resp.write_eof()
        return resp

    async def pause(request: web.Request) -> web.Response:
        await ops.pause(request.match_info["id"])
        return web.Response(status=204)

    async def unpause(request: web.Request) -> web.Response:
        await ops.unpause(request.match_info["id"])
        return web.Response(status=204)

    async def rename(request: web.Request) -> web.Response:
        await ops.rename(request.match_info["id"], request.query.get("name", ""))
        return web.Response(status=204)

    async def update(request: web.Request) -> web.Response:
        body = await read_json(request)
        warnings = await ops.update(request.match_info["id"], body)
        return json_response({"Warnings": warnings})

    return [
        ("GET", "/containers/{id}/top", top),
        ("GET", "/containers/{id}/stats", stats),
        ("POST", "/containers/{id}/pause", pause),
        ("POST", "/containers/{id}/unpause", unpause),
        ("POST", "/containers/{id}/rename", rename),
        ("POST", "/containers/{id}/update", update),
    ]
