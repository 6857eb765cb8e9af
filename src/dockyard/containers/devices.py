"""Device cgroup rules: Docker's default allow-list and ``--device-cgroup-rule`` parsing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dockyard.errors import InvalidArgument

__all__ = ["ALLOW_ALL_DEVICES", "DEFAULT_DEVICE_RULES", "DeviceRule", "parse_device_cgroup_rule"]


@dataclass(frozen=True)
class DeviceRule:
    """One ``linux.resources.devices`` entry; ``None`` major/minor mean any (``*``)."""

    allow: bool
    type: str = "a"
    major: int | None = None
    minor: int | None = None
    access: str = "rwm"

    def to_spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"allow": self.allow}
        if self.type != "a" or self.major is not None or self.minor is not None:
            out["type"] = self.type
        if self.major is not None:
            out["major"] = self.major
        if self.minor is not None:
            out["minor"] = self.minor
        out["access"] = self.access
        return out


# Deny everything, then allow the character devices every container gets
# (moby's oci defaults). runc adds /dev/ptmx (5:2) and /dev/pts/* (136:*) on its
# own; they are spelled out here so that every runtime, ours included, allows them.
DEFAULT_DEVICE_RULES: tuple[DeviceRule, ...] = (
    DeviceRule(allow=False, access="rwm"),
    DeviceRule(True, "c", 1, 5, "rwm"),  # /dev/zero
    DeviceRule(True, "c", 1, 3, "rwm"),  # /dev/null
    DeviceRule(True, "c", 1, 9, "rwm"),  # /dev/urandom
    DeviceRule(True, "c", 1, 8, "rwm"),  # /dev/random
    DeviceRule(True, "c", 5, 0, "rwm"),  # /dev/tty
    DeviceRule(True, "c", 5, 1, "rwm"),  # /dev/console
    DeviceRule(True, "c", 5, 2, "rwm"),  # /dev/ptmx
    DeviceRule(True, "c", 136, None, "rwm"),  # /dev/pts/*
    DeviceRule(False, "c", 10, 229, "rwm"),  # /dev/fuse
)

ALLOW_ALL_DEVICES: tuple[DeviceRule, ...] = (DeviceRule(allow=True, access="rwm"),)

_RULE = re.compile(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$")


def parse_device_cgroup_rule(rule: str) -> DeviceRule:
    """``"c 1:3 mr"`` → an allow rule, with Docker's error for anything else."""
    m = _RULE.match(rule)
    if m is None:
        raise InvalidArgument(f"invalid device cgroup format '{rule}'")
    kind, major, minor, access = m.groups()
    return DeviceRule(
        allow=True,
        type=kind,
        major=None if major == "*" else int(major),
        minor=None if minor == "*" else int(minor),
        access=access,
    )
