"""The Engine API application: versioned routing, error mapping, JSON helpers."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from dockyard import API_VERSION, MIN_API_VERSION, errors
from dockyard.api.errors import status_for

__all__ = ["Route", "add_routes", "api_version", "build_app", "json_response", "qbool", "qint", "read_json"]

log = logging.getLogger("dockyard.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = tuple[str, str, Handler]  # (method, path, handler)

_VERSION_RE = re.compile(r"^/v(\d+\.\d+)(/.*)$")


def _vtuple(v: str) -> tuple[int, int]:
    a, b = v.split(".")
    return int(a), int(b)


def add_routes(app: web.Application, routes: Iterable[Route]) -> None:
    """Register each route both unversioned and under ``/v{major.minor}``."""
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, r"/v{api_version:\d+\.\d+}" + path, handler)


def api_version(request: web.Request) -> str:
    return request.match_info.get("api_version") or API_VERSION


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    body = json.dumps(data, separators=(",", ":")) + "\n"
    return web.Response(status=status, body=body.encode(), content_type="application/json", headers=headers)


def error_response(status: int, message: str) -> web.Response:
    return json_response({"message": message}, status=status)


async def read_json(request: web.Request, *, allow_empty: bool = True) -> dict[str, Any]:
    """The request body as a JSON object; a clear 400 for anything else."""
    raw = await request.read()
    if not raw.strip():
        if allow_empty:
            return {}
        raise errors.InvalidArgument("request body is empty")
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.InvalidArgument(f"invalid JSON: {exc}") from None
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise errors.InvalidArgument("invalid JSON: expected an object")
    return obj


def qbool(request: web.Request, name: str, default: bool = False) -> bool:
    v = request.query.get(name)
    if v is None:
        return default
    return v.strip().lower() not in ("", "0", "false", "no")


def qint(request: web.Request, name: str, default: int | None = None) -> int | None:
    v = request.query.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise errors.InvalidArgument(f"invalid value for {name}: {v!r}") from None


@web.middleware
async def _errors_mw(request: web.Request, handler: Handler) -> web.StreamResponse:
    v = request.match_info.get("api_version")
    if v is not None and not (_vtuple(MIN_API_VERSION) <= _vtuple(v) <= _vtuple(API_VERSION)):
        if _vtuple(v) > _vtuple(API_VERSION):
            msg = f"client version {v} is too new. Maximum supported API version is {API_VERSION}"
        else:
            msg = (
                f"client version {v} is too old. Minimum supported API version is {MIN_API_VERSION}, "
                "please upgrade your client to a newer version"
            )
        return error_response(400, msg)
    try:
        return await handler(request)
    except errors.DockyardError as exc:
        status = status_for(exc)
        if status >= 500:
            log.warning("%s %s: %s", request.method, request.path, exc.message)
        if status == 304:
            return web.Response(status=304)
        return error_response(status, exc.message)
    except web.HTTPException as exc:
        if exc.status == 404 and not exc.text:
            return error_response(404, "page not found")
        if exc.status >= 400 and exc.content_type != "application/json":
            reason = exc.text or exc.reason
            if exc.status == 404:
                reason = "page not found"
            return error_response(exc.status, reason)
        raise
    except (ConnectionResetError, BrokenPipeError):
        # The client went away mid-stream (events, logs -f, wait): nothing to answer and
        # nothing wrong. aiohttp finds the transport closed and drops this response.
        return web.Response(status=499, reason="Client Closed Request")
    except Exception as exc:  # a bug: never a traceback on the wire
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, f"internal error: {type(exc).__name__}: {exc}")


@web.middleware
async def _headers_mw(request: web.Request, handler: Handler) -> web.StreamResponse:
    resp = await handler(request)
    if not resp.prepared:
        resp.headers.setdefault("Api-Version", API_VERSION)
        resp.headers.setdefault("Docker-Experimental", "false")
        resp.headers.setdefault("Ostype", "linux")
        resp.headers.setdefault("Server", "Dockyard/0.1.0 (linux)")
    return resp


def build_app(route_sets: Iterable[Iterable[Route]], *, client_max_size: int = 0) -> web.Application:
    """An app serving every route set, with Docker's error bodies for anything else."""
    app = web.Application(middlewares=[_headers_mw, _errors_mw], client_max_size=client_max_size or 1 << 40)
    for routes in route_sets:
        add_routes(app, routes)
    return app


def strip_version(path: str) -> str:
    m = _VERSION_RE.match(path)
    return m.group(2) if m else path
