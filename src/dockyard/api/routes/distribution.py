"""Engine API routes for registries: pull (called from images' create), push and ``POST /auth``.

Pull and push stream Docker's JSON progress messages. Errors found before the first message (unknown
image, bad credentials, unreachable registry) are ordinary HTTP errors; later ones end the stream
with an ``errorDetail`` line, as dockerd does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.api.app import Route, json_response, read_json
from dockyard.distribution.authconfig import auth_from_json, decode_registry_auth
from dockyard.distribution.progress import error_message
from dockyard.oci.reference import parse_reference

__all__ = ["pull_response", "routes"]

log = logging.getLogger("dockyard.api")


def _line(msg: Any) -> bytes:
    return json.dumps(msg, separators=(",", ":")).encode() + b"\r\n"


async def _stream(request: web.Request, messages: AsyncIterator[dict[str, Any]]) -> web.StreamResponse:
    resp = web.StreamResponse(status=200)
    resp.content_type = "application/json"
    await resp.prepare(request)
    try:
        async for msg in messages:
            await resp.write(_line(msg))
    except errors.DockyardError as exc:
        await resp.write(_line(error_message(exc.message)))
    except (ConnectionResetError, BrokenPipeError):
        raise
    except Exception as exc:  # a bug: reported in the stream, never a traceback on the wire
        log.exception("%s %s failed mid-stream", request.method, request.path)
        await resp.write(_line(error_message(f"internal error: {type(exc).__name__}: {exc}")))
    await resp.write_eof()
    return resp


async def pull_response(engine: Any, request: web.Request) -> web.StreamResponse:
    """``POST /images/create?fromImage=...``: the images route hands pulls over to here."""
    q = request.query
    if getattr(engine, "distribution", None) is None:
        raise errors.NotImplementedYet("pulling images is not implemented in this engine: no registry client")
    auth = decode_registry_auth(request.headers.get("X-Registry-Auth"))
    from_image, tag, platform = q.get("fromImage", ""), q.get("tag", ""), q.get("platform", "")
    ref = parse_reference(from_image, default_tag=False)
    if not tag and ref.tag is None and ref.digest is None:
        # no tag anywhere: every tag (``docker pull --all-tags``), as dockerd does
        jobs = await engine.distribution.prepare_pull_all(from_image, platform, auth)
        return await _stream(request, engine.distribution.run_pull_all(jobs))
    job = await engine.distribution.prepare_pull(from_image, tag, platform, auth)
    return await _stream(request, engine.distribution.run_pull(job))


def routes(engine: Any) -> list[Route]:
    async def push(request: web.Request) -> web.StreamResponse:
        auth = decode_registry_auth(request.headers.get("X-Registry-Auth"))
        compression = request.query.get("compression", "gzip") or "gzip"
        if compression not in ("gzip", "zstd"):
            raise errors.InvalidArgument(f"unsupported compression {compression!r} (gzip or zstd)")
        job = await engine.distribution.prepare_push(request.match_info["name"], request.query.get("tag", ""), auth)
        return await _stream(request, engine.distribution.run_push(job, compression))

    async def auth(request: web.Request) -> web.Response:
        body = await read_json(request, allow_empty=False)
        return json_response(await engine.distribution.login(auth_from_json(body)))

    return [
        ("POST", "/images/{name:.+}/push", push),
        ("POST", "/auth", auth),
    ]
