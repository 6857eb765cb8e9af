"""A behavioural fake of ``dockyard.network.plumbing.Plumber`` for unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard import errors

__all__ = ["FakeInterface", "FakePlumber"]


@dataclass
class FakeInterface:
    name: str
    bridge: str
    address: str
    gateway: str
    mac: str
    mtu: int
    host_end: str


@dataclass
class FakePlumber:
    """Keeps bridges, namespaces and their interfaces in dicts; refuses what the kernel would."""

    bridges: dict[str, str] = field(default_factory=dict)  # name -> CIDR
    namespaces: dict[str, dict[str, FakeInterface]] = field(default_factory=dict)
    rules: str = ""
    _n: int = 0

    def ensure_bridge(self, name: str, address: str, mtu: int) -> None:
        self.bridges[name] = address

    def delete_bridge(self, name: str) -> None:
        self.bridges.pop(name, None)

    def create_netns(self, path: str) -> None:
        if path in self.namespaces:
            raise FileExistsError(path)
        self.namespaces[path] = {}

    def remove_netns(self, path: str) -> None:
        self.namespaces.pop(path, None)

    def attach(self, ns_path: str, bridge: str, ifname: str, address: str, gateway: str, mac: str, mtu: int) -> str:
        if bridge not in self.bridges:
            raise errors.NotFound(f"bridge {bridge} does not exist")
        ns = self.namespaces.get(ns_path)
        if ns is None:
            raise FileNotFoundError(ns_path)
        if ifname in ns:
            raise FileExistsError(ifname)
        self._n += 1
        host_end = f"veth{self._n:07d}"
        ns[ifname] = FakeInterface(ifname, bridge, address, gateway, mac, mtu, host_end)
        return host_end

    def detach(self, ns_path: str, ifname: str) -> None:
        self.namespaces.get(ns_path, {}).pop(ifname, None)

    def apply_rules(self, script: str) -> None:
        self.rules = script

    def host_ends(self) -> list[str]:
        return [i.host_end for ns in self.namespaces.values() for i in ns.values()]
