"""dockyard's nftables ruleset, generated from the networks and published ports (pure).

The whole table is replaced in one ``nft -f`` transaction whenever something
changes: the kernel applies it atomically and what's in the kernel always
matches what the daemon knows (no incremental drift to reconcile). Only
dockyard's own table is touched; accepting here never overrides another
table's drop, so the host's firewall still filters published ports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["BridgeRules", "Publish", "render_table", "delete_table"]


@dataclass(frozen=True)
class BridgeRules:
    bridge: str
    subnet: str
    internal: bool
    masquerade: bool


@dataclass(frozen=True)
class Publish:
    proto: str
    host_ip: str
    host_port: int
    address: str
    container_port: int


def _q(name: str) -> str:
    return '"' + name.replace('"', "") + '"'


def render_table(table: str, bridges: Sequence[BridgeRules], publishes: Sequence[Publish]) -> str:
    """An ``nft -f`` script that (re)creates ``table ip <table>``."""
    out = [
        f"table ip {table} {{}}",
        f"delete table ip {table}",
        f"table ip {table} {{",
        "  chain prerouting { type nat hook prerouting priority dstnat; policy accept; fib daddr type local jump publish }",
        "  chain output { type nat hook output priority -100; policy accept; fib daddr type local jump publish }",
        "  chain publish {",
    ]
    for p in publishes:
        match = f"ip daddr {p.host_ip} " if p.host_ip not in ("", "0.0.0.0") else ""
        out.append(f"    {match}{p.proto} dport {p.host_port} dnat to {p.address}:{p.container_port}")
    out.append("  }")
    out.append("  chain postrouting { type nat hook postrouting priority srcnat; policy accept;")
    for b in bridges:
        # Published on 127.0.0.1: the DNATed packet leaves with a loopback source (route_localnet).
        out.append(f"    oifname {_q(b.bridge)} ip saddr 127.0.0.0/8 masquerade")
        # Hairpin: a container reaching a port published by a neighbour on the same bridge.
        out.append(f"    oifname {_q(b.bridge)} ip saddr {b.subnet} ct status dnat masquerade")
        if b.masquerade and not b.internal:
            out.append(f"    ip saddr {b.subnet} oifname != {_q(b.bridge)} masquerade")
    out.append("  }")
    out.append("  chain forward { type filter hook forward priority filter; policy accept;")
    names = [b.bridge for b in bridges]
    for b in bridges:
        if b.internal:
            out.append(f"    iifname {_q(b.bridge)} oifname != {_q(b.bridge)} drop")
            out.append(f"    oifname {_q(b.bridge)} iifname != {_q(b.bridge)} drop")
        for other in names:
            if other != b.bridge:
                out.append(f"    iifname {_q(b.bridge)} oifname {_q(other)} drop")
    out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def delete_table(table: str) -> str:
    return f"table ip {table} {{}}\ndelete table ip {table}\n"
