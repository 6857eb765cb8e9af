"""The fake Engine API's endpoints beyond run: container ops, archive, commit, networks, volumes,
events, system df/prune, build, pull/push/auth. State lives in ``FakeResources`` (one per FakeEngine).

Container filesystems are real temporary directories, so ``cp``/``export``/``diff`` tests move real
tars; nothing here touches the kernel beyond files under a private temp dir.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["FakeAPIError", "FakeResources", "route_extra"]


class FakeAPIError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Handler(Protocol):
    """What the fake's request handler offers to these routes."""

    @property
    def engine(self) -> Any: ...
    @property
    def headers(self) -> Any: ...
    @property
    def wfile(self) -> Any: ...

    def send_response(self, code: int, message: str | None = None) -> None: ...
    def send_header(self, keyword: str, value: str) -> None: ...
    def end_headers(self) -> None: ...

    def body(self) -> bytes: ...
    def send(self, status: int, data: Any = None, *, raw: bytes | None = None, ctype: str = ...) -> None: ...
    def stream_messages(self, messages: list[dict[str, Any]]) -> None: ...
    def container(self, ref: str) -> Any: ...
    def image(self, ref: str) -> Any: ...


def _sha(seed: str) -> str:
    return hashlib.sha256(f"{seed}{time.time_ns()}{os.urandom(4).hex()}".encode()).hexdigest()


def _path_stat(path: str, name: str) -> str:
    st = os.lstat(path)
    mode = st.st_mode & 0o7777
    if os.path.isdir(path) and not os.path.islink(path):
        mode |= 1 << 31
    if os.path.islink(path):
        mode |= 1 << 27
    obj = {
        "name": name,
        "size": st.st_size,
        "mode": mode,
        "mtime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(st.st_mtime)),
        "linkTarget": os.readlink(path) if os.path.islink(path) else "",
    }
    return base64.b64encode(json.dumps(obj).encode()).decode()


@dataclass
class FakeResources:
    root: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="dyfake-"))
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    paused: set[str] = field(default_factory=set)
    updates: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    restarts: list[tuple[str, str | None]] = field(default_factory=list)
    registry_users: dict[str, str] = field(default_factory=lambda: {"user": "secret"})
    remote_images: dict[str, list[str]] = field(default_factory=dict)  # "repo:tag" -> layer ids
    pushed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (ref, decoded X-Registry-Auth)
    pulled_auth: list[dict[str, Any]] = field(default_factory=list)
    builds: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name, driver in (("bridge", "bridge"), ("host", "host"), ("none", "null")):
            self.networks[name] = self._network(name, driver, {})

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def rootfs(self, cid: str) -> str:
        path = os.path.join(self.root, cid[:12])
        if not os.path.isdir(path):
            os.makedirs(os.path.join(path, "etc"))
            with open(os.path.join(path, "etc", "hostname"), "w") as f:
                f.write(cid[:12] + "\n")
        return path

    def emit(self, kind: str, action: str, actor: str, attrs: dict[str, str]) -> None:
        now = time.time_ns()
        self.events.append(
            {
                "Type": kind,
                "Action": action,
                "Actor": {"ID": actor, "Attributes": attrs},
                "scope": "local",
                "time": now // 1_000_000_000,
                "timeNano": now,
            }
        )

    @staticmethod
    def _network(name: str, driver: str, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "Name": name,
            "Id": _sha(name),
            "Created": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()),
            "Scope": "local",
            "Driver": driver,
            "EnableIPv6": bool(body.get("EnableIPv6")),
            "IPAM": body.get("IPAM") or {"Driver": "default", "Options": None, "Config": []},
            "Internal": bool(body.get("Internal")),
            "Attachable": bool(body.get("Attachable")),
            "Containers": {},
            "Options": body.get("Options") or {},
            "Labels": body.get("Labels") or {},
        }

    def find_network(self, ref: str) -> dict[str, Any]:
        for n in self.networks.values():
            if n["Name"] == ref or n["Id"].startswith(ref):
                return n
        raise FakeAPIError(404, f"network {ref} not found")


def route_extra(h: _Handler, method: str, p: list[str], q: dict[str, str], qlist: dict[str, list[str]]) -> bool:
    """Handle a request the core fake does not; False when nothing matches."""
    res: FakeResources = h.engine.resources
    match method, p:
        case "POST", ["containers", ref, ("pause" | "unpause") as verb]:
            c = h.container(ref)
            if c.status != "running":
                raise FakeAPIError(409, f"Container {c.id} is not running")
            if verb == "pause":
                if c.id in res.paused:
                    raise FakeAPIError(409, f"Container {c.id} is already paused")
                res.paused.add(c.id)
            else:
                if c.id not in res.paused:
                    raise FakeAPIError(409, f"Container {c.id} is not paused")
                res.paused.discard(c.id)
            res.emit("container", verb, c.id, {"name": c.name})
            h.send(204)
        case "POST", ["containers", ref, "restart"]:
            c = h.container(ref)
            res.restarts.append((c.id, q.get("t")))
            res.emit("container", "restart", c.id, {"name": c.name})
            h.send(204)
        case "POST", ["containers", ref, "rename"]:
            c = h.container(ref)
            new = q.get("name", "")
            if any(o.name == new for o in h.engine.containers.values()):
                raise FakeAPIError(409, f'Conflict. The container name "/{new}" is already in use')
            res.emit("container", "rename", c.id, {"name": new, "oldName": "/" + c.name})
            c.name = new
            h.send(204)
        case "POST", ["containers", ref, "update"]:
            c = h.container(ref)
            res.updates.setdefault(c.id, []).append(json.loads(h.body()))
            h.send(200, {"Warnings": []})
        case "GET", ["containers", ref, "top"]:
            c = h.container(ref)
            if c.status != "running":
                raise FakeAPIError(409, f"Container {c.id} is not running")
            h.send(200, {"Titles": ["UID", "PID", "CMD"], "Processes": [["root", "4242", " ".join(c.cmd)]]})
        case "GET", ["containers", ref, "stats"]:
            c = h.container(ref)
            sample = _stats_sample(c)
            if q.get("stream") in ("0", "false"):
                h.send(200, sample)
            else:
                _stream_stats(h, c)
        case "GET", ["containers", ref, "changes"]:
            c = h.container(ref)
            root = res.rootfs(c.id)
            changes = [{"Kind": 0, "Path": "/etc"}]
            for dirpath, dirs, files in os.walk(root):
                for name in sorted(dirs + files):
                    rel = "/" + os.path.relpath(os.path.join(dirpath, name), root)
                    if rel not in ("/etc", "/etc/hostname"):
                        changes.append({"Kind": 1, "Path": rel})
            h.send(200, changes)
        case "GET", ["containers", ref, "export"]:
            c = h.container(ref)
            h.send(200, raw=_tar_of(res.rootfs(c.id), ""), ctype="application/x-tar")
        case ("GET" | "HEAD") as verb, ["containers", ref, "archive"]:
            _get_archive(h, res, h.container(ref), q.get("path", ""), head=verb == "HEAD")
        case "PUT", ["containers", ref, "archive"]:
            c = h.container(ref)
            _put_archive(h, res, c, q.get("path", ""))
        case "POST", ["commit"]:
            c = h.container(q.get("container", ""))
            h.body()
            tag = f"{q['repo']}:{q.get('tag') or 'latest'}" if q.get("repo") else ""
            img = h.engine.add_image(tag or "committed:none", c.cmd)
            img.tags = [tag] if tag else []
            img.comment = q.get("comment", "")  # read back by tests
            img.author = q.get("author", "")
            img.changes = qlist.get("changes", [])
            img.pause = q.get("pause")
            res.emit("container", "commit", c.id, {"name": c.name})
            h.send(201, {"Id": img.id})
        case "POST", ["containers", "prune"]:
            gone = [c for c in list(h.engine.containers.values()) if c.status != "running"]
            for c in gone:
                h.engine.containers.pop(c.id, None)
                c.removed.set()
            h.send(200, {"ContainersDeleted": [c.id for c in gone], "SpaceReclaimed": 1000 * len(gone)})
        case _:
            return _route_resources(h, res, method, p, q, qlist)
    return True


def _route_resources(
    h: _Handler, res: FakeResources, method: str, p: list[str], q: dict[str, str], qlist: dict[str, list[str]]
) -> bool:
    match method, p:
        case "GET", ["networks"]:
            h.send(200, list(res.networks.values()))
        case "POST", ["networks", "create"]:
            body = json.loads(h.body())
            name = body.get("Name", "")
            if name in res.networks:
                raise FakeAPIError(409, f"network with name {name} already exists")
            net = res._network(name, body.get("Driver") or "bridge", body)
            res.networks[name] = net
            res.emit("network", "create", net["Id"], {"name": name, "type": net["Driver"]})
            h.send(201, {"Id": net["Id"], "Warning": ""})
        case "POST", ["networks", "prune"]:
            gone = [
                n for n in res.networks if n not in ("bridge", "host", "none") and not res.networks[n]["Containers"]
            ]
            for n in gone:
                del res.networks[n]
            h.send(200, {"NetworksDeleted": gone})
        case "POST", ["networks", ref, ("connect" | "disconnect") as verb]:
            net = res.find_network(ref)
            body = json.loads(h.body())
            c = h.container(body.get("Container", ""))
            if verb == "connect":
                net["Containers"][c.id] = {"Name": c.name, "EndpointConfig": body.get("EndpointConfig") or {}}
            elif net["Containers"].pop(c.id, None) is None:
                raise FakeAPIError(409, f"container {c.id} is not connected to network {net['Name']}")
            h.send(200, raw=b"", ctype="text/plain")
        case "GET", ["networks", ref]:
            h.send(200, res.find_network(ref))
        case "DELETE", ["networks", ref]:
            net = res.find_network(ref)
            if net["Containers"]:
                raise FakeAPIError(403, f"error while removing network: network {net['Name']} has active endpoints")
            del res.networks[net["Name"]]
            h.send(204)
        case "GET", ["volumes"]:
            flt = json.loads(q.get("filters") or "{}")
            vols = list(res.volumes.values())
            if "name" in flt:
                vols = [v for v in vols if any(n in v["Name"] for n in flt["name"])]
            h.send(200, {"Volumes": vols, "Warnings": []})
        case "POST", ["volumes", "create"]:
            body = json.loads(h.body())
            name = body.get("Name") or _sha("vol")
            vol = res.volumes.setdefault(
                name,
                {
                    "Name": name,
                    "Driver": body.get("Driver") or "local",
                    "Mountpoint": f"/var/lib/dockyard/volumes/{name}/_data",
                    "CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "Labels": body.get("Labels") or {},
                    "Options": body.get("DriverOpts") or {},
                    "Scope": "local",
                },
            )
            res.emit("volume", "create", name, {"driver": vol["Driver"]})
            h.send(201, vol)
        case "POST", ["volumes", "prune"]:
            gone = list(res.volumes)
            res.volumes.clear()
            h.send(200, {"VolumesDeleted": gone, "SpaceReclaimed": 0})
        case "GET", ["volumes", name]:
            if name not in res.volumes:
                raise FakeAPIError(404, f"get {name}: no such volume")
            h.send(200, res.volumes[name])
        case "DELETE", ["volumes", name]:
            if name not in res.volumes:
                raise FakeAPIError(404, f"get {name}: no such volume")
            del res.volumes[name]
            h.send(204)
        case "GET", ["events"]:
            _events(h, res, q)
        case "GET", ["system", "df"]:
            h.send(200, _df(h, res))
        case "POST", ["images", "prune"]:
            flt = json.loads(q.get("filters") or "{}")
            dangling = next(iter(flt.get("dangling") or {"true": True}))
            dead = [i for i in h.engine.images.values() if not i.tags or dangling == "false"]
            dead = [i for i in dead if not any(c.image is i for c in h.engine.containers.values())]
            for i in dead:
                del h.engine.images[i.id]
            deleted = [{"Deleted": i.id} for i in dead]
            h.send(200, {"ImagesDeleted": deleted, "SpaceReclaimed": sum(i.size for i in dead)})
        case "POST", ["build", "prune"]:
            h.send(200, {"CachesDeleted": [], "SpaceReclaimed": 0})
        case "POST", ["auth"]:
            body = json.loads(h.body())
            user = str(body.get("username", ""))
            if user not in res.registry_users or res.registry_users[user] != body.get("password"):
                raise FakeAPIError(401, "login attempt failed: unauthorized: incorrect username or password")
            h.send(200, {"Status": "Login Succeeded", "IdentityToken": ""})
        case "POST", ["images", *name, "push"]:
            _push(h, res, "/".join(name), q)
        case "POST", ["build"]:
            _build(h, res, q, qlist)
        case _:
            return False
    return True


def _stats_sample(c: Any) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": "/" + c.name,
        "read": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu_stats": {"cpu_usage": {"total_usage": 400_000_000}, "system_cpu_usage": 10_000_000_000, "online_cpus": 2},
        "precpu_stats": {"cpu_usage": {"total_usage": 300_000_000}, "system_cpu_usage": 9_000_000_000},
        "memory_stats": {"usage": 12 << 20, "limit": 64 << 20, "stats": {"total_inactive_file": 4 << 20}},
        "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 500}},
        "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 4096}, {"op": "Write", "value": 0}]},
        "pids_stats": {"current": 3},
    }


def _stream_stats(h: _Handler, c: Any) -> None:
    """A sample every 0.2 s while the container runs (bounded), as a chunked JSON stream."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    deadline = time.monotonic() + 30
    try:
        while c.status == "running" and time.monotonic() < deadline:
            data = json.dumps(_stats_sample(c)).encode() + b"\n"
            h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            h.wfile.flush()
            c.exited.wait(0.2)
        h.wfile.write(b"0\r\n\r\n")
    except OSError:
        pass  # the client stopped watching


def _tar_of(path: str, arcname: str) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tf:
        if arcname:
            tf.add(path, arcname=arcname)
        else:
            for entry in sorted(os.listdir(path)):
                tf.add(os.path.join(path, entry), arcname=entry)
    return out.getvalue()


def _resolve(res: FakeResources, c: Any, path: str) -> str:
    root = res.rootfs(c.id)
    full = os.path.normpath(os.path.join(root, path.lstrip("/")))
    if os.path.commonpath([full, root]) != root:
        raise FakeAPIError(400, f"path {path} escapes the container")
    return full


def _get_archive(h: _Handler, res: FakeResources, c: Any, path: str, *, head: bool) -> None:
    full = _resolve(res, c, path)
    if not os.path.lexists(full):
        raise FakeAPIError(404, f"Could not find the file {path} in container {c.name}")
    name = os.path.basename(path.rstrip("/")) or "/"
    stat = _path_stat(full, name)
    data = b"" if head else _tar_of(full, "." if path.endswith("/.") else name)
    h.send_response(200)
    h.send_header("Content-Type", "application/x-tar")
    h.send_header("X-Docker-Container-Path-Stat", stat)
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    if not head:
        h.wfile.write(data)


def _put_archive(h: _Handler, res: FakeResources, c: Any, path: str) -> None:
    data = h.body()
    full = _resolve(res, c, path)
    if not os.path.isdir(full):
        raise FakeAPIError(404, f"Could not find the file {path} in container {c.name}")
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        tf.extractall(full, filter="tar")  # keeps owners: what the client sent is what lands
    h.send(200, raw=b"", ctype="text/plain")


def _events(h: _Handler, res: FakeResources, q: dict[str, str]) -> None:
    since = float(q.get("since") or 0)
    until = float(q["until"]) if q.get("until") else None
    flt = json.loads(q.get("filters") or "{}")
    out = []
    for ev in res.events:
        t = ev["timeNano"] / 1e9
        if t < since or (until is not None and t > until):
            continue
        if "type" in flt and ev["Type"] not in flt["type"]:
            continue
        if "event" in flt and ev["Action"] not in flt["event"]:
            continue
        out.append(ev)
    h.stream_messages(out)


def _df(h: _Handler, res: FakeResources) -> dict[str, Any]:
    images = [
        {**i.summary(), "Containers": sum(1 for c in h.engine.containers.values() if c.image is i), "SharedSize": 0}
        for i in h.engine.images.values()
    ]
    containers = [{**c.summary(), "SizeRw": 1000} for c in h.engine.containers.values()]
    volumes = [{**v, "UsageData": {"Size": 2048, "RefCount": 0}} for v in res.volumes.values()]
    return {
        "LayersSize": sum(i["Size"] for i in images),
        "Images": images,
        "Containers": containers,
        "Volumes": volumes,
        "BuildCache": [],
    }


def _decode_auth(header: str | None) -> dict[str, Any]:
    if not header:
        return {}
    try:
        return dict(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))))
    except ValueError:
        return {}


def check_pull(h: _Handler, res: FakeResources, image: str, tag: str) -> None:
    """``POST /images/create?fromImage=`` for an image in ``remote_images``: progress, then the image."""
    auth = _decode_auth(h.headers.get("X-Registry-Auth"))
    res.pulled_auth.append(auth)
    if not tag and ":" in image.rsplit("/", 1)[-1]:
        image, _, tag = image.rpartition(":")  # the tag inside fromImage, as the API also allows
    ref = f"{image}:{tag or 'latest'}"
    layers = res.remote_images.get(ref)
    if layers is None:
        raise FakeAPIError(
            404, f"pull access denied for {image}, repository does not exist or may require 'docker login'"
        )
    msgs: list[dict[str, Any]] = [{"status": f"Pulling from {image}", "id": tag or "latest"}]
    for layer in layers:
        msgs += [
            {"status": "Pulling fs layer", "progressDetail": {}, "id": layer},
            {
                "status": "Downloading",
                "progressDetail": {"current": 512, "total": 1024},
                "progress": "[=>  ]",
                "id": layer,
            },
            {"status": "Pull complete", "progressDetail": {}, "id": layer},
        ]
    h.engine.add_image(ref, ["sh"])
    msgs += [{"status": "Digest: sha256:" + "ab" * 32}, {"status": f"Status: Downloaded newer image for {ref}"}]
    h.stream_messages(msgs)


def _push(h: _Handler, res: FakeResources, name: str, q: dict[str, str]) -> None:
    tag = q.get("tag") or "latest"
    img = h.image(f"{name}:{tag}")
    auth = _decode_auth(h.headers.get("X-Registry-Auth"))
    res.pushed.append((f"{name}:{tag}", auth))
    msgs: list[dict[str, Any]] = [{"status": f"The push refers to repository [{name}]"}]
    user = str(auth.get("username", ""))
    if user not in res.registry_users or res.registry_users[user] != auth.get("password"):
        msgs.append(
            {
                "errorDetail": {"message": "unauthorized: authentication required"},
                "error": "unauthorized: authentication required",
            }
        )
    else:
        layer = img.id[7:19]
        msgs += [
            {"status": "Preparing", "progressDetail": {}, "id": layer},
            {"status": "Pushed", "progressDetail": {}, "id": layer},
            {"status": f"{tag}: digest: sha256:{'cd' * 32} size: 527"},
            {"aux": {"Tag": tag, "Digest": "sha256:" + "cd" * 32, "Size": 527}},
        ]
    h.stream_messages(msgs)


def _build(h: _Handler, res: FakeResources, q: dict[str, str], qlist: dict[str, list[str]]) -> None:
    data = h.body()
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
        for m in tf.getmembers():
            f = tf.extractfile(m) if m.isfile() else None
            files[m.name] = f.read() if f else b""
    name = q.get("dockerfile") or "Dockerfile"
    res.builds.append({"query": q, "qlist": qlist, "files": sorted(files)})
    if name not in files:
        raise FakeAPIError(500, f"Cannot locate specified Dockerfile: {name}")
    lines = [ln.strip() for ln in files[name].decode().splitlines() if ln.strip() and not ln.strip().startswith("#")]
    msgs: list[dict[str, Any]] = []
    for i, line in enumerate(lines, 1):
        msgs += [{"stream": f"Step {i}/{len(lines)} : {line}"}, {"stream": "\n"}]
        word, _, rest = line.partition(" ")
        if word.upper() == "RUN":
            msgs.append({"stream": " ---> Running in 0123456789ab\n"})
            if rest.startswith("echo "):
                msgs.append({"stream": rest[5:] + "\n"})
            if rest.startswith("exit "):
                code = rest[5:]
                msgs.append(
                    {
                        "errorDetail": {
                            "code": int(code),
                            "message": f"The command '/bin/sh -c {rest}' returned a non-zero code: {code}",
                        },
                        "error": f"The command '/bin/sh -c {rest}' returned a non-zero code: {code}",
                    }
                )
                h.stream_messages(msgs)
                return
            msgs.append({"stream": "Removing intermediate container 0123456789ab\n"})
        elif q.get("nocache") != "1" and i > 1:
            msgs.append({"stream": " ---> Using cache\n"})
        msgs.append({"stream": f" ---> {_sha(line)[:12]}\n"})
    tags = qlist.get("t", [])
    img = h.engine.add_image(tags[0] if tags else "built:none", ["sh"])
    img.tags = list(tags)
    msgs += [{"aux": {"ID": img.id}}, {"stream": f"Successfully built {img.id[7:19]}\n"}]
    msgs += [{"stream": f"Successfully tagged {t if ':' in t else t + ':latest'}\n"} for t in tags]
    h.stream_messages(msgs)
