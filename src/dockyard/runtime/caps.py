"""Capability names -> numbers and bit masks (pure)."""

from __future__ import annotations

from collections.abc import Iterable

from dockyard.errors import InvalidArgument

__all__ = ["CAPABILITIES", "cap_number", "caps_mask", "mask_caps"]

# Index is the capability number (linux/capability.h).
CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)
_BY_NAME = {name: i for i, name in enumerate(CAPABILITIES)}


def cap_number(name: str) -> int:
    """``"CAP_NET_RAW"`` (or ``"NET_RAW"``, any case) -> 13."""
    key = name.upper()
    if not key.startswith("CAP_"):
        key = "CAP_" + key
    try:
        return _BY_NAME[key]
    except KeyError:
        raise InvalidArgument(f"unknown capability {name!r}") from None


def caps_mask(names: Iterable[str]) -> int:
    """The bit mask of a list of capability names."""
    mask = 0
    for name in names:
        mask |= 1 << cap_number(name)
    return mask


def mask_caps(mask: int) -> list[str]:
    """Names of the capabilities set in ``mask`` (unknown high bits are ignored)."""
    return [name for i, name in enumerate(CAPABILITIES) if mask >> i & 1]
