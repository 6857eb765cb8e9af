"""``dockyardd``: the daemon process — flags, locking, serving the Engine API."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import signal
import sys
from typing import Any

from dockyard import __version__, errors
from dockyard.containers.cgroup_parent import validate_cgroup_parent
from dockyard.daemon.cgroup_driver import check_cgroup_driver
from dockyard.daemon.config import DEFAULT_HOST, DaemonConfig, load_config_file

__all__ = ["build_config", "main", "parse_args"]

log = logging.getLogger("dockyard.daemon")

DEFAULT_CONFIG_FILE = "/etc/dockyard/daemon.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dockyardd", description="dockyard daemon: serves the Docker Engine API")
    p.add_argument(
        "-H",
        "--host",
        action="append",
        dest="hosts",
        metavar="HOST",
        help=f"socket to listen on: unix:///path or tcp://127.0.0.1:PORT (default {DEFAULT_HOST})",
    )
    p.add_argument("--data-root", help="root of persistent state (default /var/lib/dockyard)")
    p.add_argument("--exec-root", help="root of runtime state (default /run/dockyard)")
    p.add_argument("-p", "--pidfile", help="pid file (default <exec-root>/dockyardd.pid)")
    p.add_argument("--config-file", help=f"daemon.json (default {DEFAULT_CONFIG_FILE} when it exists)")
    p.add_argument("-l", "--log-level", choices=["debug", "info", "warn", "error", "fatal"])
    p.add_argument("-D", "--debug", action="store_true", help="debug logging")
    p.add_argument("--default-runtime", help="OCI runtime for containers (default dockyard-runtime)")
    p.add_argument("--add-runtime", action="append", default=[], metavar="NAME=PATH", help="register an OCI runtime")
    p.add_argument(
        "--storage-driver",
        choices=["overlay", "overlay2", "copy"],
        help="snapshotter (default: overlay when available)",
    )
    # registries (dockerd's flags; daemon.json: registry-mirrors, insecure-registries, max-concurrent-*)
    p.add_argument("--registry-mirror", action="append", default=[], metavar="URL", help="registry mirror")
    p.add_argument("--insecure-registry", action="append", default=[], metavar="HOST", help="allow plain HTTP")
    p.add_argument("--max-concurrent-downloads", type=int, help="layer downloads per pull (default 3)")
    p.add_argument("--max-concurrent-uploads", type=int, help="layer uploads per push (default 5)")
    # cgroups (dockerd's flags; daemon.json: exec-opts, cgroup-parent)
    p.add_argument(
        "--exec-opt", action="append", default=[], metavar="OPT", help="runtime option: native.cgroupdriver=systemd"
    )
    p.add_argument("--cgroup-parent", help="parent cgroup of containers (a slice with the systemd driver)")
    p.add_argument("-v", "--version", action="version", version=f"dockyardd {__version__}")
    return p.parse_args(argv)


def build_config(ns: argparse.Namespace) -> DaemonConfig:
    cfg = DaemonConfig()
    path = ns.config_file or (DEFAULT_CONFIG_FILE if os.path.exists(DEFAULT_CONFIG_FILE) else None)
    if path:
        cfg = load_config_file(path, cfg)
    runtimes = dict(cfg.runtimes)
    for item in ns.add_runtime:
        name, eq, rpath = item.partition("=")
        if not eq or not name or not rpath:
            raise errors.InvalidArgument(f"--add-runtime needs NAME=PATH, got {item!r}")
        runtimes[name] = {"path": rpath}
    storage = ns.storage_driver
    if storage == "overlay2":
        storage = "overlay"
    merged = cfg.merged(
        {
            "hosts": tuple(ns.hosts) if ns.hosts else None,
            "data_root": ns.data_root,
            "exec_root": ns.exec_root,
            "pidfile": ns.pidfile,
            "log_level": "debug" if ns.debug else ns.log_level,
            "default_runtime": ns.default_runtime,
            "runtimes": runtimes,
            "storage_driver": storage,
            "registry_mirrors": (*cfg.registry_mirrors, *ns.registry_mirror) if ns.registry_mirror else None,
            "insecure_registries": (
                (*cfg.insecure_registries, *ns.insecure_registry) if ns.insecure_registry else None
            ),
            "max_concurrent_downloads": ns.max_concurrent_downloads,
            "max_concurrent_uploads": ns.max_concurrent_uploads,
            "exec_opts": (*cfg.exec_opts, *ns.exec_opt) if ns.exec_opt else None,
            "cgroup_parent": ns.cgroup_parent,
        }
    )
    validate_cgroup_parent(merged.cgroup_driver, merged.cgroup_parent)  # also checks exec-opts
    return merged


class _Lock:
    """One daemon per data root: an flock held for the process's life."""

    def __init__(self, data_root: str) -> None:
        os.makedirs(data_root, mode=0o711, exist_ok=True)
        self.path = os.path.join(data_root, "dockyardd.lock")
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            other = os.pread(self._fd, 32, 0).decode(errors="replace").strip()
            os.close(self._fd)
            raise errors.Conflict(
                f"dockyardd is already running on data root {data_root}" + (f" (pid {other})" if other else "")
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, str(os.getpid()).encode(), 0)


def _write_pidfile(path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.replace(tmp, path)


async def _serve(cfg: DaemonConfig) -> None:
    from aiohttp import web

    from dockyard.daemon.wiring import build_daemon

    daemon = await build_daemon(cfg)
    runner = web.AppRunner(daemon.app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    sites: list[Any] = []
    for host in cfg.hosts:
        if host.startswith("unix://"):
            path = host[len("unix://") :]
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # stale: we hold the data-root lock
            site: Any = web.UnixSite(runner, path)
            await site.start()
            os.chmod(path, 0o660)
        elif host.startswith("tcp://"):
            hp = host[len("tcp://") :]
            h, _, port = hp.rpartition(":")
            site = web.TCPSite(runner, h or "127.0.0.1", int(port or 2375))
            await site.start()
        else:
            raise errors.InvalidArgument(f"unsupported host {host!r}: use unix:// or tcp://")
        sites.append(site)
        log.info("API listening on %s", host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: None)
    await stop.wait()
    log.info("shutting down; containers keep running (live restore)")
    await daemon.shutdown()
    await runner.cleanup()
    for host in cfg.hosts:
        if host.startswith("unix://"):
            with contextlib.suppress(OSError):
                os.unlink(host[len("unix://") :])


def main(argv: list[str] | None = None) -> int:
    ns = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        cfg = build_config(ns)
    except errors.DockyardError as e:
        print(f"dockyardd: {e.message}", file=sys.stderr)
        return 1
    level = {"warn": "WARNING", "fatal": "CRITICAL"}.get(cfg.log_level, cfg.log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if os.geteuid() != 0:
        print("dockyardd: must run as root (namespaces, mounts and cgroups need it)", file=sys.stderr)
        return 1
    try:
        lock = _Lock(cfg.data_root)
    except errors.DockyardError as e:
        print(f"dockyardd: {e.message}", file=sys.stderr)
        return 1
    try:
        check_cgroup_driver(cfg.cgroup_driver, os.environ)
    except errors.DockyardError as e:
        print(f"dockyardd: {e.message}", file=sys.stderr)
        return 1
    os.makedirs(cfg.exec_root, mode=0o711, exist_ok=True)
    _write_pidfile(cfg.pidfile_path)
    try:
        asyncio.run(_serve(cfg))
    except errors.DockyardError as e:
        print(f"dockyardd: {e.message}", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(OSError):
            os.unlink(cfg.pidfile_path)
        del lock
    return 0


if __name__ == "__main__":
    sys.exit(main())
