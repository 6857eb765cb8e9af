"""Running the OCI runtime with runc's command-line contract.

``dockyard-runtime`` (the built-in runtime) is run in a forked child that calls
``dockyard.runtime.cli.main`` directly, saving a Python start-up per command;
any other runtime is a runc-compatible binary that is exec'd.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
from collections.abc import Sequence

from dockyard.shim.config import ShimConfig
from dockyard.shim.paths import RUNTIME_LOG

__all__ = ["Runtime", "RuntimeFailed", "error_from_log", "exit_code"]


class RuntimeFailed(Exception):
    """The runtime command failed; the message is what the runtime said."""


def exit_code(wait_status: int) -> int:
    """Docker's exit code: the process's own code, or 128+N when killed by signal N."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.waitstatus_to_exitcode(wait_status)


def error_from_log(text: str) -> str:
    """The error messages in a runtime's ``--log-format json`` output (raw text otherwise)."""
    msgs: list[str] = []
    plain: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            plain.append(line)
            continue
        if not isinstance(rec, dict):
            plain.append(line)
        elif rec.get("level") in ("error", "fatal", "panic") and isinstance(rec.get("msg"), str):
            msgs.append(rec["msg"])
    return "\n".join(msgs or plain)


class Runtime:
    """Runs runtime commands for one container (blocking; each takes milliseconds)."""

    def __init__(self, cfg: ShimConfig) -> None:
        self._cfg = cfg
        self._log = os.path.join(cfg.state_dir, RUNTIME_LOG)
        self._out = os.path.join(cfg.state_dir, "runtime-output")

    def create(self, pid_file: str, console_socket: str | None, stdio: tuple[int, int, int]) -> None:
        args = ["create", "--bundle", self._cfg.bundle, "--pid-file", pid_file]
        if console_socket:
            args += ["--console-socket", console_socket]
        self._check([*args, self._cfg.container_id], stdio)

    def exec(self, process_file: str, pid_file: str, console_socket: str | None, stdio: tuple[int, int, int]) -> None:
        """Start an extra process in the container (``exec --detach``); it is reparented to the shim."""
        args = ["exec", "--detach", "--process", process_file, "--pid-file", pid_file]
        if console_socket:
            args += ["--console-socket", console_socket]
        self._check([*args, self._cfg.container_id], stdio)

    def start(self) -> None:
        self._check(["start", self._cfg.container_id])

    def kill(self, sig: int, all_processes: bool = False) -> None:
        args = ["kill"] + (["--all"] if all_processes else []) + [self._cfg.container_id, str(sig)]
        self._check(args)

    def delete(self, force: bool = False) -> None:
        self._check(["delete"] + (["--force"] if force else []) + [self._cfg.container_id])

    def _check(self, args: Sequence[str], stdio: tuple[int, int, int] | None = None) -> None:
        try:
            log_start = os.path.getsize(self._log)
        except OSError:
            log_start = 0
        out_fd = -1
        if stdio is None:
            out_fd = os.open(self._out, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            stdio = (null, out_fd, out_fd)
            try:
                status = self._run(args, stdio)
            finally:
                os.close(null)
        else:
            status = self._run(args, stdio)
        try:
            if status == 0:
                return
            message = ""
            try:
                with open(self._log, "rb") as f:
                    f.seek(log_start)
                    message = error_from_log(f.read().decode("utf-8", "replace"))
            except OSError:
                pass
            if not message and out_fd >= 0:
                os.lseek(out_fd, 0, os.SEEK_SET)
                message = os.read(out_fd, 65536).decode("utf-8", "replace").strip()
            if not message:
                message = f"{self._cfg.runtime} {args[0]} failed with exit code {exit_code(status)}"
            raise RuntimeFailed(message)
        finally:
            if out_fd >= 0:
                os.close(out_fd)

    def _run(self, args: Sequence[str], stdio: tuple[int, int, int]) -> int:
        cfg = self._cfg
        argv = [*cfg.runtime_args, "--root", cfg.runtime_root, "--log", self._log, "--log-format", "json", *args]
        env = dict(os.environ)
        env.update(cfg.extra_env)
        runtime_main = None
        if cfg.builtin_runtime:
            # Imported once in the shim, before forking: every runtime call (create, start,
            # delete) then skips a ~20 ms import in its child.
            runtime_main = importlib.import_module("dockyard.runtime.cli").main
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 127
            try:
                signal.set_wakeup_fd(-1)
                for sig in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGINT, signal.SIGTERM):
                    signal.signal(sig, signal.SIG_DFL)
                if cfg.builtin_runtime:  # Python code expects EPIPE errors, not death by SIGPIPE
                    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
                for target, fd in enumerate(stdio):
                    os.dup2(fd, target)  # dup2 makes the target inheritable
                # the built-in runtime's init runs Python until it execs: it must not hold the shim's sockets
                os.closerange(3, os.sysconf("SC_OPEN_MAX"))
                if runtime_main is not None:
                    os.environ.update(cfg.extra_env)
                    try:
                        code = int(runtime_main(list(argv)))
                    except SystemExit as e:
                        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                else:
                    os.execve(cfg.runtime, [cfg.runtime, *argv], env)
            except BaseException as e:
                # stdio may be the container's: report through the runtime log instead
                _append_error(self._log, f"{cfg.runtime}: {e}")
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError, AttributeError):
                    pass
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        return status


def _append_error(path: str, message: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, json.dumps({"level": "error", "msg": message}).encode() + b"\n")
        finally:
            os.close(fd)
    except OSError:
        pass
