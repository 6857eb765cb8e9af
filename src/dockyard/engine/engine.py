"""The engine facade the API adapters talk to: services plus system views."""

from __future__ import annotations

import os
import platform
import socket
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from dockyard import API_VERSION, MIN_API_VERSION, __version__, errors
from dockyard.containers.store import ContainerRecord
from dockyard.engine.containers import ContainerService
from dockyard.engine.events import EventBus
from dockyard.engine.timefmt import now_rfc3339

if TYPE_CHECKING:
    from dockyard.engine.build import Builder
    from dockyard.engine.commit import CommitService
    from dockyard.engine.container_fs import ContainerFS
    from dockyard.engine.container_ops import ContainerOps
    from dockyard.engine.distribution import DistributionService
    from dockyard.engine.exec import ExecService
    from dockyard.engine.networks import NetworkService
    from dockyard.engine.prune import ContainerPruner
    from dockyard.engine.volumes import VolumeService

__all__ = ["Engine"]


class Engine:
    """The use cases the API serves. Services of the later issues are attached by
    ``daemon/wiring.py`` after construction (they need the container service)."""

    volumes: VolumeService
    networks: NetworkService
    distribution: DistributionService
    container_fs: ContainerFS
    commits: CommitService
    container_prune: ContainerPruner
    execs: ExecService
    ops: ContainerOps

    def __init__(
        self,
        *,
        containers: ContainerService,
        images: Any,
        events: EventBus,
        snapshots: Any,
        data_root: str,
        default_runtime: str,
        runtimes: Mapping[str, str],
        storage_driver: str,
        log_driver: str = "json-file",
        cgroup_version: str = "1",
        cgroup_driver: str = "cgroupfs",
    ) -> None:
        self.containers = containers
        self.images = images
        self.events = events
        self.snapshots = snapshots
        self._data_root = data_root
        self._default_runtime = default_runtime
        self._runtimes = dict(runtimes)
        self._storage_driver = storage_driver
        self._log_driver = log_driver
        self._cgroup_version = cgroup_version
        self._cgroup_driver = cgroup_driver
        self._id = _daemon_id(data_root)
        self.security_options: list[str] = []  # /info's, set by wiring with the isolation facts
        self.init_path = ""
        # Set by wiring: the builder is made on first use, so an idle daemon never loads its modules.
        self.builder_factory: Callable[[], Builder] | None = None
        self._builder: Builder | None = None

    @property
    def builder(self) -> Builder:
        if self._builder is None:
            if self.builder_factory is None:
                raise errors.NotImplementedYet("this daemon has no builder")
            self._builder = self.builder_factory()
        return self._builder

    # --- system ------------------------------------------------------------------

    def version(self) -> dict[str, Any]:
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        details = {
            "ApiVersion": API_VERSION,
            "Arch": arch,
            "BuildTime": "",
            "Experimental": "false",
            "GitCommit": "",
            "GoVersion": f"python{platform.python_version()}",
            "KernelVersion": platform.release(),
            "MinAPIVersion": MIN_API_VERSION,
            "Os": "linux",
        }
        return {
            "Platform": {"Name": "dockyard"},
            "Components": [{"Name": "Engine", "Version": __version__, "Details": details}],
            "Version": __version__,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": details["GoVersion"],
            "Os": "linux",
            "Arch": arch,
            "KernelVersion": platform.release(),
            "BuildTime": "",
        }

    async def info(self) -> dict[str, Any]:
        recs = self.containers.all()
        running = sum(1 for r in recs if r.state.status == "running")
        paused = sum(1 for r in recs if r.state.status == "paused")
        try:
            n_images = len(await _maybe(self.images.list({}, False, False)))
        except Exception:
            n_images = 0
        mem = _meminfo_total()
        runtimes = {"dockyard-runtime": {"path": "dockyard-runtime"}}
        runtimes.update({k: {"path": v} for k, v in self._runtimes.items()})
        return {
            "ID": self._id,
            "Containers": len(recs),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": len(recs) - running - paused,
            "Images": n_images,
            "Driver": self._storage_driver,
            "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
            "Plugins": {
                "Volume": ["local"],
                "Network": ["bridge", "host", "none"],
                "Authorization": None,
                "Log": ["json-file", "local", "none"],
            },
            "MemoryLimit": True,
            "SwapLimit": True,
            "KernelMemoryTCP": True,
            "CpuCfsPeriod": True,
            "CpuCfsQuota": True,
            "CPUShares": True,
            "CPUSet": True,
            "PidsLimit": True,
            "IPv4Forwarding": True,
            "BridgeNfIptables": False,
            "BridgeNfIp6tables": False,
            "Debug": False,
            "NFd": len(os.listdir("/proc/self/fd")),
            "OomKillDisable": True,
            "NGoroutines": 0,
            "SystemTime": now_rfc3339(),
            "LoggingDriver": self._log_driver,
            "CgroupDriver": self._cgroup_driver,
            "CgroupVersion": self._cgroup_version,
            "NEventsListener": 0,
            "KernelVersion": platform.release(),
            "OperatingSystem": _os_name(),
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": platform.machine(),
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {
                "AllowNondistributableArtifactsCIDRs": None,
                "AllowNondistributableArtifactsHostnames": None,
                "InsecureRegistryCIDRs": ["127.0.0.0/8"],
                "IndexConfigs": {},
                "Mirrors": [],
            },
            "NCPU": os.cpu_count() or 1,
            "MemTotal": mem,
            "GenericResources": None,
            "DockerRootDir": self._data_root,
            "HttpProxy": os.environ.get("HTTP_PROXY", ""),
            "HttpsProxy": os.environ.get("HTTPS_PROXY", ""),
            "NoProxy": os.environ.get("NO_PROXY", ""),
            "Name": socket.gethostname(),
            "Labels": [],
            "ExperimentalBuild": False,
            "ServerVersion": __version__,
            "Runtimes": runtimes,
            "DefaultRuntime": self._default_runtime,
            "Swarm": {
                "NodeID": "",
                "NodeAddr": "",
                "LocalNodeState": "inactive",
                "ControlAvailable": False,
                "Error": "",
                "RemoteManagers": None,
            },
            "LiveRestoreEnabled": True,
            "Isolation": "",
            "InitBinary": os.path.basename(self.init_path),
            "ContainerdCommit": {"ID": ""},
            "RuncCommit": {"ID": ""},
            "InitCommit": {"ID": ""},
            "SecurityOptions": list(self.security_options),
            "Warnings": None,
        }

    # --- views the container routes need --------------------------------------------

    def graph_driver_data(self, rec: ContainerRecord) -> dict[str, Any]:
        merged = os.path.join(rec.bundle, "rootfs")
        data: dict[str, Any] = {"MergedDir": merged}
        try:
            for m in self.snapshots.mounts(rec.id):
                for opt in m.options:
                    k, _, v = opt.partition("=")
                    if k == "lowerdir":
                        data["LowerDir"] = v
                    elif k == "upperdir":
                        data["UpperDir"] = v
                    elif k == "workdir":
                        data["WorkDir"] = v
        except (errors.DockyardError, OSError):
            pass
        return {"Data": data, "Name": "overlay2" if self._storage_driver == "overlay" else self._storage_driver}

    def network_settings(self, rec: ContainerRecord) -> dict[str, Any]:
        return self.containers.networks.settings(rec)

    def container_size(self, rec: ContainerRecord) -> tuple[int, int]:
        rw = 0
        try:
            rw = int(self.snapshots.usage(rec.id))
        except (errors.DockyardError, OSError, AttributeError):
            pass
        root = rw
        try:
            img = self.images.resolve(rec.image_id)
            root += int(getattr(img, "size", 0) or 0)
        except errors.DockyardError:
            pass
        return rw, root

    def image_matches(self, rec: ContainerRecord, ref: str) -> bool:
        """``ancestor=`` filter: the image by name, ID or a parent of it."""
        if rec.image == ref or rec.image_id == ref or rec.image_id.removeprefix("sha256:").startswith(ref):
            return True
        try:
            img = self.images.resolve(ref)
        except errors.DockyardError:
            return False
        return bool(img.id == rec.image_id)


async def _maybe(x: Any) -> Any:
    import asyncio

    if asyncio.iscoroutine(x):
        return await x
    return x


def _meminfo_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _daemon_id(data_root: str) -> str:
    path = os.path.join(data_root, "engine-id")
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        pass
    ident = str(uuid.uuid4())
    try:
        os.makedirs(data_root, exist_ok=True)
        with open(path + ".tmp", "w") as f:
            f.write(ident)
        os.replace(path + ".tmp", path)
    except OSError:
        pass
    return ident
