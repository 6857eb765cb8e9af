"""Engine API routes: ``POST /build`` (the classic builder) and ``POST /build/prune``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from dockyard import errors
from dockyard.api.app import Route, json_response, qbool, qint

if TYPE_CHECKING:
    from dockyard.build.api import BuildOptions

__all__ = ["build_options", "routes"]


def _json_query(request: web.Request, name: str) -> Any:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise errors.InvalidArgument(f"invalid {name} value: {raw!r}") from None


def build_options(request: web.Request) -> BuildOptions:
    """The query parameters of ``POST /build`` as ``BuildOptions``."""
    from dockyard.build.api import BuildOptions  # the build package is loaded by the first build

    q = request.query
    if q.get("remote"):
        raise errors.NotImplementedYet("remote build contexts are not supported")
    args = _json_query(request, "buildargs") or {}
    labels = _json_query(request, "labels") or {}
    cache_from = _json_query(request, "cachefrom") or []
    if not isinstance(args, dict) or not isinstance(labels, dict) or not isinstance(cache_from, list):
        raise errors.InvalidArgument("buildargs and labels must be JSON objects, cachefrom a JSON list")
    host: dict[str, Any] = {}
    if q.get("networkmode"):
        host["NetworkMode"] = q["networkmode"]
    extra = q.getall("extrahosts", [])
    if extra:
        host["ExtraHosts"] = [h for e in extra for h in e.split(",") if h]
    for param, key in (("shmsize", "ShmSize"), ("memory", "Memory"), ("memswap", "MemorySwap"),
                       ("cpushares", "CpuShares"), ("cpuperiod", "CpuPeriod"), ("cpuquota", "CpuQuota")):  # fmt: skip
        v = qint(request, param)
        if v:
            host[key] = v
    if q.get("cpusetcpus"):
        host["CpusetCpus"] = q["cpusetcpus"]
    return BuildOptions(
        dockerfile=q.get("dockerfile") or "Dockerfile",
        tags=tuple(t for t in q.getall("t", []) if t),
        build_args={str(k): (None if v is None else str(v)) for k, v in args.items()},
        labels={str(k): str(v) for k, v in labels.items()},
        target=q.get("target", ""),
        nocache=qbool(request, "nocache"),
        pull=qbool(request, "pull"),
        rm=qbool(request, "rm", True),
        forcerm=qbool(request, "forcerm"),
        quiet=qbool(request, "q"),
        cache_from=tuple(str(c) for c in cache_from),
        platform=q.get("platform", ""),
        host_config=host,
    )


def routes(engine: Any) -> list[Route]:
    async def build(request: web.Request) -> web.StreamResponse:
        opts = build_options(request)
        for t in opts.tags:
            from dockyard.oci.reference import parse_reference

            parse_reference(t)  # a bad tag is a 400 before anything runs
        prepared = await engine.builder.prepare(request.content.iter_chunked(1 << 16), opts)
        try:
            resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            await resp.prepare(request)
            async for msg in engine.builder.run(prepared):
                await resp.write(json.dumps(msg, separators=(",", ":")).encode() + b"\n")
            await resp.write_eof()
            return resp
        finally:
            prepared.close()

    async def prune(request: web.Request) -> web.Response:
        return json_response(await engine.builder.prune())

    return [("POST", "/build", build), ("POST", "/build/prune", prune)]
