"""Build the container's filesystem view in its new mount namespace, then pivot_root into it."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable

from dockyard.runtime.devices import DEFAULT_DEVICES, DEFAULT_SYMLINKS, dev_is_ours
from dockyard.runtime.linux import libc
from dockyard.runtime.mountflags import (
    MS_BIND,
    MS_MOVE,
    MS_NOATIME,
    MS_NODEV,
    MS_NODIRATIME,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    MS_REC,
    MS_RELATIME,
    MS_REMOUNT,
    MS_SLAVE,
    parse_mount_options,
    propagation_flags,
)
from dockyard.runtime.mountinfo import CgroupLayout
from dockyard.runtime.paths import secure_join
from dockyard.runtime.spec import Device, Spec, SpecMount

__all__ = ["finish_rootfs", "move_into", "pivot_into", "prepare_rootfs"]

MNT_DETACH = 2
_ST_RELATIME = 4096  # statvfs's bit; mount(2) calls it MS_RELATIME
_REMOUNT_KEEP = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC


def _mkfile(path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o755))
    except IsADirectoryError:
        pass


def _bind(source: str, dest: str, flags: int, propagation: tuple[int, ...] = ()) -> None:
    libc.mount(source, dest, "bind", MS_BIND | (flags & MS_REC))
    extra = flags & ~(MS_BIND | MS_REC | MS_REMOUNT)
    if extra:
        # Flags of a bind mount only take effect on a remount.
        libc.mount(None, dest, None, MS_BIND | MS_REMOUNT | extra | _locked_flags(dest))
    for p in propagation:
        libc.mount(None, dest, None, p)


def _mount_one(m: SpecMount, rootfs: str, bundle: str, cgroups: dict[str, str], layout: CgroupLayout) -> None:
    dest = secure_join(rootfs, m.destination)
    opts = parse_mount_options(m.options)
    if m.type == "bind" or opts.is_bind:
        source = m.source if m.source.startswith("/") else os.path.join(bundle, m.source)
        if os.path.isdir(source):
            os.makedirs(dest, exist_ok=True)
        else:
            _mkfile(dest)
        _bind(source, dest, opts.flags | MS_BIND, opts.propagation)
        return
    os.makedirs(dest, exist_ok=True)
    if m.type == "cgroup":
        _mount_cgroups(dest, opts.flags, cgroups, layout)
    else:
        try:
            libc.mount(m.source or m.type, dest, m.type, opts.flags, opts.data)
        except OSError as e:
            # sysfs cannot be mounted without our own network namespace: bind the host's, like runc.
            if m.type != "sysfs" or e.errno not in (errno.EPERM, errno.EBUSY):
                raise
            _bind("/sys", dest, opts.flags | MS_REC)
    for p in opts.propagation:
        libc.mount(None, dest, None, p)


def _mount_cgroups(dest: str, flags: int, cgroups: dict[str, str], layout: CgroupLayout) -> None:
    """/sys/fs/cgroup showing only the container's own cgroups (bind mounts of them, as runc does on v1)."""
    if layout.unified:
        try:
            libc.mount("cgroup2", dest, "cgroup2", flags)  # works inside a cgroup namespace
        except OSError:
            _bind(cgroups[""], dest, flags | MS_BIND)
        return
    libc.mount("tmpfs", dest, "tmpfs", flags & ~MS_RDONLY, "mode=755")
    for name, mount_point in layout.v1:
        sub = f"{dest}/{os.path.basename(mount_point)}"
        os.mkdir(sub)
        source = cgroups.get(name, mount_point)
        _bind(source, sub, (flags & _REMOUNT_KEEP) | MS_BIND)
    if flags & MS_RDONLY:
        libc.mount(None, dest, None, MS_REMOUNT | (flags & _REMOUNT_KEEP))


_NODE_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def _populate_dev(rootfs: str, extra: tuple[Device, ...]) -> None:
    old = os.umask(0)
    try:
        for dev in (*DEFAULT_DEVICES, *extra):
            path = secure_join(rootfs, dev.path)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            try:
                os.mknod(path, _NODE_TYPES[dev.type] | dev.mode, os.makedev(dev.major, dev.minor))
            except PermissionError:  # no CAP_MKNOD (user namespace): borrow the host's node
                _mkfile(path)
                _bind(dev.path, path, MS_BIND)
                continue
            if dev.uid is not None or dev.gid is not None:
                os.chown(path, -1 if dev.uid is None else dev.uid, -1 if dev.gid is None else dev.gid)
        for target, link in DEFAULT_SYMLINKS:
            path = rootfs + link
            if os.path.lexists(path):
                if link != "/dev/ptmx":
                    continue
                os.unlink(path)
            os.symlink(target, path)
    finally:
        os.umask(old)


def prepare_rootfs(spec: Spec, rootfs: str, bundle: str, cgroups: dict[str, str], layout: CgroupLayout) -> None:
    """Everything before pivot_root; ``rootfs`` is absolute and resolved. Runs in the new mount namespace."""
    libc.mount(None, "/", None, propagation_flags(spec.rootfs_propagation))
    # pivot_root needs rootfs to be a mount point.
    libc.mount(rootfs, rootfs, "bind", MS_BIND | MS_REC)
    for m in spec.mounts:
        _mount_one(m, rootfs, bundle, cgroups, layout)
    if dev_is_ours(spec) and os.path.isdir(rootfs + "/dev"):
        _populate_dev(rootfs, spec.devices)
    if spec.process is not None:
        # runc creates a missing working directory rather than failing.
        os.makedirs(secure_join(rootfs, spec.process.cwd), mode=0o755, exist_ok=True)


def pivot_into(rootfs: str) -> None:
    """pivot_root(".", ".") and lazily detach the old root stacked on top, like runc."""
    old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new_root = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(new_root)
        libc.pivot_root(".", ".")
        os.fchdir(old_root)
        # Keep the unmount from propagating to the host.
        libc.mount(None, ".", None, MS_SLAVE | MS_REC)
        libc.umount2(".", MNT_DETACH)
        os.chdir("/")
    finally:
        os.close(old_root)
        os.close(new_root)


def move_into(rootfs: str) -> None:
    """--no-pivot: move the rootfs mount over / and chroot (for a rootfs on ramfs, where pivot_root fails)."""
    os.chdir(rootfs)
    libc.mount(rootfs, "/", None, MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def _mask(path: str) -> None:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    if stat.S_ISDIR(st.st_mode):
        libc.mount("tmpfs", path, "tmpfs", MS_RDONLY)
    else:
        libc.mount("/dev/null", path, "bind", MS_BIND)


def _locked_flags(path: str) -> int:
    """nosuid/nodev/noexec/atime flags of the mount at ``path``: a bind remount must keep them (user namespaces
    refuse to drop them)."""
    st = os.statvfs(path).f_flag
    flags = st & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME)
    if st & _ST_RELATIME:
        flags |= MS_RELATIME
    return flags


def _readonly(path: str) -> None:
    try:
        libc.mount(path, path, "bind", MS_BIND | MS_REC)
    except (FileNotFoundError, NotADirectoryError):
        return
    libc.mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | _locked_flags(path))


def write_sysctls(sysctls: Iterable[tuple[str, str]]) -> None:
    """Write through /proc/sys, which shows the namespaces of the writer (net and ipc keys)."""
    for key, value in sysctls:
        with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(value)


def finish_rootfs(spec: Spec, written: frozenset[str] = frozenset()) -> None:
    """After pivot_root: sysctls (while /proc/sys is writable), read-only and masked paths, read-only /.

    ``written`` names sysctls already set (before entering a user namespace).
    """
    write_sysctls((k, v) for k, v in spec.sysctl if k not in written)
    for path in spec.readonly_paths:
        _readonly(path)
    for path in spec.masked_paths:
        _mask(path)
    if spec.root_readonly:
        libc.mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | _locked_flags("/"))
