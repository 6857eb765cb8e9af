"""The shim's event loop: one process per container, single-threaded, selectors-based.

It holds the container's stdio (pipes, or a pty master received over the
console socket), copies output to the json-file log and to attached clients,
forwards clients' stdin, reaps the container's init (the shim is a child
subreaper) and records its exit status in the state directory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import signal
import socket
import time
from collections.abc import Callable

from dockyard.shim import protocol as proto
from dockyard.shim.config import ShimConfig, load_config
from dockyard.shim.exitfile import oom_counter, write_exit
from dockyard.shim.jsonlog import JsonFileLog, format_time
from dockyard.shim.mounts import MountError, mount_all, unmount
from dockyard.shim.runtime import Runtime, RuntimeFailed, exit_code

__all__ = ["RequestError", "Shim", "serve"]

DRAIN_TIMEOUT = 2.0  # how long output may trail the init's exit (e.g. a daemonised child)
READ_SIZE = 65536
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
        shim._unlink_endpoints()
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
        self.streams: frozenset[int] = frozenset()
        self.stdin = False
        self.close_when_flushed = False
        self.closed = False


class Shim:
    def __init__(self, cfg: ShimConfig, listener: socket.socket, linger: float) -> None:
        self.cfg = cfg
        self.runtime = Runtime(cfg)
        self.linger = linger
        self.sel = selectors.DefaultSelector()
        self.listener = listener
        self.conns: set[_Conn] = set()
        self.log: JsonFileLog | None = None
        self.out_fds: dict[int, int] = {}  # fd -> stream id
        self.stdin_fd = -1
        self.stdin_buf = bytearray()
        self.stdin_close_pending = False
        self.master_fd = -1
        self.mounted = 0
        self.status = "new"  # new | created | running | stopped | failed
        self.init_pid = 0
        self.exit_info: dict[str, object] | None = None
        self.wait_status: int | None = None
        self.exited_ns = 0
        self.reaped: dict[int, int] = {}
        self.oom_file = ""
        self.oom_before = 0
        self.drain_deadline: float | None = None
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
        deadlines = [d for d in (self.drain_deadline, self.linger_deadline) if d is not None]
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _timers(self) -> None:
        now = time.monotonic()
        if self.drain_deadline is not None and now >= self.drain_deadline:
            self.drain_deadline = None
            for fd in list(self.out_fds):
                self._drain_now(fd)
            self._maybe_finish()
        if self.linger_deadline is not None and now >= self.linger_deadline and not self.conns:
            self._release()
            self._unlink_endpoints()
            self.done = True

    def _update_linger(self) -> None:
        if self.exit_info is not None and not self.conns and self.linger >= 0:
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
            n = proto.message_length(bytes(conn.inbuf[:4]))
            if len(conn.inbuf) < 4 + n:
                return
            body = bytes(conn.inbuf[4 : 4 + n])
            del conn.inbuf[: 4 + n]
            try:
                req = proto.decode_message(body)
                reply = self._dispatch(conn, req)
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
        if conn.closed:
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
        if not conn.outbuf and conn.close_when_flushed:
            self._close_conn(conn)
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.outbuf else 0)
        self.sel.modify(conn.sock, events, lambda m, c=conn: self._on_conn(c, m))

    def _close_conn(self, conn: _Conn) -> None:
        if conn.closed:
            return
        conn.closed = True
        self.sel.unregister(conn.sock)
        conn.sock.close()
        self.conns.discard(conn)
        self._update_linger()

    def _attach_input(self, conn: _Conn) -> None:
        while len(conn.inbuf) >= proto.HEADER_SIZE:
            stream, n = proto.decode_header(bytes(conn.inbuf[: proto.HEADER_SIZE]))
            if len(conn.inbuf) < proto.HEADER_SIZE + n:
                return
            data = bytes(conn.inbuf[proto.HEADER_SIZE : proto.HEADER_SIZE + n])
            del conn.inbuf[: proto.HEADER_SIZE + n]
            if not conn.stdin:
                continue
            if stream == proto.STDIN and data:
                self._write_stdin(data)
            elif stream == proto.CLOSE_STDIN and self.cfg.stdin_once and not self.cfg.tty:
                self.stdin_close_pending = True
                self._write_stdin(b"")

    # --- requests -----------------------------------------------------------

    def _dispatch(self, conn: _Conn, req: dict[str, object]) -> dict[str, object] | None:
        op = req.get("op")
        if req.get("exec_id"):
            raise RequestError("NotImplementedYet", "exec is not supported by this shim yet")
        if op == "state":
            return {"ok": True, "status": self.status, "pid": self.init_pid, "exit": self.exit_info}
        if op == "create":
            self._create()
            return {"ok": True, "pid": self.init_pid}
        if op == "start":
            return self._start()
        if op == "kill":
            sig = req.get("signal", signal.SIGKILL)
            if not isinstance(sig, int):
                raise RequestError("InvalidArgument", "signal must be an integer")
            self._kill(sig, bool(req.get("all", False)))
            return {"ok": True}
        if op == "wait":
            if self.exit_info is not None:
                return {"ok": True, "exit": self.exit_info}
            conn.mode = "wait"
            return None
        if op == "attach":
            conn.streams = frozenset(
                s for s, want in ((proto.STDOUT, req.get("stdout")), (proto.STDERR, req.get("stderr"))) if want
            )
            conn.stdin = bool(req.get("stdin")) and (self.stdin_fd >= 0 or self.status in ("new", "created"))
            conn.mode = "attach"
            self._send(conn, proto.encode_message({"ok": True}))
            if self.exit_info is not None:
                conn.close_when_flushed = True
                self._flush(conn)
            return None
        if op == "resize":
            h, w = req.get("height"), req.get("width")
            if not isinstance(h, int) or not isinstance(w, int):
                raise RequestError("InvalidArgument", "height and width must be integers")
            self._resize(h, w)
            return {"ok": True}
        if op == "delete":
            return self._delete(bool(req.get("force", False)))
        raise RequestError("InvalidArgument", f"unknown request {op!r}")

    def _create(self) -> None:
        if self.status != "new":
            raise RequestError("Conflict", f"container {self.cfg.container_id} is already created")
        cfg = self.cfg
        rootfs = os.path.join(cfg.bundle, "rootfs")
        try:
            if cfg.rootfs_mounts:
                os.makedirs(rootfs, exist_ok=True)
                mount_all(cfg.rootfs_mounts, rootfs)
                self.mounted = len(cfg.rootfs_mounts)
        except (MountError, OSError) as e:
            self.status = "failed"
            raise RequestError("Internal", str(e)) from None
        pid_file = os.path.join(cfg.state_dir, "init.pid")
        try:
            if cfg.tty:
                self._create_tty(pid_file)
            else:
                self._create_pipes(pid_file)
            with open(pid_file, encoding="ascii") as f:
                self.init_pid = int(f.read().strip())
        except RuntimeFailed as e:
            self.status = "failed"
            self._unmount_rootfs()
            raise RequestError("RuntimeFailed", str(e)) from None
        except (OSError, ValueError) as e:
            self.status = "failed"
            with contextlib.suppress(RuntimeFailed):
                self.runtime.delete(force=True)
            self._close_stdio()
            self._unmount_rootfs()
            raise RequestError("Internal", f"create {cfg.container_id}: {e}") from None
        self.status = "created"
        self.oom_file, self.oom_before = oom_counter(self.init_pid)
        if self.init_pid in self.reaped:
            self._on_init_exit(self.reaped.pop(self.init_pid))

    def _create_pipes(self, pid_file: str) -> None:
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        if self.cfg.open_stdin:
            in_r, in_w = os.pipe2(os.O_CLOEXEC)
        else:
            in_r, in_w = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), -1
        try:
            self.runtime.create(pid_file, None, (in_r, out_w, err_w))
        except BaseException:
            for fd in (out_r, err_r, in_w):
                if fd >= 0:
                    os.close(fd)
            raise
        finally:
            for fd in (in_r, out_w, err_w):
                os.close(fd)
        self._add_output(out_r, proto.STDOUT)
        self._add_output(err_r, proto.STDERR)
        if in_w >= 0:
            os.set_blocking(in_w, False)
            self.stdin_fd = in_w

    def _create_tty(self, pid_file: str) -> None:
        import tempfile

        tmp = tempfile.mkdtemp(prefix="dyshim-")  # short path: sun_path is only 108 bytes
        path = os.path.join(tmp, "console.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            listener.listen(1)
            null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            try:
                self.runtime.create(pid_file, path, (null, null, null))
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
        self.master_fd = master
        if self.cfg.console_size:
            self._resize(*self.cfg.console_size)
        self._add_output(master, proto.STDOUT)
        self.stdin_fd = os.dup(master)

    def _start(self) -> dict[str, object]:
        if self.status != "created":
            raise RequestError("Conflict", f"container {self.cfg.container_id} is {self.status}, not created")
        try:
            self.runtime.start()
        except RuntimeFailed as e:
            raise RequestError("RuntimeFailed", str(e)) from None
        self.status = "running"
        return {"ok": True, "pid": self.init_pid}

    def _kill(self, sig: int, all_processes: bool) -> None:
        if self.status not in ("created", "running"):
            return
        try:
            self.runtime.kill(sig, all_processes)
        except RuntimeFailed as e:
            self._reap()
            if self.wait_status is None and self.status in ("created", "running"):
                raise RequestError("RuntimeFailed", str(e)) from None

    def _resize(self, height: int, width: int) -> None:
        if self.master_fd < 0:
            return
        import fcntl
        import struct
        import termios

        with contextlib.suppress(OSError):
            fcntl.ioctl(self.master_fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def _delete(self, force: bool) -> dict[str, object]:
        if self.status == "running" and self.wait_status is None and not force:
            raise RequestError("Conflict", f"container {self.cfg.container_id} is running: stop it first")
        self._release()
        self._unlink_endpoints()
        self.done = True
        return {"ok": True, "exit": self.exit_info}

    def _release(self) -> None:
        """Delete the runtime's state and unmount the rootfs (the container is gone)."""
        if self.status in ("created", "running", "stopped"):
            with contextlib.suppress(RuntimeFailed):
                self.runtime.delete(force=True)
        self._unmount_rootfs()

    def _unlink_endpoints(self) -> None:
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

    def _add_output(self, fd: int, stream: int) -> None:
        os.set_blocking(fd, False)
        self.out_fds[fd] = stream
        self.sel.register(fd, selectors.EVENT_READ, lambda _m, f=fd: self._on_output(f))

    def _on_output(self, fd: int) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # EIO on a pty master once the last slave is closed
            data = b""
        if data:
            self._deliver(self.out_fds[fd], data)
        else:
            self._close_output(fd)
            self._maybe_finish()

    def _drain_now(self, fd: int) -> None:
        while fd in self.out_fds:
            try:
                data = os.read(fd, READ_SIZE)
            except OSError:
                data = b""
            if not data:
                self._close_output(fd)
                return
            self._deliver(self.out_fds[fd], data)

    def _deliver(self, stream: int, data: bytes) -> None:
        if self.log is None and self.cfg.log_path:
            self._open_log()
        if self.log is not None:
            try:
                self.log.write(_STREAM_NAMES[stream], data)
            except OSError as e:
                self._warn(f"log write failed: {e}")
        frame = proto.encode_frame(stream, data)
        for conn in list(self.conns):
            if conn.mode == "attach" and stream in conn.streams:
                self._send(conn, frame)

    def _close_output(self, fd: int) -> None:
        stream = self.out_fds.pop(fd)
        self.sel.unregister(fd)
        os.close(fd)
        if fd == self.master_fd:
            self.master_fd = -1
        if self.log is not None and stream not in self.out_fds.values():
            with contextlib.suppress(OSError):
                self.log.flush(_STREAM_NAMES[stream])

    def _open_log(self) -> None:
        assert self.cfg.log_path
        try:
            self.log = JsonFileLog(self.cfg.log_path, self.cfg.log_max_size, self.cfg.log_max_files)
        except OSError as e:
            self._warn(f"cannot open log {self.cfg.log_path}: {e}")

    def _write_stdin(self, data: bytes) -> None:
        if self.stdin_fd < 0:
            return
        self.stdin_buf += data
        self._on_stdin_writable()

    def _on_stdin_writable(self, _mask: int = 0) -> None:
        fd = self.stdin_fd
        if fd < 0:
            return
        try:
            while self.stdin_buf:
                n = os.write(fd, self.stdin_buf)
                del self.stdin_buf[:n]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:  # the container closed its stdin or exited
            self.stdin_buf.clear()
            self.stdin_close_pending = True
        registered = fd in self.sel.get_map()
        if self.stdin_buf and not registered:
            self.sel.register(fd, selectors.EVENT_WRITE, self._on_stdin_writable)
        elif not self.stdin_buf and registered:
            self.sel.unregister(fd)
        if not self.stdin_buf and self.stdin_close_pending:
            self._close_stdin()

    def _close_stdin(self) -> None:
        if self.stdin_fd >= 0:
            if self.stdin_fd in self.sel.get_map():
                self.sel.unregister(self.stdin_fd)
            os.close(self.stdin_fd)
            self.stdin_fd = -1
        self.stdin_buf.clear()

    def _close_stdio(self) -> None:
        for fd in list(self.out_fds):
            self._close_output(fd)
        self._close_stdin()

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
            if pid == self.init_pid and self.wait_status is None:
                self._on_init_exit(status)
            else:
                self.reaped[pid] = status

    def _on_init_exit(self, status: int) -> None:
        self.wait_status = status
        self.exited_ns = time.time_ns()
        self.status = "stopped"
        if self.out_fds:
            self.drain_deadline = time.monotonic() + DRAIN_TIMEOUT
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        """Once the init has exited and its output is drained: record, notify, end streams."""
        if self.wait_status is None or self.exit_info is not None or self.out_fds:
            return
        self.drain_deadline = None
        self._close_stdin()
        if self.log is not None:
            self.log.close()
        oom = False
        if self.oom_file:
            _, after = oom_counter(self.init_pid, self.oom_file)
            oom = after > self.oom_before
        self.exit_info = {
            "code": exit_code(self.wait_status),
            "exited_at": format_time(self.exited_ns),
            "oom_killed": oom,
        }
        write_exit(self.cfg.state_dir, self.exit_info)
        for conn in list(self.conns):
            if conn.mode == "wait":
                conn.mode = "reply"
                conn.close_when_flushed = True
                self._send(conn, proto.encode_message({"ok": True, "exit": self.exit_info}))
            elif conn.mode == "attach":
                conn.close_when_flushed = True
                self._flush(conn)
        self._update_linger()

    def _teardown(self) -> None:
        for conn in list(self.conns):
            with contextlib.suppress(OSError):
                conn.sock.setblocking(True)
                conn.sock.settimeout(1.0)
                if conn.outbuf:
                    conn.sock.sendall(conn.outbuf)
            self._close_conn(conn)
        self._close_stdio()
        if self.log is not None:
            self.log.close()
        self.sel.close()

    def _warn(self, message: str) -> None:
        with contextlib.suppress(OSError):
            os.write(2, f"dockyard-shim {self.cfg.container_id}: {message}\n".encode())
