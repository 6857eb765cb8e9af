"""An in-process fake Engine API for testing clients (the CLI, this library).

It speaks real HTTP/1.1 on a unix socket, with Docker's JSON shapes, error
bodies, streamed JSON messages, a chunked ``wait`` whose head is sent at once,
and hijacked ``attach``. Containers run a toy program instead of a process:
``echo ARGS`` (stdout), ``cat`` (stdin to stdout), ``fail N`` (stderr, exit N),
``sleep`` (until stopped or killed). Nothing here touches the kernel.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dockyard.client.fake_resources import FakeAPIError, FakeResources, check_pull, route_extra
from dockyard.client.streams import encode_frame

__all__ = ["FakeContainer", "FakeEngine", "FakeExec", "FakeImage"]

_STOP_TIMEOUT = 30.0
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"


def _new_id(seed: str) -> str:
    return hashlib.sha256(f"{seed}{time.time_ns()}{os.urandom(8).hex()}".encode()).hexdigest()


@dataclass
class FakeImage:
    id: str
    tags: list[str]
    cmd: list[str]
    created: int = field(default_factory=lambda: int(time.time()))
    size: int = 1986242
    comment: str = ""
    author: str = ""
    changes: list[str] = field(default_factory=list)
    pause: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "Containers": -1,
            "Created": self.created,
            "Id": self.id,
            "Labels": None,
            "ParentId": "",
            "RepoDigests": [],
            "RepoTags": list(self.tags),
            "SharedSize": -1,
            "Size": self.size,
            "VirtualSize": self.size,
        }

    def inspect(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "RepoTags": list(self.tags),
            "RepoDigests": [],
            "Created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created)),
            "Config": {"Cmd": list(self.cmd), "Env": ["PATH=/bin"]},
            "Architecture": "amd64",
            "Os": "linux",
            "Size": self.size,
        }


@dataclass
class FakeContainer:
    id: str
    name: str
    image: FakeImage
    image_ref: str
    config: dict[str, Any]
    created: int = field(default_factory=lambda: int(time.time()))
    status: str = "created"
    exit_code: int = 0
    log: list[tuple[int, bytes]] = field(default_factory=list)
    attached: list[socket.socket] = field(default_factory=list)
    stdin: queue.Queue[bytes | None] = field(default_factory=queue.Queue)
    exited: threading.Event = field(default_factory=threading.Event)
    removed: threading.Event = field(default_factory=threading.Event)
    stopped: threading.Event = field(default_factory=threading.Event)
    stop_signal: str = ""
    sizes: list[tuple[int, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def tty(self) -> bool:
        return bool(self.config.get("Tty"))

    @property
    def cmd(self) -> list[str]:
        return list(self.config.get("Cmd") or self.image.cmd)

    def emit(self, stream: int, data: bytes) -> None:
        with self.lock:
            self.log.append((stream, data))
            for sock in list(self.attached):
                try:
                    sock.sendall(data if self.tty else encode_frame(stream, data))
                except OSError:
                    self.attached.remove(sock)

    def summary(self) -> dict[str, Any]:
        status = {"created": "Created", "running": "Up Less than a second"}.get(
            self.status, f"Exited ({self.exit_code}) Less than a second ago"
        )
        return {
            "Id": self.id,
            "Names": ["/" + self.name],
            "Image": self.image_ref,
            "ImageID": self.image.id,
            "Command": " ".join(self.cmd),
            "Created": self.created,
            "Ports": [],
            "Labels": dict(self.config.get("Labels") or {}),
            "State": self.status,
            "Status": status,
            "HostConfig": {"NetworkMode": "default"},
            "NetworkSettings": {"Networks": {}},
            "Mounts": [],
        }

    def inspect(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Name": "/" + self.name,
            "Created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created)),
            "Path": self.cmd[0],
            "Args": self.cmd[1:],
            "Image": self.image.id,
            "State": {
                "Status": self.status,
                "Running": self.status == "running",
                "ExitCode": self.exit_code,
            },
            "Config": {**self.config, "Cmd": self.cmd, "Image": self.image_ref},
            "HostConfig": dict(self.config.get("HostConfig") or {}),
        }


class _QuietErrors:
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-stream is normal here; anything else is a bug in the fake.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[misc]


def _toy_program(
    cmd: list[str],
    emit: Callable[[int, bytes], None],
    stdin: queue.Queue[bytes | None],
    stopped: threading.Event,
    *,
    tty: bool,
    signal: Callable[[], str],
) -> int:
    """Run one of the toy commands; returns its exit code."""
    if cmd[0] == "echo":
        emit(1, (" ".join(cmd[1:]) + "\n").encode())
    elif cmd[0] == "cat":
        while (data := stdin.get()) is not None:
            # A terminal's line discipline turns ^D into end of input; the fake does the same.
            eof = tty and b"\x04" in data
            emit(1, data.split(b"\x04")[0] if eof else data)
            if eof:
                break
    elif cmd[0] == "fail":
        emit(2, b"failing\n")
        return int(cmd[1])
    elif cmd[0] == "sleep":
        stopped.wait(_STOP_TIMEOUT)
        return {"SIGKILL": 137, "KILL": 137, "9": 137}.get(signal(), 143)
    else:
        emit(2, f"{cmd[0]}: not found\n".encode())
        return 127
    return 0


@dataclass
class FakeExec:
    id: str
    container: FakeContainer
    config: dict[str, Any]
    running: bool = False
    exit_code: int | None = None
    sizes: list[tuple[int, int]] = field(default_factory=list)

    def inspect(self) -> dict[str, Any]:
        cmd = list(self.config.get("Cmd") or [])
        return {
            "ID": self.id,
            "ContainerID": self.container.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "OpenStdin": bool(self.config.get("AttachStdin")),
            "ProcessConfig": {"tty": bool(self.config.get("Tty")), "entrypoint": cmd[0], "arguments": cmd[1:]},
        }


class _Server(_QuietErrors, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    engine: FakeEngine


class _TCPServer(_QuietErrors, socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    engine: FakeEngine


class FakeEngine:
    """A fake daemon on unix ``socket_path`` (or, with ``tcp=True``, on 127.0.0.1 at a free port).

    Use as a context manager or call start/close; ``host`` is the address to give clients.
    """

    def __init__(self, socket_path: str = "", *, tcp: bool = False) -> None:
        self.socket_path = socket_path
        self.tcp = tcp
        self.host = ""
        self.images: dict[str, FakeImage] = {}
        self.containers: dict[str, FakeContainer] = {}
        self.execs: dict[str, FakeExec] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path?query), in arrival order
        self.lock = threading.Lock()
        self.resources = FakeResources()
        self._server: _Server | _TCPServer | None = None
        self._thread: threading.Thread | None = None
        self.add_image("busybox:latest", ["sh"])

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> FakeEngine:
        server: _Server | _TCPServer
        if self.tcp:
            server = _TCPServer(("127.0.0.1", 0), _Handler)
            self.host = f"tcp://127.0.0.1:{server.server_address[1]}"
        else:
            server = _Server(self.socket_path, _Handler)
            self.host = f"unix://{self.socket_path}"
        server.engine = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        for c in list(self.containers.values()):
            c.stopped.set()
            c.stdin.put(None)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        if self.socket_path and os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        self.resources.close()

    def __enter__(self) -> FakeEngine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- state -----------------------------------------------------------------

    def add_image(self, tag: str, cmd: list[str]) -> FakeImage:
        img = FakeImage("sha256:" + _new_id(tag), [tag], cmd)
        self.images[img.id] = img
        return img

    def find_image(self, ref: str) -> FakeImage | None:
        full = ref if ":" in ref.rsplit("/", 1)[-1] else ref + ":latest"
        for img in self.images.values():
            if full in img.tags or img.id == ref or img.id.removeprefix("sha256:").startswith(ref):
                return img
        return None

    def find_container(self, ref: str) -> FakeContainer | None:
        for c in self.containers.values():
            if c.name == ref.lstrip("/") or c.id.startswith(ref):
                return c
        return None

    def run_program(self, c: FakeContainer) -> None:
        code = _toy_program(c.cmd, c.emit, c.stdin, c.stopped, tty=c.tty, signal=lambda: c.stop_signal)
        self.finish(c, code)

    def finish(self, c: FakeContainer, code: int) -> None:
        with c.lock:
            c.status, c.exit_code = "exited", code
            for sock in c.attached:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            c.attached.clear()
        c.exited.set()
        if (c.config.get("HostConfig") or {}).get("AutoRemove"):
            with self.lock:
                self.containers.pop(c.id, None)
            c.removed.set()


_APIError = FakeAPIError


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server | _TCPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- helpers ---------------------------------------------------------------

    @property
    def engine(self) -> FakeEngine:
        return self.server.engine

    def body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, status: int, data: Any = None, *, raw: bytes | None = None, ctype: str = "application/json") -> None:
        payload = raw if raw is not None else (b"" if data is None else json.dumps(data).encode() + b"\n")
        self.send_response(status)
        self.send_header("Api-Version", "1.44")
        if status != 204 and status != 304:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if status not in (204, 304):
            self.wfile.write(payload)

    def stream_messages(self, messages: list[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for m in messages:
            self.chunk(json.dumps(m).encode() + b"\r\n")
        self.chunk(b"")

    def chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def container(self, ref: str) -> FakeContainer:
        c = self.engine.find_container(ref)
        if c is None:
            raise _APIError(404, f"No such container: {ref}")
        return c

    def image(self, ref: str) -> FakeImage:
        img = self.engine.find_image(ref)
        if img is None:
            raise _APIError(404, f"No such image: {ref}")
        return img

    # -- dispatch --------------------------------------------------------------

    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def do_DELETE(self) -> None:
        self.dispatch("DELETE")

    def do_PUT(self) -> None:
        self.dispatch("PUT")

    def do_HEAD(self) -> None:
        self.dispatch("HEAD")

    def dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path
        if path.startswith("/v1."):
            path = "/" + path.split("/", 2)[2]
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        qlist = parse_qs(url.query)
        self.engine.requests.append((method, path + ("?" + url.query if url.query else "")))
        parts = path.strip("/").split("/")
        try:
            self.route(method, parts, q, qlist)
        except _APIError as exc:
            self.close_connection = True  # an unread request body must not be parsed as the next request
            self.send(exc.status, {"message": exc.message})

    def route(self, method: str, p: list[str], q: dict[str, str], qlist: dict[str, list[str]]) -> None:
        eng = self.engine
        match method, p:
            case "GET", ["_ping"]:
                self.send(200, raw=b"OK", ctype="text/plain")
            case "GET", ["version"]:
                self.send(
                    200,
                    {
                        "Version": "0.0-fake",
                        "ApiVersion": "1.44",
                        "MinAPIVersion": "1.24",
                        "Os": "linux",
                        "Arch": "amd64",
                        "Components": [{"Name": "Engine", "Version": "0.0-fake", "Details": {"ApiVersion": "1.44"}}],
                    },
                )
            case "GET", ["info"]:
                self.send(200, {"Containers": len(eng.containers), "Images": len(eng.images), "Name": "fake"})
            case "POST", ["containers", "create"]:
                self.create(self.body(), q.get("name"))
            case "GET", ["containers", "json"]:
                cs = sorted(eng.containers.values(), key=lambda c: c.created, reverse=True)
                if q.get("all") not in ("1", "true") and "limit" not in q:
                    cs = [c for c in cs if c.status == "running"]
                if "limit" in q:
                    cs = cs[: int(q["limit"])]
                self.send(200, [c.summary() for c in cs])
            case "GET", ["containers", ref, "json"]:
                self.send(200, self.container(ref).inspect())
            case "POST", ["containers", ref, "attach"]:
                self.attach(self.container(ref), q)
            case "POST", ["containers", ref, "wait"]:
                self.wait(self.container(ref), q.get("condition", "not-running"))
            case "POST", ["containers", ref, "start"]:
                c = self.container(ref)
                if c.status == "running":
                    self.send(304)
                    return
                c.status = "running"
                c.exited.clear()
                c.stopped.clear()
                threading.Thread(target=eng.run_program, args=(c,), daemon=True).start()
                self.send(204)
            case "POST", ["containers", ref, ("stop" | "kill") as verb]:
                c = self.container(ref)
                if c.status != "running":
                    if verb == "kill":
                        raise _APIError(409, f"Container {c.id} is not running")
                    self.send(304)
                    return
                c.stop_signal = q.get("signal", "SIGKILL" if verb == "kill" else "SIGTERM")
                c.stopped.set()
                c.exited.wait(5)
                self.send(204)
            case "POST", ["containers", ref, "exec"]:
                c = self.container(ref)
                config = json.loads(self.body())
                if c.status != "running":
                    raise _APIError(409, f"Container {c.id} is not running")
                if not config.get("Cmd"):
                    raise _APIError(400, "No exec command specified")
                ex = FakeExec(_new_id("exec"), c, config)
                eng.execs[ex.id] = ex
                self.send(201, {"Id": ex.id})
            case "POST", ["exec", ident, "start"]:
                ex = self.exec_instance(ident)
                self.exec_start(ex, json.loads(self.body() or b"{}"))
            case "GET", ["exec", ident, "json"]:
                self.send(200, self.exec_instance(ident).inspect())
            case "POST", ["exec", ident, "resize"]:
                self.exec_instance(ident).sizes.append((int(q["h"]), int(q["w"])))
                self.send(200, raw=b"", ctype="text/plain")
            case "POST", ["containers", ref, "resize"]:
                self.container(ref).sizes.append((int(q["h"]), int(q["w"])))
                self.send(200, raw=b"", ctype="text/plain")
            case "GET", ["containers", ref, "logs"]:
                c = self.container(ref)
                frames = b"".join(d if c.tty else encode_frame(s, d) for s, d in list(c.log))
                ctype = "application/vnd.docker.raw-stream" if c.tty else "application/vnd.docker.multiplexed-stream"
                self.send(200, raw=frames, ctype=ctype)
            case "DELETE", ["containers", ref]:
                c = self.container(ref)
                if c.status == "running" and q.get("force") not in ("1", "true"):
                    raise _APIError(
                        409,
                        f"You cannot remove a running container {c.id}. Stop the container "
                        "before attempting removal or force remove",
                    )
                c.stop_signal = "SIGKILL"
                c.stopped.set()
                with eng.lock:
                    eng.containers.pop(c.id, None)
                c.removed.set()
                self.send(204)
            case "GET", ["images", "json"]:
                self.send(200, [i.summary() for i in eng.images.values()])
            case "GET", ["images", "get"]:
                names = qlist.get("names", [])
                for n in names:
                    self.image(n)
                self.send(200, raw=("FAKETAR " + " ".join(names)).encode(), ctype="application/x-tar")
            case "POST", ["images", "load"]:
                data = self.body()
                tag = data.decode(errors="replace").split()[-1] if data.startswith(b"FAKETAR ") else "loaded:latest"
                eng.add_image(tag, ["echo", "loaded"])
                self.stream_messages([{"stream": f"Loaded image: {tag}\n"}])
            case "POST", ["images", "create"]:
                if "fromSrc" in q:
                    data = self.body()
                    tag = f"{q['repo']}:{q.get('tag') or 'latest'}" if q.get("repo") else ""
                    img = eng.add_image(tag, ["echo", str(len(data))])
                    if not tag:
                        img.tags = []
                    self.stream_messages([{"status": img.id}])
                else:
                    check_pull(self, eng.resources, q.get("fromImage", ""), q.get("tag", ""))
            case "POST", ["dockyard", "images", "bootstrap"]:
                tag = q.get("tag") or f"{q.get('kind')}:latest"
                img = eng.add_image(tag, ["sh"])
                self.stream_messages(
                    [{"status": f"Bootstrapping {q.get('kind')}"}, {"status": f"Tagged {tag}"}, {"aux": {"ID": img.id}}]
                )
            case "GET", ["images", *name, "json"]:
                self.send(200, self.image("/".join(name)).inspect())
            case "POST", ["images", *name, "tag"]:
                img = self.image("/".join(name))
                img.tags.append(f"{q['repo']}:{q.get('tag') or 'latest'}")
                self.send(201, raw=b"", ctype="text/plain")
            case "DELETE", ["images", *name]:
                ref = "/".join(name)
                img = self.image(ref)
                users = [c for c in eng.containers.values() if c.image is img]
                if users and q.get("force") not in ("1", "true"):
                    raise _APIError(
                        409,
                        f'conflict: unable to remove repository reference "{ref}" (must force) - '
                        f"container {users[0].id[:12]} is using its referenced image {img.id[7:19]}",
                    )
                full = ref if ":" in ref else ref + ":latest"
                if full in img.tags and len(img.tags) > 1:
                    img.tags.remove(full)
                    self.send(200, [{"Untagged": full}])
                    return
                del eng.images[img.id]
                self.send(200, [{"Untagged": t} for t in img.tags] + [{"Deleted": img.id}])
            case _:
                if not route_extra(self, method, p, q, qlist):
                    raise _APIError(404, "page not found")

    def exec_instance(self, ident: str) -> FakeExec:
        ex = self.engine.execs.get(ident)
        if ex is None:
            raise _APIError(404, f"No such exec instance: {ident}")
        return ex

    def exec_start(self, ex: FakeExec, opts: dict[str, Any]) -> None:
        if ex.running or ex.exit_code is not None:
            raise _APIError(409, f"exec {ex.id} has already been started")
        tty = bool(ex.config.get("Tty"))
        stdin: queue.Queue[bytes | None] = queue.Queue()
        stopped = ex.container.stopped
        ex.running = True
        if opts.get("Detach"):
            stdin.put(None)
            threading.Thread(
                target=self._finish_exec,
                args=(ex, _toy_program, (ex.config["Cmd"], lambda s, d: None, stdin, stopped)),
                daemon=True,
            ).start()
            self.send(200, raw=b"", ctype="text/plain")
            return
        self.send_response(101, "UPGRADED")
        self.send_header("Content-Type", "application/vnd.docker.raw-stream" if tty else MULTIPLEXED)
        self.send_header("Connection", "Upgrade")
        self.send_header("Upgrade", "tcp")
        self.end_headers()
        self.wfile.flush()
        sock = self.connection

        def emit(stream: int, data: bytes) -> None:
            sock.sendall(data if tty else encode_frame(stream, data))

        if ex.config.get("AttachStdin"):
            threading.Thread(target=self._forward_stdin, args=(stdin,), daemon=True).start()
        else:
            stdin.put(None)
        try:
            self._finish_exec(ex, _toy_program, (ex.config["Cmd"], emit, stdin, stopped))
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes the stdin reader: closing its file would wait for it
        self.close_connection = True

    @staticmethod
    def _finish_exec(ex: FakeExec, program: Callable[..., int], args: tuple[Any, ...]) -> None:
        try:
            code = program(*args, tty=bool(ex.config.get("Tty")), signal=lambda: ex.container.stop_signal)
        finally:
            ex.running = False
        ex.exit_code = code

    def _forward_stdin(self, stdin: queue.Queue[bytes | None]) -> None:
        try:
            while data := self.rfile.read1(65536):
                stdin.put(data)
        except OSError:
            pass
        stdin.put(None)

    def create(self, raw: bytes, name: str | None) -> None:
        eng = self.engine
        config = json.loads(raw)
        img = self.image_or_missing(config["Image"])
        name = name or f"fake_{len(eng.containers)}_{os.urandom(2).hex()}"
        if any(other.name == name for other in eng.containers.values()):
            raise _APIError(409, f'Conflict. The container name "/{name}" is already in use')
        c = FakeContainer(_new_id(name), name, img, config["Image"], config)
        with eng.lock:
            eng.containers[c.id] = c
        self.send(201, {"Id": c.id, "Warnings": []})

    def image_or_missing(self, ref: str) -> FakeImage:
        img = self.engine.find_image(ref)
        if img is None:
            full = ref if ":" in ref.rsplit("/", 1)[-1] else ref + ":latest"
            raise _APIError(404, f"No such image: {full}")
        return img

    def attach(self, c: FakeContainer, q: dict[str, str]) -> None:
        self.body()
        self.send_response(101, "UPGRADED")
        ctype = "application/vnd.docker.raw-stream" if c.tty else "application/vnd.docker.multiplexed-stream"
        self.send_header("Content-Type", ctype)
        self.send_header("Connection", "Upgrade")
        self.send_header("Upgrade", "tcp")
        self.end_headers()
        self.wfile.flush()
        with c.lock:
            c.attached.append(self.connection)
        if q.get("stdin") in ("1", "true"):

            def forward() -> None:
                try:
                    while data := self.rfile.read1(65536):
                        c.stdin.put(data)
                except OSError:
                    pass
                c.stdin.put(None)

            threading.Thread(target=forward, daemon=True).start()
        c.exited.wait(_STOP_TIMEOUT)
        self.close_connection = True

    def wait(self, c: FakeContainer, condition: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()  # the head says "waiter registered" before anything happens
        if condition == "removed":
            c.removed.wait(_STOP_TIMEOUT)
        elif condition == "next-exit" or c.status == "running":
            c.exited.wait(_STOP_TIMEOUT)
        self.chunk(json.dumps({"StatusCode": c.exit_code}).encode() + b"\n")
        self.chunk(b"")
