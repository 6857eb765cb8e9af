"""Test helper: OCI bundles from the host's static busybox, as ``runc spec`` would write them."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Sequence

BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "echo", "cat", "sleep", "ls", "true", "false", "head", "yes", "tty", "stty", "printf", "kill", "env")


def make_busybox_rootfs(path: str) -> str:
    """A directory with ``/bin/busybox`` and applet links (the lower layer of the overlay)."""
    os.makedirs(os.path.join(path, "bin"), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(path, "bin", "busybox"))
    for applet in APPLETS:
        os.symlink("busybox", os.path.join(path, "bin", applet))
    for d in ("proc", "dev", "sys", "tmp", "etc"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    return path


def runtime_config(
    args: Sequence[str], *, tty: bool = False, env: Sequence[str] = (), memory_limit: int = 0
) -> dict[str, object]:
    """A config.json like ``runc spec`` produces, with ``args`` as the process and a writable rootfs."""
    resources: dict[str, object] = {"devices": [{"allow": False, "access": "rwm"}]}
    if memory_limit:
        resources["memory"] = {"limit": memory_limit, "swap": memory_limit}
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": tty,
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm", *env],
            "cwd": "/",
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": False},
        "hostname": "dockyard-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            },
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            # below the suite's own parent (removed at the end of the session), not the daemon's /dockyard
            "cgroupsPath": f"/dockyard-test/shim-{uuid.uuid4().hex[:12]}",
            "resources": resources,
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }


def write_bundle(
    bundle: str, args: Sequence[str], *, tty: bool = False, env: Sequence[str] = (), memory_limit: int = 0
) -> str:
    """``bundle/config.json`` plus an empty ``bundle/rootfs`` mount point."""
    os.makedirs(os.path.join(bundle, "rootfs"), exist_ok=True)
    with open(os.path.join(bundle, "config.json"), "w", encoding="utf-8") as f:
        json.dump(runtime_config(args, tty=tty, env=env, memory_limit=memory_limit), f, indent=1)
    return bundle
