"""A container's ``linux.cgroupsPath`` from its cgroup parent, for either cgroup driver (pure).

cgroupfs: a directory below each hierarchy's root, ``/<parent>/<id>``.
systemd: ``<slice>:docker:<id>``, which the runtime turns into the transient scope
``docker-<id>.scope`` in that slice (as dockerd and runc do).
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument

__all__ = ["DEFAULT_SLICE", "SCOPE_PREFIX", "cgroups_path", "validate_cgroup_parent"]

DEFAULT_SLICE = "system.slice"
SCOPE_PREFIX = "docker"  # dockerd's; tools that look for docker-<id>.scope find ours too


def validate_cgroup_parent(driver: str, parent: str) -> None:
    """With systemd, a cgroup parent must be a slice: ``xxx.slice`` (the error is dockerd's)."""
    if driver == "systemd" and parent and (len(parent) <= len(".slice") or not parent.endswith(".slice")):
        raise InvalidArgument('cgroup-parent for systemd cgroup should be a valid slice named as "xxx.slice"')


def cgroups_path(driver: str, parent: str, container_id: str) -> str:
    """``linux.cgroupsPath``: ``/parent/id`` (cgroupfs) or ``parent:docker:id`` (systemd, default system.slice)."""
    if driver == "systemd":
        validate_cgroup_parent(driver, parent)
        return f"{parent or DEFAULT_SLICE}:{SCOPE_PREFIX}:{container_id}"
    return f"/{parent.strip('/')}/{container_id}".replace("//", "/")
