"""``process.apparmorProfile``: ask the kernel to confine the process from its next execve on.

As runc (and libapparmor's ``aa_change_onexec``) does it: write ``exec <profile>``
to the calling thread's ``attr/apparmor/exec``, or to ``attr/exec`` on kernels
that predate the per-LSM attr directories. The profile must be loaded; the
kernel refuses an unknown one (ENOENT) at the write, so the error comes before
the exec.
"""

from __future__ import annotations

import os

__all__ = ["ERR_NOT_ENABLED", "change_onexec", "enabled", "exec_attr_path"]

ERR_NOT_ENABLED = "apparmor: config provided but apparmor not supported"


def enabled(root: str = "/") -> bool:
    """runc's test: securityfs has an apparmor directory and the module parameter reads ``Y``."""
    if not os.path.isdir(os.path.join(root, "sys/kernel/security/apparmor")):
        return False
    try:
        with open(os.path.join(root, "sys/module/apparmor/parameters/enabled"), "rb") as f:
            return f.read(1) == b"Y"
    except OSError:
        return False


def exec_attr_path(proc_root: str = "/proc") -> str:
    """The file to write: the thread's own (AppArmor attrs are per thread), new layout first."""
    base = os.path.join(proc_root, "thread-self")
    if not os.path.isdir(base):  # kernels before 3.17
        base = os.path.join(proc_root, "self")
    per_lsm = os.path.join(base, "attr/apparmor/exec")
    return per_lsm if os.path.exists(per_lsm) else os.path.join(base, "attr/exec")


def change_onexec(profile: str, proc_root: str = "/proc") -> None:
    """Confine the process with ``profile`` at its next execve; RuntimeError (runc's words) when refused."""
    path = exec_attr_path(proc_root)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, f"exec {profile}".encode())
        finally:
            os.close(fd)
    except OSError as e:
        raise RuntimeError(
            f"unable to apply apparmor profile: apparmor failed to apply profile: write {path}: {e.strerror}"
        ) from None
