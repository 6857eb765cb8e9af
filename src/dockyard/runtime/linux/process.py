"""Turn the calling (already namespaced) process into the spec's process: rlimits, user, caps, nnp."""

from __future__ import annotations

import errno
import os
import resource

from dockyard.runtime.caps import caps_mask
from dockyard.runtime.linux import libc
from dockyard.runtime.rlimits import rlimit_number
from dockyard.runtime.spec import Capabilities, Process, Rlimit

__all__ = [
    "apply_rlimits",
    "apply_user_and_caps",
    "host_cap_mask",
    "prctl_pdeathsig",
    "set_no_new_privs",
    "set_oom_score_adj",
]

PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4


def host_cap_mask() -> int:
    """Capabilities this kernel knows and our bounding set still holds: the most a container can get."""
    try:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
            last = int(f.read())
    except OSError:
        last = 40
    mask = 0
    for cap in range(last + 1):
        try:
            if libc.prctl(PR_CAPBSET_READ, cap) == 1:
                mask |= 1 << cap
        except OSError:
            break
    return mask


def apply_rlimits(rlimits: tuple[Rlimit, ...]) -> None:
    for rl in rlimits:
        resource.setrlimit(rlimit_number(rl.type), (rl.soft, rl.hard))


def set_oom_score_adj(value: int | None) -> None:
    if value is None:
        return
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write(str(value))


def set_no_new_privs() -> None:
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1)


def _masks(caps: Capabilities | None, allowed: int) -> tuple[int, int, int, int, int]:
    if caps is None:  # no capabilities object: runc gives an empty set
        return 0, 0, 0, 0, 0
    return (
        caps_mask(caps.bounding) & allowed,
        caps_mask(caps.effective) & allowed,
        caps_mask(caps.permitted) & allowed,
        caps_mask(caps.inheritable) & allowed,
        caps_mask(caps.ambient) & allowed,
    )


def apply_user_and_caps(process: Process, allowed: int) -> None:
    """Drop the bounding set, switch uid/gid keeping caps, then set the spec's capability sets.

    ``allowed`` is :func:`host_cap_mask`; capabilities the host lacks are skipped, not fatal.
    """
    bounding, effective, permitted, inheritable, ambient = _masks(process.capabilities, allowed)
    # Every cap the spec leaves out, not only those the host has: entering a user namespace refills the set.
    for cap in range(64):
        if not bounding >> cap & 1:
            try:
                libc.prctl(PR_CAPBSET_DROP, cap)
            except OSError as e:
                if e.errno != errno.EINVAL:  # EINVAL: past the kernel's last capability
                    raise
                break
    user = process.user
    libc.prctl(PR_SET_KEEPCAPS, 1)
    os.setgroups(list(user.additional_gids))
    os.setgid(user.gid)
    os.setuid(user.uid)
    libc.prctl(PR_SET_KEEPCAPS, 0)
    if user.umask is not None:
        os.umask(user.umask)
    # Ambient caps must also be permitted and inheritable (capabilities(7)).
    libc.capset(effective & permitted, permitted, inheritable)
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    for cap in range(ambient.bit_length()):
        if ambient >> cap & 1 and permitted >> cap & 1 and inheritable >> cap & 1:
            libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)


def prctl_pdeathsig(sig: int) -> None:
    """Die with ``sig`` when the parent does (0: stop)."""
    libc.prctl(PR_SET_PDEATHSIG, sig)
