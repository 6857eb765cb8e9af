"""Run a real dockyardd in a scratch directory (for integration and compat tests)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

__all__ = [
    "DaemonProcess",
    "UnixHTTPConnection",
    "cleanup_mounts_under",
    "cleanup_networks",
    "kill_shims_under",
    "remove_cgroup_tree",
]


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


def cleanup_mounts_under(root: str) -> None:
    """Lazily unmount everything mounted below ``root`` (deepest first)."""
    root = os.path.realpath(root)
    for _ in range(3):
        targets = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4].replace("\\040", " ")
                if mp == root or mp.startswith(root + "/"):
                    targets.append(mp)
        if not targets:
            return
        for mp in sorted(targets, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL, check=False)


def kill_shims_under(root: str) -> None:
    """SIGKILL processes whose command line mentions ``root`` (shims, containers)."""
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if root.encode() in cmd:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


def cleanup_networks(data_root: str, root: str) -> None:
    """Delete the bridges and the nft table a test daemon made (it leaves them for live restore)."""
    bridges: list[str] = []
    defaults: list[str] = []
    with contextlib.suppress(Exception):
        from dockyard.network.ipam import NetworkStore

        store = NetworkStore(os.path.join(data_root, "network.db"))
        try:
            bridges = [n.bridge for n in store.all() if n.driver == "bridge" and n.bridge]
            defaults = [n.bridge for n in store.all() if n.name == "bridge" and n.bridge]
        finally:
            store.close()
    default = ""
    with contextlib.suppress(Exception), open(os.path.join(root, "daemon.json")) as f:
        default = str(json.load(f).get("bridge") or "")
    for name in {default, *bridges} - {"", "dockyard0"}:
        subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)
    for name in {default, *defaults} - {"", "dockyard0"}:
        subprocess.run(["nft", "delete", "table", "ip", f"dockyard_{name}"], capture_output=True, check=False)
        with contextlib.suppress(Exception):
            from dockyard.network.iptables import ChainLayout, IptablesFirewall, chain_prefix

            firewall = IptablesFirewall()
            if firewall.available:
                firewall.remove(ChainLayout(chain_prefix(name)))


def kill_shims_by_pidfile(exec_root: str) -> None:
    """SIGKILL the shims of a daemon's containers (a spare-started shim's command line
    doesn't name its directory, so ``kill_shims_under`` can miss it)."""
    base = os.path.join(exec_root, "containers")
    with contextlib.suppress(OSError):
        for cid in os.listdir(base):
            with contextlib.suppress(OSError, ValueError), open(os.path.join(base, cid, "shim", "shim.pid")) as f:
                os.kill(int(f.read().strip()), signal.SIGKILL)


def cleanup_cgroups(parent: str) -> None:
    """Kill what is left in the cgroups under ``parent`` (every hierarchy) and remove them."""
    parent = parent.strip("/")
    if not parent or parent == "dockyard":
        return  # never the shared default parent
    roots = []
    with contextlib.suppress(OSError):
        for entry in os.listdir("/sys/fs/cgroup"):
            path = os.path.join("/sys/fs/cgroup", entry, parent)
            if os.path.isdir(path):
                roots.append(path)
    if os.path.isdir(os.path.join("/sys/fs/cgroup", parent)):
        roots.append(os.path.join("/sys/fs/cgroup", parent))
    for root in roots:
        dirs = [d for d, _, _ in os.walk(root)]
        for d in dirs:
            with contextlib.suppress(OSError), open(os.path.join(d, "cgroup.procs")) as f:
                for pid in f.read().split():
                    with contextlib.suppress(ProcessLookupError, ValueError):
                        os.kill(int(pid), signal.SIGKILL)
        remove_cgroup_tree(root, tries=50)


def remove_cgroup_tree(path: str, tries: int = 250) -> None:
    """rmdir a cgroup and every cgroup below it, deepest first, waiting a little for exiting processes."""
    if not os.path.isdir(path):
        return
    for d in sorted((d for d, _, _ in os.walk(path)), key=len, reverse=True):
        for _ in range(tries):
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)  # processes still exiting


class DaemonProcess:
    """A dockyardd on its own socket, data root and exec root under one temp dir."""

    def __init__(
        self, root: str | None = None, extra_args: tuple[str, ...] = (), config: dict[str, Any] | None = None
    ) -> None:
        self.root = root or tempfile.mkdtemp(prefix="dockyard-test-")
        self.data_root = os.path.join(self.root, "data")
        self.exec_root = os.path.join(self.root, "exec")
        self.socket = os.path.join(self.root, "dockyard.sock")
        self.log_path = os.path.join(self.root, "dockyardd.log")
        self.extra_args = extra_args
        self.config = dict(config or {})  # extra daemon.json keys, over the generated ones
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host, "DOCKYARD_HOST": self.host}

    def _network_config_args(self) -> list[str]:
        """Daemons side by side (tests) each get their own default bridge, subnet and nft table."""
        if "--config-file" in self.extra_args:
            return []
        path = os.path.join(self.root, "daemon.json")
        if not os.path.exists(path):
            import ipaddress
            import random
            import secrets

            from dockyard.network.hostroutes import host_route_subnets

            used = [ipaddress.ip_network(r) for r in host_route_subnets()]
            third = random.randrange(256)
            for _ in range(256):
                if not any(ipaddress.ip_network(f"10.213.{third}.0/24").overlaps(u) for u in used):
                    break
                third = (third + 1) % 256
            token = secrets.token_hex(3)
            cfg = {
                # its own cgroup parent, so destroy() can remove whatever a killed test left
                "cgroup-parent": f"/dockyard-test-{token}",
                "bridge": f"dy{token}0",
                "bip": f"10.213.{third}.1/24",
                "default-address-pools": [{"base": "10.214.0.0/15", "size": 24}],
                **self.config,
            }
            os.makedirs(self.root, exist_ok=True)
            with open(path, "w") as f:
                json.dump(cfg, f)
        return ["--config-file", path]

    def start(self, timeout: float = 20, env: dict[str, str] | None = None) -> None:
        """Start dockyardd; ``env`` adds variables (e.g. a failpoint) for this run only."""
        cmd = [
            sys.executable,
            "-m",
            "dockyard.daemon.main",
            "-H",
            self.host,
            "--data-root",
            self.data_root,
            "--exec-root",
            self.exec_root,
            *self._network_config_args(),
            *self.extra_args,
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})}
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockyardd exited with {self.proc.returncode}: {self.read_log()[-2000:]}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if self.request("GET", "/_ping")[0] == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"dockyardd did not answer within {timeout}s: {self.read_log()[-2000:]}")

    def read_log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def request(self, method: str, path: str, body: Any = None, timeout: float = 60) -> tuple[int, Any]:
        conn = UnixHTTPConnection(self.socket, timeout=timeout)
        try:
            data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            try:
                return resp.status, json.loads(raw) if raw else None
            except ValueError:
                return resp.status, raw
        finally:
            conn.close()

    def wait_exit(self, timeout: float = 20) -> int | None:
        """Wait for the daemon process to end by itself (e.g. at a failpoint)."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def remove_all_containers(self) -> None:
        with contextlib.suppress(Exception):
            status, items = self.request("GET", "/containers/json?all=1")
            if status == 200:
                for c in items:
                    self.request("DELETE", f"/containers/{c['Id']}?force=1&v=1")

    def _cgroup_parent(self) -> str:
        with contextlib.suppress(OSError, ValueError), open(os.path.join(self.root, "daemon.json")) as f:
            return str(json.load(f).get("cgroup-parent") or "")
        return ""

    def destroy(self) -> None:
        """Remove containers, stop the daemon, kill stragglers, unmount, delete the dir."""
        if self.proc is not None and self.proc.poll() is None:
            self.remove_all_containers()
        self.stop()
        kill_shims_under(self.root)
        kill_shims_by_pidfile(self.exec_root)
        cleanup_cgroups(self._cgroup_parent())
        cleanup_mounts_under(self.root)
        cleanup_networks(self.data_root, self.root)
        shutil.rmtree(self.root, ignore_errors=True)
