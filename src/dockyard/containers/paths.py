"""Docker's default masked and read-only paths inside a container."""

from __future__ import annotations

__all__ = ["DEFAULT_MASKED_PATHS", "DEFAULT_READONLY_PATHS"]

# Kernel interfaces that leak host information or allow host changes: bind-mounted
# over with /dev/null (files) or an empty read-only tmpfs (directories).
DEFAULT_MASKED_PATHS: tuple[str, ...] = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)

# Still useful to read, but writes would reach the host kernel.
DEFAULT_READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)
