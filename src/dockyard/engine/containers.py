"""Container use cases: create, start, stop, kill, wait, remove, attach, logs.

The service combines the image store, the snapshotter, the pure spec
generator and the task manager (shims). Every state change is written to the
container store before it is acted on or right after it is observed, so a
restarted daemon can reconcile with what the shims report.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal as _signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from dockyard import errors
from dockyard.containers import logdrivers
from dockyard.containers.cgroup_parent import validate_cgroup_parent
from dockyard.containers.store import ContainerRecord, ContainerState, ContainerStore
from dockyard.engine import containerspec
from dockyard.engine.events import EventBus
from dockyard.engine.failpoints import failpoint
from dockyard.engine.health import HealthMonitor, health_config, health_suffix
from dockyard.engine.hooks import NetworkHooks, NoNetworks, NoVolumes, VolumeHooks
from dockyard.engine.isolation import Isolation
from dockyard.engine.restart import should_restart, should_restart_at_boot
from dockyard.engine.timefmt import ZERO_TIME, human_duration, now_rfc3339, parse_rfc3339
from dockyard.engine.userns_remap import prime_netns
from dockyard.idmaps import IdMaps
from dockyard.mount.types import Mount
from dockyard.tasks.api import STDERR, STDOUT, AttachStream, ExitStatus, Task, TaskManager, TaskSpec

__all__ = ["AttachOptions", "ClientConn", "ContainerService", "ImageSource", "RootfsMounter", "Snapshots"]

log = logging.getLogger("dockyard.engine.containers")


class ImageSource(Protocol):
    """What containers need from the image store."""

    def resolve(self, name: str) -> Any: ...

    async def ensure_unpacked(self, image_id: str) -> str | None: ...


class Snapshots(Protocol):
    def prepare(self, key: str, parent: str | None) -> list[Mount]: ...

    def mounts(self, key: str) -> list[Mount]: ...

    def remove(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...


class RootfsMounter(Protocol):
    def mount(self, mounts: Sequence[Mount], target: str) -> None: ...

    def unmount(self, target: str) -> None: ...

    def is_mounted(self, target: str) -> bool: ...


class ClientConn(Protocol):
    """A hijacked client connection (see ``api/hijack.py``)."""

    stdin: asyncio.StreamReader

    async def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    @property
    def closed(self) -> bool: ...


@dataclass(frozen=True)
class AttachOptions:
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    stream: bool = True
    logs: bool = False
    detach_keys: str = ""


@dataclass
class _Live:
    """In-memory companions of a record: its task and the waiters on it."""

    task: Task | None = None
    exit_event: asyncio.Event = field(default_factory=asyncio.Event)
    removed_event: asyncio.Event = field(default_factory=asyncio.Event)
    pending_attach: list[tuple[AttachOptions, asyncio.Future[AttachStream]]] = field(default_factory=list)
    monitor: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    final_state: ContainerState | None = None
    restart_delay: float = 0.0
    restart_handle: asyncio.Task[None] | None = None
    health: asyncio.Task[None] | None = None

    def cancel_restart(self) -> None:
        if self.restart_handle is not None and not self.restart_handle.done():
            self.restart_handle.cancel()
        self.restart_handle = None

    def cancel_health(self) -> None:
        if self.health is not None and not self.health.done():
            self.health.cancel()
        self.health = None

    def signal_exit(self) -> None:
        """Wake everyone waiting for this exit; later waiters get the next one."""
        ev, self.exit_event = self.exit_event, asyncio.Event()
        ev.set()


class ContainerService:
    # Host-dependent isolation (seccomp, devices, shared namespaces, init); set by wiring.
    isolation: Isolation | None = None
    # userns-remap: containers' root is this id range; set by wiring.
    remap: IdMaps | None = None
    # Thaws a paused container (container_ops' freezer) so a signal can act; set by wiring.
    thaw_hook: Callable[[ContainerRecord], Awaitable[None]] | None = None

    def __init__(
        self,
        *,
        store: ContainerStore,
        images: ImageSource,
        snapshots: Snapshots,
        mounter: RootfsMounter,
        tasks: TaskManager,
        events: EventBus,
        data_root: str,
        exec_root: str,
        default_runtime: str,
        runtimes: Mapping[str, str],
        log_opts: Mapping[str, str] | None = None,
        cgroup_parent: str = "/dockyard",
        log_driver: str = "json-file",
        volumes: VolumeHooks | None = None,
        networks: NetworkHooks | None = None,
        cgroup_driver: str = "cgroupfs",
    ) -> None:
        self._store = store
        self._images = images
        self._snapshots = snapshots
        self._mounter = mounter
        self._tasks = tasks
        self._events = events
        self._data_root = data_root
        self._exec_root = exec_root
        self._default_runtime = default_runtime
        self._runtimes = dict(runtimes)
        self._log_opts = dict(log_opts or {})
        self._cgroup_parent = cgroup_parent
        self._cgroup_driver = cgroup_driver  # "systemd": cgroups are scopes systemd makes (runtime --systemd-cgroup)
        self._log_driver = log_driver
        self.volumes: VolumeHooks = volumes or NoVolumes()
        self.networks: NetworkHooks = networks or NoNetworks()
        self._live: dict[str, _Live] = {}
        self._background: set[asyncio.Task[Any]] = set()

    # --- helpers ---------------------------------------------------------------

    def _live_for(self, cid: str) -> _Live:
        live = self._live.get(cid)
        if live is None:
            live = self._live[cid] = _Live()
        return live

    def get(self, ref: str) -> ContainerRecord:
        return self._store.get(ref)

    def all(self) -> list[ContainerRecord]:
        return list(self._store.all())

    def _spawn(self, coro: Awaitable[Any]) -> None:
        t = asyncio.ensure_future(coro)
        self._background.add(t)
        t.add_done_callback(self._background.discard)

    def _emit(self, rec: ContainerRecord, action: str, extra: Mapping[str, str] | None = None) -> None:
        attrs = {"image": rec.image, "name": rec.name}
        attrs.update({str(k): str(v) for k, v in (rec.config.get("Labels") or {}).items()})
        if extra:
            attrs.update(extra)
        self._events.publish("container", action, rec.id, attrs)

    def container_dir(self, cid: str) -> str:
        return os.path.join(self._data_root, "containers", cid)

    def runtime_path(self, name: str) -> str:
        if name in ("", "dockyard-runtime", "dockyard"):
            return "dockyard-runtime"
        path = self._runtimes.get(name)
        if path is None:
            raise errors.InvalidArgument(f"unknown or invalid runtime name: {name}")
        return path

    # --- create ------------------------------------------------------------------

    async def create(self, body: Mapping[str, Any], name: str | None, platform: str = "") -> tuple[str, list[str]]:
        req = containerspec.parse(body)
        image_name = req.config.image
        if not image_name:
            raise errors.InvalidArgument("Config cannot be empty in order to create a container")
        try:
            img = self._images.resolve(image_name)
        except errors.NotFound:
            raise errors.ImageNotFound(f"No such image: {containerspec.display_ref(image_name)}") from None
        runtime_name = req.host_config.runtime or self._default_runtime
        self.runtime_path(runtime_name)  # validate early
        if name:
            containerspec.validate_name(name)
            name = name.lstrip("/")
            if self._store.name_taken(name):
                owner = self._store.get(name)
                raise errors.NameConflict(
                    f'Conflict. The container name "/{name}" is already in use by container "{owner.id}". '
                    "You have to remove (or rename) that container to be able to reuse that name."
                )
        else:
            name = containerspec.generate_name(self._store.name_taken)
        cid = containerspec.new_id()
        merged = containerspec.merge(
            req, img.container_config, containerspec.daemon_defaults(runtime_name, self._log_driver)
        )
        if self.isolation is not None:
            self.isolation.check_create(merged.host_config)
        validate_cgroup_parent(self._cgroup_driver, merged.host_config.resources.cgroup_parent)
        parent = await self._images.ensure_unpacked(img.id)
        cdir = self.container_dir(cid)
        os.makedirs(cdir, mode=0o710, exist_ok=True)
        if self.remap is not None:  # the remapped root reaches its hosts files (mode 0710: through the group)
            os.chown(cdir, 0, self.remap.gid_start)
        try:
            await asyncio.to_thread(self._snapshots.prepare, cid, parent)
            failpoint("create:after-snapshot")
            mount_points = await self.volumes.on_create(cid, merged.config, merged.host_config, img.container_config)
            net_settings = await self.networks.on_create(cid, name, merged.config, merged.host_config, req.networking)
            hostname = merged.hostname or cid[:12]
            files = containerspec.write_network_files(cdir, hostname, merged, self.remap)
            rec = ContainerRecord(
                id=cid,
                name=name,
                created=now_rfc3339(),
                image=image_name,
                image_id=img.id,
                config=merged.config_json(hostname),
                host_config=merged.host_config_json(),
                path=merged.path,
                args=tuple(merged.args),
                runtime=runtime_name,
                snapshot_parent=parent,
                log_path=logdrivers.log_path(cdir, merged.log_driver, cid, merged.host_config.log_config.config),
                hostname_path=files["hostname"],
                hosts_path=files["hosts"],
                resolv_conf_path=files["resolv.conf"],
                bundle=os.path.join(self._exec_root, "containers", cid),
                state_dir=os.path.join(self._exec_root, "containers", cid, "shim"),
                mount_points=tuple(mount_points),
                network_settings=dict(net_settings),
            )
            self._store.add(rec)
        except BaseException:
            with contextlib.suppress(Exception):
                self._snapshots.remove(cid)
            with contextlib.suppress(Exception):
                # Release volume references (and new anonymous volumes) of the create that failed.
                failed = ContainerRecord(
                    id=cid, name=name, created="", image=image_name, image_id=img.id, config={}, host_config={}
                )
                await self.volumes.on_remove(failed, True)
            shutil.rmtree(cdir, ignore_errors=True)
            raise
        self._emit(rec, "create")
        return cid, list(merged.warnings)

    # --- start -------------------------------------------------------------------

    async def start(self, ref: str) -> None:
        rec = self._store.get(ref)
        live = self._live_for(rec.id)
        async with live.lock:
            rec = self._store.get(rec.id)
            if rec.state.status == "paused":
                raise errors.Conflict("cannot start a paused container, try unpause instead")
            if rec.state.status == "restarting":
                live.cancel_restart()
            elif rec.state.running:
                raise errors.NotModified("container already started")
            if rec.state.status in ("removing", "dead"):
                raise errors.Conflict("container is marked for removal and cannot be started")
            live.restart_delay = 0.0
            await self._start_locked(rec, live)

    async def _start_locked(self, rec: ContainerRecord, live: _Live) -> None:
        bundle = rec.bundle
        rootfs = os.path.join(bundle, "rootfs")
        os.makedirs(rootfs, exist_ok=True)
        mounted = False
        net_started = False
        task: Task | None = None
        try:
            if not self._mounter.is_mounted(rootfs):
                mounts = await asyncio.to_thread(self._snapshots.mounts, rec.id)
                await asyncio.to_thread(self._mounter.mount, mounts, rootfs)
            mounted = True
            failpoint("start:after-mount")
            extra_mounts = await self.volumes.mounts_for_start(rec, rootfs)
            netns, net_settings = await self.networks.on_start(rec)
            if donor := containerspec.joined_container(rec.host_config):
                rec = _replace_record(rec, config=containerspec.with_identity_of(rec.config, self.get(donor).config))
            if self.remap is not None and netns and netns.startswith("/") and not _host_userns(rec):
                await asyncio.to_thread(prime_netns, netns)
            net_started = True
            rec = _replace_record(rec, network_settings=dict(net_settings))
            self._store.put(rec)
            link_env = self.networks.link_env(rec)
            # Link variables come before the container's own, which win (as in Docker); spec only.
            spec_rec = _replace_record(rec, config={**rec.config, "Env": [*link_env, *(rec.config.get("Env") or [])]})
            spec = await asyncio.to_thread(
                containerspec.generate,
                spec_rec,
                rootfs,
                self._cgroup_parent,
                extra_mounts,
                netns,
                self.isolation,
                self._cgroup_driver,
            )
            _atomic_write(os.path.join(bundle, "config.json"), json.dumps(spec).encode())
            tty = bool(rec.config.get("Tty"))
            log_cfg = rec.host_config.get("LogConfig") or {}
            opts = {
                **logdrivers.rotation_defaults(log_cfg.get("Type", ""), log_cfg.get("Config") or {}),
                **self._log_opts,
                **(log_cfg.get("Config") or {}),
            }
            tspec = TaskSpec(
                container_id=rec.id,
                bundle=bundle,
                state_dir=rec.state_dir,
                runtime=self.runtime_path(rec.runtime),
                runtime_root=os.path.join(self._exec_root, "runtime", _runtime_key(rec.runtime)),
                tty=tty,
                open_stdin=bool(rec.config.get("OpenStdin")),
                stdin_once=bool(rec.config.get("StdinOnce")),
                log_path=rec.log_path or None,
                log_max_size=_parse_size(opts.get("max-size", "")),
                log_max_files=int(opts.get("max-file", "1") or 1),
                console_size=_console_size(rec.host_config),
                runtime_args=("--systemd-cgroup",) if self._cgroup_driver == "systemd" else (),
                log_remote=logdrivers.remote_target(log_cfg.get("Type", ""), opts, _tag_fields(rec)),
            )
            task = await self._tasks.create(tspec)
            failpoint("start:after-create")
            live.task = task
            # Connect clients that attached before start, so they miss nothing.
            pending, live.pending_attach = live.pending_attach, []
            for opts_, fut in pending:
                if fut.done():
                    continue
                try:
                    stream = await task.attach(stdin=opts_.stdin, stdout=opts_.stdout, stderr=opts_.stderr)
                    fut.set_result(stream)
                except Exception as e:  # the client sees a closed stream
                    fut.set_exception(e)
            pid = await task.start()
            failpoint("start:after-start")
        except errors.DockyardError as e:
            failure = containerspec.start_failure(e.message, rec.path)
            code: int = getattr(failure, "exit_code", 128)
            msg = failure.message
            if task is not None:
                with contextlib.suppress(Exception):
                    await task.delete()
            live.task = None
            if mounted:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self._mounter.unmount, rootfs)
            stored = self._store.get(rec.id)
            if net_started:  # the namespace, veths, address and ports set up for this start
                with contextlib.suppress(Exception):
                    stored = _replace_record(stored, network_settings=dict(await self.networks.on_stop(stored)))
            rec = stored.with_state(status="created", exit_code=code, error=msg, pid=0)
            self._store.put(rec)
            for _, fut in live.pending_attach:
                if not fut.done():
                    fut.set_exception(errors.Conflict(msg))
            live.pending_attach = []
            live.signal_exit()
            if rec.host_config.get("AutoRemove"):
                self._spawn(self._auto_remove(rec.id))
            raise failure from None
        except BaseException:
            if task is not None:
                with contextlib.suppress(Exception):
                    await task.kill(_signal.SIGKILL)
                    await task.delete()
            live.task = None
            if mounted:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self._mounter.unmount, rootfs)
            if net_started:
                with contextlib.suppress(Exception):
                    await self.networks.on_stop(rec)
            raise
        rec = self._store.get(rec.id)
        rec = rec.with_state(
            status="running",
            pid=pid,
            exit_code=0,
            error="",
            oom_killed=False,
            started_at=now_rfc3339(),
            finished_at=ZERO_TIME,
        )
        rec = _replace_record(rec, manually_stopped=False)
        self._store.put(rec)
        self._emit(rec, "start")
        live.monitor = asyncio.ensure_future(self._monitor(rec.id, task))
        self._start_health(rec, live, task)

    async def _monitor(self, cid: str, task: Task) -> None:
        """Wait for the task to exit, record it, clean up, apply AutoRemove."""
        try:
            status = await task.wait()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.warning("lost contact with the shim of %s: %s", cid, e)
            status = await self._tasks.exit_status(cid, self._store.get(cid).state_dir) or ExitStatus(
                255, now_rfc3339(), error=str(e)
            )
        await self._on_exit(cid, status, task)

    async def _on_exit(self, cid: str, status: ExitStatus, task: Task | None) -> None:
        try:
            rec = self._store.get(cid)
        except errors.NotFound:
            return
        live = self._live_for(cid)
        if task is not None:
            with contextlib.suppress(Exception):
                await task.delete()
        live.task = None
        rootfs = os.path.join(rec.bundle, "rootfs")
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self._mounter.unmount, rootfs)
        try:
            rec = _replace_record(rec, network_settings=dict(await self.networks.on_stop(rec)))
        except Exception:
            log.exception("network teardown of %s failed", cid)
        try:
            await self.volumes.on_stop(rec)
        except Exception:
            log.exception("releasing the volumes of %s failed", cid)
        live.cancel_health()
        ran_for = time.time() - parse_rfc3339(rec.state.started_at)
        decision = should_restart(
            rec.host_config.get("RestartPolicy"),
            status.code,
            rec.restart_count,
            rec.manually_stopped,
            live.restart_delay,
            ran_for,
        )
        restart = decision.restart and not rec.host_config.get("AutoRemove")
        rec = rec.with_state(
            status="restarting" if restart else "exited",
            pid=0,
            exit_code=status.code,
            oom_killed=status.oom_killed,
            finished_at=status.exited_at or now_rfc3339(),
            error=status.error,
        )
        if rec.health:
            rec = _replace_record(rec, health={**rec.health, "Status": "unhealthy", "FailingStreak": 0})
        self._store.put(rec)
        if status.oom_killed:
            self._emit(rec, "oom")
        self._emit(rec, "die", {"exitCode": str(status.code)})
        live.signal_exit()
        if restart:
            live.restart_delay = decision.delay
            live.restart_handle = asyncio.ensure_future(self._restart_later(cid, decision.delay))
        elif rec.host_config.get("AutoRemove"):
            await self._auto_remove(cid)

    async def _restart_later(self, cid: str, delay: float) -> None:
        """Apply the restart policy after its back-off delay."""
        await asyncio.sleep(delay)
        live = self._live_for(cid)
        async with live.lock:
            try:
                rec = self._store.get(cid)
            except errors.NotFound:
                return
            if rec.state.status != "restarting":
                return
            rec = _replace_record(rec, restart_count=rec.restart_count + 1)
            self._store.put(rec)
            try:
                await self._start_locked(rec, live)
            except Exception as e:
                log.warning("restarting %s failed: %s", cid, e)
                cur = self._store.get(cid)
                if cur.state.status in ("restarting", "created"):
                    self._store.put(cur.with_state(status="exited", error=str(e)))
                live.signal_exit()

    async def _set_health(self, cid: str, health: dict[str, Any], changed_to: str | None) -> None:
        try:
            rec = self._store.get(cid)
        except errors.NotFound:
            return
        if not rec.state.running:
            return
        rec = _replace_record(rec, health=health)
        self._store.put(rec)
        if changed_to:
            self._emit(rec, f"health_status: {changed_to}")

    def _start_health(self, rec: ContainerRecord, live: _Live, task: Task) -> None:
        cfg = health_config(rec.config)
        live.cancel_health()
        if cfg is None:
            return

        def current() -> Mapping[str, Any] | None:
            try:
                return self._store.get(rec.id).health
            except errors.NotFound:
                return None

        monitor = HealthMonitor(cfg, task, rec.bundle, current, lambda h, c: self._set_health(rec.id, h, c))
        live.health = asyncio.ensure_future(monitor.run())

    async def _auto_remove(self, cid: str) -> None:
        try:
            await self.remove(cid, force=True, volumes=True)
        except errors.NotFound:
            pass
        except Exception:
            log.exception("auto-remove of %s failed", cid)

    # --- stop / kill ---------------------------------------------------------------

    async def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        rec = self._store.get(ref)
        if not rec.state.running:
            raise errors.NotModified("container already stopped")
        live = self._live_for(rec.id)
        task = live.task
        rec = _replace_record(rec, manually_stopped=True)
        self._store.put(rec)
        if rec.state.status == "restarting" or task is None:
            live.cancel_restart()
            self._store.put(rec.with_state(status="exited"))
            live.signal_exit()
            self._emit(rec, "stop")
            return
        sig = containerspec.parse_signal(signal or rec.config.get("StopSignal") or "SIGTERM")
        if timeout is None:
            st = rec.config.get("StopTimeout")
            timeout = int(st) if isinstance(st, int) else 10
        exit_event = live.exit_event
        if rec.state.status == "paused":
            await self._thaw_for_signal(rec, task)
        if timeout != 0:
            with contextlib.suppress(errors.DockyardError):
                await task.kill(sig)
        if timeout < 0:
            await exit_event.wait()
        else:
            try:
                await asyncio.wait_for(exit_event.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(errors.DockyardError):
                    await task.kill(_signal.SIGKILL)
                await exit_event.wait()
        self._emit(self._store.get(rec.id), "stop")

    async def _thaw_for_signal(self, rec: ContainerRecord, task: Task) -> None:
        """Hook for pause support: signals reach a frozen container only once thawed."""
        if self.thaw_hook is not None:
            try:
                await self.thaw_hook(rec)
            except (errors.DockyardError, OSError) as e:
                log.warning("cannot thaw paused container %s: %s", rec.id, e)

    async def kill(self, ref: str, signal: str | None = None) -> None:
        rec = self._store.get(ref)
        sig = containerspec.parse_signal(signal or "SIGKILL")
        live = self._live_for(rec.id)
        if rec.state.status == "restarting":
            raise errors.Conflict(f"Container {rec.id} is restarting, wait until the container is running")
        if not rec.state.running or live.task is None:
            raise errors.Conflict(f"Cannot kill container: {ref}: Container {rec.id} is not running")
        # Like moby: a kill through the API counts as a manual stop for restart policies.
        self._store.put(_replace_record(rec, manually_stopped=True))
        exited = live.exit_event
        await live.task.kill(sig)
        if rec.state.status == "paused":  # as moby: signal first, then resume so it is delivered
            await self._thaw_for_signal(rec, live.task)
        self._emit(rec, "kill", {"signal": str(sig)})
        if sig == _signal.SIGKILL:
            await exited.wait()

    # --- wait ------------------------------------------------------------------------

    async def wait(self, ref: str, condition: str = "not-running") -> ContainerState:
        rec = self._store.get(ref)
        live = self._live_for(rec.id)
        if condition not in ("", "not-running", "next-exit", "removed"):
            raise errors.InvalidArgument(f"invalid condition: {condition!r}")
        if condition == "removed":
            removed = live.removed_event
            if not rec.state.running and rec.state.status != "created":
                pass
            await removed.wait()
            return live.final_state or rec.state
        if condition in ("", "not-running") and not rec.state.running:
            return rec.state
        ev = live.exit_event
        while True:
            await ev.wait()
            try:
                rec = self._store.get(rec.id)
            except errors.NotFound:
                return live.final_state or rec.state
            if not rec.state.running:
                return rec.state
            ev = live.exit_event

    # --- remove -----------------------------------------------------------------------

    async def remove(self, ref: str, force: bool = False, volumes: bool = False, link: bool = False) -> None:
        if link:
            # ``rm --link /parent/alias`` names a link, not a container (moby's rmLink).
            name = ref if ref.startswith("/") else "/" + ref
            parent, _, _alias = name.rpartition("/")
            if not parent:
                raise errors.Conflict("Conflict, cannot remove the default link name of the container")
            raise errors.NotImplementedYet("removing a single legacy link is not supported; remove the container")
        rec = self._store.get(ref)
        live = self._live_for(rec.id)
        if rec.state.running:
            if not force:
                status = rec.state.status if rec.state.status in ("paused", "restarting") else "running"
                raise errors.Conflict(
                    f'cannot remove container "/{rec.name}": container is {status}: '
                    "stop the container before removing or force remove"
                )
            live.cancel_restart()
            if live.task is not None:
                exited = live.exit_event
                with contextlib.suppress(errors.DockyardError):
                    await live.task.kill(_signal.SIGKILL)
                if rec.state.status == "paused":
                    await self._thaw_for_signal(rec, live.task)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(exited.wait(), 10)
            rec = self._store.get(rec.id)
            if rec.state.status == "restarting":
                rec = rec.with_state(status="exited")
        if rec.state.status == "removing":
            raise errors.Conflict(f"removal of container {rec.id} is already in progress")
        self._store.put(rec.with_state(status="removing"))
        try:
            rootfs = os.path.join(rec.bundle, "rootfs")
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._mounter.unmount, rootfs)
            if _shim_may_remain(rec.state_dir):
                with contextlib.suppress(Exception):
                    await self._tasks.cleanup(rec.id, rec.state_dir)
            await self.networks.on_remove(rec)
            await self.volumes.on_remove(rec, volumes)
            await asyncio.to_thread(self._snapshots.remove, rec.id)
            await asyncio.to_thread(shutil.rmtree, rec.bundle, True)
            await asyncio.to_thread(shutil.rmtree, self.container_dir(rec.id), True)
        except BaseException:
            self._store.put(rec.with_state(status="dead"))
            raise
        self._store.delete(rec.id)
        live.final_state = rec.state
        live.cancel_restart()
        live.cancel_health()
        live.removed_event.set()
        live.signal_exit()
        for _, fut in live.pending_attach:
            if not fut.done():
                fut.cancel()
        self._live.pop(rec.id, None)
        self._emit(rec, "destroy")

    def image_users(self, image_id: str) -> list[ContainerRecord]:
        return [r for r in self._store.all() if r.image_id == image_id]

    # --- attach ------------------------------------------------------------------------

    async def attach(self, ref: str, opts: AttachOptions, conn: ClientConn) -> None:
        """Bridge a hijacked client connection to the container's stdio until it ends."""
        rec = self._store.get(ref)
        tty = bool(rec.config.get("Tty"))
        live = self._live_for(rec.id)
        if opts.logs and rec.log_path:
            async for stream, data in _replay_log(rec.log_path, opts):
                await conn.write(data if tty else _frame(stream, data))
        if not opts.stream:
            conn.close()
            return
        stream_obj: AttachStream | None = None
        if live.task is not None and rec.state.running:
            stream_obj = await live.task.attach(stdin=opts.stdin, stdout=opts.stdout, stderr=opts.stderr)
        elif rec.state.status == "created" or (not rec.state.running and live.task is None):
            fut: asyncio.Future[AttachStream] = asyncio.get_running_loop().create_future()
            live.pending_attach.append((opts, fut))
            try:
                stream_obj = await fut
            except (asyncio.CancelledError, errors.DockyardError):
                conn.close()
                return
        if stream_obj is None:
            conn.close()
            return
        self._emit(rec, "attach")
        await _pump(stream_obj, conn, opts, tty)

    async def resize(self, ref: str, height: int, width: int) -> None:
        rec = self._store.get(ref)
        task = self._live_for(rec.id).task
        if task is None or not rec.state.running:
            raise errors.Conflict(f"Container {rec.id} is not running")
        await task.resize(height, width)

    def task_for(self, ref: str) -> Task | None:
        """The live task of a running container (for exec, top, stats, pause)."""
        rec = self._store.get(ref)
        return self._live_for(rec.id).task if rec.state.running else None

    def update_record(self, rec: ContainerRecord) -> None:
        """Store a changed record (other use cases: exec IDs, health, rename, update)."""
        self._store.put(rec)

    def emit(self, rec: ContainerRecord, action: str, extra: Mapping[str, str] | None = None) -> None:
        self._emit(rec, action, extra)

    # --- daemon restart ------------------------------------------------------------------

    async def restore(self) -> None:
        """Reconnect to the shims of containers that were running; settle the others;
        remove what a crash left half-made (snapshots, directories without a record)."""
        records = list(self._store.all())
        for rec in records:
            try:
                await self._restore_one(rec)
            except Exception:
                log.exception("restoring container %s failed", rec.id)
        await asyncio.to_thread(self._sweep_orphans, {r.id for r in records})

    def _sweep_orphans(self, known: set[str]) -> None:
        def is_container_id(name: str) -> bool:
            return len(name) == 64 and all(c in "0123456789abcdef" for c in name)

        for base in (os.path.join(self._data_root, "containers"), os.path.join(self._exec_root, "containers")):
            try:
                names = os.listdir(base)
            except FileNotFoundError:
                continue
            for name in names:
                if is_container_id(name) and name not in known:
                    path = os.path.join(base, name)
                    rootfs = os.path.join(path, "rootfs")
                    if self._mounter.is_mounted(rootfs):
                        with contextlib.suppress(Exception):
                            self._mounter.unmount(rootfs)
                    shutil.rmtree(path, ignore_errors=True)
        keys = getattr(self._snapshots, "all_keys", None)
        if keys is not None:
            for key in list(keys()):
                if is_container_id(key) and key not in known:
                    with contextlib.suppress(Exception):
                        self._snapshots.remove(key)

    async def _restore_one(self, rec: ContainerRecord) -> None:
        live = self._live_for(rec.id)
        if rec.state.status == "removing":
            self._store.put(rec.with_state(status="dead"))
            return
        if rec.state.status == "restarting":
            rec = rec.with_state(status="exited")
            self._store.put(rec)
        if not rec.state.running:
            # A crash during start can leave a shim holding a created container, or a mounted rootfs.
            if _shim_may_remain(rec.state_dir):
                with contextlib.suppress(Exception):
                    await self._tasks.cleanup(rec.id, rec.state_dir)
            rootfs = os.path.join(rec.bundle, "rootfs")
            if self._mounter.is_mounted(rootfs):
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self._mounter.unmount, rootfs)
            if rec.state.status == "exited" and should_restart_at_boot(
                rec.host_config.get("RestartPolicy"), rec.state.exit_code, rec.restart_count, rec.manually_stopped
            ):
                rec = _replace_record(rec.with_state(status="restarting"), manually_stopped=False)
                self._store.put(rec)
                live.restart_handle = asyncio.ensure_future(self._restart_later(rec.id, 0.0))
            return
        task = await self._tasks.get(rec.id, rec.state_dir)
        if task is not None:
            exited = await _exit_if_known(task)
            if exited is not None:
                # It ended while no daemon watched: settle it before serving, so the
                # first inspect after a restart already tells the truth.
                await self._on_exit(rec.id, exited, task)
                return
            live.task = task
            live.monitor = asyncio.ensure_future(self._monitor(rec.id, task))
            self._start_health(rec, live, task)
            return
        status = await self._tasks.exit_status(rec.id, rec.state_dir)
        if status is None:
            status = ExitStatus(255, now_rfc3339(), error="the container's shim disappeared")
        with contextlib.suppress(Exception):
            await self._tasks.cleanup(rec.id, rec.state_dir)
        await self._on_exit(rec.id, status, None)

    async def shutdown(self) -> None:
        """Daemon stop: leave containers running (live restore), stop watching them."""
        for live in self._live.values():
            if live.monitor is not None:
                live.monitor.cancel()
            live.cancel_restart()
            live.cancel_health()
        for t in list(self._background):
            t.cancel()

    # --- read side -------------------------------------------------------------------------

    def uptime_status(self, rec: ContainerRecord) -> str:
        """``Up 3 seconds`` / ``Exited (0) 2 minutes ago`` / ``Created``."""
        st = rec.state
        now = time.time()
        if st.status in ("running", "paused"):
            s = "Up " + human_duration(now - parse_rfc3339(st.started_at))
            return s + " (Paused)" if st.status == "paused" else s + health_suffix(rec.health)
        if st.status == "restarting":
            return f"Restarting ({st.exit_code}) {human_duration(now - parse_rfc3339(st.finished_at))} ago"
        if st.status == "removing":
            return "Removal In Progress"
        if st.status == "dead":
            return "Dead"
        if st.status == "exited" or st.finished_at != ZERO_TIME:
            return f"Exited ({st.exit_code}) {human_duration(now - parse_rfc3339(st.finished_at))} ago"
        return "Created"


async def _exit_if_known(task: Task) -> ExitStatus | None:
    """The exit status of a task whose process has already ended; None while it runs."""
    try:
        return await task.exited()
    except Exception:
        return None


def _shim_may_remain(state_dir: str) -> bool:
    """A shim that was deleted cleanly leaves neither its pid file nor its socket."""
    return any(os.path.exists(os.path.join(state_dir, f)) for f in ("shim.pid", "shim.sock"))


def _runtime_key(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in (name or "dockyard-runtime"))


def _tag_fields(rec: ContainerRecord) -> dict[str, str]:
    """The fields of a log ``tag`` template, as dockerd names them."""
    image_id = rec.image_id.removeprefix("sha256:")
    return {
        "ID": rec.id[:12],
        "FullID": rec.id,
        "Name": rec.name.lstrip("/"),
        "ImageID": image_id[:12],
        "ImageFullID": rec.image_id,
        "ImageName": rec.image,
        "DaemonName": "docker",
        "Command": " ".join([rec.path, *rec.args]).strip(),
        "Created": rec.created,
    }


def _host_userns(rec: ContainerRecord) -> bool:
    return rec.host_config.get("UsernsMode") == "host"


def _replace_record(rec: ContainerRecord, **kw: Any) -> ContainerRecord:
    from dataclasses import replace

    return replace(rec, **kw)


def _console_size(host_config: Mapping[str, Any]) -> tuple[int, int] | None:
    cs = host_config.get("ConsoleSize")
    if isinstance(cs, list) and len(cs) == 2 and all(isinstance(x, int) for x in cs) and cs[0] and cs[1]:
        return int(cs[0]), int(cs[1])
    return None


def _parse_size(text: str) -> int:
    text = (text or "").strip().lower()
    if not text:
        return 0
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "b": 1}
    mult = 1
    if text[-1] in units:
        mult = units[text[-1]]
        text = text[:-1]
    try:
        return int(float(text) * mult)
    except ValueError:
        raise errors.InvalidArgument(f"invalid max-size {text!r}") from None


def _atomic_write(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _frame(stream: int, data: bytes) -> bytes:
    return stream.to_bytes(1, "big") + b"\0\0\0" + len(data).to_bytes(4, "big") + data


async def _replay_log(path: str, opts: AttachOptions) -> Any:
    from dockyard.engine.logs import read_log_entries

    for entry in await asyncio.to_thread(read_log_entries, path):
        stream = STDERR if entry.stream == "stderr" else STDOUT
        if (stream == STDOUT and opts.stdout) or (stream == STDERR and opts.stderr):
            yield stream, entry.data


async def _pump(stream: AttachStream, conn: ClientConn, opts: AttachOptions, tty: bool) -> None:
    async def _in() -> None:
        try:
            while True:
                data = await conn.stdin.read(32768)
                if not data:
                    await stream.close_stdin()
                    return
                await stream.write(data)
        except (ConnectionError, asyncio.IncompleteReadError):
            return

    in_task = asyncio.ensure_future(_in()) if opts.stdin else None
    try:
        while True:
            item = await stream.read()
            if item is None:
                break
            n, data = item
            if conn.closed:
                break
            if (n == STDOUT and opts.stdout) or (n == STDERR and opts.stderr):
                await conn.write(data if tty else _frame(n, data))
    finally:
        if in_task is not None:
            in_task.cancel()
        with contextlib.suppress(Exception):
            await stream.close()
        conn.close()
