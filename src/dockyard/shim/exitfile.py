"""The exit status file a shim leaves in its state directory, and the OOM counter."""

from __future__ import annotations

import json
import os

from dockyard.shim.protocol import EXIT_FILE

__all__ = ["oom_counter", "read_exit", "write_exit"]


def write_exit(state_dir: str, info: dict[str, object]) -> None:
    """Write ``exit.json`` atomically (temp file, fsync, rename)."""
    path = os.path.join(state_dir, EXIT_FILE)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, json.dumps(info).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_exit(state_dir: str) -> dict[str, object] | None:
    """The recorded exit status, or None when there is none (or it is unreadable)."""
    try:
        with open(os.path.join(state_dir, EXIT_FILE), encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _oom_files(pid: int) -> list[str]:
    """Files counting OOM kills for the cgroups of ``pid`` (v2 ``memory.events``, v1 ``memory.oom_control``)."""
    files: list[str] = []
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return files
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        rel = path.lstrip("/")
        if controllers == "":
            for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
                files.append(os.path.join(root, rel, "memory.events"))
        elif "memory" in controllers.split(","):
            files.append(os.path.join("/sys/fs/cgroup/memory", rel, "memory.oom_control"))
    return files


def _read_oom_kills(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    except (OSError, ValueError):
        return None
    return None


def oom_counter(pid: int, path: str = "") -> tuple[str, int]:
    """``(file, oom kills so far)`` for ``pid``'s memory cgroup; ``("", 0)`` when unknown.

    Pass the ``file`` found earlier to read it again after the process is gone.
    """
    for candidate in [path] if path else _oom_files(pid):
        count = _read_oom_kills(candidate)
        if count is not None:
            return candidate, count
    return "", 0
