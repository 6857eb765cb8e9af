"""Which sysctls a container may set: only those of a namespace it does not share with the host (pure).

Writing any other would change the host's kernel setting from inside the
container (runc refuses the same list).
"""

from __future__ import annotations

from collections.abc import Iterable

from dockyard.errors import InvalidArgument

__all__ = ["check_sysctls", "sysctl_namespace"]

_IPC = frozenset(
    {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
     "kernel.shmmni", "kernel.shm_rmid_forced"}
)  # fmt: skip
_UTS = frozenset({"kernel.hostname", "kernel.domainname"})


def sysctl_namespace(key: str) -> str:
    """The namespace that holds ``key`` ("ipc", "network", "uts"), or "" when it is host-wide."""
    key = key.replace("/", ".")
    if key in _IPC or key.startswith("fs.mqueue."):
        return "ipc"
    if key.startswith("net."):
        return "network"
    if key in _UTS:
        return "uts"
    return ""


def check_sysctls(keys: Iterable[str], namespaces: Iterable[str]) -> None:
    """Refuse sysctls that are host-wide or whose namespace the container shares with the host."""
    own = set(namespaces)
    for key in keys:
        ns = sysctl_namespace(key)
        if not ns:
            raise InvalidArgument(f"sysctl {key!r} is not in a separate kernel namespace")
        if ns not in own:
            raise InvalidArgument(f"sysctl {key!r} is not allowed in the host's {ns} namespace")
