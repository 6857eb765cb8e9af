"""The kernel side of networking behind one small seam: bridges, veths, namespaces, nftables."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
from typing import Any, Protocol

from dockyard import errors
from dockyard.network import iptables, netns
from dockyard.network.iptables import ChainLayout, IptablesFirewall

__all__ = ["FIREWALL_BACKENDS", "LinuxPlumber", "Plumber", "choose_firewall"]

FIREWALL_BACKENDS = ("auto", "nftables", "iptables")


class Plumber(Protocol):
    """Network plumbing. Every method is idempotent enough to be rerun when reconciling."""

    def ensure_bridge(self, name: str, address: str, mtu: int) -> None:
        """Create bridge ``name`` (if missing) with ``address`` (CIDR) and bring it up."""
        ...

    def delete_bridge(self, name: str) -> None: ...

    def create_netns(self, path: str) -> None: ...

    def remove_netns(self, path: str) -> None: ...

    def attach(self, ns_path: str, bridge: str, ifname: str, address: str, gateway: str, mac: str, mtu: int) -> str:
        """A veth pair: one end on ``bridge``, the other named ``ifname`` in the namespace with
        ``address`` (CIDR), ``mac``, and a default route via ``gateway`` unless it's empty.
        Returns the host end's name."""
        ...

    def detach(self, ns_path: str, ifname: str) -> None:
        """Delete ``ifname`` in the namespace (and with it its host end)."""
        ...

    def apply_rules(self, script: str) -> None:
        """Load a rules script (nftables, or one of :mod:`~dockyard.network.iptables`', which the
        nftables backend uses too for its FORWARD-policy guard) in one transaction."""
        ...


def _write_sysctl(path: str, value: str) -> None:
    with contextlib.suppress(OSError), open(path, "w") as f:
        f.write(value)


def _nft_works(nft: str | None) -> bool:
    if nft is None:
        return False
    with contextlib.suppress(OSError):
        return subprocess.run([nft, "list", "tables"], capture_output=True, check=False).returncode == 0
    return False


def choose_firewall(setting: str) -> str:
    """daemon.json's ``firewall-backend`` -> "nftables" | "iptables": auto means nft when it works."""
    if setting not in FIREWALL_BACKENDS:
        raise errors.InvalidArgument(f"firewall-backend must be one of {', '.join(FIREWALL_BACKENDS)}")
    if setting != "auto":
        return setting
    return "nftables" if _nft_works(shutil.which("nft")) else "iptables"


class LinuxPlumber:
    """pyroute2 for links and addresses, ``nft -f`` (or ``iptables-restore``) for rules."""

    def __init__(self, firewall: str = "nftables") -> None:
        self._nft = shutil.which("nft")
        self._iptables = IptablesFirewall() if firewall == "iptables" else None

    def _ipr(self) -> Any:
        from pyroute2 import IPRoute

        return IPRoute()

    def ensure_bridge(self, name: str, address: str, mtu: int) -> None:
        from pyroute2 import NetlinkError

        ip, _, plen = address.partition("/")
        with self._ipr() as ipr:
            idx = ipr.link_lookup(ifname=name)
            if not idx:
                try:
                    ipr.link("add", ifname=name, kind="bridge", mtu=mtu)
                except NetlinkError as e:
                    if e.code != 17:  # EEXIST: created concurrently
                        raise
                idx = ipr.link_lookup(ifname=name)
            index = idx[0]
            have = {(a.get("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=index, family=2)}
            if (ip, int(plen)) not in have:
                ipr.addr("add", index=index, address=ip, prefixlen=int(plen))
            ipr.link("set", index=index, state="up")
        # Ports published on 127.0.0.1 are DNATed to containers behind this bridge: the kernel must
        # accept loopback sources routed out of it. Per bridge, so the host's other links are untouched.
        _write_sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1")
        _write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")

    def delete_bridge(self, name: str) -> None:
        with self._ipr() as ipr:
            idx = ipr.link_lookup(ifname=name)
            if idx:
                with contextlib.suppress(Exception):
                    ipr.link("del", index=idx[0])

    def create_netns(self, path: str) -> None:
        netns.create_netns(path)

    def remove_netns(self, path: str) -> None:
        # Delete the veths first: the kernel frees a namespace (and its links) lazily, and
        # a host end still on the bridge after "remove" would look like, and be, a leak.
        def clear() -> None:
            with self._ipr() as nipr:
                for link in nipr.get_links():
                    if link.get("IFLA_IFNAME") != "lo":
                        with contextlib.suppress(Exception):
                            nipr.link("del", index=link["index"])

        if os.path.exists(path):
            with contextlib.suppress(Exception):
                netns.run_in_netns(path, clear)
        netns.remove_netns(path)

    def attach(self, ns_path: str, bridge: str, ifname: str, address: str, gateway: str, mac: str, mtu: int) -> str:
        host_end = "veth" + secrets.token_hex(4)[:7]
        with self._ipr() as ipr:
            br = ipr.link_lookup(ifname=bridge)
            if not br:
                raise errors.NotFound(f"bridge {bridge} does not exist")
            # The peer is born inside the namespace: moving a link there later costs ~25 ms.
            fd = os.open(ns_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                peer = {"ifname": ifname, "mtu": mtu, "address": mac, "net_ns_fd": fd}
                ipr.link("add", ifname=host_end, kind="veth", mtu=mtu, peer=peer)
            finally:
                os.close(fd)
            try:
                host_index = ipr.link_lookup(ifname=host_end)[0]
                ipr.link("set", index=host_index, master=br[0], state="up")
                # Hairpin: with br_netfilter, a packet DNATed back to the container it came from
                # (its own published port via a host address) is bridged out of the port it came in.
                ipr.brport("set", index=host_index, mode=1)
            except BaseException:
                with contextlib.suppress(Exception):
                    ipr.link("del", ifname=host_end)
                raise
        ip, _, plen = address.partition("/")

        def inside() -> None:
            with self._ipr() as nipr:
                i = nipr.link_lookup(ifname=ifname)[0]
                nipr.addr("add", index=i, address=ip, prefixlen=int(plen))
                nipr.link("set", index=i, state="up")
                if gateway:
                    nipr.route("replace", dst="0.0.0.0/0", gateway=gateway, oif=i)

        try:
            netns.run_in_netns(ns_path, inside)
        except BaseException:
            with contextlib.suppress(Exception), self._ipr() as ipr:
                ipr.link("del", ifname=host_end)
            raise
        return host_end

    def detach(self, ns_path: str, ifname: str) -> None:
        def inside() -> None:
            with self._ipr() as nipr:
                idx = nipr.link_lookup(ifname=ifname)
                if idx:
                    nipr.link("del", index=idx[0])

        if os.path.exists(ns_path):
            netns.run_in_netns(ns_path, inside)

    def remove_other_backend_rules(self, nft_table: str, iptables_layout: ChainLayout) -> None:
        """At start: drop what a previous run left with the backend we're not using now
        (the daemon keeps its rules across restarts for live restore)."""
        if self._iptables is not None:
            if self._nft is not None:
                subprocess.run([self._nft, "delete", "table", "ip", nft_table], capture_output=True, check=False)
            return
        firewall = IptablesFirewall()
        if firewall.available:
            with contextlib.suppress(errors.DockyardError, OSError):
                firewall.remove(iptables_layout)

    def apply_rules(self, script: str) -> None:
        if self._iptables is not None or iptables.is_script(script):
            # Also with nftables: the guard for an iptables FORWARD policy of DROP.
            (self._iptables or IptablesFirewall()).apply(script)
            return
        if self._nft is None:
            raise errors.Unavailable("nft is not installed: published ports and masquerading need nftables")
        proc = subprocess.run([self._nft, "-f", "-"], input=script.encode(), capture_output=True, check=False)
        if proc.returncode != 0:
            raise errors.Internal(f"nft failed: {proc.stderr.decode(errors='replace').strip()}")
