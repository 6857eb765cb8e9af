"""``features``: what this runtime supports, in the shape of runc's ``features`` output."""

from __future__ import annotations

from typing import Any

from dockyard.runtime.caps import CAPABILITIES
from dockyard.runtime.linux.namespaces import CLONE_FLAGS
from dockyard.runtime.mountflags import _FLAGS, _PROPAGATION

__all__ = ["features"]


def features() -> dict[str, Any]:
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.1.0",
        "hooks": [],
        "mountOptions": sorted([*_FLAGS, *_PROPAGATION]),
        "linux": {
            "namespaces": sorted(k for k in CLONE_FLAGS if k != "user"),
            "capabilities": list(CAPABILITIES),
            "cgroup": {"v1": True, "v2": True, "systemd": False},
            "seccomp": {"enabled": False},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"org.opencontainers.runc.version": "dockyard"},
    }
