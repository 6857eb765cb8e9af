"""``features``: what this runtime supports, in the shape of runc's ``features`` output."""

from __future__ import annotations

from typing import Any

from dockyard.runtime.caps import CAPABILITIES
from dockyard.runtime.hooks import HOOK_KINDS
from dockyard.runtime.linux import apparmor
from dockyard.runtime.linux.namespaces import CLONE_FLAGS
from dockyard.runtime.mountflags import _FLAGS, _PROPAGATION
from dockyard.runtime.seccomp import _ACTIONS, _ARCHES, _OPS

__all__ = ["features"]


def features(root: str = "/") -> dict[str, Any]:
    """``root`` is where the host's /sys is looked for (AppArmor is reported as the host has it)."""
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.1.0",
        "hooks": list(HOOK_KINDS),
        "mountOptions": sorted([*_FLAGS, *_PROPAGATION]),
        "linux": {
            "namespaces": sorted(CLONE_FLAGS),
            "capabilities": list(CAPABILITIES),
            "cgroup": {"v1": True, "v2": True, "systemd": True, "systemdUser": False},  # --systemd-cgroup
            "seccomp": {
                "enabled": True,
                "actions": sorted(_ACTIONS),
                "operators": sorted(_OPS),
                "archs": sorted(_ARCHES),
            },
            "apparmor": {"enabled": apparmor.enabled(root)},
            "selinux": {"enabled": False},
        },
        "annotations": {"org.opencontainers.runc.version": "dockyard"},
    }
