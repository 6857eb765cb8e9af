"""Linux capability names, Docker's default set, and CapAdd/CapDrop arithmetic.

The runtime keeps its own number table (it may import only ``oci`` and
``errors``); this one is for the daemon side: validation and spec generation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import MappingProxyType

from dockyard.errors import InvalidArgument

__all__ = [
    "ALL",
    "ALL_CAPABILITIES",
    "CAPABILITY_NUMBERS",
    "DEFAULT_CAPABILITIES",
    "capabilities_from_mask",
    "effective_capabilities",
    "normalize_capabilities",
]

ALL = "ALL"

# Kernel numbering (include/uapi/linux/capability.h), up to CAP_CHECKPOINT_RESTORE.
CAPABILITY_NUMBERS = MappingProxyType(
    {
        "CAP_CHOWN": 0,
        "CAP_DAC_OVERRIDE": 1,
        "CAP_DAC_READ_SEARCH": 2,
        "CAP_FOWNER": 3,
        "CAP_FSETID": 4,
        "CAP_KILL": 5,
        "CAP_SETGID": 6,
        "CAP_SETUID": 7,
        "CAP_SETPCAP": 8,
        "CAP_LINUX_IMMUTABLE": 9,
        "CAP_NET_BIND_SERVICE": 10,
        "CAP_NET_BROADCAST": 11,
        "CAP_NET_ADMIN": 12,
        "CAP_NET_RAW": 13,
        "CAP_IPC_LOCK": 14,
        "CAP_IPC_OWNER": 15,
        "CAP_SYS_MODULE": 16,
        "CAP_SYS_RAWIO": 17,
        "CAP_SYS_CHROOT": 18,
        "CAP_SYS_PTRACE": 19,
        "CAP_SYS_PACCT": 20,
        "CAP_SYS_ADMIN": 21,
        "CAP_SYS_BOOT": 22,
        "CAP_SYS_NICE": 23,
        "CAP_SYS_RESOURCE": 24,
        "CAP_SYS_TIME": 25,
        "CAP_SYS_TTY_CONFIG": 26,
        "CAP_MKNOD": 27,
        "CAP_LEASE": 28,
        "CAP_AUDIT_WRITE": 29,
        "CAP_AUDIT_CONTROL": 30,
        "CAP_SETFCAP": 31,
        "CAP_MAC_OVERRIDE": 32,
        "CAP_MAC_ADMIN": 33,
        "CAP_SYSLOG": 34,
        "CAP_WAKE_ALARM": 35,
        "CAP_BLOCK_SUSPEND": 36,
        "CAP_AUDIT_READ": 37,
        "CAP_PERFMON": 38,
        "CAP_BPF": 39,
        "CAP_CHECKPOINT_RESTORE": 40,
    }
)

ALL_CAPABILITIES: tuple[str, ...] = tuple(sorted(CAPABILITY_NUMBERS, key=CAPABILITY_NUMBERS.__getitem__))

# Docker's default set, in the order moby's oci defaults list it.
DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)


def normalize_capabilities(names: Iterable[str], field: str = "CapAdd") -> tuple[str, ...]:
    """Upper-case, ``CAP_``-prefixed names (``ALL`` kept as is); unknown names are rejected.

    ``field`` names the HostConfig field in the error, as Docker does.
    """
    out: list[str] = []
    for raw in names:
        name = raw.upper()
        if name != ALL and not name.startswith("CAP_"):
            name = "CAP_" + name
        if name != ALL and name not in CAPABILITY_NUMBERS:
            raise InvalidArgument(f'invalid {field}: unknown capability: "{name}"')
        out.append(name)
    return tuple(out)


def effective_capabilities(
    cap_add: Sequence[str] | None,
    cap_drop: Sequence[str] | None,
    *,
    privileged: bool = False,
    base: Sequence[str] = DEFAULT_CAPABILITIES,
) -> tuple[str, ...]:
    """The capability list a container gets (Docker's TweakCapabilities), without duplicates.

    Privileged gets every capability; ``ALL`` in CapAdd means all but the dropped
    ones; ``ALL`` in CapDrop means only what CapAdd names.
    """
    if privileged:
        return ALL_CAPABILITIES
    adds = normalize_capabilities(cap_add or (), "CapAdd")
    drops = normalize_capabilities(cap_drop or (), "CapDrop")
    if ALL in adds:
        caps = [c for c in ALL_CAPABILITIES if c not in drops]
    elif ALL in drops:
        caps = list(adds)
    else:
        caps = [c for c in base if c not in drops] + list(adds)
    return tuple(dict.fromkeys(caps))


def capabilities_from_mask(mask: int) -> frozenset[str]:
    """The names of the bits set in a capability mask (``CapBnd`` of /proc/<pid>/status, read as hex)."""
    return frozenset(name for name, bit in CAPABILITY_NUMBERS.items() if mask >> bit & 1)
