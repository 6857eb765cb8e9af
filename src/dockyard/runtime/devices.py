"""What a container's /dev gets, decided from the spec (pure)."""

from __future__ import annotations

from dockyard.runtime.spec import Device, Spec

__all__ = [
    "DEFAULT_DEVICES",
    "DEFAULT_DEVICE_RULES",
    "DEFAULT_SYMLINKS",
    "Device",
    "dev_is_ours",
    "device_cgroup_rules",
]


# The devices runc always creates (libcontainer/specconv AllowedDevices).
DEFAULT_DEVICES: tuple[Device, ...] = (
    Device("/dev/null", 1, 3),
    Device("/dev/zero", 1, 5),
    Device("/dev/full", 1, 7),
    Device("/dev/random", 1, 8),
    Device("/dev/urandom", 1, 9),
    Device("/dev/tty", 5, 0),
)

DEFAULT_SYMLINKS: tuple[tuple[str, str], ...] = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
)


def dev_is_ours(spec: Spec) -> bool:
    """True when /dev is a fresh filesystem we must populate (not the host's /dev bound in)."""
    for m in spec.mounts:
        if m.destination.rstrip("/") == "/dev":
            return m.type != "bind" and "bind" not in m.options and "rbind" not in m.options
    return True


# Device cgroup rules runc appends after the spec's own (libcontainer/specconv AllowedDevices),
# so the default devices and ptys work whatever the spec denies.
DEFAULT_DEVICE_RULES: tuple[str, ...] = (
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:8 rwm",
    "c 1:7 rwm",
    "c 5:0 rwm",
    "c 1:5 rwm",
    "c 1:9 rwm",
    "c 136:* rwm",
    "c 5:2 rwm",
    "c 10:200 rwm",
)


def device_cgroup_rules(
    devices: tuple[tuple[bool, str, int | None, int | None, str], ...],
) -> list[tuple[str, str]]:
    """``linux.resources.devices`` -> (file, rule) writes for a v1 devices cgroup, in order."""
    if not devices:
        return []
    out = []
    for allow, kind, major, minor, access in devices:
        num = f"{'*' if major is None else major}:{'*' if minor is None else minor}"
        rule = "a" if kind == "a" else f"{kind} {num} {access}"
        out.append(("devices.allow" if allow else "devices.deny", rule))
    out += [("devices.allow", rule) for rule in DEFAULT_DEVICE_RULES]
    return out
