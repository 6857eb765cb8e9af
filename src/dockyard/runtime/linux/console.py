"""A pty created inside the container, its master sent over --console-socket like runc does."""

from __future__ import annotations

import fcntl
import os
import struct

from dockyard.runtime.linux import libc
from dockyard.runtime.mountflags import MS_BIND

__all__ = ["bind_console", "connect_console_socket", "make_controlling", "open_pty", "send_master"]

_TIOCGPTN = 0x80045430
_TIOCSPTLCK = 0x40045431
_TIOCSCTTY = 0x540E
_TIOCSWINSZ = 0x5414


def connect_console_socket(path: str) -> int:
    """Connect before pivot_root (the socket lives on the host); returns a socket fd."""
    import socket  # only TTY containers pay for it

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock.detach()


def open_pty(size: tuple[int, int] | None) -> tuple[int, int, str]:
    """Open /dev/ptmx (the container's devpts instance): (master fd, slave fd, slave path)."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))
    (num,) = struct.unpack("I", fcntl.ioctl(master, _TIOCGPTN, b"\0\0\0\0"))
    slave_path = f"/dev/pts/{num}"
    slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    if size and size[0] and size[1]:
        fcntl.ioctl(master, _TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
    return master, slave, slave_path


def bind_console(slave_path: str) -> None:
    """Make /dev/console the container's terminal, as runc does."""
    if not os.path.exists("/dev/console"):
        os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o666))
    libc.mount(slave_path, "/dev/console", None, MS_BIND)


def send_master(sock_fd: int, master: int) -> None:
    """SCM_RIGHTS with the name as payload: what runc's utils.SendFile sends and containerd receives."""
    import socket

    sock = socket.socket(fileno=sock_fd)
    try:
        socket.send_fds(sock, [b"/dev/ptmx"], [master])
    finally:
        sock.close()


def make_controlling(slave: int) -> None:
    """Make the slave our controlling terminal and stdio (the caller has already called setsid)."""
    fcntl.ioctl(slave, _TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)
