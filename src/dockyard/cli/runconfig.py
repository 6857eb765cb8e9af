"""Pure conversion of ``run``/``create`` flags into an Engine API create body."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dockyard import errors
from dockyard.cli.flagvalues import parse_port_specs
from dockyard.cli.runflags import HostFlags, apply_host_flags

__all__ = [
    "RunOptions",
    "create_body",
    "parse_env",
    "parse_env_file",
    "parse_labels",
    "parse_port",
    "parse_volume",
    "split_repo_tag",
]


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


def parse_env(items: Iterable[str], environ: Mapping[str, str]) -> list[str]:
    """``KEY=VAL`` kept; a bare ``KEY`` takes the local value, or is dropped if unset."""
    out: list[str] = []
    for item in items:
        if not item or item.startswith("="):
            raise errors.InvalidArgument(f"invalid environment variable: {item}")
        if "=" in item:
            out.append(item)
        elif item in environ:
            out.append(f"{item}={environ[item]}")
    return out


def parse_env_file(text: str, environ: Mapping[str, str]) -> list[str]:
    """An env file: one variable a line, ``#`` comments and blank lines skipped."""
    items: list[str] = []
    for line in text.splitlines():
        s = line.lstrip()
        if not s or s.startswith("#"):
            continue
        name, sep, value = s.partition("=")
        if " " in name.strip() or not name.strip():
            raise errors.InvalidArgument(f"variable '{name}' contains whitespaces")
        items.append(f"{name.strip()}={value}" if sep else name.strip())
    return parse_env(items, environ)


def parse_labels(items: Iterable[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key:
            raise errors.InvalidArgument(f"invalid label: {item!r}")
        labels[key] = value
    return labels


def parse_volume(spec: str) -> str:
    """``-v SRC:DST[:OPTS]`` or ``-v DST`` checked and passed as a bind string."""
    parts = spec.split(":")
    if not spec or len(parts) > 3 or any(not p for p in parts):
        raise errors.InvalidArgument(f"invalid volume specification: '{spec}'")
    dst = parts[1] if len(parts) > 1 else parts[0]
    if not dst.startswith("/"):
        raise errors.InvalidArgument(f"invalid volume specification: '{spec}': destination must be absolute")
    return spec


def parse_port(spec: str) -> tuple[str, dict[str, str]]:
    """``[IP:][HOSTPORT:]PORT[/PROTO]`` -> (``"PORT/proto"``, HostIp/HostPort binding)."""
    body, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise errors.InvalidArgument(f"invalid proto: {proto}")
    parts = body.rsplit(":", 2)
    ip, host_port, port = "", "", parts[-1]
    if len(parts) == 2:
        host_port = parts[0]
    elif len(parts) == 3:
        ip, host_port = parts[0].strip("[]"), parts[1]
    for p in (port, host_port):
        if p and not (p.isdigit() and 0 < int(p) < 65536):
            raise errors.InvalidArgument(f"invalid port specification: '{spec}'")
    if not port:
        raise errors.InvalidArgument(f"no port specified: {spec}<empty>")
    return f"{port}/{proto}", {"HostIp": ip, "HostPort": host_port}


def split_repo_tag(ref: str) -> tuple[str, str | None]:
    """``repo[:tag]`` split at a colon after the last slash (a registry port is not a tag)."""
    if "@" in ref:
        return ref, None
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, None


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
