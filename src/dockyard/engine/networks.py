"""Network use cases, and the NetworkHooks the container service calls.

Networks and address allocations persist in SQLite; a running container's
endpoints are kept in its record's NetworkSettings (so inspect and a restarted
daemon see them) and, while it runs, in an in-memory ``_Sandbox`` holding its
namespace, DNS server and published ports. The nftables table is regenerated
whole from that state on every change.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from dockyard import errors
from dockyard.containers.create_request import ContainerConfig, EndpointConfig, HostConfig, NetworkingConfig
from dockyard.containers.store import ContainerRecord
from dockyard.engine.hooks import endpoint_settings, none_network_settings
from dockyard.engine.timefmt import now_rfc3339
from dockyard.network import files as netfiles
from dockyard.network import iptables, nftrules
from dockyard.network.dns_redirect import choose_dns_redirect
from dockyard.network.hostroutes import host_route_subnets
from dockyard.network.ipam import AddressPool, NetworkRecord, NetworkStore, mac_for, pick_subnet
from dockyard.network.links import link_env, parse_link
from dockyard.network.plumbing import Plumber
from dockyard.network.ports import PortMapping, PortReserver, port_requests, ports_json

if TYPE_CHECKING:
    from dockyard.network.dns import DnsServer

__all__ = ["DEFAULT_POOLS", "ContainerSource", "NetworkOptions", "NetworkService"]

log = logging.getLogger("dockyard.engine.networks")

DEFAULT_POOLS = (AddressPool("172.17.0.0/12", 16), AddressPool("192.168.0.0/16", 20))
_BRIDGE_NAME_OPT = "com.docker.network.bridge.name"
_MTU_OPT = "com.docker.network.driver.mtu"
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


class ContainerSource(Protocol):
    """What networks need from the container service."""

    def get(self, ref: str) -> ContainerRecord: ...

    def all(self) -> list[ContainerRecord]: ...

    def update_record(self, rec: ContainerRecord) -> None: ...


@dataclass(frozen=True)
class NetworkOptions:
    exec_root: str
    bridge: str = "dockyard0"  # the default network's Linux bridge
    bip: str = ""  # "10.213.0.1/16": the default bridge's gateway and subnet; "" picks from the pools
    pools: tuple[AddressPool, ...] = DEFAULT_POOLS
    ip_masq: bool = True
    mtu: int = 1500
    firewall: str = "nftables"  # or "iptables": which scripts the plumber is given
    # nftables: seconds between checks of iptables' FORWARD policy (Docker, ufw or firewalld may
    # set it to DROP after we start); 0 checks only when the rules change.
    guard_interval: float = 30.0
    # Steer 127.0.0.11:53 to the DNS server's own ports with a DNAT rule in each container (as
    # Docker does), leaving port 53 to the container; off: the server binds port 53 itself.
    dns_redirect: bool = True

    @property
    def nft_table(self) -> str:
        # One table per default bridge, so daemons side by side (tests) never share rules.
        return "dockyard" if self.bridge == "dockyard0" else f"dockyard_{self.bridge}"


@dataclass
class _Attachment:
    network_id: str
    ifname: str
    address: str
    aliases: tuple[str, ...]
    endpoint_id: str


@dataclass
class _Sandbox:
    container_id: str
    name: str
    ns_path: str
    attachments: dict[str, _Attachment] = field(default_factory=dict)  # network id ->
    ports: list[PortMapping] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)  # alias -> target container id
    upstreams: tuple[str, ...] = ()  # --dns
    dns: DnsServer | None = None


def _mode(hc: Mapping[str, Any] | HostConfig) -> str:
    m = hc.get("NetworkMode", "") if isinstance(hc, Mapping) else hc.network_mode
    return "bridge" if m in ("", "default", None) else str(m)


def _is_bridged(mode: str) -> bool:
    return mode not in ("none", "host") and not mode.startswith("container:")


def _empty_endpoint(net: NetworkRecord, ep: EndpointConfig | None, aliases: Sequence[str]) -> dict[str, Any]:
    return endpoint_settings(
        net.id,
        ipam_config={"IPv4Address": ep.ipv4_address} if ep is not None and ep.ipv4_address else None,
        links=list(ep.links) if ep and ep.links else None,
        aliases=list(aliases) or None,
        mac_address=ep.mac_address if ep else "",
    )


def _settings_shell() -> dict[str, Any]:
    s = none_network_settings()
    s["Networks"] = {}
    return s


class NetworkService:
    """Networks (create/inspect/list/connect/disconnect/remove/prune) and the container hooks."""

    def __init__(self, store: NetworkStore, plumber: Plumber, opts: NetworkOptions) -> None:
        self._store = store
        self._plumber = plumber
        self._opts = opts
        self._containers: ContainerSource | None = None
        self._sandboxes: dict[str, _Sandbox] = {}
        self._reserver = PortReserver()
        self._applied: list[str] = []  # the scripts last loaded, as _rules_scripts made them
        self._guard_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._host_resolv = self._read_host_resolv()
        self._dns_redirect = choose_dns_redirect(opts.firewall) if opts.dns_redirect else None
        self.events: Callable[[str, str, Mapping[str, str]], None] | None = None

    def bind_containers(self, containers: ContainerSource) -> None:
        self._containers = containers

    @property
    def containers(self) -> ContainerSource:
        if self._containers is None:
            raise errors.Internal("network service used before the container service was bound")
        return self._containers

    @staticmethod
    def _read_host_resolv() -> str:
        try:
            with open("/etc/resolv.conf") as f:
                return f.read()
        except OSError:
            return ""

    def _emit(self, action: str, net: NetworkRecord, extra: Mapping[str, str] | None = None) -> None:
        if self.events is not None:
            self.events(action, net.id, {"name": net.name, "type": net.driver, **(extra or {})})

    # --- daemon start ------------------------------------------------------------------

    async def setup(self) -> None:
        """Make the built-in networks and every bridge exist (before containers are restored)."""
        await asyncio.to_thread(self._setup_sync)

    def _setup_sync(self) -> None:
        have = {n.name: n for n in self._store.all()}
        for name, driver in (("host", "host"), ("none", "null")):
            if name not in have:
                self._store.add(
                    NetworkRecord(
                        id=secrets.token_hex(32), name=name, driver=driver, created=now_rfc3339(), builtin=True
                    )
                )
        default = have.get("bridge")
        if (
            default is None
            or default.bridge != self._opts.bridge
            or (self._opts.bip and not self._bip_matches(default))
        ):
            if default is not None:
                self._store.delete(default.id)
            default = self._default_bridge_record(default.id if default else secrets.token_hex(32))
            self._store.add(default)
        for net in self._store.all():
            if net.driver == "bridge":
                self._plumber.ensure_bridge(net.bridge, f"{net.gateway}/{net.prefix_len}", net.mtu)

    def _bip_matches(self, net: NetworkRecord) -> bool:
        iface = ipaddress.ip_interface(self._opts.bip)
        return net.gateway == str(iface.ip) and net.subnet == str(iface.network)

    def _default_bridge_record(self, nid: str) -> NetworkRecord:
        if self._opts.bip:
            iface = ipaddress.ip_interface(self._opts.bip)
            subnet, gateway = str(iface.network), str(iface.ip)
        else:
            taken = [n.subnet for n in self._store.all() if n.subnet] + host_route_subnets()
            subnet = pick_subnet(self._opts.pools, taken)
            gateway = str(next(ipaddress.ip_network(subnet).hosts()))
        return NetworkRecord(
            id=nid,
            name="bridge",
            driver="bridge",
            created=now_rfc3339(),
            subnet=subnet,
            gateway=gateway,
            bridge=self._opts.bridge,
            mtu=self._opts.mtu,
            builtin=True,
            options={
                "com.docker.network.bridge.default_bridge": "true",
                "com.docker.network.bridge.enable_icc": "true",
                "com.docker.network.bridge.enable_ip_masquerade": "true" if self._opts.ip_masq else "false",
                "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                _BRIDGE_NAME_OPT: self._opts.bridge,
                _MTU_OPT: str(self._opts.mtu),
            },
            ipam_config=({"Subnet": subnet, "Gateway": gateway},),
        )

    async def reconcile(self) -> None:
        """After containers are restored: rebuild sandboxes of running containers, drop the rest
        (stale namespaces, addresses), and load the rules."""
        async with self._lock:
            running: dict[str, ContainerRecord] = {}
            for rec in self.containers.all():
                if rec.state.running and _is_bridged(_mode(rec.host_config)):
                    running[rec.id] = rec
            for cid, rec in running.items():
                if cid in self._sandboxes:
                    continue
                ns_path = str((rec.network_settings or {}).get("SandboxKey") or "")
                if not ns_path or not os.path.exists(ns_path):
                    continue
                sb = self._sandbox_from_settings(rec, ns_path)
                self._sandboxes[cid] = sb
                self._reserver.reserve_exact(cid, sb.ports)
                with contextlib.suppress(Exception):
                    await self._start_dns(sb)
            ns_dir = self._ns_dir()
            keep = {sb.ns_path for sb in self._sandboxes.values()}
            if os.path.isdir(ns_dir):
                for entry in os.listdir(ns_dir):
                    path = os.path.join(ns_dir, entry)
                    if path not in keep:
                        await asyncio.to_thread(self._plumber.remove_netns, path)
            for alloc in self._store.all_addresses():
                if alloc.container_id not in self._sandboxes:
                    self._store.release(alloc.network_id, alloc.container_id)
            await self._apply_rules(force=True)
        if self._opts.firewall != "iptables" and self._opts.guard_interval > 0 and self._guard_task is None:
            self._guard_task = asyncio.get_running_loop().create_task(self._watch_forward_policy())

    async def _watch_forward_policy(self) -> None:
        while True:
            await asyncio.sleep(self._opts.guard_interval)
            async with self._lock:
                bridges, _ = self._rule_inputs()
                await self._apply_guard(iptables.render_guard(self._iptables_layout(), bridges))

    def _sandbox_from_settings(self, rec: ContainerRecord, ns_path: str) -> _Sandbox:
        ns = rec.network_settings or {}
        sb = _Sandbox(rec.id, rec.name, ns_path, upstreams=tuple(rec.host_config.get("Dns") or ()))
        for i, (_, ep) in enumerate((ns.get("Networks") or {}).items()):
            if ep.get("IPAddress"):
                sb.attachments[ep["NetworkID"]] = _Attachment(
                    ep["NetworkID"],
                    str(ep.get("_IfName") or f"eth{i}"),
                    ep["IPAddress"],
                    tuple(ep.get("Aliases") or ()),
                    ep.get("EndpointID", ""),
                )
        for key, binds in (ns.get("Ports") or {}).items():
            port, _, proto = key.partition("/")
            for b in binds or ():
                sb.ports.append(
                    PortMapping(
                        int(port),
                        proto,
                        b.get("HostIp", "") if b.get("HostIp") != "0.0.0.0" else "",
                        int(b["HostPort"]),
                    )
                )
        sb.links = self._link_targets(rec)
        return sb

    def _ns_dir(self) -> str:
        return os.path.join(self._opts.exec_root, "netns")

    async def shutdown(self) -> None:
        """Daemon stop: containers keep running; only the DNS sockets and port holds go."""
        if self._guard_task is not None:
            self._guard_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._guard_task
            self._guard_task = None
        for sb in self._sandboxes.values():
            if sb.dns is not None:
                sb.dns.close()
            self._reserver.release(sb.container_id)

    # --- rules -----------------------------------------------------------------------------

    def _rules_scripts(self) -> list[str]:
        """What the plumber loads, in order: with nftables, the iptables FORWARD guard then our table."""
        bridges, publishes = self._rule_inputs()
        if self._opts.firewall == "iptables":
            return [iptables.render_rules(self._iptables_layout(), bridges, publishes)]
        return [
            iptables.render_guard(self._iptables_layout(), bridges),
            nftrules.render_table(self._opts.nft_table, bridges, publishes),
        ]

    def _rule_inputs(self) -> tuple[list[nftrules.BridgeRules], list[nftrules.Publish]]:
        nets = [n for n in self._store.all() if n.driver == "bridge"]
        bridges = [
            nftrules.BridgeRules(
                n.bridge,
                n.subnet,
                n.internal,
                self._opts.ip_masq
                if n.name == "bridge"
                else n.options.get("com.docker.network.bridge.enable_ip_masquerade", "true") != "false",
            )
            for n in nets
        ]
        by_id = {n.id: n for n in nets}
        publishes = []
        for sb in self._sandboxes.values():
            target = next(
                (a for a in sb.attachments.values() if a.network_id in by_id and not by_id[a.network_id].internal), None
            )
            if target is None:
                continue
            for p in sb.ports:
                publishes.append(nftrules.Publish(p.proto, p.host_ip, p.host_port, target.address, p.container_port))
        return bridges, publishes

    def _iptables_layout(self) -> iptables.ChainLayout:
        return iptables.ChainLayout(iptables.chain_prefix(self._opts.bridge))

    async def _apply_rules(self, force: bool = False) -> None:
        # Most starts publish nothing: skip nft when the table wouldn't change (and the guard, which
        # depends on the networks only, when they don't).
        scripts = self._rules_scripts()
        if scripts == self._applied and not force:
            return
        try:
            for i, script in enumerate(scripts):
                if not force and i < len(self._applied) and self._applied[i] == script:
                    continue
                if iptables.is_script(script) and self._opts.firewall != "iptables":
                    await self._apply_guard(script)
                else:
                    await asyncio.to_thread(self._plumber.apply_rules, script)
        except errors.Unavailable:
            # Without nft (or iptables), networks still work (no masquerade); publishing ports can't.
            if any(sb.ports for sb in self._sandboxes.values()):
                raise
            log.warning(
                "%s is missing: no NAT rules loaded; published ports and masquerading are off", self._opts.firewall
            )
        self._applied = scripts

    async def _apply_guard(self, script: str) -> None:
        # Best effort: our nft table still loads, and a host without the DROP policy needs no guard.
        try:
            await asyncio.to_thread(self._plumber.apply_rules, script)
        except (errors.DockyardError, OSError) as e:
            log.warning("could not check or extend iptables' FORWARD chain: %s", e)

    async def teardown_all(self) -> None:
        """Remove the rules table and the default bridge (tests and uninstall)."""
        delete_ipt = iptables.render_delete(self._iptables_layout())
        if self._opts.firewall == "iptables":
            await asyncio.to_thread(self._plumber.apply_rules, delete_ipt)
            return
        await asyncio.to_thread(self._plumber.apply_rules, nftrules.delete_table(self._opts.nft_table))
        with contextlib.suppress(errors.Unavailable):  # the guard, if it was ever loaded
            await asyncio.to_thread(self._plumber.apply_rules, delete_ipt)

    # --- network use cases -------------------------------------------------------------------

    async def create(self, body: Mapping[str, Any]) -> tuple[str, str]:
        """``POST /networks/create``: returns (id, warning)."""
        name = str(body.get("Name") or "")
        if not name or not _NAME_RE.match(name):
            raise errors.InvalidArgument(f"invalid network name {name!r}")
        driver = str(body.get("Driver") or "bridge")
        if driver in ("host", "null", "none"):
            raise errors.Forbidden(f'only one instance of "{driver}" network is allowed')
        if driver != "bridge":
            raise errors.NotFound(f'plugin "{driver}" not found')
        async with self._lock:
            if any(n.name == name for n in self._store.all()):
                raise errors.Conflict(f"network with name {name} already exists")
            net = self._new_network(name, body)
            await asyncio.to_thread(self._plumber.ensure_bridge, net.bridge, f"{net.gateway}/{net.prefix_len}", net.mtu)
            try:
                self._store.add(net)
                await self._apply_rules()
            except BaseException:
                self._store.delete(net.id)
                await asyncio.to_thread(self._plumber.delete_bridge, net.bridge)
                raise
        self._emit("create", net)
        return net.id, ""

    def _new_network(self, name: str, body: Mapping[str, Any]) -> NetworkRecord:
        nid = secrets.token_hex(32)
        options = {str(k): str(v) for k, v in (body.get("Options") or {}).items()}
        labels = {str(k): str(v) for k, v in (body.get("Labels") or {}).items()}
        ipam = body.get("IPAM") or {}
        configs = [c for c in (ipam.get("Config") or []) if isinstance(c, Mapping)]
        if ipam.get("Driver") not in (None, "", "default"):
            raise errors.InvalidArgument(f"IPAM driver {ipam.get('Driver')!r} is not supported")
        if len(configs) > 1:
            raise errors.NotImplementedYet("more than one IPAM config per network is not supported")
        cfg = configs[0] if configs else {}
        others = [n.subnet for n in self._store.all() if n.subnet]
        subnet = str(cfg.get("Subnet") or "")
        if subnet:
            try:
                snet = ipaddress.IPv4Network(subnet, strict=False)
            except ValueError:
                raise errors.InvalidArgument(f"invalid subnet {subnet}") from None
            if any(snet.overlaps(ipaddress.ip_network(o)) for o in others):
                raise errors.Forbidden("Pool overlaps with other one on this address space")
            subnet = str(snet)
        else:
            subnet = pick_subnet(self._opts.pools, others + host_route_subnets())
        net_obj = ipaddress.ip_network(subnet)
        gateway = str(cfg.get("Gateway") or next(net_obj.hosts()))
        if ipaddress.ip_address(gateway) not in net_obj:
            raise errors.InvalidArgument(f"gateway {gateway} is not in subnet {subnet}")
        ip_range = str(cfg.get("IPRange") or "")
        if ip_range and not ipaddress.ip_network(ip_range, strict=False).subnet_of(net_obj):  # type: ignore[arg-type]
            raise errors.InvalidArgument(f"ip-range {ip_range} is not in subnet {subnet}")
        bridge = options.get(_BRIDGE_NAME_OPT) or f"dy-{nid[:12]}"
        if len(bridge) > 15:
            raise errors.InvalidArgument(f"bridge name {bridge!r} is longer than 15 characters")
        if any(n.bridge == bridge for n in self._store.all()):
            raise errors.Conflict(f"bridge name {bridge} is already used by another network")
        try:
            mtu = int(options.get(_MTU_OPT) or self._opts.mtu)
        except ValueError:
            raise errors.InvalidArgument(f"invalid MTU {options.get(_MTU_OPT)!r}") from None
        ipam_cfg = (
            {"Subnet": subnet, "Gateway": gateway}
            if not cfg
            else {k: str(v) for k, v in cfg.items() if k in ("Subnet", "IPRange", "Gateway") and v}
        )
        if cfg and "Subnet" in ipam_cfg:
            ipam_cfg["Subnet"] = subnet
        return NetworkRecord(
            id=nid,
            name=name,
            driver="bridge",
            created=now_rfc3339(),
            subnet=subnet,
            gateway=gateway,
            ip_range=ip_range,
            internal=bool(body.get("Internal")),
            bridge=bridge,
            mtu=mtu,
            labels=labels,
            options=options,
            ipam_config=(ipam_cfg,),
            attachable=bool(body.get("Attachable")),
        )

    def get(self, ref: str) -> NetworkRecord:
        return self._store.get(ref)

    def list_networks(self, filters: Mapping[str, Sequence[str]]) -> list[NetworkRecord]:
        out = []
        for n in self._store.all():
            if "name" in filters and not any(v in n.name for v in filters["name"]):
                continue
            if "id" in filters and not any(n.id.startswith(v) for v in filters["id"]):
                continue
            if "driver" in filters and n.driver not in filters["driver"]:
                continue
            if "type" in filters:
                kind = "builtin" if n.builtin else "custom"
                if kind not in filters["type"]:
                    continue
            if "label" in filters and not all(_label_match(n.labels, v) for v in filters["label"]):
                continue
            if "dangling" in filters:
                want = filters["dangling"][0] in ("1", "true")
                if want != (not n.builtin and not self._users(n.id)):
                    continue
            out.append(n)
        return out

    def _users(self, network_id: str) -> list[ContainerRecord]:
        """Running containers with an endpoint on the network."""
        return [
            r
            for r in self.containers.all()
            if r.id in self._sandboxes and network_id in self._sandboxes[r.id].attachments
        ]

    def to_json(self, net: NetworkRecord, with_containers: bool = True) -> dict[str, Any]:
        containers: dict[str, Any] = {}
        if with_containers:
            for r in self._users(net.id):
                a = self._sandboxes[r.id].attachments[net.id]
                containers[r.id] = {
                    "Name": r.name,
                    "EndpointID": a.endpoint_id,
                    "MacAddress": self._mac_of(r, net.id),
                    "IPv4Address": f"{a.address}/{net.prefix_len}",
                    "IPv6Address": "",
                }
        return {
            "Name": net.name,
            "Id": net.id,
            "Created": net.created,
            "Scope": "local",
            "Driver": net.driver,
            "EnableIPv6": False,
            "IPAM": {
                "Driver": "default",
                "Options": None if net.builtin else {},
                "Config": [dict(c) for c in net.ipam_config],
            },
            "Internal": net.internal,
            "Attachable": net.attachable,
            "Ingress": False,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": False,
            "Containers": containers,
            "Options": dict(net.options),
            "Labels": dict(net.labels),
        }

    def _mac_of(self, rec: ContainerRecord, network_id: str) -> str:
        for ep in ((rec.network_settings or {}).get("Networks") or {}).values():
            if ep.get("NetworkID") == network_id:
                return str(ep.get("MacAddress") or "")
        return ""

    async def remove(self, ref: str) -> None:
        async with self._lock:
            net = self._store.get(ref)
            if net.builtin:
                raise errors.Forbidden(f"{net.name} is a pre-defined network and cannot be removed")
            users = self._users(net.id)
            if users:
                raise errors.InUse(f"error while removing network: network {net.name} id {net.id} has active endpoints")
            self._store.delete(net.id)
            await self._apply_rules()
            await asyncio.to_thread(self._plumber.delete_bridge, net.bridge)
        self._emit("destroy", net)

    async def prune(self, filters: Mapping[str, Sequence[str]]) -> list[str]:
        removed = []
        for n in self._store.all():
            if n.builtin or self._users(n.id):
                continue
            if "label" in filters and not all(_label_match(n.labels, v) for v in filters["label"]):
                continue
            if any(n.id == a.network_id for a in self._store.all_addresses()):
                continue
            with contextlib.suppress(errors.NotFound):
                await self.remove(n.id)
                removed.append(n.name)
        return removed

    async def connect(self, ref: str, container: str, endpoint: Mapping[str, Any]) -> None:
        net = self._store.get(ref)
        rec = self.containers.get(container)
        mode = _mode(rec.host_config)
        if not _is_bridged(mode):
            raise errors.Forbidden(
                "container cannot be disconnected from host network or connected to host network"
                if mode == "host"
                else f"container sharing network namespace ({mode}) cannot be connected to another network"
            )
        if net.driver != "bridge":
            raise errors.Forbidden(f"container cannot be connected to network {net.name}")
        settings = dict(rec.network_settings or _settings_shell())
        nets = dict(settings.get("Networks") or {})
        if net.name in nets:
            raise errors.Forbidden(f"endpoint with name {rec.name} already exists in network {net.name}")
        ep = _endpoint_from_json(endpoint)
        self._check_endpoint(net, ep)
        aliases = list(ep.aliases)
        if net.name != "bridge":
            aliases.append(rec.id[:12])
        nets[net.name] = _empty_endpoint(net, ep, aliases)
        settings["Networks"] = nets
        async with self._lock:
            sb = self._sandboxes.get(rec.id)
            if sb is not None:
                nets[net.name] = await self._attach(sb, rec, net, nets[net.name], len(sb.attachments), False)
                await self._apply_rules()
                if sb.dns is None and self._wants_dns(sb):
                    await self._start_dns(sb)
            rec = replace(self.containers.get(rec.id), network_settings=settings)
            self.containers.update_record(rec)
            if sb is not None:
                await asyncio.to_thread(self._write_files, rec, sb)
        if sb is None:  # a running container's attach already said so
            self._emit("connect", net, {"container": rec.id})

    async def disconnect(self, ref: str, container: str, force: bool = False) -> None:
        net = self._store.get(ref)
        rec = self.containers.get(container)
        settings = dict(rec.network_settings or _settings_shell())
        nets = dict(settings.get("Networks") or {})
        if net.name not in nets:
            if force:
                return
            raise errors.Forbidden(f"container {rec.id} is not connected to network {net.name}")
        async with self._lock:
            sb = self._sandboxes.get(rec.id)
            if sb is not None and net.id in sb.attachments:
                att = sb.attachments.pop(net.id)
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self._plumber.detach, sb.ns_path, att.ifname)
                self._store.release(net.id, rec.id)
                await self._apply_rules()
            del nets[net.name]
            settings["Networks"] = nets
            rec = replace(self.containers.get(rec.id), network_settings=settings)
            self.containers.update_record(rec)
        self._emit("disconnect", net, {"container": rec.id})

    # --- NetworkHooks ---------------------------------------------------------------------------

    def _check_endpoint(self, net: NetworkRecord, ep: EndpointConfig | None) -> None:
        if ep is None:
            return
        if net.name == "bridge" and ep.aliases:
            raise errors.InvalidArgument(
                "network-scoped alias is supported only for containers in user defined networks"
            )
        if ep.ipv4_address:
            if net.name == "bridge" or not net.ipam_config or "Subnet" not in net.ipam_config[0]:
                raise errors.InvalidArgument(
                    "user specified IP address is supported only when connecting to networks "
                    "with user configured subnets"
                )
            try:
                if ipaddress.ip_address(ep.ipv4_address) not in ipaddress.ip_network(net.subnet):
                    raise errors.InvalidArgument(
                        f"no configured subnet or ip-range contain the IP address {ep.ipv4_address}"
                    )
            except ValueError:
                raise errors.InvalidArgument(f"invalid IPv4 address: {ep.ipv4_address}") from None

    async def on_create(
        self,
        container_id: str,
        name: str,
        config: ContainerConfig,
        host_config: HostConfig,
        networking: NetworkingConfig,
    ) -> Mapping[str, Any]:
        mode = _mode(host_config)
        if mode == "none":
            return none_network_settings()
        if mode == "host":
            net = self._store.get("host")
            s = _settings_shell()
            s["Networks"] = {"host": _empty_endpoint(net, None, [])}
            return s
        if mode.startswith("container:"):
            target = self.containers.get(mode.split(":", 1)[1])
            if target.id == container_id:
                raise errors.InvalidArgument("cannot join own network")
            return _settings_shell()
        net = self._store.get(mode)
        if net.driver == "host":
            return await self.on_create(
                container_id, name, config, replace(host_config, network_mode="host"), networking
            )
        if net.driver == "null":
            return none_network_settings()
        if host_config.port_bindings and net.internal:
            pass  # Docker accepts it; the ports just aren't reachable
        if (host_config.links and net.name != "bridge") or host_config.links:
            for link in host_config.links:
                self.containers.get(parse_link(link)[0])
        endpoints = dict(networking.endpoints)
        # The docker CLI names the default network "default" in EndpointsConfig.
        primary_ep = endpoints.pop(net.name, None) or endpoints.pop(net.id, None)
        if net.name == "bridge":
            primary_ep = endpoints.pop("default", None) or primary_ep
        if primary_ep is None and config.mac_address:
            primary_ep = EndpointConfig(mac_address=config.mac_address)
        elif primary_ep is not None and config.mac_address and not primary_ep.mac_address:
            primary_ep = replace(primary_ep, mac_address=config.mac_address)
        ordered: list[tuple[NetworkRecord, EndpointConfig | None]] = [(net, primary_ep)]
        for other_name, other_ep in endpoints.items():
            ordered.append((self._store.get(other_name), other_ep))
        s = _settings_shell()
        for n, ep in ordered:
            if n.driver != "bridge":
                raise errors.InvalidArgument(f"container cannot be connected to network {n.name} and {net.name}")
            self._check_endpoint(n, ep)
            aliases = list(ep.aliases) if ep else []
            if n.name != "bridge":
                aliases.append(container_id[:12])
            s["Networks"][n.name] = _empty_endpoint(n, ep, aliases)
        return s

    async def on_start(self, rec: ContainerRecord) -> tuple[str | None, Mapping[str, Any]]:
        mode = _mode(rec.host_config)
        settings = dict(rec.network_settings or _settings_shell())
        if mode == "none":
            await asyncio.to_thread(self._write_plain_files, rec, "")
            return None, settings
        if mode == "host":
            await asyncio.to_thread(self._write_host_files, rec)
            return None, settings
        if mode.startswith("container:"):
            target = self.containers.get(mode.split(":", 1)[1])
            if not target.state.running or not target.state.pid:
                raise errors.Conflict(f"cannot join network of a non running container: {target.id}")
            await asyncio.to_thread(self._copy_files, target, rec)
            return f"/proc/{target.state.pid}/ns/net", settings
        async with self._lock:
            return await self._start_bridged(rec, settings)

    async def _start_bridged(self, rec: ContainerRecord, settings: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        ns_path = os.path.join(self._ns_dir(), rec.id[:12])
        if os.path.exists(ns_path):
            await asyncio.to_thread(self._plumber.remove_netns, ns_path)
        await asyncio.to_thread(self._plumber.create_netns, ns_path)
        sb = _Sandbox(rec.id, rec.name, ns_path, upstreams=tuple(rec.host_config.get("Dns") or ()))
        self._sandboxes[rec.id] = sb
        try:
            nets = dict(settings.get("Networks") or {})
            gateway_done = False
            for i, (name, ep) in enumerate(list(nets.items())):
                net = self._store.get(ep.get("NetworkID") or name)
                want_gw = not gateway_done and not net.internal
                nets[name] = await self._attach(sb, rec, net, ep, i, want_gw)
                gateway_done = gateway_done or want_gw
            settings["Networks"] = nets
            hc = rec.host_config
            exposed = list((rec.config.get("ExposedPorts") or {}).keys())
            requests = port_requests(hc.get("PortBindings") or {}, exposed, bool(hc.get("PublishAllPorts")))
            sb.ports = self._reserver.reserve(rec.id, requests)
            sb.links = self._link_targets(rec)
            settings["Ports"] = ports_json(exposed, sb.ports)
            settings["SandboxKey"] = ns_path
            settings["SandboxID"] = secrets.token_hex(32)
            default = nets.get("bridge")
            if default is not None:
                net = self._store.get("bridge")
                settings.update(
                    {
                        "Bridge": net.bridge,
                        "EndpointID": default["EndpointID"],
                        "Gateway": default["Gateway"],
                        "IPAddress": default["IPAddress"],
                        "IPPrefixLen": default["IPPrefixLen"],
                        "MacAddress": default["MacAddress"],
                    }
                )
            await self._apply_rules()
            if self._wants_dns(sb):
                await self._start_dns(sb)
            await asyncio.to_thread(self._write_files, replace(rec, network_settings=settings), sb)
        except BaseException:
            await self._teardown(rec.id, ns_path)
            raise
        return ns_path, settings

    async def _attach(
        self, sb: _Sandbox, rec: ContainerRecord, net: NetworkRecord, ep: Mapping[str, Any], index: int, gw: bool
    ) -> dict[str, Any]:
        wanted = str((ep.get("IPAMConfig") or {}).get("IPv4Address") or "")
        address = self._store.allocate(net, rec.id, wanted)
        mac = str(ep.get("MacAddress") or "") or mac_for(address)
        ifname = f"eth{index}"
        while any(a.ifname == ifname for a in sb.attachments.values()):
            index += 1
            ifname = f"eth{index}"
        try:
            await asyncio.to_thread(
                self._plumber.attach,
                sb.ns_path,
                net.bridge,
                ifname,
                f"{address}/{net.prefix_len}",
                net.gateway if gw else "",
                mac,
                net.mtu,
            )
        except BaseException:
            self._store.release(net.id, rec.id)
            raise
        endpoint_id = secrets.token_hex(32)
        aliases = tuple(ep.get("Aliases") or ())
        sb.attachments[net.id] = _Attachment(net.id, ifname, address, aliases, endpoint_id)
        self._emit("connect", net, {"container": rec.id})
        names = [rec.name, *aliases] if net.name != "bridge" else None
        return {
            **ep,
            "NetworkID": net.id,
            "EndpointID": endpoint_id,
            "Gateway": net.gateway,
            "IPAddress": address,
            "IPPrefixLen": net.prefix_len,
            "MacAddress": mac,
            "DNSNames": names,
            "_IfName": ifname,
        }

    def _wants_dns(self, sb: _Sandbox) -> bool:
        by_id = {n.id: n for n in self._store.all()}
        return any(
            by_id.get(a.network_id) is not None and by_id[a.network_id].name != "bridge"
            for a in sb.attachments.values()
        )

    async def _start_dns(self, sb: _Sandbox) -> None:
        # --dns servers become the embedded server's upstreams (as in Docker); else the host's.
        servers = list(sb.upstreams) or netfiles.host_nameservers(self._host_resolv)[0]
        # dnspython is loaded with the first user network's server, not by every daemon (memory).
        from dockyard.network.dns import DnsServer

        server = DnsServer(sb.ns_path, lambda name: self._lookup(sb.container_id, name), servers, self._dns_redirect)
        await server.start()
        sb.dns = server

    def _lookup(self, cid: str, name: str) -> list[str] | None:
        """Names visible to container ``cid``: on each user network it's on, the names and aliases
        of running containers there, and its links' aliases."""
        sb = self._sandboxes.get(cid)
        if sb is None:
            return None
        by_id = {n.id: n for n in self._store.all()}
        mine = [nid for nid in sb.attachments if nid in by_id and by_id[nid].name != "bridge"]
        found: list[str] = []
        target = sb.links.get(name)
        for nid in mine:
            for other in self._sandboxes.values():
                att = other.attachments.get(nid)
                if att is None:
                    continue
                names = {other.name.lower(), other.container_id[:12], *(a.lower() for a in att.aliases)}
                if (name in names or other.container_id == target) and att.address not in found:
                    found.append(att.address)
        return found or None

    def _link_targets(self, rec: ContainerRecord) -> dict[str, str]:
        out = {}
        for link in rec.host_config.get("Links") or ():
            name, alias = parse_link(link)
            with contextlib.suppress(errors.NotFound):
                out[alias.lower()] = self.containers.get(name).id
        return out

    async def on_stop(self, rec: ContainerRecord) -> Mapping[str, Any]:
        settings = dict(rec.network_settings or _settings_shell())
        if not _is_bridged(_mode(rec.host_config)):
            return settings
        async with self._lock:
            await self._teardown(rec.id, str(settings.get("SandboxKey") or ""))
        nets = {}
        for name, ep in (settings.get("Networks") or {}).items():
            nets[name] = {
                **ep,
                "EndpointID": "",
                "Gateway": "",
                "IPAddress": "",
                "IPPrefixLen": 0,
                "MacAddress": (ep.get("IPAMConfig") or {}).get("MacAddress", ""),
                "DNSNames": None,
            }
            nets[name].pop("_IfName", None)
        settings.update(
            {
                "Networks": nets,
                "Ports": {},
                "SandboxKey": "",
                "SandboxID": "",
                "Bridge": "",
                "EndpointID": "",
                "Gateway": "",
                "IPAddress": "",
                "IPPrefixLen": 0,
                "MacAddress": "",
            }
        )
        return settings

    async def _teardown(self, cid: str, ns_path: str) -> None:
        sb = self._sandboxes.pop(cid, None)
        if sb is not None and sb.dns is not None:
            sb.dns.close()
        by_id = {n.id: n for n in self._store.all()}
        for nid in sb.attachments if sb is not None else ():
            if nid in by_id:
                self._emit("disconnect", by_id[nid], {"container": cid})
        self._reserver.release(cid)
        path = sb.ns_path if sb is not None else ns_path
        if path:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._plumber.remove_netns, path)
        self._store.release_container(cid)
        try:
            await self._apply_rules()
        except Exception:
            log.exception("reloading the firewall rules failed")

    async def on_rename(self, rec: ContainerRecord, old_name: str) -> None:
        """``rec`` was just renamed from ``old_name``: the embedded DNS answers the new name only."""
        async with self._lock:
            sb = self._sandboxes.get(rec.id)
            if sb is not None:
                sb.name = rec.name
            current = self.containers.get(rec.id)
            settings = dict(current.network_settings or {})
            if not settings.get("Networks"):
                return
            nets = {}
            for name, ep in settings["Networks"].items():
                names = ep.get("DNSNames")
                nets[name] = {**ep, "DNSNames": [rec.name if n == old_name else n for n in names] if names else names}
            self.containers.update_record(replace(current, network_settings={**settings, "Networks": nets}))

    async def on_remove(self, rec: ContainerRecord) -> None:
        if rec.id in self._sandboxes:
            async with self._lock:
                await self._teardown(rec.id, "")
        else:
            self._store.release_container(rec.id)

    def settings(self, rec: ContainerRecord) -> dict[str, Any]:
        s = dict(rec.network_settings or none_network_settings())
        s["Networks"] = {
            name: {k: v for k, v in ep.items() if not k.startswith("_")}
            for name, ep in (s.get("Networks") or {}).items()
        }
        return s

    def link_env(self, rec: ContainerRecord) -> list[str]:
        """Environment for ``--link`` targets (on the default bridge, like Docker)."""
        if _mode(rec.host_config) != "bridge":
            return []
        env: list[str] = []
        for link in rec.host_config.get("Links") or ():
            name, alias = parse_link(link)
            try:
                target = self.containers.get(name)
            except errors.NotFound:
                continue
            address = _address_on(target, "bridge")
            if not address:
                continue
            exposed = list((target.config.get("ExposedPorts") or {}).keys())
            env += link_env(alias, rec.name, address, exposed, target.config.get("Env") or [])
        return env

    # --- files -----------------------------------------------------------------------------------

    def _write_files(self, rec: ContainerRecord, sb: _Sandbox) -> None:
        own_addr = next(iter(sb.attachments.values())).address if sb.attachments else ""
        self._write_plain_files(rec, own_addr, embedded=self._wants_dns(sb))

    def _write_plain_files(self, rec: ContainerRecord, own_addr: str, embedded: bool = False) -> None:
        cfg, hc = rec.config, rec.host_config
        hostname = str(cfg.get("Hostname") or rec.id[:12])
        names = [hostname]
        if cfg.get("Domainname"):
            names.insert(0, f"{hostname}.{cfg['Domainname']}")
        own = [netfiles.HostEntry(own_addr, tuple(names))] if own_addr else []
        links = []
        for link in hc.get("Links") or ():
            name, alias = parse_link(link)
            with contextlib.suppress(errors.NotFound):
                target = self.containers.get(name)
                addr = _address_on(target, "bridge")
                if addr:
                    tnames = [alias] if alias == target.name else [alias, target.name]
                    tnames.append(str(target.config.get("Hostname") or target.id[:12]))
                    links.append(netfiles.HostEntry(addr, tuple(dict.fromkeys(tnames))))
        hosts = netfiles.render_hosts(own, list(hc.get("ExtraHosts") or ()), links)
        resolv = netfiles.render_resolv_conf(
            self._host_resolv, hc.get("Dns") or (), hc.get("DnsSearch") or (), hc.get("DnsOptions") or (), embedded
        )
        _write(rec.hosts_path, hosts)
        _write(rec.resolv_conf_path, resolv)

    def _write_host_files(self, rec: ContainerRecord) -> None:
        try:
            with open("/etc/hosts") as f:
                hosts = f.read()
        except OSError:
            hosts = "127.0.0.1\tlocalhost\n"
        for item in rec.host_config.get("ExtraHosts") or ():
            name, _, addr = item.partition(":")
            hosts += f"{addr}\t{name}\n"
        _write(rec.hosts_path, hosts)
        hc = rec.host_config
        _write(
            rec.resolv_conf_path,
            netfiles.render_resolv_conf(
                self._host_resolv, hc.get("Dns") or (), hc.get("DnsSearch") or (), hc.get("DnsOptions") or (), False
            ),
        )

    def _copy_files(self, source: ContainerRecord, rec: ContainerRecord) -> None:
        for src, dst in (
            (source.hostname_path, rec.hostname_path),
            (source.hosts_path, rec.hosts_path),
            (source.resolv_conf_path, rec.resolv_conf_path),
        ):
            with contextlib.suppress(OSError), open(src) as f:
                _write(dst, f.read())


def _address_on(rec: ContainerRecord, network_name: str) -> str:
    if not rec.state.running:
        return ""
    ep = ((rec.network_settings or {}).get("Networks") or {}).get(network_name) or {}
    return str(ep.get("IPAddress") or "")


def _endpoint_from_json(doc: Mapping[str, Any]) -> EndpointConfig:
    ipam = doc.get("IPAMConfig") or {}
    return EndpointConfig(
        ipv4_address=str(ipam.get("IPv4Address") or ""),
        aliases=tuple(str(a) for a in doc.get("Aliases") or ()),
        links=tuple(str(a) for a in doc.get("Links") or ()),
        mac_address=str(doc.get("MacAddress") or ""),
    )


def _label_match(labels: Mapping[str, str], spec: str) -> bool:
    key, eq, value = spec.partition("=")
    return key in labels and (not eq or labels[key] == value)


def _write(path: str, text: str) -> None:
    if not path:
        return
    if os.path.exists(path):
        # In place: a running container has this inode bind-mounted.
        with open(path, "w") as f:
            f.write(text)
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
