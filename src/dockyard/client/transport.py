"""Where the daemon listens and how to open an HTTP connection to it."""

from __future__ import annotations

import http.client
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from dockyard import errors

__all__ = ["DEFAULT_HOST", "Host", "UnixHTTPConnection", "open_connection", "parse_host"]

DEFAULT_HOST = "unix:///run/dockyard/dockyard.sock"


@dataclass(frozen=True)
class Host:
    """A daemon address: ``unix`` with a socket path, or ``tcp`` with host and port."""

    scheme: str
    path: str = ""
    hostname: str = ""
    port: int = 0

    def __str__(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}"
        return f"tcp://{self.hostname}:{self.port}"


def parse_host(value: str) -> Host:
    """Parse ``unix:///path``, ``/path``, ``tcp://h:port`` or ``h:port``."""
    v = value.strip()
    if not v:
        raise errors.InvalidArgument("empty daemon host")
    if v.startswith("/"):
        return Host("unix", path=v)
    if "://" not in v:
        v = "tcp://" + v
    parts = urlsplit(v)
    if parts.scheme == "unix":
        path = parts.netloc + parts.path
        if not path:
            raise errors.InvalidArgument(f"invalid unix host {value!r}: no socket path")
        return Host("unix", path=path)
    if parts.scheme in ("tcp", "http"):
        try:
            port = parts.port
        except ValueError:
            raise errors.InvalidArgument(f"invalid port in host {value!r}") from None
        if not parts.hostname or port is None:
            raise errors.InvalidArgument(f"invalid tcp host {value!r}: expected tcp://HOST:PORT")
        return Host("tcp", hostname=parts.hostname, port=port)
    raise errors.InvalidArgument(f"unsupported host scheme {parts.scheme!r} in {value!r}")


class UnixHTTPConnection(http.client.HTTPConnection):
    """``http.client`` over a unix stream socket."""

    def __init__(self, path: str, timeout: float | None = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if self.timeout is not None:
                sock.settimeout(self.timeout)
            sock.connect(self.unix_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def open_connection(host: Host, timeout: float | None = None) -> http.client.HTTPConnection:
    """A new, not yet connected, HTTP connection to ``host``."""
    if host.scheme == "unix":
        return UnixHTTPConnection(host.path, timeout=timeout)
    return http.client.HTTPConnection(host.hostname, host.port, timeout=timeout)
