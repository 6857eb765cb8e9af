"""Pure conversion of ``run``/``create`` flags into an Engine API create body."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dockyard.cli.flagvalues import parse_port_specs, parse_volume
from dockyard.cli.runflags import HostFlags, apply_host_flags

__all__ = ["RunOptions", "create_body"]


@dataclass(frozen=True)
class RunOptions:
    """What the user asked for, as typed values (no I/O behind them)."""

    image: str
    command: tuple[str, ...] = ()
    detach: bool = False
    interactive: bool = False
    tty: bool = False
    rm: bool = False
    env: tuple[str, ...] = ()
    workdir: str | None = None
    user: str | None = None
    entrypoint: str | None = None
    hostname: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    runtime: str | None = None
    volumes: tuple[str, ...] = ()
    publish: tuple[str, ...] = ()
    network: str | None = None
    host: HostFlags = field(default_factory=HostFlags)


def create_body(opts: RunOptions, env: Sequence[str], security_opts: list[str] | None = None) -> dict[str, Any]:
    """The ``POST /containers/create`` body for ``opts`` (env and seccomp profile files already read)."""
    attach = not opts.detach
    exposed: dict[str, dict[str, str]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in opts.publish:
        for port, binding in parse_port_specs(spec):
            exposed[port] = {}
            bindings.setdefault(port, []).append(binding)
    # `-v /path` alone is an anonymous volume: docker sends it as Config.Volumes, not as a bind.
    specs = [parse_volume(v) for v in opts.volumes]
    anonymous: dict[str, dict[str, str]] = {v: {} for v in specs if ":" not in v}
    host_config: dict[str, Any] = {
        "AutoRemove": opts.rm,
        "Binds": [v for v in specs if ":" in v] or None,
        "PortBindings": bindings or None,
        "NetworkMode": opts.network or "default",
    }
    if opts.runtime:
        host_config["Runtime"] = opts.runtime
    body: dict[str, Any] = {
        "Image": opts.image,
        "Cmd": list(opts.command) or None,
        "Entrypoint": None if opts.entrypoint is None else [opts.entrypoint] if opts.entrypoint else [""],
        "Env": list(env),
        "Tty": opts.tty,
        "OpenStdin": opts.interactive,
        "StdinOnce": opts.interactive and attach,
        "AttachStdin": opts.interactive and attach,
        "AttachStdout": attach,
        "AttachStderr": attach,
        "Labels": dict(opts.labels),
        "WorkingDir": opts.workdir or "",
        "User": opts.user or "",
        "Hostname": opts.hostname or "",
        "ExposedPorts": exposed or None,
        "Volumes": anonymous or None,
        "HostConfig": host_config,
    }
    sec = list(opts.host.security_opt) if security_opts is None else security_opts
    return apply_host_flags(body, opts.host, sec)
