"""Address management: subnets for networks and addresses for endpoints, persisted in SQLite.

Allocations live in the database so an address is never handed out twice, also
across daemon restarts; the arithmetic is pure and separate from the store.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dockyard import errors
from dockyard.metadata.db import Database, open_db

__all__ = [
    "AddressPool",
    "Allocation",
    "NetworkNotFound",
    "NetworkRecord",
    "NetworkStore",
    "PoolExhausted",
    "first_free_address",
    "mac_for",
    "parse_pools",
    "pick_subnet",
]


class NetworkNotFound(errors.NotFound):
    pass


class PoolExhausted(errors.Unavailable):
    pass


@dataclass(frozen=True)
class AddressPool:
    """A ``default-address-pools`` entry: carve ``size``-bit subnets out of ``base``."""

    base: str
    size: int


@dataclass(frozen=True)
class NetworkRecord:
    id: str
    name: str
    driver: str
    created: str
    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""
    internal: bool = False
    bridge: str = ""
    mtu: int = 1500
    labels: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)
    ipam_config: tuple[Mapping[str, str], ...] = ()
    attachable: bool = False
    builtin: bool = False  # bridge/host/none made by the daemon

    @property
    def prefix_len(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen if self.subnet else 0


@dataclass(frozen=True)
class Allocation:
    network_id: str
    container_id: str
    address: str


def parse_pools(raw: Any) -> tuple[AddressPool, ...]:
    """daemon.json ``default-address-pools``: ``[{"base": "10.10.0.0/16", "size": 24}]``."""
    out = []
    for item in raw or ():
        if not isinstance(item, Mapping) or "base" not in item or "size" not in item:
            raise errors.InvalidArgument("default-address-pools entries need base and size")
        ipaddress.ip_network(str(item["base"]))
        out.append(AddressPool(str(item["base"]), int(item["size"])))
    return tuple(out)


def pick_subnet(pools: Sequence[AddressPool], taken: Iterable[str]) -> str:
    """The first subnet from the pools overlapping none of ``taken`` (networks, host routes)."""
    used = [ipaddress.ip_network(t, strict=False) for t in taken]
    for pool in pools:
        base = ipaddress.ip_network(pool.base, strict=False)
        if pool.size < base.prefixlen:
            continue
        for sub in base.subnets(new_prefix=pool.size):
            if not any(sub.overlaps(u) for u in used):
                return str(sub)
    raise PoolExhausted("could not find an available, non-overlapping IPv4 address pool among the defaults")


def first_free_address(subnet: str, ip_range: str, reserved: Iterable[str]) -> str:
    """The lowest free host address of ``ip_range`` (or the subnet) not in ``reserved``."""
    net = ipaddress.ip_network(subnet, strict=False)
    rng = ipaddress.ip_network(ip_range, strict=False) if ip_range else net
    skip = {ipaddress.ip_address(a) for a in reserved}
    for addr in rng.hosts() if rng.prefixlen < 31 else rng:
        if addr in net and addr != net.network_address and addr != net.broadcast_address and addr not in skip:
            return str(addr)
    raise PoolExhausted(f"no available IPv4 addresses on this network's address pools: {subnet}")


def mac_for(address: str) -> str:
    """Docker's derived MAC: 02:42 followed by the IPv4 address."""
    octets = ipaddress.IPv4Address(address).packed
    return "02:42:" + ":".join(f"{b:02x}" for b in octets)


_MIGRATIONS = (
    """
    CREATE TABLE networks (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, doc TEXT NOT NULL);
    CREATE TABLE addresses (
        network_id TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
        container_id TEXT NOT NULL,
        address TEXT NOT NULL,
        PRIMARY KEY (network_id, container_id),
        UNIQUE (network_id, address)
    );
    """,
)


def _to_doc(n: NetworkRecord) -> str:
    d = {k: getattr(n, k) for k in n.__dataclass_fields__}
    d["labels"] = dict(n.labels)
    d["options"] = dict(n.options)
    d["ipam_config"] = [dict(c) for c in n.ipam_config]
    return json.dumps(d)


def _from_doc(text: str) -> NetworkRecord:
    d = json.loads(text)
    d["ipam_config"] = tuple(d.get("ipam_config") or ())
    known = set(NetworkRecord.__dataclass_fields__)
    return NetworkRecord(**{k: v for k, v in d.items() if k in known})


class NetworkStore:
    """Networks and their address allocations in one SQLite file."""

    def __init__(self, path: str) -> None:
        self._db: Database = open_db(path, _MIGRATIONS)

    def close(self) -> None:
        self._db.close()

    def add(self, net: NetworkRecord) -> None:
        try:
            self._db.execute("INSERT INTO networks (id, name, doc) VALUES (?, ?, ?)", (net.id, net.name, _to_doc(net)))
        except Exception as e:  # sqlite3.IntegrityError: a name or ID collision
            raise errors.Conflict(f"network with name {net.name} already exists") from e

    def delete(self, network_id: str) -> None:
        self._db.execute("DELETE FROM networks WHERE id = ?", (network_id,))

    def all(self) -> list[NetworkRecord]:
        return [_from_doc(r["doc"]) for r in self._db.query("SELECT doc FROM networks ORDER BY name")]

    def get(self, ref: str) -> NetworkRecord:
        """By full ID, exact name, then unique ID prefix (Docker's order)."""
        nets = self.all()
        for n in nets:
            if n.id == ref:
                return n
        for n in nets:
            if n.name == ref:
                return n
        matches = [n for n in nets if ref and n.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise errors.InvalidArgument(
                f"network {ref} is ambiguous ({len(matches)} matches found based on ID prefix)"
            )
        raise NetworkNotFound(f"network {ref} not found")

    # --- addresses ---------------------------------------------------------------

    def addresses(self, network_id: str) -> list[Allocation]:
        rows = self._db.query("SELECT container_id, address FROM addresses WHERE network_id = ?", (network_id,))
        return [Allocation(network_id, r["container_id"], r["address"]) for r in rows]

    def all_addresses(self) -> list[Allocation]:
        rows = self._db.query("SELECT network_id, container_id, address FROM addresses")
        return [Allocation(r["network_id"], r["container_id"], r["address"]) for r in rows]

    def allocate(self, net: NetworkRecord, container_id: str, wanted: str = "") -> str:
        """Reserve an address for the container (``wanted`` if given); idempotent per container."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT address FROM addresses WHERE network_id = ? AND container_id = ?", (net.id, container_id)
            ).fetchone()
            if row is not None and (not wanted or row["address"] == wanted):
                return str(row["address"])
            if row is not None:
                conn.execute("DELETE FROM addresses WHERE network_id = ? AND container_id = ?", (net.id, container_id))
            taken = {
                r["address"] for r in conn.execute("SELECT address FROM addresses WHERE network_id = ?", (net.id,))
            }
            if net.gateway:
                taken.add(net.gateway)
            if wanted:
                addr = ipaddress.ip_address(wanted)
                if addr not in ipaddress.ip_network(net.subnet):
                    raise errors.InvalidArgument(f"no configured subnet or ip-range contain the IP address {wanted}")
                if wanted in taken:
                    raise errors.Conflict(f"Address already in use: {wanted}")
                address = wanted
            else:
                address = first_free_address(net.subnet, net.ip_range, taken)
            conn.execute(
                "INSERT INTO addresses (network_id, container_id, address) VALUES (?, ?, ?)",
                (net.id, container_id, address),
            )
            return address

    def release(self, network_id: str, container_id: str) -> None:
        self._db.execute("DELETE FROM addresses WHERE network_id = ? AND container_id = ?", (network_id, container_id))

    def release_container(self, container_id: str) -> None:
        self._db.execute("DELETE FROM addresses WHERE container_id = ?", (container_id,))
