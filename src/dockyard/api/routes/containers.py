"""Container endpoints of the Engine API: parse, call the engine, serialize."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.api.app import Route, json_response, qbool, qint, read_json
from dockyard.api.filters import parse_filters
from dockyard.api.hijack import frame, hijack
from dockyard.containers import logdrivers
from dockyard.containers.security_opts import parse_security_opts
from dockyard.containers.store import ContainerRecord
from dockyard.engine.containers import AttachOptions
from dockyard.engine.logs import LogReader
from dockyard.engine.timefmt import parse_rfc3339, parse_since

__all__ = ["apparmor_profile", "inspect_json", "list_json", "routes"]


def _command(rec: ContainerRecord) -> str:
    parts = [rec.path, *rec.args] if rec.path else list(rec.args)
    return " ".join(parts)


def apparmor_profile(rec: ContainerRecord, engine: Any) -> str:
    """``AppArmorProfile``: what the container runs under, "" when the host has no AppArmor (as in Docker)."""
    isolation = getattr(engine.containers, "isolation", None)
    if isolation is None:
        return ""
    try:
        named = parse_security_opts(rec.host_config.get("SecurityOpt") or ()).apparmor_profile
    except errors.InvalidArgument:
        named = ""  # refused at start; inspect still answers
    return str(isolation.apparmor.choose(named, bool(rec.host_config.get("Privileged"))))


def inspect_json(rec: ContainerRecord, engine: Any) -> dict[str, Any]:
    merged = os.path.join(rec.bundle, "rootfs")
    graph = engine.graph_driver_data(rec)
    return {
        "Id": rec.id,
        "Created": rec.created,
        "Path": rec.path,
        "Args": list(rec.args),
        "State": {**rec.state.to_json(), **({"Health": dict(rec.health)} if rec.health else {})},
        "Image": rec.image_id,
        "ResolvConfPath": rec.resolv_conf_path,
        "HostnamePath": rec.hostname_path,
        "HostsPath": rec.hosts_path,
        "LogPath": logdrivers.inspect_log_path((rec.host_config.get("LogConfig") or {}).get("Type", ""), rec.log_path),
        "Name": "/" + rec.name,
        "RestartCount": rec.restart_count,
        "Driver": graph.get("Name", "overlay2"),
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": apparmor_profile(rec, engine),
        "ExecIDs": list(rec.exec_ids) or None,
        "HostConfig": dict(rec.host_config),
        "GraphDriver": graph or {"Data": {"MergedDir": merged}, "Name": "overlay2"},
        "Mounts": [dict(m) for m in rec.mount_points],
        "Config": dict(rec.config),
        "NetworkSettings": engine.network_settings(rec),
    }


def ports_list(ports: Any) -> list[dict[str, Any]]:
    """NetworkSettings.Ports as ``GET /containers/json`` lists them."""
    out: list[dict[str, Any]] = []
    for key, binds in ports.items():
        num, _, proto = str(key).partition("/")
        if not binds:
            out.append({"PrivatePort": int(num), "Type": proto or "tcp"})
        for b in binds or ():
            out.append(
                {
                    "IP": b.get("HostIp", ""),
                    "PrivatePort": int(num),
                    "PublicPort": int(b.get("HostPort") or 0),
                    "Type": proto or "tcp",
                }
            )
    return out


def list_json(rec: ContainerRecord, engine: Any, size: bool) -> dict[str, Any]:
    ns = engine.network_settings(rec)
    d: dict[str, Any] = {
        "Id": rec.id,
        "Names": ["/" + rec.name],
        "Image": rec.image,
        "ImageID": rec.image_id,
        "Command": _command(rec),
        "Created": int(parse_rfc3339(rec.created)),
        "Ports": ports_list(ns.get("Ports") or {}),
        "Labels": dict(rec.config.get("Labels") or {}),
        "State": rec.state.status,
        "Status": engine.containers.uptime_status(rec),
        "HostConfig": {"NetworkMode": rec.host_config.get("NetworkMode", "none")},
        "NetworkSettings": {"Networks": ns.get("Networks", {})},
        "Mounts": [dict(m) for m in rec.mount_points],
    }
    if size:
        d["SizeRw"], d["SizeRootFs"] = engine.container_size(rec)
    return d


def _match(rec: ContainerRecord, filters: dict[str, list[str]], engine: Any) -> bool:
    for key, values in filters.items():
        if not values:
            continue
        if key == "id":
            ok = any(rec.id.startswith(v) for v in values)
        elif key == "name":
            import re

            ok = any(re.search(v.lstrip("/"), rec.name) or re.search(v, "/" + rec.name) for v in values)
        elif key == "status":
            for v in values:
                if v not in ("created", "restarting", "running", "removing", "paused", "exited", "dead"):
                    raise errors.InvalidArgument(f"invalid filter 'status={v}'")
            ok = rec.state.status in values
        elif key == "exited":
            ok = rec.state.status == "exited" and str(rec.state.exit_code) in values
        elif key == "label":
            labels = rec.config.get("Labels") or {}
            ok = True
            for v in values:
                k, eq, val = v.partition("=")
                if k not in labels or (eq and labels[k] != val):
                    ok = False
        elif key == "ancestor":
            ok = any(engine.image_matches(rec, v) for v in values)
        elif key == "before":
            other = engine.containers.get(values[0])
            ok = rec.created < other.created
        elif key == "since":
            other = engine.containers.get(values[0])
            ok = rec.created > other.created
        elif key in ("volume", "network", "publish", "expose", "health", "isolation", "is-task"):
            ok = key in ("isolation", "is-task")
        else:
            raise errors.InvalidArgument(f"invalid filter '{key}'")
        if not ok:
            return False
    return True


def routes(engine: Any) -> list[Route]:
    svc = engine.containers

    async def create(request: web.Request) -> web.Response:
        body = await read_json(request, allow_empty=False)
        name = request.query.get("name") or None
        cid, warnings = await svc.create(body, name, request.query.get("platform", ""))
        return json_response({"Id": cid, "Warnings": warnings}, status=201)

    async def list_(request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        all_ = qbool(request, "all")
        limit = qint(request, "limit", -1) or -1
        size = qbool(request, "size")
        recs = sorted(svc.all(), key=lambda r: r.created, reverse=True)
        if not all_ and limit <= 0 and not filters.get("status"):
            recs = [r for r in recs if r.state.status in ("running", "paused", "restarting")]
        recs = [r for r in recs if _match(r, filters, engine)]
        if limit > 0:
            recs = recs[:limit]
        return json_response([list_json(r, engine, size) for r in recs])

    async def inspect(request: web.Request) -> web.Response:
        rec = svc.get(request.match_info["id"])
        data = inspect_json(rec, engine)
        if qbool(request, "size"):
            data["SizeRw"], data["SizeRootFs"] = engine.container_size(rec)
        return json_response(data)

    async def start(request: web.Request) -> web.Response:
        await svc.start(request.match_info["id"])
        return web.Response(status=204)

    async def stop(request: web.Request) -> web.Response:
        await svc.stop(request.match_info["id"], qint(request, "t"), request.query.get("signal") or None)
        return web.Response(status=204)

    async def restart(request: web.Request) -> web.Response:
        cid = request.match_info["id"]
        with contextlib.suppress(errors.NotModified):
            await svc.stop(cid, qint(request, "t"), request.query.get("signal") or None)
        await svc.start(cid)
        return web.Response(status=204)

    async def kill(request: web.Request) -> web.Response:
        await svc.kill(request.match_info["id"], request.query.get("signal") or None)
        return web.Response(status=204)

    async def remove(request: web.Request) -> web.Response:
        await svc.remove(
            request.match_info["id"],
            force=qbool(request, "force"),
            volumes=qbool(request, "v"),
            link=qbool(request, "link"),
        )
        return web.Response(status=204)

    async def wait(request: web.Request) -> web.StreamResponse:
        condition = request.query.get("condition", "not-running")
        if condition not in ("", "not-running", "next-exit", "removed"):
            raise errors.InvalidArgument(f"invalid condition: {condition!r}")
        rec = svc.get(request.match_info["id"])
        waiter = asyncio.ensure_future(svc.wait(rec.id, condition))
        # Docker sends the headers at once: the CLI waits for them before it starts.
        resp = web.StreamResponse(status=200)
        resp.content_type = "application/json"
        await resp.prepare(request)
        try:
            state = await waiter
            body: dict[str, Any] = {"StatusCode": state.exit_code, "Error": None}
            if state.error:
                body["Error"] = {"Message": state.error}
        except errors.DockyardError as e:
            body = {"StatusCode": -1, "Error": {"Message": e.message}}
        finally:
            if not waiter.done():
                waiter.cancel()
        await resp.write(json.dumps(body).encode() + b"\n")
        await resp.write_eof()
        return resp

    async def attach(request: web.Request) -> web.StreamResponse:
        rec = svc.get(request.match_info["id"])
        opts = AttachOptions(
            stdin=qbool(request, "stdin"),
            stdout=qbool(request, "stdout"),
            stderr=qbool(request, "stderr"),
            stream=qbool(request, "stream"),
            logs=qbool(request, "logs"),
            detach_keys=request.query.get("detachKeys", ""),
        )
        conn = await hijack(request, multiplexed=not rec.config.get("Tty"))
        try:
            await svc.attach(rec.id, opts, conn)
        finally:
            conn.close()
        return conn.response

    async def resize(request: web.Request) -> web.Response:
        h, w = qint(request, "h", 0) or 0, qint(request, "w", 0) or 0
        await svc.resize(request.match_info["id"], h, w)
        return web.Response(status=200)

    async def logs(request: web.Request) -> web.StreamResponse:
        rec = svc.get(request.match_info["id"])
        want_out, want_err = qbool(request, "stdout"), qbool(request, "stderr")
        if not want_out and not want_err:
            raise errors.InvalidArgument("Bad parameters: you must choose at least one stream")
        if not rec.log_path:
            raise errors.NotImplementedYet("configured logging driver does not support reading")
        follow, timestamps = qbool(request, "follow"), qbool(request, "timestamps")
        details = qbool(request, "details")
        try:
            since = parse_since(request.query.get("since", "") or "0")
            until_q = request.query.get("until", "")
            until = parse_since(until_q) if until_q and until_q != "0" else None
        except ValueError:
            raise errors.InvalidArgument("invalid since/until value") from None
        tail_q = request.query.get("tail", "all")
        tail = -1 if tail_q in ("", "all") else _int(tail_q, "tail")
        tty = bool(rec.config.get("Tty"))
        # Open and read the log before answering: the client may remove the container
        # as soon as it has the headers (docker-py's run does).
        reader = await asyncio.to_thread(LogReader, rec.log_path)
        try:
            entries = await asyncio.to_thread(reader.snapshot)
            resp = web.StreamResponse(status=200)
            resp.content_type = (
                "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"
            )
            await resp.prepare(request)

            def render(e: Any) -> bytes | None:
                stream = 2 if e.stream == "stderr" else 1
                if (stream == 1 and not want_out) or (stream == 2 and not want_err):
                    return None
                ts = e.timestamp
                if since and ts < since:
                    return None
                if until is not None and ts > until:
                    return None
                data = e.data
                if details:  # Docker's --details: the entry's extra attributes, then a space
                    attrs = ",".join(f"{k}={v}" for k, v in sorted((e.attrs or {}).items()))
                    data = attrs.encode() + b" " + data
                if timestamps:
                    data = e.time.encode() + b" " + data
                return data if tty else frame(stream, data)

            if tail >= 0:
                entries = entries[-tail:] if tail else []
            for e in entries:
                out = render(e)
                if out:
                    await resp.write(out)
            if follow and rec.state.running:

                def done() -> bool:
                    try:
                        return not svc.get(rec.id).state.running
                    except errors.NotFound:
                        return True

                async for e in reader.follow(done):
                    if until is not None and e.timestamp > until:
                        break
                    out = render(e)
                    if out:
                        await resp.write(out)
        finally:
            reader.close()
        await resp.write_eof()
        return resp

    return [
        ("POST", "/containers/create", create),
        ("GET", "/containers/json", list_),
        ("GET", "/containers/{id}/json", inspect),
        ("POST", "/containers/{id}/start", start),
        ("POST", "/containers/{id}/stop", stop),
        ("POST", "/containers/{id}/restart", restart),
        ("POST", "/containers/{id}/kill", kill),
        ("DELETE", "/containers/{id}", remove),
        ("POST", "/containers/{id}/wait", wait),
        ("POST", "/containers/{id}/attach", attach),
        ("POST", "/containers/{id}/resize", resize),
        ("GET", "/containers/{id}/logs", logs),
    ]


def _int(v: str, name: str) -> int:
    try:
        return int(v)
    except ValueError:
        raise errors.InvalidArgument(f"invalid value for {name}: {v!r}") from None
