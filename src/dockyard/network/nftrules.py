"""dockyard's nftables ruleset, generated from the networks and published ports (pure).

The whole table is replaced in one ``nft -f`` transaction whenever something
changes: the kernel applies it atomically and what's in the kernel always
matches what the daemon knows (no incremental drift to reconcile). Only
dockyard's own table is touched; accepting here never overrides another
table's drop, so the host's firewall still filters published ports.

Ports published on 127.0.0.1 are DNATed in the ``output`` hook and leave through
the bridge with a loopback source, which the kernel allows once the bridge has
``route_localnet`` set (per bridge, set by the plumber); the masquerade rule
below rewrites that source. We chose this over a userland proxy: no extra
process or copy per connection (throughput stays kernel-speed), and the rules
already in place for other addresses serve 127.0.0.1 too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["BridgeRules", "Publish", "delete_table", "forward_rules", "render_table"]


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


def _chain(name: str, hook: str, rules: Sequence[str]) -> list[str]:
    return [f"  chain {name} {{", *([f"    {hook}"] if hook else []), *(f"    {r}" for r in rules), "  }"]


def render_table(table: str, bridges: Sequence[BridgeRules], publishes: Sequence[Publish]) -> str:
    """An ``nft -f`` script that (re)creates ``table ip <table>``."""
    publish = []
    for p in publishes:
        match = f"ip daddr {p.host_ip} " if p.host_ip not in ("", "0.0.0.0") else ""
        publish.append(f"{match}{p.proto} dport {p.host_port} dnat to {p.address}:{p.container_port}")
    post = []
    for b in bridges:
        br = _q(b.bridge)
        # Published on 127.0.0.1: the DNATed packet leaves with a loopback source (route_localnet).
        post.append(f"oifname {br} ip saddr 127.0.0.0/8 masquerade")
        # Hairpin: a container reaching a port published on its own bridge (by itself or a neighbour)
        # through a host address; without this the reply would skip the NAT on its way back.
        post.append(f"oifname {br} ip saddr {b.subnet} ct status dnat masquerade")
        if b.masquerade and not b.internal:
            post.append(f"ip saddr {b.subnet} oifname != {br} masquerade")
    out = [
        f"table ip {table} {{}}",
        f"delete table ip {table}",
        f"table ip {table} {{",
        *_chain(
            "prerouting",
            "type nat hook prerouting priority dstnat; policy accept;",
            ["fib daddr type local jump publish"],
        ),
        *_chain("output", "type nat hook output priority -100; policy accept;", ["fib daddr type local jump publish"]),
        *_chain("publish", "", publish),
        *_chain("postrouting", "type nat hook postrouting priority srcnat; policy accept;", post),
        *_chain("forward", "type filter hook forward priority filter; policy accept;", forward_rules(bridges)),
        "}",
    ]
    return "\n".join(out) + "\n"


def forward_rules(bridges: Sequence[BridgeRules]) -> list[str]:
    """The forward chain, in Docker's order: internal networks closed; then replies and published
    ports (DNATed) pass, also between networks (Docker: "containers in other networks reach
    published ports"); then one network's containers are kept from another's."""
    out: list[str] = []
    for b in bridges:
        if b.internal:
            br = _q(b.bridge)
            out.append(f"iifname {br} oifname != {br} drop")
            out.append(f"oifname {br} iifname != {br} drop")
    for b in bridges:
        br = _q(b.bridge)
        out.append(f"oifname {br} ct state established,related accept")
        out.append(f"oifname {br} ct status dnat accept")
    names = [b.bridge for b in bridges]
    for b in bridges:
        out.extend(f"iifname {_q(b.bridge)} oifname {_q(other)} drop" for other in names if other != b.bridge)
    return out


def delete_table(table: str) -> str:
    return f"table ip {table} {{}}\ndelete table ip {table}\n"
