"""Network namespaces as bind-mounted files, and running code inside one.

Namespaces are per thread: each operation runs on a fresh thread that enters
the namespace and then ends, so no pooled thread is ever left inside one.
Sockets keep the namespace they were created in, which is how the daemon
serves DNS inside containers from its own event loop.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["CLONE_NEWNET", "create_netns", "remove_netns", "run_in_netns"]

CLONE_NEWNET = 0x40000000
_MS_BIND = 4096
_MNT_DETACH = 2

T = TypeVar("T")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _on_thread(fn: Callable[[], T]) -> T:
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # handed to the caller
            box["error"] = e

    t = threading.Thread(target=run, name="dockyard-netns", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def create_netns(path: str) -> None:
    """A new network namespace pinned by a bind mount at ``path`` (with loopback up)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444)
    os.close(fd)

    def make() -> None:
        _check(_libc.unshare(CLONE_NEWNET), "unshare")
        src = f"/proc/self/task/{threading.get_native_id()}/ns/net".encode()
        _check(_libc.mount(src, path.encode(), None, _MS_BIND, None), "bind mount netns")
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")

    try:
        _on_thread(make)
    except BaseException:
        remove_netns(path)
        raise


def remove_netns(path: str) -> None:
    """Unpin and delete; the namespace (and veth ends in it) goes when nothing else holds it."""
    _libc.umount2(path.encode(), _MNT_DETACH)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def run_in_netns(path: str, fn: Callable[[], T]) -> T:
    """Call ``fn`` on a thread inside the namespace pinned at ``path``."""

    def enter() -> T:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_libc.setns(fd, CLONE_NEWNET), "setns")
        finally:
            os.close(fd)
        return fn()

    return _on_thread(enter)
