"""The one place where concrete implementations are chosen and connected."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from dockyard.api.app import build_app
from dockyard.containers.store import ContainerStore
from dockyard.daemon.config import DaemonConfig
from dockyard.engine.containers import ContainerService
from dockyard.engine.engine import Engine
from dockyard.engine.events import EventBus
from dockyard.engine.isolation import SharedShmMounter
from dockyard.engine.userns_remap import check_searchable, remap_for, remapped_root
from dockyard.mount.types import Mount

__all__ = ["Daemon", "KernelMounter", "build_daemon", "choose_storage_driver"]

log = logging.getLogger("dockyard.daemon")


class KernelMounter:
    """Mounts a container's rootfs with the real mount(2)."""

    def mount(self, mounts: Sequence[Mount], target: str) -> None:
        from dockyard.mount.linux import mount_all

        mount_all(mounts, target)

    def unmount(self, target: str) -> None:
        from dockyard.mount.linux import unmount_all

        unmount_all(target)

    def is_mounted(self, target: str) -> bool:
        return os.path.ismount(target)


def overlay_supported() -> bool:
    try:
        with open("/proc/filesystems") as f:
            return any(line.split()[-1] == "overlay" for line in f if line.strip())
    except OSError:
        return False


def choose_storage_driver(requested: str) -> str:
    if requested in ("overlay", "copy"):
        return requested
    return "overlay" if overlay_supported() else "copy"


def cgroup_version() -> str:
    return "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1"


@dataclass
class Daemon:
    app: web.Application
    engine: Engine
    tasks: Any

    async def shutdown(self) -> None:
        await self.engine.containers.shutdown()
        networks = getattr(self.engine, "networks", None)
        if networks is not None:
            await networks.shutdown()
        distribution = getattr(self.engine, "distribution", None)
        if distribution is not None:
            await distribution.close()
        await self.tasks.close()


def _runtime_paths(cfg: DaemonConfig) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, rt in cfg.runtimes.items():
        out[name] = str(rt.get("path"))
    for name in ("runc", "crun"):
        if name not in out:
            path = shutil.which(name)
            if path:
                out[name] = path
    return out


def _build_networks(cfg: DaemonConfig, events: EventBus) -> Any:
    from dockyard.engine.networks import DEFAULT_POOLS, NetworkOptions, NetworkService
    from dockyard.network import LinuxPlumber, NetworkStore
    from dockyard.network.ipam import parse_pools
    from dockyard.network.iptables import ChainLayout, chain_prefix
    from dockyard.network.plumbing import choose_firewall

    firewall = choose_firewall(cfg.firewall_backend)

    opts = NetworkOptions(
        exec_root=cfg.exec_root,
        bridge=cfg.bridge,
        bip=cfg.bip,
        pools=parse_pools(cfg.default_address_pools) or DEFAULT_POOLS,
        ip_masq=cfg.ip_masq,
        mtu=cfg.mtu,
        firewall=firewall,
    )
    plumber = LinuxPlumber(firewall=firewall)
    plumber.remove_other_backend_rules(opts.nft_table, ChainLayout(chain_prefix(cfg.bridge)))
    service = NetworkService(NetworkStore(os.path.join(cfg.data_root, "network.db")), plumber, opts)
    service.events = lambda action, nid, attrs: events.publish("network", action, nid, dict(attrs))
    return service


async def build_daemon(cfg: DaemonConfig) -> Daemon:
    from dockyard.api.routes import containers as container_routes
    from dockyard.api.routes import images as image_routes
    from dockyard.api.routes import system as system_routes
    from dockyard.images.service import ImageService
    from dockyard.snapshots.overlay import CopySnapshotter, OverlaySnapshotter
    from dockyard.tasks.shim_client import ShimTaskManager

    os.makedirs(cfg.data_root, mode=0o711, exist_ok=True)
    os.makedirs(os.path.join(cfg.exec_root, "containers"), mode=0o711, exist_ok=True)
    # isolation: with userns-remap, all state lives in <data-root>/<uid>.<gid>, owners shifted (as in Docker)
    remap = remap_for(cfg.userns_remap) if cfg.userns_remap else None
    if remap is not None:
        check_searchable(cfg.exec_root)  # bundles: the rootfs mount point, hosts files
        cfg = dataclasses.replace(cfg, data_root=remapped_root(cfg.data_root, remap))
    driver = choose_storage_driver(cfg.storage_driver)
    snap_root = os.path.join(cfg.data_root, "snapshots", driver)
    snapshots: Any = OverlaySnapshotter(snap_root, remap) if driver == "overlay" else CopySnapshotter(snap_root, remap)
    events = EventBus()
    images = ImageService(root=cfg.data_root, snapshotter=snapshots, events=events)
    store = ContainerStore(os.path.join(cfg.data_root, "containers.db"))
    tasks = ShimTaskManager(keep_spare=True)
    runtimes = _runtime_paths(cfg)
    containers = ContainerService(
        store=store,
        images=images,
        snapshots=snapshots,
        mounter=SharedShmMounter(KernelMounter()),  # isolation: a shareable container's /dev/shm
        tasks=tasks,
        events=events,
        data_root=cfg.data_root,
        exec_root=cfg.exec_root,
        default_runtime=cfg.default_runtime,
        runtimes=runtimes,
        log_opts=dict(cfg.log_opts),
        cgroup_parent=cfg.container_cgroup_parent,
        cgroup_driver=cfg.cgroup_driver,  # exec-opts native.cgroupdriver (main.py checked systemd runs)
        log_driver=cfg.log_driver,
    )
    images.set_usage_check(lambda image_id: [(r.id, r.state.running) for r in containers.image_users(image_id)])
    engine = Engine(
        containers=containers,
        images=images,
        events=events,
        snapshots=snapshots,
        data_root=cfg.data_root,
        default_runtime=cfg.default_runtime,
        runtimes=runtimes,
        storage_driver=driver,
        log_driver=cfg.log_driver,
        cgroup_version=cgroup_version(),
        cgroup_driver=cfg.cgroup_driver,
    )
    # --- services of later issues attach to `engine` here, each in its own block ---
    # isolation: host capabilities/arch/kernel, seccomp default, devices, --init binary
    from dockyard.engine.isolation import Isolation, load_daemon_seccomp, probe_host, security_options

    containers.isolation = Isolation(
        probe_host(cfg.init_path),
        containers.get,
        load_daemon_seccomp(cfg.seccomp_profile),
        (remap.uid_mappings, remap.gid_mappings) if remap is not None else None,
    )
    containers.remap = remap
    engine.security_options = security_options(
        containers.isolation.host, cfg.seccomp_profile, remap is not None, cgroup_version()
    )
    engine.init_path = containers.isolation.host.init_path
    # volumes: the local driver, the volume use cases, and the container hooks
    from dockyard.engine.volumes import VolumeService
    from dockyard.volumes import KernelVolumeMounter, LocalDriver, VolumeStore

    volume_store = VolumeStore(os.path.join(cfg.data_root, "volumes.db"))
    local_volumes = LocalDriver(
        os.path.join(cfg.data_root, "volumes"),
        volume_store,
        KernelVolumeMounter(),
        owner=remap.root if remap is not None else None,
    )
    local_volumes.sweep()
    volume_service = VolumeService(
        store=volume_store, drivers={"local": local_volumes}, events=events, lookup_container=containers.get
    )
    volume_service.reconcile(r.id for r in containers.all())
    containers.volumes = volume_service
    engine.volumes = volume_service  # type: ignore[attr-defined]
    # networks: bridges, IPAM, NAT, embedded DNS; the container hooks
    network_service = _build_networks(cfg, events)
    network_service.bind_containers(containers)
    await network_service.setup()
    containers.networks = network_service
    engine.networks = network_service  # type: ignore[attr-defined]
    # (networks: engine.networks / containers' network hooks; volumes: engine.volumes /
    #  volume hooks; distribution: engine.distribution; build: engine.builder)

    # build: the classic builder with its persistent cache, made by the first request that needs it
    def make_builder() -> Any:
        from dockyard.engine.build import Builder

        return Builder(engine, cfg.data_root)

    engine.builder_factory = make_builder

    # distribution: registry client, pull/push/login, leases for image GC
    from dockyard.distribution import RegistryClient, RegistryHosts
    from dockyard.engine.distribution import DistributionService

    engine.distribution = DistributionService(  # type: ignore[attr-defined]
        images,
        RegistryClient(RegistryHosts(cfg.registry_mirrors, cfg.insecure_registries)),
        events=events,
        state_dir=os.path.join(cfg.data_root, "distribution"),
        max_concurrent_downloads=cfg.max_concurrent_downloads,
        max_concurrent_uploads=cfg.max_concurrent_uploads,
    )

    # container filesystem: cp/export/changes, commit, container prune
    from dockyard.engine.commit import CommitService
    from dockyard.engine.container_fs import ContainerFS
    from dockyard.engine.prune import ContainerPruner

    engine.container_fs = ContainerFS(  # type: ignore[attr-defined]
        containers, snapshots, os.path.join(cfg.exec_root, "fsviews"), os.path.join(cfg.data_root, "cp-uploads")
    )
    engine.commits = CommitService(  # type: ignore[attr-defined]
        containers, images, snapshots, pauser=lambda: getattr(engine, "ops", None)
    )
    engine.container_prune = ContainerPruner(  # type: ignore[attr-defined]
        containers, events, lambda rec: engine.container_size(rec)[0]
    )

    # exec, top/stats, pause/unpause, rename, update
    from dockyard.daemon.cgroup_driver import SystemdUnitLimits
    from dockyard.engine.container_ops import ContainerOps, KernelCgroupOpener, KernelHost, SubprocessPs
    from dockyard.engine.exec import ExecService

    ops = ContainerOps(
        containers,
        cgroups=KernelCgroupOpener(cfg.container_cgroup_parent),
        host=KernelHost(),
        ps=SubprocessPs(),
        on_rename=network_service.on_rename,
        on_update=SystemdUnitLimits(cgroup_version() == "2") if cfg.cgroup_driver == "systemd" else None,
    )
    execs = ExecService(containers)
    execs.forget_previous()
    engine.execs = execs  # type: ignore[attr-defined]
    engine.ops = ops  # type: ignore[attr-defined]
    containers.thaw_hook = ops.thaw_for_signal

    from dockyard.api.routes import build as build_routes
    from dockyard.api.routes import container_fs as container_fs_routes
    from dockyard.api.routes import container_ops as container_ops_routes
    from dockyard.api.routes import distribution as distribution_routes
    from dockyard.api.routes import exec as exec_routes
    from dockyard.api.routes import networks as network_routes
    from dockyard.api.routes import prune as prune_routes
    from dockyard.api.routes import volumes as volume_routes

    await containers.restore()
    await network_service.reconcile()
    app = build_app(
        [
            system_routes.routes(engine),
            container_routes.routes(engine),
            image_routes.routes(engine),
            exec_routes.routes(engine),
            container_ops_routes.routes(engine),
            container_fs_routes.routes(engine),
            prune_routes.routes(engine),
            network_routes.routes(engine),
            volume_routes.routes(engine),
            distribution_routes.routes(engine),
            build_routes.routes(engine),
        ]
    )
    return Daemon(app=app, engine=engine, tasks=tasks)
