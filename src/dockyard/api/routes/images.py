"""Image endpoints: list, inspect, history, tag, remove, prune, load, save, import, bootstrap.

Names may contain slashes (``/images/localhost:5000/a/b/json``), so like Docker's
router the name is everything up to the trailing action.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.api.app import Route, json_response, qbool
from dockyard.api.filters import parse_filters

__all__ = ["routes"]

_BUSYBOX = "/bin/busybox"


def _line(msg: Any) -> bytes:
    return json.dumps(msg, separators=(",", ":")).encode() + b"\r\n"


async def _json_stream(request: web.Request, messages: Iterable[Any]) -> web.StreamResponse:
    resp = web.StreamResponse(status=200)
    resp.content_type = "application/json"
    await resp.prepare(request)
    for msg in messages:
        await resp.write(_line(msg))
    await resp.write_eof()
    return resp


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(1 << 20):
        yield chunk


def routes(engine: Any) -> list[Route]:
    images = engine.images

    async def list_images(request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        legacy = request.query.get("filter")  # API < 1.41: a bare reference pattern
        if legacy:
            filters.setdefault("reference", []).append(legacy)
        out = images.list(filters, qbool(request, "all"), qbool(request, "digests"))
        return json_response(out)

    async def inspect(request: web.Request) -> web.Response:
        return json_response(images.inspect(request.match_info["name"]))

    async def history(request: web.Request) -> web.Response:
        return json_response(images.history(request.match_info["name"]))

    async def tag(request: web.Request) -> web.Response:
        repo = request.query.get("repo", "")
        if not repo:
            raise errors.InvalidArgument("repository name must have at least one component")
        images.tag(request.match_info["name"], repo, request.query.get("tag", ""))
        return web.Response(status=201)

    async def remove(request: web.Request) -> web.Response:
        records = await images.remove(
            request.match_info["name"], force=qbool(request, "force"), noprune=qbool(request, "noprune")
        )
        return json_response(records)

    async def prune(request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        dangling = True
        if "dangling" in filters:
            dangling = any(v.lower() in ("1", "true") for v in filters.pop("dangling"))
        result = await images.prune(dangling, filters)
        distribution = getattr(engine, "distribution", None)
        if distribution is not None:
            # then what no image holds any more: leftovers of interrupted pulls, push-time compressed copies
            result["SpaceReclaimed"] = int(result.get("SpaceReclaimed") or 0) + await distribution.collect_garbage()
        return json_response(result)

    async def load(request: web.Request) -> web.StreamResponse:
        # Collect first: errors become a proper status instead of a message in a 200 stream.
        messages = [m async for m in images.load(_body(request), qbool(request, "quiet"))]
        return await _json_stream(request, messages)

    async def _send_tar(request: web.Request, names: list[str]) -> web.StreamResponse:
        chunks = await images.save(names)
        resp = web.StreamResponse(status=200)
        resp.content_type = "application/x-tar"
        await resp.prepare(request)
        async for chunk in chunks:
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    async def save_one(request: web.Request) -> web.StreamResponse:
        return await _send_tar(request, [request.match_info["name"]])

    async def save_many(request: web.Request) -> web.StreamResponse:
        names = request.query.getall("names", [])
        if not names:
            raise errors.InvalidArgument("no image names given")
        return await _send_tar(request, list(names))

    async def create(request: web.Request) -> web.StreamResponse:
        q = request.query
        if q.get("fromImage"):
            from dockyard.api.routes.distribution import pull_response

            return await pull_response(engine, request)
        src = q.get("fromSrc")
        if src is None:
            raise errors.InvalidArgument("fromImage or fromSrc is required")
        if src != "-":
            raise errors.NotImplementedYet("importing from a URL is not implemented yet: send the tar as the body")
        image_id = await images.import_(
            _body(request),
            repo=q.get("repo", ""),
            tag=q.get("tag", ""),
            changes=[c for c in q.getall("changes", []) if c.strip()],
            message=q.get("message", ""),
            platform=q.get("platform", ""),
        )
        return await _json_stream(request, [{"status": image_id}])

    async def bootstrap(request: web.Request) -> web.StreamResponse:
        kind, _, suite = request.query.get("kind", "busybox").partition(":")
        if kind == "debian":
            suite = suite or request.query.get("suite") or "bookworm"
            tag = request.query.get("tag") or f"debian:{suite}"
            image_id = await images.bootstrap_debian(suite, tag, request.query.get("mirror", ""))
            source = f"debootstrap --variant=minbase {suite}"
        elif kind == "busybox":
            tag = request.query.get("tag") or "busybox:latest"
            image_id = await images.bootstrap_busybox(tag, _BUSYBOX)
            source = _BUSYBOX
        else:
            raise errors.InvalidArgument(f"unknown bootstrap kind {kind!r}: use busybox or debian[:SUITE]")
        messages = [
            {"stream": f"Created image {image_id} from {source}\n"},
            {"stream": f"Tagged {tag}\n"},
            {"aux": {"ID": image_id}},
        ]
        return await _json_stream(request, messages)

    # Fixed paths first: the ``{name:.+}`` routes would otherwise claim them.
    return [
        ("GET", "/images/json", list_images),
        ("GET", "/images/get", save_many),
        ("POST", "/images/load", load),
        ("POST", "/images/create", create),
        ("POST", "/images/prune", prune),
        ("POST", "/dockyard/images/bootstrap", bootstrap),
        ("GET", "/images/{name:.+}/json", inspect),
        ("GET", "/images/{name:.+}/history", history),
        ("GET", "/images/{name:.+}/get", save_one),
        ("POST", "/images/{name:.+}/tag", tag),
        ("DELETE", "/images/{name:.+}", remove),
    ]
