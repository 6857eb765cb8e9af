"""The shim's event loop: one process per container, single-threaded, selectors-based.

It holds the stdio of the container's init and of exec'd processes (pipes, or a
pty master received over the console socket), copies the init's output to the
json-file log and every process's output to its attached clients, forwards
clients' stdin, reaps (the shim is a child subreaper) and records the init's
exit status in the state directory.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import selectors
import signal
import socket
import time
from collections.abc import Callable

from dockyard.shim import protocol as proto
from dockyard.shim.config import ShimConfig, load_config
from dockyard.shim.exitfile import oom_counter, write_exit
from dockyard.shim.jsonlog import JsonFileLog, LineLog, TeeLog, format_time
from dockyard.shim.mounts import MountError, mount_all, unmount
from dockyard.shim.runtime import Runtime, RuntimeFailed, exit_code

__all__ = ["RequestError", "Shim", "serve"]

DRAIN_TIMEOUT = 2.0  # how long output may trail a process's exit (e.g. a daemonised child)
READ_SIZE = 65536
# Backpressure: stop reading a process's output while a client has this much unsent (the
# process then blocks on its pipe, as under Docker), resume once it is below LOW_WATER.
HIGH_WATER = 1 << 20
LOW_WATER = 256 << 10
INIT = ""  # the exec id of the container's init
_STREAM_NAMES = {proto.STDOUT: "stdout", proto.STDERR: "stderr"}

Handler = Callable[[int], None]


def serve(state_dir: str, listener_fd: int, linger: float) -> int:
    """Run the shim whose socket is ``listener_fd`` until the container is deleted."""
    listener = socket.socket(fileno=listener_fd)
    try:
        _set_child_subreaper()
        cfg = load_config(os.path.join(state_dir, proto.SPEC_FILE))
    except (OSError, ValueError) as e:
        os.write(2, f"dockyard-shim: cannot serve {state_dir}: {e}\n".encode())
        listener.close()
        for name in (proto.SOCKET_NAME, proto.PID_FILE):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(state_dir, name))
        return 1
    shim = Shim(cfg, listener, linger)
    try:
        shim.run()
    finally:
        listener.close()
        shim.unlink_endpoints()
    return 0


def _set_child_subreaper() -> None:
    """Orphaned container processes (the init, once ``create`` exits) become our children."""
    import ctypes

    pr_set_child_subreaper = 36
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


class RequestError(Exception):
    """A request failed; ``kind`` is the dockyard error category sent to the client."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class _Conn:
    """One client connection: a request, then (for attach) frames both ways."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.mode = "request"  # request | attach | wait | reply
        self.proc: _Proc | None = None  # the process attached to or waited for
        self.streams: frozenset[int] = frozenset()
        self.stdin = False
        self.close_when_flushed = False
        self.output_done = False  # attach: all output sent, our side shut down, waiting for the client's close
        self.closed = False


class _Proc:
    """One process in the container (the init or an exec) and its stdio."""

    def __init__(self, exec_id: str, tty: bool, open_stdin: bool, stdin_once: bool) -> None:
        self.exec_id = exec_id
        self.tty = tty
        self.open_stdin = open_stdin
        self.stdin_once = stdin_once
        self.console_size: tuple[int, int] | None = None
        self.process_spec: dict[str, object] = {}
        self.status = "new"  # new | created | running | stopped | failed
        self.pid = 0
        self.out_fds: dict[int, int] = {}  # fd -> stream id
        self.stdin_fd = -1
        self.stdin_buf = bytearray()
        self.stdin_close_pending = False
        self.master_fd = -1
        self.wait_status: int | None = None
        self.exited_ns = 0
        self.exit_info: dict[str, object] | None = None
        self.drain_deadline: float | None = None
        self.paused = False


def _remote_log(remote: dict[str, str]) -> LineLog:
    """The writer of a remote log driver, imported only when a container uses one."""
    get = remote.get
    if get("driver") == "gelf":
        from dockyard.shim.gelf import GelfLog

        extra = {k[1:]: v for k, v in remote.items() if k.startswith("_")}  # the message's own fields
        return GelfLog(get("address", ""), extra, get("compression", "gzip"), int(get("level", "-1")))
    from dockyard.shim.syslog import SyslogLog

    return SyslogLog(get("address", ""), get("facility", ""), get("format", ""), get("tag", ""))


class Shim:
    def __init__(self, cfg: ShimConfig, listener: socket.socket, linger: float) -> None:
        self.cfg = cfg
        self.runtime = Runtime(cfg)
        self.linger = linger
        self.sel = selectors.DefaultSelector()
        self.listener = listener
        self.conns: set[_Conn] = set()
        self.log: LineLog | None = None
        self.mounted = 0
        self.init = _Proc(INIT, cfg.tty, cfg.open_stdin, cfg.stdin_once)
        self.init.console_size = cfg.console_size
        self.procs: dict[str, _Proc] = {INIT: self.init}
        self.reaped: dict[int, int] = {}
        self.oom_file = ""
        self.oom_before = 0
        self.linger_deadline: float | None = None
        self.done = False

    # --- loop -------------------------------------------------------------

    def run(self) -> None:
        rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
        self.listener.setblocking(False)
        self.sel.register(self.listener, selectors.EVENT_READ, self._on_accept)
        self.sel.register(rfd, selectors.EVENT_READ, lambda _m: self._on_signal(rfd))
        try:
            while not self.done:
                for key, mask in self.sel.select(self._timeout()):
                    handler: Handler = key.data
                    handler(mask)
                    if self.done:
                        break
                self._timers()
        finally:
            signal.set_wakeup_fd(-1)
            self._teardown()
            os.close(rfd)
            os.close(wfd)

    def _timeout(self) -> float | None:
        deadlines = [p.drain_deadline for p in self.procs.values() if p.drain_deadline is not None]
        if self.linger_deadline is not None:
            deadlines.append(self.linger_deadline)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _timers(self) -> None:
        now = time.monotonic()
        for proc in list(self.procs.values()):
            if proc.drain_deadline is not None and now >= proc.drain_deadline:
                proc.drain_deadline = None
                for fd in list(proc.out_fds):
                    self._drain_now(proc, fd)
                self._maybe_finish(proc)
        if self.linger_deadline is not None and now >= self.linger_deadline and not self.conns:
            self._release()
            self.unlink_endpoints()
            self.done = True

    def _update_linger(self) -> None:
        if self.init.exit_info is not None and not self.conns and self.linger >= 0:
            if self.linger_deadline is None:
                self.linger_deadline = time.monotonic() + self.linger
        else:
            self.linger_deadline = None

    # --- connections ------------------------------------------------------

    def _on_accept(self, _mask: int) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            sock.setblocking(False)
            conn = _Conn(sock)
            self.conns.add(conn)
            self.sel.register(sock, selectors.EVENT_READ, lambda m, c=conn: self._on_conn(c, m))
            self._update_linger()

    def _on_conn(self, conn: _Conn, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush(conn)
        if mask & selectors.EVENT_READ and not conn.closed:
            try:
                data = conn.sock.recv(READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self._close_conn(conn)
                return
            conn.inbuf += data
            self._process(conn)

    def _process(self, conn: _Conn) -> None:
        if conn.mode == "request":
            if len(conn.inbuf) < 4:
                return
            try:
                n = proto.message_length(bytes(conn.inbuf[:4]))
            except proto.ProtocolError:
                self._close_conn(conn)
                return
            if len(conn.inbuf) < 4 + n:
                return
            body = bytes(conn.inbuf[4 : 4 + n])
            del conn.inbuf[: 4 + n]
            try:
                reply = self._dispatch(conn, proto.decode_message(body))
            except RequestError as e:
                reply = {"ok": False, "kind": e.kind, "error": e.message}
            except proto.ProtocolError as e:
                reply = {"ok": False, "kind": "InvalidArgument", "error": str(e)}
            if reply is not None:
                self._send(conn, proto.encode_message(reply))
                if conn.mode == "request":
                    conn.mode = "reply"
                    conn.close_when_flushed = True
                    self._flush(conn)
        if conn.mode == "attach":
            self._attach_input(conn)

    def _send(self, conn: _Conn, data: bytes) -> None:
        if conn.closed or conn.output_done:
            return
        conn.outbuf += data
        self._flush(conn)

    def _flush(self, conn: _Conn) -> None:
        if conn.closed:
            return
        while conn.outbuf:
            try:
                n = conn.sock.send(conn.outbuf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._close_conn(conn)
                return
            del conn.outbuf[:n]
        if conn.proc is not None and conn.proc.paused and len(conn.outbuf) < LOW_WATER:
            self._maybe_resume(conn.proc)
        if not conn.outbuf and conn.close_when_flushed:
            if conn.mode == "attach":
                self._end_output(conn)
            else:
                self._close_conn(conn)
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.outbuf else 0)
        self.sel.modify(conn.sock, events, lambda m, c=conn: self._on_conn(c, m))

    def _end_output(self, conn: _Conn) -> None:
        """An attach stream's output is complete: shut our side down and close once the client
        closes its own. Closing at once can leave a frame of the client's unread (its end of
        stdin, sent as the process exits), and a unix socket closed with unread data resets
        the peer, which then loses output it has received but not yet read."""
        conn.close_when_flushed = False
        conn.output_done = True
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close_conn(conn)
            return
        self.sel.modify(conn.sock, selectors.EVENT_READ, lambda m, c=conn: self._on_conn(c, m))

    def _close_conn(self, conn: _Conn) -> None:
        if conn.closed:
            return
        conn.closed = True
        self.sel.unregister(conn.sock)
        conn.sock.close()
        self.conns.discard(conn)
        if conn.proc is not None and conn.proc.paused:
            self._maybe_resume(conn.proc)
        self._update_linger()

    def _attach_input(self, conn: _Conn) -> None:
        proc = conn.proc
        while len(conn.inbuf) >= proto.HEADER_SIZE:
            stream, n = proto.decode_header(bytes(conn.inbuf[: proto.HEADER_SIZE]))
            if len(conn.inbuf) < proto.HEADER_SIZE + n:
                return
            data = bytes(conn.inbuf[proto.HEADER_SIZE : proto.HEADER_SIZE + n])
            del conn.inbuf[: proto.HEADER_SIZE + n]
            if not conn.stdin or proc is None:
                continue
            if stream == proto.STDIN and data:
                self._write_stdin(proc, data)
            elif stream == proto.CLOSE_STDIN and proc.stdin_once and not proc.tty:
                proc.stdin_close_pending = True
                self._write_stdin(proc, b"")

    # --- requests -----------------------------------------------------------

    def _proc_for(self, req: dict[str, object]) -> _Proc:
        exec_id = req.get("exec_id", INIT)
        proc = self.procs.get(exec_id) if isinstance(exec_id, str) else None
        if proc is None:
            raise RequestError("NotFound", f"no such exec: {exec_id}")
        return proc

    def _dispatch(self, conn: _Conn, req: dict[str, object]) -> dict[str, object] | None:
        op = req.get("op")
        if op == "create":
            self._create()
            return {"ok": True, "pid": self.init.pid}
        if op == "exec":
            self._new_exec(req)
            return {"ok": True}
        if op == "delete" and not req.get("exec_id"):
            return self._delete(bool(req.get("force", False)))
        proc = self._proc_for(req)
        if op == "state":
            return {"ok": True, "status": proc.status, "pid": proc.pid, "exit": proc.exit_info}
        if op == "start":
            return self._start(proc)
        if op == "kill":
            sig = req.get("signal", signal.SIGKILL)
            if not isinstance(sig, int):
                raise RequestError("InvalidArgument", "signal must be an integer")
            self._kill(proc, sig, bool(req.get("all", False)))
            return {"ok": True}
        if op == "wait":
            if proc.exit_info is not None:
                return {"ok": True, "exit": proc.exit_info}
            if proc.status == "failed":
                raise RequestError("Conflict", f"process {proc.exec_id or 'init'} never started")
            conn.mode = "wait"
            conn.proc = proc
            return None
        if op == "attach":
            conn.streams = frozenset(
                s for s, want in ((proto.STDOUT, req.get("stdout")), (proto.STDERR, req.get("stderr"))) if want
            )
            conn.stdin = bool(req.get("stdin")) and proc.open_stdin
            conn.proc = proc
            conn.mode = "attach"
            self._send(conn, proto.encode_message({"ok": True}))
            if proc.exit_info is not None or proc.status == "failed":
                conn.close_when_flushed = True
                self._flush(conn)
            return None
        if op == "resize":
            h, w = req.get("height"), req.get("width")
            if not isinstance(h, int) or not isinstance(w, int):
                raise RequestError("InvalidArgument", "height and width must be integers")
            self._resize(proc, h, w)
            return {"ok": True}
        if op == "delete":
            return self._delete_exec(proc)
        raise RequestError("InvalidArgument", f"unknown request {op!r}")

    def _create(self) -> None:
        init = self.init
        if init.status != "new":
            raise RequestError("Conflict", f"container {self.cfg.container_id} is already created")
        cfg = self.cfg
        rootfs = os.path.join(cfg.bundle, "rootfs")
        try:
            if cfg.rootfs_mounts:
                os.makedirs(rootfs, exist_ok=True)
                mount_all(cfg.rootfs_mounts, rootfs)
                self.mounted = len(cfg.rootfs_mounts)
        except (MountError, OSError) as e:
            init.status = "failed"
            raise RequestError("Internal", str(e)) from None
        if (cfg.log_path or cfg.log_remote) and self.log is None:
            self._open_log()  # an empty log exists from the start, as with dockerd
        pid_file = os.path.join(cfg.state_dir, "init.pid")
        try:
            self._launch(init, pid_file, lambda console, stdio: self.runtime.create(pid_file, console, stdio))
        except RequestError:
            self._unmount_rootfs()
            raise
        self.oom_file, self.oom_before = oom_counter(init.pid)
        self._check_reaped(init)

    def _new_exec(self, req: dict[str, object]) -> None:
        exec_id, process = req.get("exec_id"), req.get("process")
        if not isinstance(exec_id, str) or not exec_id or not isinstance(process, dict):
            raise RequestError("InvalidArgument", "exec needs an exec_id and an OCI process object")
        if exec_id in self.procs:
            raise RequestError("Conflict", f"exec {exec_id} already exists")
        if self.init.status != "running" or self.init.wait_status is not None:
            raise RequestError("Conflict", f"container {self.cfg.container_id} is not running")
        tty = bool(process.get("terminal"))
        proc = _Proc(exec_id, tty, bool(req.get("open_stdin")), bool(req.get("stdin_once")))
        size = req.get("console_size")
        if isinstance(size, list) and len(size) == 2 and all(isinstance(x, int) for x in size):
            proc.console_size = (size[0], size[1])
        if proc.console_size and "consoleSize" not in process:
            # the runtime starts the process before handing over the console: it must size it itself
            process = {**process, "consoleSize": {"height": proc.console_size[0], "width": proc.console_size[1]}}
        proc.process_spec = process
        proc.status = "created"
        self.procs[exec_id] = proc

    def _launch(self, proc: _Proc, pid_file: str, command: Callable[[str | None, tuple[int, int, int]], None]) -> None:
        """Run a runtime command that starts ``proc`` with its stdio; record its pid."""
        try:
            if proc.tty:
                self._launch_tty(proc, command)
            else:
                self._launch_pipes(proc, command)
            with open(pid_file, encoding="ascii") as f:
                proc.pid = int(f.read().strip())
        except RuntimeFailed as e:
            proc.status = "failed"
            self._close_stdio(proc)
            self._end_clients(proc, {"ok": False, "kind": "RuntimeFailed", "error": str(e)})
            raise RequestError("RuntimeFailed", str(e)) from None
        except (OSError, ValueError) as e:
            proc.status = "failed"
            self._close_stdio(proc)
            if proc is self.init:
                with contextlib.suppress(RuntimeFailed):
                    self.runtime.delete(force=True)
            raise RequestError("Internal", f"{self.cfg.container_id}: {e}") from None

    def _launch_pipes(self, proc: _Proc, command: Callable[[str | None, tuple[int, int, int]], None]) -> None:
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        if proc.open_stdin:
            in_r, in_w = os.pipe2(os.O_CLOEXEC)
        else:
            in_r, in_w = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), -1
        try:
            command(None, (in_r, out_w, err_w))
        except BaseException:
            for fd in (out_r, err_r, in_w):
                if fd >= 0:
                    os.close(fd)
            raise
        finally:
            for fd in (in_r, out_w, err_w):
                os.close(fd)
        self._add_output(proc, out_r, proto.STDOUT)
        self._add_output(proc, err_r, proto.STDERR)
        if in_w >= 0:
            os.set_blocking(in_w, False)
            proc.stdin_fd = in_w

    def _launch_tty(self, proc: _Proc, command: Callable[[str | None, tuple[int, int, int]], None]) -> None:
        import tempfile

        tmp = tempfile.mkdtemp(prefix="dyshim-")  # short path: sun_path is only 108 bytes
        path = os.path.join(tmp, "console.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            listener.listen(1)
            null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            try:
                command(path, (null, null, null))
            finally:
                os.close(null)
            listener.settimeout(10)
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(10)
                _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
        finally:
            listener.close()
            with contextlib.suppress(OSError):
                os.unlink(path)
            with contextlib.suppress(OSError):
                os.rmdir(tmp)
        if not fds:
            raise OSError(errno.EPROTO, "runtime sent no console")
        master = fds[0]
        os.set_inheritable(master, False)
        os.set_blocking(master, False)
        proc.master_fd = master
        if proc.console_size:
            self._resize(proc, *proc.console_size)
        self._add_output(proc, master, proto.STDOUT)
        proc.stdin_fd = os.dup(master)

    def _start(self, proc: _Proc) -> dict[str, object]:
        if proc.status != "created":
            raise RequestError("Conflict", f"process {proc.exec_id or 'init'} is {proc.status}, not created")
        if proc is self.init:
            try:
                self.runtime.start()
            except RuntimeFailed as e:
                raise RequestError("RuntimeFailed", str(e)) from None
        else:
            if self.init.wait_status is not None:
                raise RequestError("Conflict", f"container {self.cfg.container_id} is not running")
            base = os.path.join(self.cfg.state_dir, f"exec-{_safe_name(proc.exec_id)}")
            with open(base + ".json", "w", encoding="utf-8") as f:
                json.dump(proc.process_spec, f)
            pid_file = base + ".pid"
            self._launch(
                proc, pid_file, lambda console, stdio: self.runtime.exec(base + ".json", pid_file, console, stdio)
            )
            self._reap()
            self._check_reaped(proc)
        proc.status = "running" if proc.wait_status is None else "stopped"
        return {"ok": True, "pid": proc.pid}

    def _check_reaped(self, proc: _Proc) -> None:
        """``proc`` may have exited (and been reaped as an unknown pid) before its pid was known."""
        if proc.status != "failed":
            proc.status = "created" if proc is self.init else "running"
        if proc.pid in self.reaped and proc.wait_status is None:
            self._on_exit(proc, self.reaped.pop(proc.pid))

    def _kill(self, proc: _Proc, sig: int, all_processes: bool) -> None:
        if proc.status not in ("created", "running") or proc.wait_status is not None:
            return
        if proc is not self.init:
            # an exec'd process is our child until we reap it, so its pid cannot be reused meanwhile
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)
            return
        try:
            self.runtime.kill(sig, all_processes)
        except RuntimeFailed as e:
            self._reap()
            if proc.wait_status is None:
                raise RequestError("RuntimeFailed", str(e)) from None

    def _resize(self, proc: _Proc, height: int, width: int) -> None:
        if proc.master_fd < 0:
            return
        import fcntl
        import struct
        import termios

        with contextlib.suppress(OSError):
            fcntl.ioctl(proc.master_fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def _delete(self, force: bool) -> dict[str, object]:
        init = self.init
        if init.status == "running" and init.wait_status is None and not force:
            raise RequestError("Conflict", f"container {self.cfg.container_id} is running: stop it first")
        self._release()
        self.unlink_endpoints()
        self.done = True
        return {"ok": True, "exit": init.exit_info}

    def _delete_exec(self, proc: _Proc) -> dict[str, object]:
        if proc.status == "running" and proc.exit_info is None:
            raise RequestError("Conflict", f"exec {proc.exec_id} is running")
        self._close_stdio(proc)
        del self.procs[proc.exec_id]
        base = os.path.join(self.cfg.state_dir, f"exec-{_safe_name(proc.exec_id)}")
        for leftover in (base + ".json", base + ".pid"):
            with contextlib.suppress(OSError):
                os.unlink(leftover)
        return {"ok": True, "exit": proc.exit_info}

    def _release(self) -> None:
        """Delete the runtime's state and unmount the rootfs (the container is gone)."""
        if self.init.status in ("created", "running", "stopped"):
            with contextlib.suppress(RuntimeFailed):
                self.runtime.delete(force=True)
        self._unmount_rootfs()

    def unlink_endpoints(self) -> None:
        """Going away: a new client must find no socket rather than one nobody answers."""
        for name in (proto.SOCKET_NAME, proto.PID_FILE):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.cfg.state_dir, name))

    def _unmount_rootfs(self) -> None:
        rootfs = os.path.join(self.cfg.bundle, "rootfs")
        while self.mounted > 0:
            with contextlib.suppress(MountError):
                unmount(rootfs)
            self.mounted -= 1

    # --- stdio ----------------------------------------------------------------

    def _add_output(self, proc: _Proc, fd: int, stream: int) -> None:
        os.set_blocking(fd, False)
        proc.out_fds[fd] = stream
        if not proc.paused:
            self._watch_output(proc, fd)

    def _watch_output(self, proc: _Proc, fd: int) -> None:
        self.sel.register(fd, selectors.EVENT_READ, lambda _m: self._on_output(proc, fd))

    def _pause(self, proc: _Proc) -> None:
        proc.paused = True
        for fd in proc.out_fds:
            self.sel.unregister(fd)

    def _maybe_resume(self, proc: _Proc) -> None:
        if any(c.proc is proc and c.mode == "attach" and len(c.outbuf) >= LOW_WATER for c in self.conns):
            return
        proc.paused = False
        for fd in proc.out_fds:
            self._watch_output(proc, fd)

    def _on_output(self, proc: _Proc, fd: int) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # EIO on a pty master once the last slave is closed
            data = b""
        if data:
            self._deliver(proc, proc.out_fds[fd], data)
        else:
            self._close_output(proc, fd)
            self._maybe_finish(proc)

    def _drain_now(self, proc: _Proc, fd: int) -> None:
        """Take what is buffered in ``fd`` and close it (a surviving writer may not keep us here)."""
        for _ in range(64):
            try:
                data = os.read(fd, READ_SIZE)
            except OSError:
                break
            if not data:
                break
            self._deliver(proc, proc.out_fds[fd], data)
        self._close_output(proc, fd)

    def _deliver(self, proc: _Proc, stream: int, data: bytes) -> None:
        if proc is self.init and (self.cfg.log_path or self.cfg.log_remote):  # exec output is not logged, as in Docker
            if self.log is None:
                self._open_log()
            if self.log is not None:
                try:
                    self.log.write(_STREAM_NAMES[stream], data)
                except OSError as e:
                    self._warn(f"log write failed: {e}")
        frame = proto.encode_frame(stream, data)
        for conn in list(self.conns):
            if conn.mode == "attach" and conn.proc is proc and stream in conn.streams:
                self._send(conn, frame)
                if len(conn.outbuf) > HIGH_WATER and not proc.paused and proc.wait_status is None:
                    self._pause(proc)

    def _close_output(self, proc: _Proc, fd: int) -> None:
        stream = proc.out_fds.pop(fd)
        if not proc.paused:
            self.sel.unregister(fd)
        os.close(fd)
        if fd == proc.master_fd:
            proc.master_fd = -1
        if proc is self.init and self.log is not None and stream not in proc.out_fds.values():
            with contextlib.suppress(OSError):
                self.log.flush(_STREAM_NAMES[stream])

    def _open_log(self) -> None:
        cfg = self.cfg
        sinks: list[LineLog] = []
        if cfg.log_path:  # json-file, local, or a remote driver's local cache (dockerd's dual logging)
            try:
                sinks.append(JsonFileLog(cfg.log_path, cfg.log_max_size, cfg.log_max_files))
            except OSError as e:
                self._warn(f"cannot open log {cfg.log_path}: {e}")
        if cfg.log_remote:
            remote = dict(cfg.log_remote)
            try:
                sinks.append(_remote_log(remote))
            except (OSError, ValueError) as e:
                self._warn(f"cannot reach the {remote.get('driver')} log collector {remote.get('address')}: {e}")
        if len(sinks) > 1:
            self.log = TeeLog(sinks)
        elif sinks:
            self.log = sinks[0]

    def _write_stdin(self, proc: _Proc, data: bytes) -> None:
        if proc.stdin_fd < 0:
            return
        proc.stdin_buf += data
        self._on_stdin_writable(proc)

    def _on_stdin_writable(self, proc: _Proc) -> None:
        fd = proc.stdin_fd
        if fd < 0:
            return
        try:
            while proc.stdin_buf:
                n = os.write(fd, proc.stdin_buf)
                del proc.stdin_buf[:n]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:  # the process closed its stdin or exited
            proc.stdin_buf.clear()
            proc.stdin_close_pending = True
        registered = fd in self.sel.get_map()
        if proc.stdin_buf and not registered:
            self.sel.register(fd, selectors.EVENT_WRITE, lambda _m: self._on_stdin_writable(proc))
        elif not proc.stdin_buf and registered:
            self.sel.unregister(fd)
        if not proc.stdin_buf and proc.stdin_close_pending:
            self._close_stdin(proc)

    def _close_stdin(self, proc: _Proc) -> None:
        if proc.stdin_fd >= 0:
            if proc.stdin_fd in self.sel.get_map():
                self.sel.unregister(proc.stdin_fd)
            os.close(proc.stdin_fd)
            proc.stdin_fd = -1
        proc.stdin_buf.clear()

    def _close_stdio(self, proc: _Proc) -> None:
        for fd in list(proc.out_fds):
            self._close_output(proc, fd)
        self._close_stdin(proc)

    # --- exits ------------------------------------------------------------------

    def _on_signal(self, rfd: int) -> None:
        with contextlib.suppress(OSError):
            os.read(rfd, 512)
        self._reap()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for proc in self.procs.values():
                if proc.pid == pid and proc.wait_status is None:
                    self._on_exit(proc, status)
                    break
            else:
                self.reaped[pid] = status

    def _on_exit(self, proc: _Proc, status: int) -> None:
        proc.wait_status = status
        proc.exited_ns = time.time_ns()
        proc.status = "stopped"
        if proc.out_fds:
            proc.drain_deadline = time.monotonic() + DRAIN_TIMEOUT
        self._maybe_finish(proc)

    def _maybe_finish(self, proc: _Proc) -> None:
        """Once a process has exited and its output is drained: record, notify, end streams."""
        if proc.wait_status is None or proc.exit_info is not None or proc.out_fds:
            return
        proc.drain_deadline = None
        self._close_stdin(proc)
        info: dict[str, object] = {"code": exit_code(proc.wait_status), "exited_at": format_time(proc.exited_ns)}
        if proc is self.init:
            if self.log is not None:
                self.log.close()
            oom = False
            if self.oom_file:
                _, after = oom_counter(proc.pid, self.oom_file)
                oom = after > self.oom_before
            info["oom_killed"] = oom
            write_exit(self.cfg.state_dir, info)
        proc.exit_info = info
        self._end_clients(proc, {"ok": True, "exit": info})
        if proc is self.init:  # execs prepared but never started cannot start any more
            for other in self.procs.values():
                if other.status == "created" and other is not self.init:
                    other.status = "failed"
                    never = {"ok": False, "kind": "Conflict", "error": f"process {other.exec_id} never started"}
                    self._end_clients(other, never)
        self._update_linger()

    def _end_clients(self, proc: _Proc, wait_reply: dict[str, object]) -> None:
        """Answer ``proc``'s waiters and end its attach streams once their output is flushed."""
        for conn in list(self.conns):
            if conn.proc is not proc:
                continue
            if conn.mode == "wait":
                conn.mode = "reply"
                conn.close_when_flushed = True
                self._send(conn, proto.encode_message(wait_reply))
            elif conn.mode == "attach":
                conn.close_when_flushed = True
                self._flush(conn)

    def _teardown(self) -> None:
        for conn in list(self.conns):
            with contextlib.suppress(OSError):
                conn.sock.setblocking(True)
                conn.sock.settimeout(1.0)
                if conn.outbuf:
                    conn.sock.sendall(conn.outbuf)
            self._close_conn(conn)
        for proc in self.procs.values():
            self._close_stdio(proc)
        if self.log is not None:
            self.log.close()
        self.sel.close()

    def _warn(self, message: str) -> None:
        with contextlib.suppress(OSError):
            os.write(2, f"dockyard-shim {self.cfg.container_id}: {message}\n".encode())


def _safe_name(exec_id: str) -> str:
    """A file name for an exec id (ids come from the daemon, but never trust a path)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in exec_id)[:128] or "_"
