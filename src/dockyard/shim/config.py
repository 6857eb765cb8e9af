"""What a shim runs, as read from ``spec.json`` in its state directory.

The daemon writes the file from a ``tasks.api.TaskSpec``; the shim parses it
into :class:`ShimConfig` without importing anything outside the stdlib.
"""

from __future__ import annotations

import json

__all__ = ["RootfsMount", "ShimConfig", "load_config", "parse_config"]

BUILTIN_RUNTIME = "dockyard-runtime"


class RootfsMount:
    """One rootfs mount (the shim's copy of ``mount.types.Mount``)."""

    # Plain classes, not dataclasses: importing ``dataclasses`` costs the shim ~10 ms of start-up.
    __slots__ = ("options", "source", "type")

    def __init__(self, type: str, source: str, options: tuple[str, ...] = ()) -> None:
        self.type = type
        self.source = source
        self.options = options

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RootfsMount) and (self.type, self.source, self.options) == (
            other.type,
            other.source,
            other.options,
        )

    def __hash__(self) -> int:
        return hash((self.type, self.source, self.options))

    def __repr__(self) -> str:
        return f"RootfsMount({self.type!r}, {self.source!r}, {self.options!r})"


class ShimConfig:
    """What the shim runs; treated as immutable once parsed."""

    __slots__ = (
        "bundle",
        "console_size",
        "container_id",
        "extra_env",
        "log_max_files",
        "log_max_size",
        "log_path",
        "log_remote",
        "open_stdin",
        "rootfs_mounts",
        "runtime",
        "runtime_args",
        "runtime_root",
        "state_dir",
        "stdin_once",
        "tty",
    )

    def __init__(
        self,
        container_id: str,
        bundle: str,
        state_dir: str,
        runtime: str = BUILTIN_RUNTIME,
        runtime_root: str = "/run/dockyard/runtime",
        rootfs_mounts: tuple[RootfsMount, ...] = (),
        tty: bool = False,
        open_stdin: bool = False,
        stdin_once: bool = False,
        log_path: str | None = None,
        log_max_size: int = 0,
        log_max_files: int = 1,
        console_size: tuple[int, int] | None = None,
        extra_env: tuple[tuple[str, str], ...] = (),
        runtime_args: tuple[str, ...] = (),
        log_remote: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.container_id = container_id
        self.bundle = bundle
        self.state_dir = state_dir
        self.runtime = runtime
        self.runtime_root = runtime_root
        self.rootfs_mounts = rootfs_mounts
        self.tty = tty
        self.open_stdin = open_stdin
        self.stdin_once = stdin_once
        self.log_path = log_path
        self.log_max_size = log_max_size
        self.log_max_files = log_max_files
        self.console_size = console_size
        self.extra_env = extra_env
        self.runtime_args = runtime_args  # global options before every command (runc's --systemd-cgroup)
        self.log_remote = dict(log_remote)  # a remote log driver's settings ("driver": syslog|gelf); {}: none

    @property
    def builtin_runtime(self) -> bool:
        return self.runtime == BUILTIN_RUNTIME


def _str(d: dict[str, object], key: str, default: str | None = None) -> str:
    v = d.get(key, default)
    if not isinstance(v, str):
        raise ValueError(f"spec field {key!r} must be a string")
    return v


def _bool(d: dict[str, object], key: str) -> bool:
    v = d.get(key, False)
    if not isinstance(v, bool):
        raise ValueError(f"spec field {key!r} must be a boolean")
    return v


def _int(d: dict[str, object], key: str, default: int) -> int:
    v = d.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool):
        raise ValueError(f"spec field {key!r} must be an integer")
    return v


def parse_config(d: dict[str, object]) -> ShimConfig:
    """Validate the JSON form of a task spec (``ValueError`` when malformed)."""
    mounts: list[RootfsMount] = []
    raw_mounts = d.get("rootfs_mounts", [])
    if not isinstance(raw_mounts, list):
        raise ValueError("spec field 'rootfs_mounts' must be a list")
    for m in raw_mounts:
        if not isinstance(m, dict):
            raise ValueError("rootfs mount must be an object")
        opts = m.get("options", [])
        if not isinstance(opts, list) or not all(isinstance(o, str) for o in opts):
            raise ValueError("rootfs mount options must be strings")
        mounts.append(RootfsMount(_str(m, "type"), _str(m, "source"), tuple(opts)))
    size = d.get("console_size")
    console_size: tuple[int, int] | None = None
    if size is not None:
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(x, int) for x in size)):
            raise ValueError("spec field 'console_size' must be [height, width]")
        console_size = (size[0], size[1])
    env = d.get("extra_env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ValueError("spec field 'extra_env' must map strings to strings")
    runtime_args = d.get("runtime_args", [])
    if not isinstance(runtime_args, list) or not all(isinstance(a, str) for a in runtime_args):
        raise ValueError("spec field 'runtime_args' must be a list of strings")
    log_path = d.get("log_path")
    if log_path is not None and not isinstance(log_path, str):
        raise ValueError("spec field 'log_path' must be a string or null")
    remote = d.get("log_remote") or {}
    if not isinstance(remote, dict) or not all(isinstance(v, str) for v in remote.values()):
        raise ValueError("spec field 'log_remote' must map strings to strings")
    return ShimConfig(
        container_id=_str(d, "container_id"),
        bundle=_str(d, "bundle"),
        state_dir=_str(d, "state_dir"),
        runtime=_str(d, "runtime", BUILTIN_RUNTIME),
        runtime_root=_str(d, "runtime_root", "/run/dockyard/runtime"),
        rootfs_mounts=tuple(mounts),
        tty=_bool(d, "tty"),
        open_stdin=_bool(d, "open_stdin"),
        stdin_once=_bool(d, "stdin_once"),
        log_path=log_path,
        log_max_size=_int(d, "log_max_size", 0),
        log_max_files=max(1, _int(d, "log_max_files", 1)),
        console_size=console_size,
        extra_env=tuple(sorted((str(k), str(v)) for k, v in env.items())),
        runtime_args=tuple(runtime_args),
        log_remote=tuple(sorted((str(k), str(v)) for k, v in remote.items())),
    )


def load_config(path: str) -> ShimConfig:
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    if not isinstance(d, dict):
        raise ValueError(f"{path}: not a JSON object")
    return parse_config(d)
