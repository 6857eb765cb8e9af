"""The client's plumbing: connections, requests, JSON answers, streams and hijacks."""

from __future__ import annotations

import errno
import http.client
import json
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO, Any
from urllib.parse import urlencode

from dockyard import API_VERSION
from dockyard.client.errors import DaemonUnreachable, ProtocolError, api_error
from dockyard.client.hijack import HijackedStream, hijack
from dockyard.client.streams import iter_json_messages
from dockyard.client.transport import DEFAULT_HOST, Host, open_connection, parse_host

__all__ = ["BaseClient", "Params", "PendingResponse", "encode_filters"]

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


def encode_filters(filters: Mapping[str, Iterable[str]] | None) -> str | None:
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


class BaseClient:
    """The Engine API at ``host`` (``unix:///path`` or ``tcp://h:port``), without endpoints."""

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
