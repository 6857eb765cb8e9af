"""Steering 127.0.0.11:53 to the embedded DNS server's real ports, inside a container's namespace.

As Docker does: the server's UDP and TCP sockets are bound to 127.0.0.11 on ports the kernel
picks, and a DNAT rule in the namespace's ``output`` hook sends queries for port 53 there
(conntrack turns the replies' source back into 127.0.0.11:53). Port 53 stays free for the
container's own programs, a DNS server on 0.0.0.0:53 included.

The scripts are pure; the installers run ``nft`` or ``iptables-restore`` and must be called
on a thread inside the container's namespace (child processes inherit it).
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Protocol

from dockyard import errors
from dockyard.network.files import EMBEDDED_DNS

__all__ = [
    "DnsRedirect",
    "IptablesDnsRedirect",
    "NftDnsRedirect",
    "choose_dns_redirect",
    "iptables_script",
    "nft_script",
]

NFT_TABLE = "dockyard_dns"
IPT_CHAIN = "DOCKYARD-DNS"


class DnsRedirect(Protocol):
    """Installs (or replaces) the redirect of 127.0.0.11:53 in the calling thread's namespace."""

    def install(self, udp_port: int, tcp_port: int) -> None: ...


def nft_script(udp_port: int, tcp_port: int) -> str:
    """An ``nft -f`` script (re)creating our table, atomically replacing a previous run's ports."""
    return (
        f"table ip {NFT_TABLE} {{}}\n"
        f"delete table ip {NFT_TABLE}\n"
        f"table ip {NFT_TABLE} {{\n"
        "  chain output {\n"
        "    type nat hook output priority -100; policy accept;\n"
        f"    ip daddr {EMBEDDED_DNS} udp dport 53 dnat to {EMBEDDED_DNS}:{udp_port}\n"
        f"    ip daddr {EMBEDDED_DNS} tcp dport 53 dnat to {EMBEDDED_DNS}:{tcp_port}\n"
        "  }\n"
        "}\n"
    )


def iptables_script(udp_port: int, tcp_port: int, with_jump: bool) -> str:
    """``iptables-restore --noflush`` input: our nat chain, refilled, and the jump from OUTPUT."""
    match = f"-A {IPT_CHAIN} -d {EMBEDDED_DNS}/32"
    lines = [
        "*nat",
        f":{IPT_CHAIN} - [0:0]",
        f"{match} -p udp -m udp --dport 53 -j DNAT --to-destination {EMBEDDED_DNS}:{udp_port}",
        f"{match} -p tcp -m tcp --dport 53 -j DNAT --to-destination {EMBEDDED_DNS}:{tcp_port}",
        *([f"-I OUTPUT 1 -d {EMBEDDED_DNS}/32 -j {IPT_CHAIN}"] if with_jump else []),
        "COMMIT",
    ]
    return "\n".join(lines) + "\n"


def _run(cmd: list[str], stdin: str = "") -> str:
    proc = subprocess.run(cmd, input=stdin.encode(), capture_output=True, check=False)
    if proc.returncode != 0:
        raise errors.Internal(f"{cmd[0]} failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout.decode(errors="replace")


class NftDnsRedirect:
    def __init__(self, nft: str) -> None:
        self._nft = nft

    def install(self, udp_port: int, tcp_port: int) -> None:
        _run([self._nft, "-f", "-"], nft_script(udp_port, tcp_port))


class IptablesDnsRedirect:
    def __init__(self, save: str, restore: str) -> None:
        self._save = save
        self._restore = restore

    def install(self, udp_port: int, tcp_port: int) -> None:
        saved = _run([self._save, "-t", "nat"])
        jump = f"-A OUTPUT -d {EMBEDDED_DNS}/32 -j {IPT_CHAIN}"
        with_jump = jump not in saved.splitlines()
        _run([self._restore, "--noflush", "--wait"], iptables_script(udp_port, tcp_port, with_jump))


def choose_dns_redirect(firewall: str) -> DnsRedirect | None:
    """The installer for the daemon's firewall backend; None when its tools are missing
    (the server then binds 127.0.0.11:53 itself)."""
    if firewall == "iptables":
        save, restore = shutil.which("iptables-save"), shutil.which("iptables-restore")
        return IptablesDnsRedirect(save, restore) if save and restore else None
    nft = shutil.which("nft")
    return NftDnsRedirect(nft) if nft else None
