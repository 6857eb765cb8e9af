"""Engine API routes for a container's filesystem: archive (``docker cp``), export, changes, commit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.api.app import Route, json_response, qbool, read_json
from dockyard.engine.commit import CommitOptions
from dockyard.engine.container_fs import TarStream
from dockyard.engine.cp_paths import stat_header

__all__ = ["routes"]

_STAT_HEADER = "X-Docker-Container-Path-Stat"


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(1 << 20):
        yield chunk


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise errors.InvalidArgument("path is required")
    return path


async def _send(request: web.Request, stream: TarStream, headers: dict[str, str] | None = None) -> web.StreamResponse:
    try:
        resp = web.StreamResponse(status=200, headers=headers)
        resp.content_type = "application/x-tar"
        await resp.prepare(request)
        async for chunk in stream.chunks():
            await resp.write(chunk)
        await resp.write_eof()
        return resp
    finally:
        await stream.aclose()


def _changes(request: web.Request) -> list[str]:
    out: list[str] = []
    for value in request.query.getall("changes", []):
        out.extend(line for line in value.splitlines() if line.strip())
    return out


def routes(engine: Any) -> list[Route]:
    async def stat(request: web.Request) -> web.Response:
        st = await engine.container_fs.stat(request.match_info["id"], _path(request))
        return web.Response(status=200, headers={_STAT_HEADER: stat_header(st)})

    async def get_archive(request: web.Request) -> web.StreamResponse:
        st, stream = await engine.container_fs.archive(request.match_info["id"], _path(request))
        return await _send(request, stream, {_STAT_HEADER: stat_header(st)})

    async def put_archive(request: web.Request) -> web.Response:
        await engine.container_fs.extract(
            request.match_info["id"],
            _path(request),
            _body(request),
            no_overwrite_dir_non_dir=qbool(request, "noOverwriteDirNonDir"),
            copy_uid_gid=qbool(request, "copyUIDGID"),
        )
        return web.Response(status=200)

    async def export(request: web.Request) -> web.StreamResponse:
        return await _send(request, await engine.container_fs.export(request.match_info["id"]))

    async def changes(request: web.Request) -> web.Response:
        return json_response(await engine.container_fs.changes(request.match_info["id"]))

    async def commit(request: web.Request) -> web.Response:
        container = request.query.get("container", "")
        if not container:
            raise errors.InvalidArgument("container is required")
        config = await read_json(request)
        opts = CommitOptions(
            repo=request.query.get("repo", ""),
            tag=request.query.get("tag", ""),
            comment=request.query.get("comment", ""),
            author=request.query.get("author", ""),
            pause=qbool(request, "pause", default=True),
            changes=_changes(request),
            config=config,
        )
        image_id = await engine.commits.commit(container, opts)
        return json_response({"Id": image_id}, status=201)

    return [
        ("HEAD", "/containers/{id}/archive", stat),
        ("GET", "/containers/{id}/archive", get_archive),
        ("PUT", "/containers/{id}/archive", put_archive),
        ("GET", "/containers/{id}/export", export),
        ("GET", "/containers/{id}/changes", changes),
        ("POST", "/commit", commit),
    ]
