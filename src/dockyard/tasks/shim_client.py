"""``ShimTaskManager``: the daemon's side of the shim protocol (fully asyncio).

``create`` writes ``spec.json`` into the task's state directory, starts a
``dockyard-shim`` as a lean interpreter, waits for it to say it is ready and
asks it to create the container. Every request is one short unix-socket
connection (``dockyard.shim.protocol``); ``wait`` and ``attach`` keep theirs
open. Nothing here blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from typing import Any

import dockyard
from dockyard import errors
from dockyard.shim import protocol as proto
from dockyard.shim.exitfile import read_exit
from dockyard.shim.main import BOOTSTRAP
from dockyard.tasks.api import ExecSpec, ExitStatus, TaskSpec
from dockyard.tasks.errors import RuntimeFailed, ShimUnavailable

__all__ = [
    "ShimAttachStream",
    "ShimExec",
    "ShimTask",
    "ShimTaskManager",
    "exit_status_from_json",
    "spec_to_json",
]

_KINDS: dict[str, type[errors.DockyardError]] = {
    "NotFound": errors.NotFound,
    "InvalidArgument": errors.InvalidArgument,
    "Conflict": errors.Conflict,
    "Unavailable": errors.Unavailable,
    "NotImplementedYet": errors.NotImplementedYet,
    "Internal": errors.Internal,
    "RuntimeFailed": RuntimeFailed,
}


def spec_to_json(spec: TaskSpec) -> dict[str, object]:
    """The ``spec.json`` a shim reads (``dockyard.shim.config.parse_config`` is the inverse)."""
    return {
        "container_id": spec.container_id,
        "bundle": os.path.abspath(spec.bundle),
        "state_dir": os.path.abspath(spec.state_dir),
        "runtime": spec.runtime,
        "runtime_root": spec.runtime_root,
        "rootfs_mounts": [{"type": m.type, "source": m.source, "options": list(m.options)} for m in spec.rootfs_mounts],
        "tty": spec.tty,
        "open_stdin": spec.open_stdin,
        "stdin_once": spec.stdin_once,
        "log_path": spec.log_path,
        "log_max_size": spec.log_max_size,
        "log_max_files": spec.log_max_files,
        "console_size": list(spec.console_size) if spec.console_size else None,
        "extra_env": dict(spec.extra_env),
        "runtime_args": list(spec.runtime_args),
        "log_remote": dict(spec.log_remote),
    }


def exit_status_from_json(info: object) -> ExitStatus | None:
    """An ``ExitStatus`` from the shim's JSON form (``None`` when absent or malformed)."""
    if not isinstance(info, dict):
        return None
    code, exited_at = info.get("code"), info.get("exited_at")
    if not isinstance(code, int) or not isinstance(exited_at, str):
        return None
    return ExitStatus(
        code=code, exited_at=exited_at, oom_killed=bool(info.get("oom_killed")), error=str(info.get("error") or "")
    )


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _socket_path(state_dir: str) -> str:
    return os.path.join(state_dir, proto.SOCKET_NAME)


async def _connect(state_dir: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    path = _socket_path(state_dir)
    if len(path.encode()) < 100:
        return await asyncio.open_unix_connection(path)
    # too long for sun_path: go through a short /proc/self/fd alias of the directory
    dfd = os.open(state_dir, os.O_PATH | os.O_CLOEXEC)
    try:
        return await asyncio.open_unix_connection(f"/proc/self/fd/{dfd}/{proto.SOCKET_NAME}")
    finally:
        os.close(dfd)


async def _read_message(reader: asyncio.StreamReader) -> dict[str, object]:
    prefix = await reader.readexactly(4)
    return proto.decode_message(await reader.readexactly(proto.message_length(prefix)))


def _check(reply: dict[str, object]) -> dict[str, object]:
    if reply.get("ok") is True:
        return reply
    kind = str(reply.get("kind", "Internal"))
    raise _KINDS.get(kind, errors.Internal)(str(reply.get("error", "shim request failed")))


class _Channel:
    """How a task reaches its shim: a state directory holding ``shim.sock``."""

    def __init__(self, container_id: str, state_dir: str) -> None:
        self.container_id = container_id
        self.state_dir = state_dir

    async def open(self, request: dict[str, object]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            reader, writer = await _connect(self.state_dir)
        except OSError as e:
            raise ShimUnavailable(f"shim of container {self.container_id} is not reachable: {e}") from None
        writer.write(proto.encode_message(request))
        await writer.drain()
        return reader, writer

    async def call(self, request: dict[str, object]) -> dict[str, object]:
        reader, writer = await self.open(request)
        try:
            reply = await _read_message(reader)
        except (asyncio.IncompleteReadError, ConnectionError) as e:
            raise ShimUnavailable(f"shim of container {self.container_id} went away: {e}") from None
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return _check(reply)


class ShimAttachStream:
    """One attach connection: frames from the shim, stdin frames to it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self) -> tuple[int, bytes] | None:
        try:
            header = await self._reader.readexactly(proto.HEADER_SIZE)
            stream, n = proto.decode_header(header)
            return stream, await self._reader.readexactly(n)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    async def write(self, data: bytes) -> None:
        if data:
            await self._send(proto.encode_frame(proto.STDIN, data))

    async def close_stdin(self) -> None:
        await self._send(proto.encode_frame(proto.CLOSE_STDIN, b""))

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    async def _send(self, frame: bytes) -> None:
        if self._writer.is_closing():
            return
        with contextlib.suppress(ConnectionError):
            self._writer.write(frame)
            await self._writer.drain()


class _ShimProcess:
    """Requests about one process of a shim (``exec_id`` "" is the container's init)."""

    def __init__(self, container_id: str, state_dir: str, exec_id: str = "", pid: int = 0) -> None:
        self.container_id = container_id
        self.state_dir = state_dir
        self.exec_id = exec_id
        self.pid = pid
        self._channel = _Channel(container_id, state_dir)

    def _request(self, op: str, **fields: object) -> dict[str, object]:
        req: dict[str, object] = {"op": op, **fields}
        if self.exec_id:
            req["exec_id"] = self.exec_id
        return req

    async def start(self) -> int:
        reply = await self._channel.call(self._request("start"))
        self.pid = _int(reply.get("pid"))
        return self.pid

    async def wait(self) -> ExitStatus:
        reply = await self._channel.call(self._request("wait"))
        status = exit_status_from_json(reply.get("exit"))
        if status is None:
            raise errors.Internal(f"shim of container {self.container_id} sent no exit status")
        return status

    async def attach(self, *, stdin: bool, stdout: bool, stderr: bool) -> ShimAttachStream:
        reader, writer = await self._channel.open(self._request("attach", stdin=stdin, stdout=stdout, stderr=stderr))
        try:
            _check(await _read_message(reader))
        except BaseException:
            writer.close()
            raise
        return ShimAttachStream(reader, writer)

    async def resize(self, height: int, width: int) -> None:
        await self._channel.call(self._request("resize", height=height, width=width))

    async def state(self) -> dict[str, object]:
        """``{"status": new|created|running|stopped|failed, "pid": int, "exit": {...} | None}``."""
        return await self._channel.call(self._request("state"))


class ShimExec(_ShimProcess):
    """An extra process in a container (implements ``tasks.api.ExecProcess``)."""

    async def kill(self, signal: int) -> None:
        await self._channel.call(self._request("kill", signal=int(signal)))

    async def delete(self) -> ExitStatus | None:
        reply = await self._channel.call(self._request("delete"))
        return exit_status_from_json(reply.get("exit"))


class ShimTask(_ShimProcess):
    """A container held by its shim (implements ``tasks.api.Task``)."""

    async def exited(self) -> ExitStatus | None:
        """The exit status if the process has already ended (None while it runs)."""
        reply = await self.state()
        return exit_status_from_json(reply.get("exit"))

    def __init__(self, container_id: str, state_dir: str, pid: int = 0) -> None:
        super().__init__(container_id, state_dir, "", pid)

    async def kill(self, signal: int, all_processes: bool = False) -> None:
        await self._channel.call(self._request("kill", signal=int(signal), all=all_processes))

    async def delete(self) -> ExitStatus | None:
        try:
            reply = await self._channel.call({"op": "delete"})
        except ShimUnavailable:
            return exit_status_from_json(await asyncio.to_thread(read_exit, self.state_dir))
        return exit_status_from_json(reply.get("exit"))

    async def exec(self, spec: ExecSpec) -> ShimExec:
        await self._channel.call(
            {
                "op": "exec",
                "exec_id": spec.exec_id,
                "process": dict(spec.process),
                "open_stdin": spec.open_stdin,
                "stdin_once": spec.stdin_once,
                "console_size": list(spec.console_size) if spec.console_size else None,
            }
        )
        return ShimExec(self.container_id, self.state_dir, spec.exec_id)

    async def get_exec(self, exec_id: str) -> ShimExec | None:
        """An exec process the shim still knows (e.g. after a daemon restart); None if unknown."""
        proc = ShimExec(self.container_id, self.state_dir, exec_id)
        try:
            reply = await proc.state()
        except errors.NotFound:
            return None
        proc.pid = _int(reply.get("pid"))
        return proc


class _Spare:
    """A spare shim process and the read end of its readiness pipe."""

    def __init__(self, proc: asyncio.subprocess.Process, rfd: int, child_fd: int) -> None:
        self.proc = proc
        self.rfd = rfd
        self.child_fd = child_fd  # the write end's number inside the spare

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.rfd)
        if self.proc.stdin is not None:
            self.proc.stdin.close()


class ShimTaskManager:
    """Starts one ``dockyard-shim`` per container (implements ``tasks.api.TaskManager``).

    ``exit_linger``: seconds a shim stays up after its container exited while no
    client is connected, before it cleans up and exits (its exit status stays on
    disk for ``exit_status``).
    """

    def __init__(
        self,
        python: str = sys.executable,
        *,
        exit_linger: float = 30.0,
        ready_timeout: float = 10.0,
        keep_spare: bool = False,
    ) -> None:
        self._python = python
        self._exit_linger = exit_linger
        self._ready_timeout = ready_timeout
        # A warm shim (interpreter started, imports done) waiting for the next container:
        # it takes an interpreter launch off the start path.
        self._keep_spare = keep_spare
        self._spare: _Spare | None = None
        self._spare_task: asyncio.Task[None] | None = None

    async def _make_spare(self) -> None:
        rfd, wfd = os.pipe2(os.O_CLOEXEC)
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.shim_argv("spare"),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                pass_fds=(wfd,),
                start_new_session=True,
                cwd="/",
            )
        except BaseException:
            os.close(rfd)
            os.close(wfd)
            raise
        os.close(wfd)  # the spare holds it at the same number
        self._spare = _Spare(proc, rfd, wfd)

    def _refill(self) -> None:
        if self._keep_spare and (self._spare_task is None or self._spare_task.done()):
            self._spare_task = asyncio.ensure_future(self._make_spare())

    async def close(self) -> None:
        """Let the spare go (it exits on EOF)."""
        if self._spare_task is not None:
            with contextlib.suppress(BaseException):
                await self._spare_task
        spare, self._spare = self._spare, None
        if spare is not None:
            spare.discard()
            with contextlib.suppress(ProcessLookupError):
                await spare.proc.wait()

    def shim_argv(self, *args: str) -> list[str]:
        """The command line of a shim: a lean interpreter (no site, isolated) running the bootstrap."""
        package_parent = os.path.dirname(os.path.dirname(os.path.abspath(dockyard.__file__)))
        return [self._python, "-S", "-I", "-c", BOOTSTRAP, package_parent, *args]

    async def create(self, spec: TaskSpec) -> ShimTask:
        state_dir = os.path.abspath(spec.state_dir)
        await asyncio.to_thread(_write_spec, state_dir, spec_to_json(spec))
        await self._spawn(spec.container_id, state_dir)
        task = ShimTask(spec.container_id, state_dir)
        try:
            await task._channel.call({"op": "create"})
        except BaseException:
            with contextlib.suppress(errors.DockyardError, OSError):
                await task._channel.call({"op": "delete", "force": True})
            raise
        return task

    async def _use_spare(self, state_dir: str) -> tuple[asyncio.subprocess.Process, int] | None:
        if self._spare_task is not None and not self._spare_task.done():
            with contextlib.suppress(Exception):
                await self._spare_task
        spare, self._spare = self._spare, None
        self._refill()
        if spare is None:
            return None
        if spare.proc.returncode is not None or spare.proc.stdin is None:
            spare.discard()
            return None
        args = ["--state-dir", state_dir, "--ready-fd", str(spare.child_fd), "--linger", str(self._exit_linger)]
        try:
            spare.proc.stdin.write("\0".join(args).encode() + b"\n")
            await spare.proc.stdin.drain()
            spare.proc.stdin.close()
        except (ConnectionError, OSError):
            spare.discard()
            return None
        return spare.proc, spare.rfd

    async def _spawn(self, container_id: str, state_dir: str) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        warm = await self._use_spare(state_dir) if self._keep_spare else None
        if warm is not None:
            proc, rfd = warm
        else:
            proc, rfd = await self._launch(state_dir)
        pipe = os.fdopen(rfd, "rb", buffering=0)
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
        try:
            async with asyncio.timeout(self._ready_timeout):
                message = (await reader.read()).decode("utf-8", "replace")
                await proc.wait()  # the intermediate process exits as soon as it has forked the shim
        except TimeoutError:
            raise ShimUnavailable(f"shim of container {container_id} did not become ready") from None
        finally:
            transport.close()
        if message != "ok":
            detail = message.removeprefix("error: ") or _tail(os.path.join(state_dir, proto.SHIM_LOG))
            raise ShimUnavailable(f"shim of container {container_id} failed to start: {detail}")

    async def _launch(self, state_dir: str) -> tuple[asyncio.subprocess.Process, int]:
        rfd, wfd = os.pipe2(os.O_CLOEXEC)
        try:
            log_fd = os.open(
                os.path.join(state_dir, proto.SHIM_LOG), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
            try:
                proc = await asyncio.create_subprocess_exec(
                    *self.shim_argv(
                        "--state-dir", state_dir, "--ready-fd", str(wfd), "--linger", str(self._exit_linger)
                    ),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=log_fd,
                    pass_fds=(wfd,),
                    start_new_session=True,
                    cwd="/",
                )
            finally:
                os.close(log_fd)
        except BaseException:
            os.close(rfd)
            raise
        finally:
            os.close(wfd)
        return proc, rfd

    async def get(self, container_id: str, state_dir: str) -> ShimTask | None:
        state_dir = os.path.abspath(state_dir)
        task = ShimTask(container_id, state_dir)
        try:
            reply = await task.state()
        except ShimUnavailable:
            return None
        task.pid = _int(reply.get("pid")) if reply.get("status") == "running" else 0
        return task

    async def exit_status(self, container_id: str, state_dir: str) -> ExitStatus | None:
        return exit_status_from_json(await asyncio.to_thread(read_exit, os.path.abspath(state_dir)))

    async def cleanup(self, container_id: str, state_dir: str) -> None:
        state_dir = os.path.abspath(state_dir)
        task = await self.get(container_id, state_dir)
        if task is not None:
            with contextlib.suppress(errors.DockyardError):
                await task._channel.call({"op": "delete", "force": True})
        await asyncio.to_thread(_kill_stale_shim, state_dir)
        proc = await asyncio.create_subprocess_exec(
            *self.shim_argv("cleanup", "--state-dir", state_dir),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            cwd="/",
        )
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise errors.Internal(
                f"cleanup of container {container_id} failed: {err.decode('utf-8', 'replace').strip()}"
            )


def _write_spec(state_dir: str, data: dict[str, Any]) -> None:
    os.makedirs(state_dir, mode=0o711, exist_ok=True)
    path = os.path.join(state_dir, proto.SPEC_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(state_dir, proto.EXIT_FILE))  # a previous run's status


def _kill_stale_shim(state_dir: str) -> None:
    """SIGKILL a shim that holds the pid file but no longer answers (hung, not dead)."""
    try:
        with open(os.path.join(state_dir, proto.PID_FILE), encoding="ascii") as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().split(b"\0")
    except (OSError, ValueError):
        return
    if state_dir.encode() in cmdline:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _tail(path: str, limit: int = 2000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""
