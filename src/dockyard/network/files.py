"""/etc/hosts and /etc/resolv.conf contents for a container (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["EMBEDDED_DNS", "HostEntry", "host_nameservers", "render_hosts", "render_resolv_conf"]

EMBEDDED_DNS = "127.0.0.11"

_BASE_HOSTS = (
    ("127.0.0.1", "localhost"),
    ("::1", "localhost ip6-localhost ip6-loopback"),
    ("fe00::0", "ip6-localnet"),
    ("ff00::0", "ip6-mcastprefix"),
    ("ff02::1", "ip6-allnodes"),
    ("ff02::2", "ip6-allrouters"),
)


@dataclass(frozen=True)
class HostEntry:
    address: str
    names: tuple[str, ...]


def render_hosts(own: Sequence[HostEntry], extra: Sequence[str], links: Sequence[HostEntry]) -> str:
    """Docker's order: the loopback block, ``--add-host`` entries, link targets, then the container itself."""
    lines = [f"{addr}\t{names}" for addr, names in _BASE_HOSTS]
    for item in extra:
        name, _, addr = item.partition(":")
        if addr == "host-gateway":
            continue
        lines.append(f"{addr}\t{name}")
    lines.extend(f"{e.address}\t{' '.join(e.names)}" for e in links)
    lines.extend(f"{e.address}\t{' '.join(e.names)}" for e in own if e.address)
    return "\n".join(lines) + "\n"


def host_nameservers(host_resolv: str) -> tuple[list[str], list[str], list[str]]:
    """(nameservers, search domains, options) of a resolv.conf, without loopback resolvers."""
    servers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for line in host_resolv.splitlines():
        parts = line.split()
        if len(parts) < 2 or parts[0].startswith(("#", ";")):
            continue
        if parts[0] == "nameserver":
            servers.append(parts[1])
        elif parts[0] in ("search", "domain"):
            search = parts[1:]
        elif parts[0] == "options":
            options.extend(parts[1:])
    return servers, search, options


def _is_loopback(addr: str) -> bool:
    return addr.startswith("127.") or addr == "::1"


def render_resolv_conf(
    host_resolv: str,
    dns: Sequence[str],
    dns_search: Sequence[str],
    dns_options: Sequence[str],
    embedded: bool,
) -> str:
    """A container's resolv.conf: the embedded server for user networks, else the host's resolvers
    (loopback ones dropped, since they are unreachable from the container) or ``--dns``."""
    servers, search, options = host_nameservers(host_resolv)
    if embedded:
        servers = [EMBEDDED_DNS]
        options = [*options, "ndots:0"] if not any(o.startswith("ndots:") for o in options) else options
    elif dns:
        servers = list(dns)
    else:
        servers = [s for s in servers if not _is_loopback(s)] or ["8.8.8.8", "8.8.4.4"]
    if dns_search:
        search = list(dns_search)
    if dns_options:
        options = list(dns_options)
    out = [f"nameserver {s}" for s in servers]
    if search:
        out.append("search " + " ".join(search))
    if options:
        out.append("options " + " ".join(options))
    return "\n".join(out) + "\n"
