"""``docker exec``: extra processes in a running container.

An exec is created (a record only), then started once: its OCI ``process`` object is
built from the container's own spec (same capabilities, no_new_privileges, rlimits,
security profiles) with the exec's command, env, user and working directory, and the
container's shim runs it. A watcher records the exit code however the client went
away, so ``GET /exec/{id}/json`` answers ``ExitCode`` as soon as the output has ended.
Exec records live in memory, as in dockerd.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import os
import secrets
import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from dockyard import errors
from dockyard.containers.capabilities import ALL_CAPABILITIES, capabilities_from_mask
from dockyard.containers.env import replace_or_append_env
from dockyard.containers.exitcodes import EXIT_CANNOT_INVOKE, classify_start_error
from dockyard.containers.store import ContainerRecord
from dockyard.containers.user import ResolvedUser, resolve_user_in_rootfs
from dockyard.engine.containers import ClientConn
from dockyard.engine.detach_keys import DetachScanner, parse_detach_keys
from dockyard.engine.failpoints import failpoint
from dockyard.tasks.api import STDOUT, AttachStream, ExecProcess, ExecSpec, ExitStatus, Task
from dockyard.tasks.errors import RuntimeFailed

__all__ = [
    "ExecConfig",
    "ExecContainers",
    "ExecRecord",
    "ExecService",
    "ExecStore",
    "build_exec_process",
    "exec_inspect_json",
    "parse_exec_config",
]

log = logging.getLogger("dockyard.engine.exec")

_MAX_FINISHED = 512  # finished exec records kept for inspection (dockerd keeps them until the container goes)


class ExecContainers(Protocol):
    """What exec needs from the container service."""

    def get(self, ref: str) -> ContainerRecord: ...

    def all(self) -> list[ContainerRecord]: ...

    def task_for(self, ref: str) -> Task | None: ...

    def update_record(self, rec: ContainerRecord) -> None: ...

    def emit(self, rec: ContainerRecord, action: str, extra: Mapping[str, str] | None = None) -> None: ...


@dataclass(frozen=True)
class ExecConfig:
    """A ``POST /containers/{id}/exec`` request."""

    cmd: tuple[str, ...]
    env: tuple[str, ...] = ()
    user: str = ""
    working_dir: str = ""
    tty: bool = False
    privileged: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    detach_keys: str = ""
    console_size: tuple[int, int] | None = None  # (height, width)


@dataclass(frozen=True)
class ExecRecord:
    id: str
    container_id: str
    config: ExecConfig
    started: bool = False
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    finished_at: float = 0.0  # monotonic; orders finished records for pruning


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise errors.InvalidArgument(f"{name} must be a list of strings")
    return tuple(value)


def _console_size(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in value)
    ):
        raise errors.InvalidArgument("ConsoleSize must be [height, width]")
    return (value[0], value[1]) if value[0] and value[1] else None


def parse_exec_config(body: Mapping[str, Any]) -> ExecConfig:
    """Validate an exec create body (dockerd's field names and messages)."""
    cmd = _strings(body.get("Cmd"), "Cmd")
    if not cmd:
        raise errors.InvalidArgument("No exec command specified")
    env = _strings(body.get("Env"), "Env")
    for entry in env:
        if not entry or entry.startswith("="):
            raise errors.InvalidArgument(f"invalid environment variable: {entry!r}")
    working_dir = body.get("WorkingDir") or ""
    if not isinstance(working_dir, str) or (working_dir and not working_dir.startswith("/")):
        raise errors.InvalidArgument(
            f"the working directory '{working_dir}' is invalid, it needs to be an absolute path"
        )
    detach_keys = str(body.get("DetachKeys") or "")
    parse_detach_keys(detach_keys)  # refuse a bad sequence at create, as dockerd does
    user = body.get("User")
    if user is None:
        user = ""
    if not isinstance(user, str):
        raise errors.InvalidArgument("User must be a string")
    return ExecConfig(
        cmd=cmd,
        env=env,
        user=user,
        working_dir=working_dir,
        tty=bool(body.get("Tty")),
        privileged=bool(body.get("Privileged")),
        attach_stdin=bool(body.get("AttachStdin")),
        attach_stdout=bool(body.get("AttachStdout")),
        attach_stderr=bool(body.get("AttachStderr")),
        detach_keys=detach_keys,
        console_size=_console_size(body.get("ConsoleSize")),
    )


def exec_inspect_json(rec: ExecRecord) -> dict[str, Any]:
    """``GET /exec/{id}/json``: ExitCode is null until the process has ended."""
    cfg = rec.config
    process: dict[str, Any] = {
        "tty": cfg.tty,
        "entrypoint": cfg.cmd[0],
        "arguments": list(cfg.cmd[1:]),
        "privileged": cfg.privileged,
    }
    if cfg.user:
        process["user"] = cfg.user
    return {
        "ID": rec.id,
        "Running": rec.running,
        "ExitCode": rec.exit_code,
        "ProcessConfig": process,
        "OpenStdin": cfg.attach_stdin,
        "OpenStderr": cfg.attach_stderr,
        "OpenStdout": cfg.attach_stdout,
        "CanRemove": False,
        "ContainerID": rec.container_id,
        "DetachKeys": cfg.detach_keys,
        "Pid": rec.pid,
    }


def _has_key(env: Sequence[str], key: str) -> bool:
    return any(e.partition("=")[0] == key for e in env)


def build_exec_process(
    base: Mapping[str, Any],
    cfg: ExecConfig,
    *,
    container_env: Sequence[str] = (),
    user: ResolvedUser | None = None,
    available_caps: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The exec's OCI process: the container's ``base`` process with the exec's settings.

    ``user`` is the resolved ``-u`` (None keeps the container's user); its home becomes
    HOME unless the container's or the exec's Env sets HOME. A TTY gets TERM=xterm
    unless TERM is set. ``--privileged`` grants every capability (of ``available_caps``,
    the daemon's bounding set, when given: no process can get more).
    """
    proc = copy.deepcopy(dict(base))
    proc.pop("consoleSize", None)  # the shim sizes the exec's own console
    env = list(proc.get("env") or [])
    if cfg.tty and not _has_key(env, "TERM"):
        env.append("TERM=xterm")
    if user is not None:
        proc["user"] = {
            **{k: v for k, v in (proc.get("user") or {}).items() if k == "umask"},
            "uid": user.uid,
            "gid": user.gid,
            "additionalGids": list(user.additional_gids),
        }
        if not _has_key(container_env, "HOME") and not _has_key(cfg.env, "HOME"):
            env = replace_or_append_env(env, [f"HOME={user.home or '/'}"])
    proc["env"] = replace_or_append_env(env, cfg.env)
    proc["args"] = list(cfg.cmd)
    proc["cwd"] = cfg.working_dir or proc.get("cwd") or "/"
    proc["terminal"] = cfg.tty
    if cfg.privileged:
        caps = [c for c in ALL_CAPABILITIES if available_caps is None or c in available_caps]
        proc["capabilities"] = {"bounding": caps, "effective": caps, "permitted": list(caps)}
    return proc


class ExecStore:
    """Exec records by ID, in memory."""

    def __init__(self) -> None:
        self._recs: dict[str, ExecRecord] = {}

    def add(self, rec: ExecRecord) -> None:
        self._recs[rec.id] = rec

    def get(self, exec_id: str) -> ExecRecord:
        rec = self._recs.get(exec_id)
        if rec is None:
            raise errors.NotFound(f"No such exec instance: {exec_id}")
        return rec

    def put(self, rec: ExecRecord) -> None:
        if rec.id in self._recs:
            self._recs[rec.id] = rec

    def all(self) -> list[ExecRecord]:
        return list(self._recs.values())

    def remove(self, exec_id: str) -> None:
        self._recs.pop(exec_id, None)

    def prune(self, container_exists: Any, keep_finished: int = _MAX_FINISHED) -> None:
        """Forget finished execs of removed containers, and the oldest finished ones beyond ``keep_finished``."""
        finished = [r for r in self._recs.values() if r.exit_code is not None]
        for r in finished:
            if not container_exists(r.container_id):
                self._recs.pop(r.id, None)
        finished = sorted((r for r in self._recs.values() if r.exit_code is not None), key=lambda r: r.finished_at)
        for r in finished[: max(0, len(finished) - keep_finished)]:
            self._recs.pop(r.id, None)


@dataclass
class _Live:
    """In-memory companions of a started exec."""

    proc: ExecProcess | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    watcher: asyncio.Task[None] | None = None


class ExecService:
    """Create, start, inspect and resize execs of running containers."""

    def __init__(self, containers: ExecContainers, *, output_grace: float = 30.0) -> None:
        self._containers = containers
        self._store = ExecStore()
        self._live: dict[str, _Live] = {}
        # how long a finished output stream waits for the exit code before the connection closes
        self._output_grace = output_grace

    # --- create / inspect ------------------------------------------------------------

    def _running_container(self, ref: str) -> ContainerRecord:
        rec = self._containers.get(ref)
        if rec.state.status == "paused":
            raise errors.Conflict(f"Container {rec.id} is paused, unpause the container before exec")
        if rec.state.status == "restarting":
            raise errors.Conflict(f"Container {rec.id} is restarting, wait until the container is running")
        if rec.state.status != "running" or self._containers.task_for(rec.id) is None:
            raise errors.Conflict(f"Container {rec.id} is not running")
        return rec

    async def create(self, ref: str, body: Mapping[str, Any]) -> str:
        cfg = parse_exec_config(body)
        rec = self._running_container(ref)
        self._store.prune(self._container_exists)
        exec_id = secrets.token_hex(32)
        self._store.add(ExecRecord(id=exec_id, container_id=rec.id, config=cfg))
        self._set_exec_ids(rec.id, add=exec_id)
        self._containers.emit(rec, f"exec_create: {_command(cfg)}", {"execID": exec_id})
        return exec_id

    def get(self, exec_id: str) -> ExecRecord:
        return self._store.get(exec_id)

    def inspect(self, exec_id: str) -> dict[str, Any]:
        return exec_inspect_json(self._store.get(exec_id))

    def check_startable(self, exec_id: str) -> ExecRecord:
        """Raise what ``start`` would refuse with, before a route hijacks the connection."""
        rec = self._store.get(exec_id)
        if rec.exit_code is not None:
            raise errors.Conflict(f"Error: Exec command {exec_id} has already run")
        if rec.started:
            raise errors.Conflict(f"Error: Exec command {exec_id} is already running")
        self._running_container(rec.container_id)
        return rec

    # --- start ---------------------------------------------------------------------------

    async def start(
        self,
        exec_id: str,
        conn: ClientConn | None = None,
        console_size: tuple[int, int] | None = None,
        raw_stream: bool | None = None,
    ) -> None:
        """Run the exec. Detached (``conn`` None): return once it runs. Attached: bridge the
        client's stdio until the output ends and the exit code is recorded. ``raw_stream``
        says how the client reads (unframed with a TTY); by default the exec's Tty decides.

        Errors before the process runs are raised; with a client they are written to it
        instead (as dockerd does once the connection is hijacked), and the exit code is set.
        """
        rec = self.check_startable(exec_id)
        cfg = rec.config
        raw = cfg.tty if raw_stream is None else raw_stream
        rec = replace(rec, started=True, running=True)
        self._store.put(rec)
        live = self._live.setdefault(exec_id, _Live())
        stream: AttachStream | None = None
        waiter: asyncio.Future[ExitStatus] | None = None
        try:
            container = self._running_container(rec.container_id)
            task = self._containers.task_for(container.id)
            if task is None:
                raise errors.Conflict(f"Container {container.id} is not running")
            process = await asyncio.to_thread(_process_for, container, cfg)
            spec = ExecSpec(
                exec_id=exec_id,
                process=process,
                open_stdin=cfg.attach_stdin and conn is not None,
                stdin_once=True,
                console_size=console_size or cfg.console_size,
            )
            proc = await task.exec(spec)
            failpoint("exec:after-create")
            live.proc = proc
            # waiting from before the start saves a round trip to the shim after the exit
            waiter = asyncio.ensure_future(proc.wait())
            if conn is not None:
                stream = await proc.attach(stdin=cfg.attach_stdin, stdout=cfg.attach_stdout, stderr=cfg.attach_stderr)
            try:
                pid = await proc.start()
                failpoint("exec:after-start")
            except RuntimeFailed as e:
                waiter.cancel()
                failure = classify_start_error(e.message, cfg.cmd[0])
                self._finish(exec_id, failure.exit_code, emit=False)
                with contextlib.suppress(errors.DockyardError, OSError):
                    await proc.delete()
                if stream is not None:
                    await stream.close()
                    stream = None
                msg = f"OCI runtime exec failed: {failure.message}"
                if conn is None:
                    raise (errors.InvalidArgument if failure.invalid_config else errors.Internal)(msg) from None
                await conn.write(_wrap(f"{msg}\r\n".encode(), raw))
                return
        except BaseException as e:
            if waiter is not None:
                waiter.cancel()
            if stream is not None:
                with contextlib.suppress(Exception):
                    await stream.close()
            if self._store.get(exec_id).exit_code is None:
                self._finish(exec_id, EXIT_CANNOT_INVOKE, emit=False)
            if conn is not None and isinstance(e, errors.DockyardError):
                await conn.write(_wrap(f"{e.message}\r\n".encode(), raw))
                return
            raise
        self._store.put(replace(self._store.get(exec_id), pid=pid))
        live.started.set()
        with contextlib.suppress(errors.NotFound):
            self._containers.emit(
                self._containers.get(rec.container_id), f"exec_start: {_command(cfg)}", {"execID": exec_id}
            )
        live.watcher = asyncio.ensure_future(self._watch(exec_id, rec.container_id, proc, waiter))
        if conn is None or stream is None:
            return
        keys = parse_detach_keys(cfg.detach_keys) if cfg.attach_stdin else b""
        ended = await _pump(stream, conn, cfg.attach_stdin, raw, keys)
        if ended:
            # the output is complete; the client reads ExitCode right after the stream closes
            await asyncio.wait({live.watcher}, timeout=self._output_grace)

    async def _watch(
        self, exec_id: str, container_id: str, proc: ExecProcess, waiter: asyncio.Future[ExitStatus]
    ) -> None:
        try:
            status = await waiter
            code = status.code
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.warning("lost the exec %s of %s: %s", exec_id, container_id, e)
            code = 137 if not self._container_running(container_id) else 255
        self._finish(exec_id, code, emit=True)
        with contextlib.suppress(Exception):
            await proc.delete()

    def _finish(self, exec_id: str, code: int, *, emit: bool) -> None:
        try:
            rec = self._store.get(exec_id)
        except errors.NotFound:
            return
        self._store.put(replace(rec, running=False, exit_code=code, finished_at=time.monotonic()))
        self._set_exec_ids(rec.container_id, remove=exec_id)
        live = self._live.pop(exec_id, None)
        if live is not None:
            live.exited.set()
            live.started.set()  # a resize waiting for the start gives up
        if emit:
            with contextlib.suppress(errors.NotFound):
                self._containers.emit(
                    self._containers.get(rec.container_id), "exec_die", {"execID": exec_id, "exitCode": str(code)}
                )

    # --- resize ------------------------------------------------------------------------------

    async def resize(self, exec_id: str, height: int, width: int, timeout: float = 10.0) -> None:
        """Resize the exec's TTY; right after a start it waits (bounded) for the process to exist."""
        rec = self._store.get(exec_id)
        if rec.exit_code is not None:
            return
        live = self._live.setdefault(exec_id, _Live())
        try:
            await asyncio.wait_for(live.started.wait(), timeout)
        except TimeoutError:
            raise errors.Unavailable("timeout waiting for exec session ready") from None
        if live.proc is not None and not live.exited.is_set():
            with contextlib.suppress(errors.NotFound, errors.Unavailable):
                await live.proc.resize(height, width)

    def forget_previous(self) -> None:
        """At daemon start: exec records lived in the previous daemon's memory, so the
        containers' ExecIDs name execs nobody can inspect any more."""
        for rec in self._containers.all():
            if rec.exec_ids:
                self._containers.update_record(replace(rec, exec_ids=()))

    async def shutdown(self) -> None:
        for live in list(self._live.values()):
            if live.watcher is not None:
                live.watcher.cancel()

    # --- helpers ------------------------------------------------------------------------------

    def _container_exists(self, cid: str) -> bool:
        try:
            self._containers.get(cid)
        except errors.NotFound:
            return False
        return True

    def _container_running(self, cid: str) -> bool:
        try:
            return self._containers.get(cid).state.running
        except errors.NotFound:
            return False

    def _set_exec_ids(self, cid: str, *, add: str = "", remove: str = "") -> None:
        """Keep the container's ExecIDs (inspect) to the execs not yet finished."""
        try:
            rec = self._containers.get(cid)
            ids = [i for i in rec.exec_ids if i != remove]
            if add and add not in ids:
                ids.append(add)
            if tuple(ids) != rec.exec_ids:
                self._containers.update_record(replace(rec, exec_ids=tuple(ids)))
        except errors.NotFound:
            pass


def _command(cfg: ExecConfig) -> str:
    # dockerd's event action text: entrypoint, a space, then the arguments
    return f"{cfg.cmd[0]} {' '.join(cfg.cmd[1:])}"


def frame(stream: int, data: bytes) -> bytes:
    """Docker's multiplexed-stream header: stream byte, 3 zero bytes, big-endian length."""
    return struct.pack(">BxxxI", stream, len(data)) + data


def _wrap(data: bytes, tty: bool) -> bytes:
    return data if tty else frame(STDOUT, data)


def bounding_capabilities() -> frozenset[str] | None:
    """The daemon's capability bounding set (None when /proc does not say)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    return capabilities_from_mask(int(line.split()[1], 16))
    except (OSError, ValueError, IndexError):
        pass
    return None


def _process_for(container: ContainerRecord, cfg: ExecConfig) -> dict[str, Any]:
    """Read the container's spec and resolve ``-u`` in its mounted rootfs (blocking file I/O)."""
    try:
        with open(os.path.join(container.bundle, "config.json"), "rb") as f:
            spec = json.load(f)
    except (OSError, ValueError) as e:
        raise errors.Conflict(f"Container {container.id} is not running: {e}") from None
    base = spec.get("process") or {}
    user: ResolvedUser | None = None
    if cfg.user:
        rootfs = os.path.join(container.bundle, "rootfs")
        group_add = container.host_config.get("GroupAdd") or ()
        user = resolve_user_in_rootfs(rootfs, cfg.user, group_add)
    container_env = container.config.get("Env") or ()
    caps = bounding_capabilities() if cfg.privileged else None
    return build_exec_process(base, cfg, container_env=list(container_env), user=user, available_caps=caps)


async def _pump(stream: AttachStream, conn: ClientConn, stdin: bool, tty: bool, detach_keys: bytes = b"") -> bool:
    """Copy the exec's output to the client (and the client's input to it); True when the output
    ended (the process exited), False when the client went away or typed the detach keys first."""
    scanner = DetachScanner(detach_keys)
    detached = False

    async def _in() -> None:
        nonlocal detached
        try:
            while True:
                data = await conn.stdin.read(32768)
                if not data:
                    await stream.close_stdin()
                    return
                data, detached = scanner.feed(data)
                if data:
                    await stream.write(data)
                if detached:
                    # the process keeps running; ending our stream ends the client's session
                    conn.close()
                    await stream.close()
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return

    in_task = asyncio.ensure_future(_in()) if stdin else None
    try:
        while True:
            item = await stream.read()
            if item is None:
                return not detached
            if conn.closed:
                return False
            n, data = item
            await conn.write(data if tty else frame(n, data))
    finally:
        if in_task is not None:
            in_task.cancel()
        with contextlib.suppress(Exception):
            await stream.close()
