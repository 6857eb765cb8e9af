"""The host's IPv4 routes, so new networks avoid subnets already in use."""

from __future__ import annotations

import ipaddress
import socket
import struct

__all__ = ["host_route_subnets", "parse_proc_routes"]


def parse_proc_routes(text: str) -> list[str]:
    """Destinations of ``/proc/net/route`` (hex, host byte order), without the default route."""
    out = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 8:
            continue
        dest = socket.inet_ntoa(struct.pack("<I", int(parts[1], 16)))
        mask = socket.inet_ntoa(struct.pack("<I", int(parts[7], 16)))
        net = ipaddress.ip_network(f"{dest}/{mask}", strict=False)
        if net.prefixlen > 0:
            out.append(str(net))
    return out


def host_route_subnets() -> list[str]:
    try:
        with open("/proc/net/route") as f:
            return parse_proc_routes(f.read())
    except OSError:
        return []
