"""Engine API routes: exec create, start (hijacked), inspect and resize."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.api.app import Route, json_response, qint, read_json
from dockyard.api.hijack import hijack

__all__ = ["routes"]

log = logging.getLogger("dockyard.api.exec")


def _console_size(value: Any) -> tuple[int, int] | None:
    if isinstance(value, list) and len(value) == 2 and all(isinstance(x, int) and x > 0 for x in value):
        return value[0], value[1]
    return None


def routes(engine: Any) -> list[Route]:
    svc = engine.execs

    async def create(request: web.Request) -> web.Response:
        body = await read_json(request, allow_empty=False)
        exec_id = await svc.create(request.match_info["id"], body)
        return json_response({"Id": exec_id}, status=201)

    async def start(request: web.Request) -> web.StreamResponse:
        exec_id = request.match_info["id"]
        body = await read_json(request)
        console_size = _console_size(body.get("ConsoleSize"))
        rec = svc.check_startable(exec_id)  # errors as HTTP statuses while we still can
        if body.get("Detach"):
            await svc.start(exec_id, None, console_size)
            return web.Response(status=200)
        # dockerd frames by the start request's Tty: that is what its client will parse
        tty = bool(body.get("Tty", rec.config.tty))
        conn = await hijack(request, multiplexed=not tty)
        try:
            await svc.start(exec_id, conn, console_size, raw_stream=tty)
        except errors.DockyardError:
            pass  # already written to the client's stream by the service
        except Exception:
            log.exception("exec %s failed", exec_id)  # the connection is hijacked: no HTTP error any more
        finally:
            with contextlib.suppress(Exception):
                conn.close()
        return conn.response

    async def inspect(request: web.Request) -> web.Response:
        return json_response(svc.inspect(request.match_info["id"]))

    async def resize(request: web.Request) -> web.Response:
        h, w = qint(request, "h", 0) or 0, qint(request, "w", 0) or 0
        await svc.resize(request.match_info["id"], h, w)
        return web.Response(status=200)

    return [
        ("POST", "/containers/{id}/exec", create),
        ("POST", "/exec/{id}/start", start),
        ("GET", "/exec/{id}/json", inspect),
        ("POST", "/exec/{id}/resize", resize),
    ]
