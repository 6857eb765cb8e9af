"""The daemon's view of running containers: tasks held by per-container shims.

The engine only talks to these Protocols; ``tasks/shim_client.py`` implements
them by starting a ``dockyard-shim`` per container and speaking to it over a unix
socket. A shim outlives the daemon, so ``TaskManager.get`` can find a task again
after a daemon restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from dockyard.mount.types import Mount

__all__ = [
    "STDERR",
    "STDOUT",
    "AttachStream",
    "ExecProcess",
    "ExecSpec",
    "ExitStatus",
    "Task",
    "TaskManager",
    "TaskSpec",
]

STDOUT = 1
STDERR = 2


@dataclass(frozen=True)
class TaskSpec:
    """What a shim needs to run one container.

    ``bundle`` holds ``config.json``; the shim mounts ``rootfs_mounts`` (an
    overlay snapshot) on ``bundle/rootfs`` before creating the container and
    unmounts them on delete. ``runtime`` is ``"dockyard-runtime"`` (built in,
    run without a new interpreter) or the path of a runc-compatible binary.
    ``state_dir`` is where the shim keeps its socket, pid file and exit status.
    """

    container_id: str
    bundle: str
    state_dir: str
    runtime: str = "dockyard-runtime"
    runtime_root: str = "/run/dockyard/runtime"
    rootfs_mounts: tuple[Mount, ...] = ()
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    log_path: str | None = None  # json-file log; None for the ``none`` driver
    log_max_size: int = 0  # bytes; 0 = no rotation
    log_max_files: int = 1
    console_size: tuple[int, int] | None = None  # (height, width)
    extra_env: dict[str, str] = field(default_factory=dict)
    runtime_args: tuple[str, ...] = ()  # global options before each runtime command, e.g. --systemd-cgroup
    # A remote log driver (syslog, gelf): its settings, "driver" included; empty for the others.
    log_remote: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExitStatus:
    """How a container's process ended. ``exited_at`` is RFC 3339 with nanoseconds."""

    code: int
    exited_at: str
    oom_killed: bool = False
    error: str = ""  # set when the process could not be started at all


@dataclass(frozen=True)
class ExecSpec:
    """An extra process to run in a running container (``docker exec``).

    ``process`` is the OCI runtime spec's ``process`` object (args, env, cwd,
    user, capabilities, ``terminal`` for a TTY ...), handed to the runtime's
    ``exec --process``. Exec output goes to attached clients only, not to the log.
    """

    exec_id: str
    process: dict[str, object]
    open_stdin: bool = False
    stdin_once: bool = True  # a client's stdin half-close closes the process's stdin
    console_size: tuple[int, int] | None = None  # (height, width), with a TTY


class AttachStream(Protocol):
    """One client's view of a container's stdio."""

    async def read(self) -> tuple[int, bytes] | None:
        """The next chunk as ``(STDOUT|STDERR, data)``; None once the process has
        exited and all of its output has been delivered. With a TTY all output is STDOUT."""

    async def write(self, data: bytes) -> None:
        """Send bytes to the container's stdin (no-op when stdin is not open)."""

    async def close_stdin(self) -> None:
        """Half-close: the container sees EOF on stdin (when StdinOnce or TTY-less)."""

    async def close(self) -> None:
        """Detach this client; the container keeps running."""


class Task(Protocol):
    """A created container held by its shim."""

    container_id: str
    pid: int  # host pid of the container's init; 0 before start

    async def start(self) -> int:
        """Start the user process; returns its host pid."""

    async def kill(self, signal: int, all_processes: bool = False) -> None:
        """Deliver ``signal``; no error if the process has already exited."""

    async def wait(self) -> ExitStatus:
        """Block until the process exits (returns at once if it has)."""

    async def attach(self, *, stdin: bool, stdout: bool, stderr: bool) -> AttachStream:
        """Connect to the live stdio; may be called before ``start`` to miss nothing."""

    async def resize(self, height: int, width: int) -> None:
        """Resize the TTY (no-op without one)."""

    async def exited(self) -> ExitStatus | None:
        """The exit status if the process has already ended; None while it runs."""

    async def delete(self) -> ExitStatus | None:
        """After exit: delete the runtime state, unmount the rootfs and let the shim go."""

    async def exec(self, spec: ExecSpec) -> ExecProcess:
        """Prepare an extra process in the running container; ``start`` runs it."""


class ExecProcess(Protocol):
    """An extra process in a container, held by the container's shim."""

    exec_id: str
    pid: int  # host pid; 0 before start

    async def start(self) -> int:
        """Run the process (attach first to miss no output); returns its host pid."""

    async def kill(self, signal: int) -> None:
        """Deliver ``signal``; no error if the process has already exited."""

    async def wait(self) -> ExitStatus:
        """Block until the process exits (returns at once if it has)."""

    async def attach(self, *, stdin: bool, stdout: bool, stderr: bool) -> AttachStream:
        """Connect to the process's stdio."""

    async def resize(self, height: int, width: int) -> None:
        """Resize the process's TTY (no-op without one)."""

    async def delete(self) -> ExitStatus | None:
        """Forget the process once it has exited."""


class TaskManager(Protocol):
    async def create(self, spec: TaskSpec) -> Task:
        """Start a shim and create (not start) the container. Raises on failure with the
        runtime's error message (e.g. executable not found -> the engine maps exit codes)."""

    async def get(self, container_id: str, state_dir: str) -> Task | None:
        """Reconnect to a live shim (after a daemon restart); None if it is gone."""

    async def exit_status(self, container_id: str, state_dir: str) -> ExitStatus | None:
        """The exit status a shim recorded before it went away, if any."""

    async def cleanup(self, container_id: str, state_dir: str) -> None:
        """Remove what a dead shim left (mounts, runtime state) — idempotent."""
