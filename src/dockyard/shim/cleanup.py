"""``dockyard-shim cleanup``: remove what a dead shim left behind (idempotent)."""

from __future__ import annotations

import contextlib
import os
import sys

from dockyard.shim.config import load_config
from dockyard.shim.mounts import MountError, is_mountpoint, unmount
from dockyard.shim.paths import PID_FILE, SOCKET_NAME, SPEC_FILE
from dockyard.shim.runtime import Runtime, RuntimeFailed

__all__ = ["cleanup"]


def cleanup(state_dir: str) -> int:
    """Force-delete the runtime's container and unmount the rootfs; 0 when all is clean."""
    try:
        cfg = load_config(os.path.join(state_dir, SPEC_FILE))
    except FileNotFoundError:
        return 0
    except (OSError, ValueError) as e:
        print(f"dockyard-shim cleanup: {e}", file=sys.stderr)
        return 1
    status = 0
    with contextlib.suppress(RuntimeFailed):
        Runtime(cfg).delete(force=True)
    rootfs = os.path.join(cfg.bundle, "rootfs")
    # stacked mounts come off one at a time; bounded in case something keeps remounting
    for _ in range(len(cfg.rootfs_mounts) + 8):
        if not cfg.rootfs_mounts or not is_mountpoint(rootfs):
            break
        try:
            unmount(rootfs)
        except MountError as e:
            print(f"dockyard-shim cleanup: {e}", file=sys.stderr)
            status = 1
            break
    for name in (SOCKET_NAME, PID_FILE):
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(state_dir, name))
    return status
