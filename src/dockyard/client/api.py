"""A small synchronous Engine API client: one method per endpoint the CLI uses."""

from __future__ import annotations

import errno
import http.client
import json
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO, Any
from urllib.parse import quote, urlencode

from dockyard import API_VERSION
from dockyard.client.errors import DaemonUnreachable, ProtocolError, api_error
from dockyard.client.hijack import HijackedStream, hijack
from dockyard.client.streams import MULTIPLEXED_CONTENT_TYPE, RAW_CONTENT_TYPE, iter_frames, iter_json_messages
from dockyard.client.transport import DEFAULT_HOST, Host, open_connection, parse_host

__all__ = ["Client", "Params", "PendingResponse"]

Params = Mapping[str, str | int | bool | None] | Sequence[tuple[str, str]]
# Served outside the /vX.Y prefix: the ping (as docker does) and dockyard's own extensions.
_UNVERSIONED = ("/_ping", "/dockyard/")
_UNREACHABLE = (errno.ENOENT, errno.ECONNREFUSED, errno.ENOTSOCK, errno.ECONNRESET)


def _query(params: Params | None) -> str:
    if not params:
        return ""
    items: list[tuple[str, str]] = []
    pairs = params.items() if isinstance(params, Mapping) else params
    for k, v in pairs:
        if v is None:
            continue
        if isinstance(v, bool):
            items.append((k, "1" if v else "0"))
        else:
            items.append((k, str(v)))
    return "?" + urlencode(items) if items else ""


def _filters(filters: Mapping[str, Iterable[str]] | None) -> str | None:
    """Docker's filter encoding: ``{"name": {"value": true}}``."""
    if not filters:
        return None
    return json.dumps({k: dict.fromkeys(v, True) for k, v in filters.items()})


def _error_message(body: bytes, status: int) -> str:
    try:
        obj = json.loads(body)
        if isinstance(obj, dict) and isinstance(obj.get("message"), str):
            return str(obj["message"])
    except ValueError:
        pass
    text = body.decode(errors="replace").strip()
    return text or http.client.responses.get(status, f"HTTP {status}")


class PendingResponse:
    """A request already sent whose answer is read later (e.g. wait before start)."""

    def __init__(self, conn: http.client.HTTPConnection) -> None:
        self._conn = conn
        self._head = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = 0
        self._body = b""
        self._exc: BaseException | None = None

    def _read(self) -> None:
        try:
            resp = self._conn.getresponse()
            self._status = resp.status
            self._head.set()
            self._body = resp.read()
        except BaseException as exc:  # handed to the caller of json()
            self._exc = exc
        finally:
            self._head.set()
            self._conn.close()

    def read_in_background(self, head_timeout: float) -> bool:
        """Read the answer in a thread; return once its head arrived (True) or after ``head_timeout``.

        dockerd sends the head of a wait as soon as the waiter is registered, so a
        client that sees it knows the exit cannot be missed.
        """
        if self._thread is None:
            self._thread = threading.Thread(target=self._read, daemon=True)
            self._thread.start()
        return self._head.wait(head_timeout)

    def json(self) -> Any:
        """The decoded answer; API errors raised as APIError."""
        if self._thread is None:
            self._read()
        else:
            self._thread.join()
        if self._exc is not None:
            if isinstance(self._exc, OSError | http.client.HTTPException):
                raise ProtocolError(f"connection to the daemon lost: {self._exc}") from None
            raise self._exc
        if self._status >= 400:
            raise api_error(self._status, _error_message(self._body, self._status))
        return json.loads(self._body) if self._body.strip() else None

    def close(self) -> None:
        self._conn.close()


class Client:
    """The Engine API at ``host`` (``unix:///path`` or ``tcp://h:port``)."""

    def __init__(self, host: str | Host = DEFAULT_HOST, *, timeout: float | None = None, version: str = API_VERSION):
        self.host = host if isinstance(host, Host) else parse_host(host)
        self.timeout = timeout
        self.prefix = f"/v{version}"

    # -- plumbing ------------------------------------------------------------

    def _url(self, path: str, params: Params | None = None) -> str:
        prefix = "" if path.startswith(_UNVERSIONED) else self.prefix
        return prefix + path + _query(params)

    def _connect(self) -> http.client.HTTPConnection:
        conn = open_connection(self.host, timeout=self.timeout)
        try:
            conn.connect()
        except OSError as exc:
            conn.close()
            if exc.errno in _UNREACHABLE or isinstance(exc, ConnectionError | FileNotFoundError):
                raise DaemonUnreachable(
                    f"Cannot connect to the dockyard daemon at {self.host}. Is the daemon running?", str(self.host)
                ) from None
            raise
        return conn

    def send(
        self,
        method: str,
        path: str,
        params: Params | None = None,
        *,
        body: Any = None,
        data: bytes | IO[bytes] | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[http.client.HTTPConnection, PendingResponse]:
        """Send a request without reading its answer."""
        conn = self._connect()
        hdrs = {"User-Agent": "dockyard-cli", **(headers or {})}
        payload: Any = None
        chunked = False
        if body is not None:
            payload = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif data is not None:
            payload = data
            if not isinstance(data, bytes):
                chunked = True
                hdrs.setdefault("Transfer-Encoding", "chunked")
        try:
            conn.request(method, self._url(path, params), body=payload, headers=hdrs, encode_chunked=chunked)
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise ProtocolError(f"sending {method} {path} failed: {exc}") from None
        return conn, PendingResponse(conn)

    def open(
        self,
        method: str,
        path: str,
        params: Params | None = None,
        *,
        body: Any = None,
        data: bytes | IO[bytes] | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> http.client.HTTPResponse:
        """The response, status checked, body not yet read (for streams)."""
        conn, _ = self.send(method, path, params, body=body, data=data, headers=headers)
        try:
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise ProtocolError(f"{method} {path}: no answer from the daemon: {exc}") from None
        if resp.status >= 400:
            body_bytes = resp.read()
            conn.close()
            raise api_error(resp.status, _error_message(body_bytes, resp.status))
        return resp

    def request(self, method: str, path: str, params: Params | None = None, *, body: Any = None) -> Any:
        """A whole JSON (or empty) answer."""
        resp = self.open(method, path, params, body=body)
        try:
            raw = resp.read()
        finally:
            resp.close()
        if not raw.strip():
            return None
        if "json" not in (resp.getheader("Content-Type") or "application/json"):
            return raw.decode(errors="replace")
        try:
            return json.loads(raw)
        except ValueError:
            raise ProtocolError(f"{method} {path}: invalid JSON in answer") from None

    def stream_json(self, method: str, path: str, params: Params | None = None, **kw: Any) -> Iterator[Any]:
        """Each JSON message of a streamed answer (pull, load, bootstrap, ...)."""
        resp = self.open(method, path, params, **kw)
        try:
            yield from iter_json_messages(resp.read1)
        finally:
            resp.close()

    def hijack(self, method: str, path: str, params: Params | None = None, *, body: Any = None) -> HijackedStream:
        conn = self._connect()
        sock = conn.sock
        assert isinstance(sock, socket.socket)
        conn.sock = None  # the stream owns the socket now
        sock.settimeout(None)
        payload = json.dumps(body).encode() if body is not None else None
        return hijack(sock, method, self._url(path, params), payload)

    # -- system ----------------------------------------------------------------

    def ping(self) -> str:
        resp = self.open("GET", "/_ping")
        try:
            return resp.read().decode()
        finally:
            resp.close()

    def version(self) -> dict[str, Any]:
        return dict(self.request("GET", "/version"))

    def info(self) -> dict[str, Any]:
        return dict(self.request("GET", "/info"))

    # -- containers --------------------------------------------------------------

    def containers(
        self,
        *,
        all: bool = False,
        limit: int | None = None,
        size: bool = False,
        filters: Mapping[str, Iterable[str]] | None = None,
    ) -> list[dict[str, Any]]:
        params: dict[str, str | int | bool | None] = {"all": all or None, "limit": limit, "size": size or None}
        params["filters"] = _filters(filters)
        return list(self.request("GET", "/containers/json", params) or [])

    def create_container(self, config: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
        return dict(self.request("POST", "/containers/create", {"name": name}, body=dict(config)))

    def inspect_container(self, ref: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/containers/{quote(ref, safe='')}/json"))

    def start(self, ref: str) -> None:
        self.request("POST", f"/containers/{quote(ref, safe='')}/start")

    def stop(self, ref: str, timeout: int | None = None) -> None:
        self.request("POST", f"/containers/{quote(ref, safe='')}/stop", {"t": timeout})

    def kill(self, ref: str, signal: str | None = None) -> None:
        self.request("POST", f"/containers/{quote(ref, safe='')}/kill", {"signal": signal})

    def remove_container(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        self.request("DELETE", f"/containers/{quote(ref, safe='')}", {"force": force or None, "v": volumes or None})

    def resize(self, ref: str, height: int, width: int) -> None:
        self.request("POST", f"/containers/{quote(ref, safe='')}/resize", {"h": height, "w": width})

    def wait_later(self, ref: str, condition: str = "not-running") -> PendingResponse:
        """Send the wait now, read its ``{"StatusCode": n}`` answer later."""
        _, pending = self.send("POST", f"/containers/{quote(ref, safe='')}/wait", {"condition": condition})
        return pending

    def wait(self, ref: str, condition: str = "not-running") -> dict[str, Any]:
        return dict(self.wait_later(ref, condition).json())

    def attach(
        self, ref: str, *, stdin: bool = False, stdout: bool = True, stderr: bool = True, logs: bool = False
    ) -> HijackedStream:
        params = {"stream": True, "stdin": stdin or None, "stdout": stdout, "stderr": stderr, "logs": logs or None}
        return self.hijack("POST", f"/containers/{quote(ref, safe='')}/attach", params)

    def exec_create(self, ref: str, config: Mapping[str, Any]) -> str:
        """Register a process to run in a running container; returns the exec ID."""
        return str(self.request("POST", f"/containers/{quote(ref, safe='')}/exec", body=dict(config))["Id"])

    def exec_start(self, exec_id: str, *, tty: bool = False) -> HijackedStream:
        """Start an exec attached: its stdio over a hijacked connection."""
        return self.hijack("POST", f"/exec/{quote(exec_id, safe='')}/start", body={"Detach": False, "Tty": tty})

    def exec_start_detached(self, exec_id: str) -> None:
        self.request("POST", f"/exec/{quote(exec_id, safe='')}/start", body={"Detach": True, "Tty": False})

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/exec/{quote(exec_id, safe='')}/json"))

    def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        self.request("POST", f"/exec/{quote(exec_id, safe='')}/resize", {"h": height, "w": width})

    def logs(
        self,
        ref: str,
        *,
        tty: bool,
        follow: bool = False,
        tail: str | None = None,
        timestamps: bool = False,
        since: str | None = None,
        until: str | None = None,
    ) -> Iterator[tuple[int, bytes]]:
        """``(stream, bytes)`` pairs; with a TTY everything is stream 1."""
        params = {
            "stdout": True,
            "stderr": True,
            "follow": follow or None,
            "tail": tail,
            "timestamps": timestamps or None,
            "since": since,
            "until": until,
        }
        resp = self.open("GET", f"/containers/{quote(ref, safe='')}/logs", params)
        ctype = resp.getheader("Content-Type") or ""
        raw = RAW_CONTENT_TYPE in ctype or (tty and MULTIPLEXED_CONTENT_TYPE not in ctype)
        try:
            if raw:
                while chunk := resp.read1(65536):
                    yield 1, chunk
            else:
                yield from iter_frames(resp.read1)
        finally:
            resp.close()

    # -- images ------------------------------------------------------------------

    def images(
        self, *, all: bool = False, filters: Mapping[str, Iterable[str]] | None = None, digests: bool = False
    ) -> list[dict[str, Any]]:
        params = {"all": all or None, "filters": _filters(filters), "digests": digests or None}
        return list(self.request("GET", "/images/json", params) or [])

    def inspect_image(self, ref: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/images/{quote(ref, safe=':@/')}/json"))

    def remove_image(self, ref: str, *, force: bool = False, noprune: bool = False) -> list[dict[str, str]]:
        params = {"force": force or None, "noprune": noprune or None}
        return list(self.request("DELETE", f"/images/{quote(ref, safe=':@/')}", params) or [])

    def tag(self, ref: str, repo: str, tag: str | None) -> None:
        self.request("POST", f"/images/{quote(ref, safe=':@/')}/tag", {"repo": repo, "tag": tag})

    def load(self, data: IO[bytes] | bytes, *, quiet: bool = False) -> Iterator[Any]:
        headers = {"Content-Type": "application/x-tar"}
        return self.stream_json("POST", "/images/load", {"quiet": quiet or None}, data=data, headers=headers)

    def save(self, names: list[str]) -> http.client.HTTPResponse:
        """The tar stream of ``names`` (read it, then close it)."""
        return self.open("GET", "/images/get", [("names", n) for n in names])

    def import_image(
        self,
        data: IO[bytes] | bytes | None,
        *,
        source: str = "-",
        repo: str | None = None,
        tag: str | None = None,
        message: str | None = None,
        changes: list[str] | None = None,
    ) -> Iterator[Any]:
        params: list[tuple[str, str]] = [("fromSrc", source)]
        params += [(k, v) for k, v in (("repo", repo), ("tag", tag), ("message", message)) if v]
        params += [("changes", c) for c in changes or []]
        headers = {"Content-Type": "application/x-tar"}
        return self.stream_json("POST", "/images/create", params, data=data, headers=headers)

    def pull(self, image: str, tag: str | None = None) -> Iterator[Any]:
        return self.stream_json("POST", "/images/create", {"fromImage": image, "tag": tag})

    def bootstrap(self, kind: str, tag: str | None = None) -> Iterator[Any]:
        """dockyard's own endpoint: build a base image (e.g. busybox) from the host."""
        return self.stream_json("POST", "/dockyard/images/bootstrap", {"kind": kind, "tag": tag})
