"""Published ports: what a container asks for, and holding host ports so they can't be taken."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dockyard import errors

__all__ = ["PortMapping", "PortRequest", "PortReserver", "port_requests", "ports_json"]


@dataclass(frozen=True)
class PortRequest:
    """One binding as asked: ``host_port`` is "", "N" or "A-B" (any free one of the range)."""

    container_port: int
    proto: str
    host_ip: str
    host_port: str


@dataclass(frozen=True)
class PortMapping:
    container_port: int
    proto: str
    host_ip: str
    host_port: int


def port_requests(
    bindings: Mapping[str, Sequence[Mapping[str, str]] | None], exposed: Sequence[str], publish_all: bool
) -> list[PortRequest]:
    """HostConfig.PortBindings, plus every exposed port to an ephemeral one for ``-P``."""
    out: list[PortRequest] = []
    seen: set[str] = set()
    for key, items in bindings.items():
        port, _, proto = key.partition("/")
        seen.add(f"{port}/{proto or 'tcp'}")
        for b in items or [{}]:
            out.append(PortRequest(int(port), proto or "tcp", b.get("HostIp", "") or "", b.get("HostPort", "") or ""))
    if publish_all:
        for key in exposed:
            port, _, proto = key.partition("/")
            if f"{port}/{proto or 'tcp'}" not in seen:
                out.append(PortRequest(int(port), proto or "tcp", "", ""))
    return out


def ports_json(exposed: Sequence[str], mappings: Sequence[PortMapping]) -> dict[str, Any]:
    """NetworkSettings.Ports: exposed ports map to null, published ones to their bindings."""
    out: dict[str, Any] = {key if "/" in key else f"{key}/tcp": None for key in exposed}
    for m in mappings:
        key = f"{m.container_port}/{m.proto}"
        entry = {"HostIp": m.host_ip or "0.0.0.0", "HostPort": str(m.host_port)}
        if out.get(key) is None:
            out[key] = []
        out[key].append(entry)
    return out


class PortReserver:
    """Holds a bound (not listening) socket per published port: another program, or
    another container, can't take the port while it's published, and a taken port is
    detected the way the kernel sees it. NAT still delivers the traffic to the container."""

    def __init__(self) -> None:
        self._held: dict[str, list[socket.socket]] = {}

    def reserve(self, owner: str, requests: Sequence[PortRequest]) -> list[PortMapping]:
        held: list[socket.socket] = []
        out: list[PortMapping] = []
        try:
            for r in requests:
                port, sock = self._bind(r)
                held.append(sock)
                out.append(PortMapping(r.container_port, r.proto, r.host_ip, port))
        except BaseException:
            for s in held:
                s.close()
            raise
        self._held.setdefault(owner, []).extend(held)
        return out

    def reserve_exact(self, owner: str, mappings: Sequence[PortMapping]) -> None:
        """Take the ports of mappings made before a daemon restart (best effort)."""
        for m in mappings:
            with contextlib.suppress(errors.DockyardError):
                _, sock = self._bind(PortRequest(m.container_port, m.proto, m.host_ip, str(m.host_port)))
                self._held.setdefault(owner, []).append(sock)

    def release(self, owner: str) -> None:
        for s in self._held.pop(owner, []):
            s.close()

    def _bind(self, r: PortRequest) -> tuple[int, socket.socket]:
        kind = socket.SOCK_DGRAM if r.proto == "udp" else socket.SOCK_STREAM
        if r.host_port and "-" in r.host_port:
            lo, _, hi = r.host_port.partition("-")
            candidates = list(range(int(lo), int(hi) + 1))
        else:
            candidates = [int(r.host_port) if r.host_port else 0]
        last: OSError | None = None
        for port in candidates:
            sock = socket.socket(socket.AF_INET, kind)
            try:
                sock.bind((r.host_ip or "0.0.0.0", port))
            except OSError as e:
                sock.close()
                last = e
                continue
            return int(sock.getsockname()[1]), sock
        where = f"{r.host_ip or '0.0.0.0'}:{r.host_port}"
        why = last.strerror if last else "no port available"
        raise errors.Conflict(
            f"driver failed programming external connectivity: Bind for {where} failed: "
            f"port is already allocated ({why})"
        )
