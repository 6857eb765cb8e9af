"""The ``run``/``create`` flags beyond the basics (mounts, networking, health, limits, security)
and their pure mapping onto the create body, as the docker CLI maps them."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import click

from dockyard import errors
from dockyard.cli.flagvalues import (
    parse_cpus,
    parse_device,
    parse_duration_ns,
    parse_extra_host,
    parse_key_values,
    parse_link,
    parse_mount,
    parse_restart,
    parse_size,
    parse_tmpfs,
    parse_ulimit,
)

__all__ = ["HOST_OPTIONS", "HostFlags", "apply_host_flags", "host_flags_from", "resolve_security_opts"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class HostFlags:
    """The flags as typed (strings, tuples); parsing happens in ``apply_host_flags``."""

    mount: tuple[str, ...] = ()
    tmpfs: tuple[str, ...] = ()
    volumes_from: tuple[str, ...] = ()
    network_alias: tuple[str, ...] = ()
    link: tuple[str, ...] = ()
    publish_all: bool = False
    expose: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_option: tuple[str, ...] = ()
    add_host: tuple[str, ...] = ()
    ip: str | None = None
    ip6: str | None = None
    mac_address: str | None = None
    restart: str | None = None
    health_cmd: str | None = None
    health_interval: str | None = None
    health_timeout: str | None = None
    health_retries: int | None = None
    health_start_period: str | None = None
    no_healthcheck: bool = False
    memory: str | None = None
    memory_swap: str | None = None
    memory_reservation: str | None = None
    cpus: str | None = None
    cpu_shares: int | None = None
    cpu_period: int | None = None
    cpu_quota: int | None = None
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    pids_limit: int | None = None
    oom_kill_disable: bool = False
    blkio_weight: int | None = None
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    security_opt: tuple[str, ...] = ()
    read_only: bool = False
    ulimit: tuple[str, ...] = ()
    sysctl: tuple[str, ...] = ()
    shm_size: str | None = None
    ipc: str | None = None
    pid: str | None = None
    uts: str | None = None
    init: bool = False
    group_add: tuple[str, ...] = ()
    device: tuple[str, ...] = ()
    device_cgroup_rule: tuple[str, ...] = ()
    log_driver: str | None = None
    log_opt: tuple[str, ...] = ()
    stop_signal: str | None = None
    stop_timeout: int | None = None
    platform: str | None = None
    pull: str = "missing"


def _multi(*decls: str, help: str) -> Callable[[F], F]:
    return click.option(*decls, multiple=True, help=help)


HOST_OPTIONS: list[Callable[[F], F]] = [
    _multi("--mount", help="Attach a filesystem mount to the container."),
    _multi("--tmpfs", help="Mount a tmpfs directory."),
    _multi("--volumes-from", help="Mount volumes from the specified container(s)."),
    _multi("--network-alias", "--net-alias", "network_alias", help="Add network-scoped alias for the container."),
    _multi("--link", help="Add link to another container."),
    click.option("-P", "--publish-all", is_flag=True, help="Publish all exposed ports to random ports."),
    _multi("--expose", help="Expose a port or a range of ports."),
    _multi("--dns", help="Set custom DNS servers."),
    _multi("--dns-search", help="Set custom DNS search domains."),
    _multi("--dns-option", "--dns-opt", "dns_option", help="Set DNS options."),
    _multi("--add-host", help="Add a custom host-to-IP mapping (host:ip)."),
    click.option("--ip", help="IPv4 address (e.g., 172.30.100.104)."),
    click.option("--ip6", help="IPv6 address (e.g., 2001:db8::33)."),
    click.option("--mac-address", help="Container MAC address (e.g., 92:d0:c6:0a:29:33)."),
    click.option("--restart", help='Restart policy to apply when a container exits (default "no").'),
    click.option("--health-cmd", help="Command to run to check health."),
    click.option("--health-interval", help="Time between running the check (ms|s|m|h)."),
    click.option("--health-timeout", help="Maximum time to allow one check to run (ms|s|m|h)."),
    click.option("--health-retries", type=int, help="Consecutive failures needed to report unhealthy."),
    click.option("--health-start-period", help="Start period for the container to initialize (ms|s|m|h)."),
    click.option("--no-healthcheck", is_flag=True, help="Disable any container-specified HEALTHCHECK."),
    click.option("-m", "--memory", help="Memory limit."),
    click.option("--memory-swap", help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap."),
    click.option("--memory-reservation", help="Memory soft limit."),
    click.option("--cpus", help="Number of CPUs."),
    click.option("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)."),
    click.option("--cpu-period", type=int, help="Limit CPU CFS (Completely Fair Scheduler) period."),
    click.option("--cpu-quota", type=int, help="Limit CPU CFS (Completely Fair Scheduler) quota."),
    click.option("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)."),
    click.option("--cpuset-mems", help="MEMs in which to allow execution (0-3, 0,1)."),
    click.option("--pids-limit", type=int, help="Tune container pids limit (set -1 for unlimited)."),
    click.option("--oom-kill-disable", is_flag=True, help="Disable OOM Killer."),
    click.option("--blkio-weight", type=int, help="Block IO (relative weight), between 10 and 1000, or 0 to disable."),
    _multi("--cap-add", help="Add Linux capabilities."),
    _multi("--cap-drop", help="Drop Linux capabilities."),
    click.option("--privileged", is_flag=True, help="Give extended privileges to this container."),
    _multi("--security-opt", help="Security Options."),
    click.option("--read-only", is_flag=True, help="Mount the container's root filesystem as read only."),
    _multi("--ulimit", help="Ulimit options."),
    _multi("--sysctl", help="Sysctl options."),
    click.option("--shm-size", help="Size of /dev/shm."),
    click.option("--ipc", help="IPC mode to use."),
    click.option("--pid", help="PID namespace to use."),
    click.option("--uts", help="UTS namespace to use."),
    click.option(
        "--init", is_flag=True, help="Run an init inside the container that forwards signals and reaps processes."
    ),
    _multi("--group-add", help="Add additional groups to join."),
    _multi("--device", help="Add a host device to the container."),
    _multi("--device-cgroup-rule", help="Add a rule to the cgroup allowed devices list."),
    click.option("--log-driver", help="Logging driver for the container."),
    _multi("--log-opt", help="Log driver options."),
    click.option("--stop-signal", help="Signal to stop the container."),
    click.option("--stop-timeout", type=int, help="Timeout (in seconds) to stop a container."),
    click.option("--platform", help="Set platform if server is multi-platform capable."),
    click.option(
        "--pull",
        type=click.Choice(["always", "missing", "never"]),
        default="missing",
        help="Pull image before running.",
    ),
]


def host_flags_from(kw: Mapping[str, Any]) -> HostFlags:
    """The HostFlags part of click's keyword arguments."""
    values: dict[str, Any] = {}
    for f in fields(HostFlags):
        if f.name in kw and kw[f.name] is not None:
            v = kw[f.name]
            values[f.name] = tuple(v) if isinstance(v, list | tuple) else v
    return HostFlags(**values)


def resolve_security_opts(items: tuple[str, ...], read: Callable[[str], str]) -> list[str]:
    """docker sends a seccomp profile's content, not its path: ``seccomp=<file>`` becomes compact JSON."""
    out: list[str] = []
    for item in items:
        key, sep, value = item.partition("=" if "=" in item else ":")
        if key == "seccomp" and sep and value != "unconfined":
            try:
                profile = json.loads(read(value))
            except OSError as exc:
                raise errors.InvalidArgument(f"opening seccomp profile ({value}) failed: {exc.strerror}") from None
            except ValueError as exc:
                raise errors.InvalidArgument(f"decoding seccomp profile failed: {exc}") from None
            out.append("seccomp=" + json.dumps(profile, separators=(",", ":")))
        elif key == "no-new-privileges" and not sep:
            out.append("no-new-privileges=true")
        else:
            out.append(item)
    return out


def _set(target: dict[str, Any], key: str, value: Any) -> None:
    if value is None or (isinstance(value, tuple | list | dict) and not value):
        return  # docker leaves unset flags out of the body
    target[key] = value


def _healthcheck(f: HostFlags) -> dict[str, Any] | None:
    given = any(
        v is not None
        for v in (f.health_cmd, f.health_interval, f.health_timeout, f.health_retries, f.health_start_period)
    )
    if f.no_healthcheck:
        if given:
            raise errors.InvalidArgument("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not given:
        return None
    hc: dict[str, Any] = {}
    if f.health_cmd is not None:
        hc["Test"] = ["CMD-SHELL", f.health_cmd]
    for key, text, flag in (
        ("Interval", f.health_interval, "health-interval"),
        ("Timeout", f.health_timeout, "health-timeout"),
        ("StartPeriod", f.health_start_period, "health-start-period"),
    ):
        if text is not None:
            ns = parse_duration_ns(text, flag=flag)
            if ns < 0:
                raise errors.InvalidArgument(f"--{flag} cannot be negative")
            hc[key] = ns
    if f.health_retries is not None:
        if f.health_retries < 0:
            raise errors.InvalidArgument("--health-retries cannot be negative")
        hc["Retries"] = f.health_retries
    return hc


def _resources(f: HostFlags, hc: dict[str, Any]) -> None:
    if f.memory is not None:
        hc["Memory"] = parse_size(f.memory, flag="memory")
    if f.memory_swap is not None:
        hc["MemorySwap"] = parse_size(f.memory_swap, flag="memory-swap")
    if f.memory_reservation is not None:
        hc["MemoryReservation"] = parse_size(f.memory_reservation, flag="memory-reservation")
    if f.cpus is not None:
        hc["NanoCpus"] = parse_cpus(f.cpus)
    _set(hc, "CpuShares", f.cpu_shares)
    _set(hc, "CpuPeriod", f.cpu_period)
    _set(hc, "CpuQuota", f.cpu_quota)
    _set(hc, "CpusetCpus", f.cpuset_cpus)
    _set(hc, "CpusetMems", f.cpuset_mems)
    _set(hc, "PidsLimit", f.pids_limit)
    _set(hc, "BlkioWeight", f.blkio_weight)
    if f.oom_kill_disable:
        hc["OomKillDisable"] = True
    _set(hc, "Devices", [parse_device(d) for d in f.device])
    _set(hc, "DeviceCgroupRules", list(f.device_cgroup_rule))
    _set(hc, "Ulimits", [parse_ulimit(u) for u in f.ulimit])


def apply_host_flags(body: dict[str, Any], f: HostFlags, security_opts: list[str]) -> dict[str, Any]:
    """``body`` (a create body) with the flags in ``f`` applied; ``security_opts`` already resolved."""
    out = {**body, "HostConfig": dict(body.get("HostConfig") or {})}
    hc: dict[str, Any] = out["HostConfig"]
    _set(hc, "Mounts", [parse_mount(m) for m in f.mount])
    _set(hc, "Tmpfs", dict(parse_tmpfs(t) for t in f.tmpfs))
    _set(hc, "VolumesFrom", list(f.volumes_from))
    _set(hc, "Links", [parse_link(link) for link in f.link])
    if f.publish_all:
        hc["PublishAllPorts"] = True
    if f.expose:
        exposed = dict(out.get("ExposedPorts") or {})
        for spec in f.expose:
            port, _, proto = spec.partition("/")
            lo, _, hi = port.partition("-")
            if not lo.isdigit() or (hi and not hi.isdigit()):
                raise errors.InvalidArgument(f"invalid range format for --expose: {spec}")
            for p in range(int(lo), int(hi or lo) + 1):
                exposed[f"{p}/{proto or 'tcp'}"] = {}
        out["ExposedPorts"] = exposed
    _set(hc, "Dns", list(f.dns))
    _set(hc, "DnsSearch", list(f.dns_search))
    _set(hc, "DnsOptions", list(f.dns_option))
    _set(hc, "ExtraHosts", [parse_extra_host(h) for h in f.add_host])
    if f.restart is not None:
        hc["RestartPolicy"] = parse_restart(f.restart)
        if hc["RestartPolicy"]["Name"] not in ("no", "") and hc.get("AutoRemove"):
            raise errors.InvalidArgument("conflicting options: cannot specify both --restart and --rm")
    health = _healthcheck(f)
    if health is not None:
        out["Healthcheck"] = health
    _resources(f, hc)
    _set(hc, "CapAdd", list(f.cap_add))
    _set(hc, "CapDrop", list(f.cap_drop))
    if f.privileged:
        hc["Privileged"] = True
    _set(hc, "SecurityOpt", security_opts)
    if f.read_only:
        hc["ReadonlyRootfs"] = True
    _set(hc, "Sysctls", parse_key_values(f.sysctl, what="sysctl"))
    if f.shm_size is not None:
        hc["ShmSize"] = parse_size(f.shm_size, flag="shm-size")
    _set(hc, "IpcMode", f.ipc)
    _set(hc, "PidMode", f.pid)
    _set(hc, "UTSMode", f.uts)
    if f.init:
        hc["Init"] = True
    _set(hc, "GroupAdd", list(f.group_add))
    if f.log_driver is not None or f.log_opt:
        hc["LogConfig"] = {"Type": f.log_driver or "", "Config": parse_key_values(f.log_opt, what="log-opt")}
    _set(out, "StopSignal", f.stop_signal)
    _set(out, "StopTimeout", f.stop_timeout)
    _networking(out, hc, f)
    return out


def _networking(out: dict[str, Any], hc: dict[str, Any], f: HostFlags) -> None:
    endpoint: dict[str, Any] = {}
    _set(endpoint, "Aliases", list(f.network_alias))
    ipam: dict[str, str] = {}
    _set(ipam, "IPv4Address", f.ip)
    _set(ipam, "IPv6Address", f.ip6)
    if ipam:
        endpoint["IPAMConfig"] = ipam
    _set(endpoint, "MacAddress", f.mac_address)
    if f.mac_address:
        out["MacAddress"] = f.mac_address  # API < 1.44 readers look here
    if not endpoint:
        return
    mode = str(hc.get("NetworkMode") or "default")
    if mode.startswith("container:") or mode in ("host", "none"):
        raise errors.InvalidArgument(f"conflicting options: network-scoped options and the network mode {mode}")
    out["NetworkingConfig"] = {"EndpointsConfig": {mode: endpoint}}
