"""Docker's ``syslog`` log driver: each log line is one syslog message.

Formats are dockerd's: ``""`` (the local ``unix`` form ``<PRI>Mmm dd hh:mm:ss tag[pid]: msg``),
``rfc3164`` (with the hostname), ``rfc5424`` and ``rfc5424micro`` (RFC 3339 time with
microseconds). stdout lines are ``info``, stderr lines ``err``, in the configured facility.
Addresses: ``udp://``, ``tcp://``, ``unix://`` (stream), ``unixgram://``; none is the local
``/dev/log``. Stream transports end each message with a newline, as dockerd's syslog client does.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

from dockyard.shim.remotelog import RemoteLog

__all__ = ["FACILITIES", "SyslogLog", "format_message", "parse_address", "priority"]

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
    "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
    **{f"local{i}": 16 + i for i in range(8)},
}  # fmt: skip
_INFO, _ERR = 6, 3


def priority(facility: str, stream: str) -> int:
    return FACILITIES[facility or "daemon"] * 8 + (_ERR if stream == "stderr" else _INFO)


def format_message(fmt: str, pri: int, ns: int, hostname: str, tag: str, pid: int, msg: str) -> str:
    """One message in dockerd's ``syslog-format`` ``fmt``."""
    sec, frac = divmod(ns, 1_000_000_000)
    if fmt in ("rfc5424", "rfc5424micro"):
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(sec))
        if fmt == "rfc5424micro":
            stamp += f".{frac // 1000:06d}"
        offset = time.strftime("%z", time.localtime(sec))
        stamp += "Z" if offset in ("+0000", "-0000") else f"{offset[:3]}:{offset[3:]}"
        return f"<{pri}>1 {stamp} {hostname} {tag} {pid} {tag} - {msg}"
    stamp = time.strftime("%b %d %H:%M:%S", time.localtime(sec))
    stamp = stamp[:4] + (" " + stamp[5:] if stamp[4] == "0" else stamp[4:])  # Go's "Jan _2"
    if fmt == "rfc3164":
        return f"<{pri}>{stamp} {hostname} {tag}[{pid}]: {msg}"
    return f"<{pri}>{stamp} {tag}[{pid}]: {msg}"


def parse_address(address: str) -> tuple[int, int, str | tuple[str, int]]:
    """``syslog-address`` -> (family, socket type, address); ``""`` is the local ``/dev/log``."""
    if not address:
        return socket.AF_UNIX, socket.SOCK_DGRAM, "/dev/log"
    scheme, sep, rest = address.partition("://")
    if not sep:
        raise ValueError(f"syslog-address {address!r} has no scheme (udp, tcp, unix, unixgram)")
    if scheme in ("unix", "unixgram"):
        return socket.AF_UNIX, socket.SOCK_STREAM if scheme == "unix" else socket.SOCK_DGRAM, rest
    if scheme not in ("udp", "tcp"):
        raise ValueError(f"syslog-address {address!r}: unsupported scheme {scheme!r}")
    host, colon, port = rest.rpartition(":")
    if not colon:
        host, port = rest, "514"
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return family, socket.SOCK_STREAM if scheme == "tcp" else socket.SOCK_DGRAM, (host, int(port))


class SyslogLog(RemoteLog):
    """Sends each log line to a syslog collector."""

    def __init__(
        self,
        address: str,
        facility: str = "daemon",
        fmt: str = "",
        tag: str = "",
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if (facility or "daemon") not in FACILITIES:
            raise ValueError(f"unknown syslog facility {facility!r}")
        super().__init__(*parse_address(address), clock=clock)
        self._facility = facility or "daemon"
        self._fmt = fmt
        self._tag = tag
        self._hostname = socket.gethostname()
        self._pid = os.getpid()

    def _emit(self, stream: str, data: bytes, ns: int) -> None:
        msg = data.rstrip(b"\n").decode("utf-8", "replace")
        pri = priority(self._facility, stream)
        line = format_message(self._fmt, pri, ns, self._hostname, self._tag, self._pid, msg)
        self._send([(line + "\n" if self.stream_transport else line).encode()])
