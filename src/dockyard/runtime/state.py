"""The on-disk state of one container (``<root>/<id>/state.json``) and its status as runc reports it."""

from __future__ import annotations

import json
import os
import time
from typing import Any, NamedTuple

from dockyard.errors import ContainerNotFound, InvalidArgument, NameConflict

__all__ = [
    "FIFO_NAME",
    "ContainerState",
    "container_dir",
    "create_container_dir",
    "load_state",
    "process_start_time",
    "process_status",
    "rfc3339_now",
    "save_state",
    "validate_id",
    "write_atomic",
]

FIFO_NAME = "exec.fifo"
_STATE = "state.json"


class ContainerState(NamedTuple):
    id: str
    pid: int
    bundle: str
    rootfs: str
    created: str
    annotations: dict[str, str]
    oci_version: str
    start_time: int  # /proc/<pid>/stat field 22, so a recycled pid is not mistaken for ours
    cgroups: dict[str, str]
    namespaces: tuple[str, ...]  # kinds the container has of its own; exec joins these
    systemd_unit: str = ""  # the scope systemd made for the cgroup (--systemd-cgroup); delete stops it

    def to_json(self) -> dict[str, Any]:
        return {
            "ociVersion": self.oci_version,
            "id": self.id,
            "pid": self.pid,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "annotations": self.annotations,
            "dockyard": {
                "startTime": self.start_time,
                "cgroups": self.cgroups,
                "namespaces": list(self.namespaces),
                **({"systemdUnit": self.systemd_unit} if self.systemd_unit else {}),
            },
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ContainerState:
        own = d.get("dockyard") or {}
        return cls(
            id=d["id"],
            pid=int(d.get("pid") or 0),
            bundle=d.get("bundle", ""),
            rootfs=d.get("rootfs", ""),
            created=d.get("created", ""),
            annotations=dict(d.get("annotations") or {}),
            oci_version=d.get("ociVersion", ""),
            start_time=int(own.get("startTime") or 0),
            cgroups=dict(own.get("cgroups") or {}),
            namespaces=tuple(own.get("namespaces") or ()),
            systemd_unit=str(own.get("systemdUnit") or ""),
        )


def validate_id(container_id: str) -> None:
    ok = container_id and all(c.isalnum() or c in "_+-." for c in container_id) and container_id not in (".", "..")
    if not ok:
        raise InvalidArgument(f"invalid container id {container_id!r}")


def container_dir(root: str, container_id: str) -> str:
    validate_id(container_id)
    return f"{root.rstrip('/')}/{container_id}"


def create_container_dir(root: str, container_id: str) -> str:
    path = container_dir(root, container_id)
    os.makedirs(root, mode=0o711, exist_ok=True)
    try:
        os.mkdir(path, 0o711)
    except FileExistsError:
        raise NameConflict(f"container with id {container_id!r} already exists") from None
    return path


def write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write to a temp name in the same directory, fsync-free rename into place."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def save_state(directory: str, state: ContainerState) -> None:
    write_atomic(f"{directory}/{_STATE}", json.dumps(state.to_json()).encode())


def load_state(root: str, container_id: str) -> tuple[str, ContainerState]:
    directory = container_dir(root, container_id)
    try:
        with open(f"{directory}/{_STATE}", "rb") as f:
            return directory, ContainerState.from_json(json.load(f))
    except FileNotFoundError:
        raise ContainerNotFound(f"container {container_id!r} does not exist") from None


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may hold spaces and parentheses: split after the last ')'
    return raw[raw.rfind(")") + 2 :].split()


def process_start_time(pid: int) -> int:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else 0


def process_status(pid: int, start_time: int) -> str:
    """ "alive" or "dead" (gone, a zombie, or a recycled pid)."""
    if pid <= 0:
        return "dead"
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X") or (start_time and int(fields[19]) != start_time):
        return "dead"
    return "alive"


def rfc3339_now() -> str:
    now = time.time()
    secs = int(now)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{int((now - secs) * 1e9):09d}Z"
