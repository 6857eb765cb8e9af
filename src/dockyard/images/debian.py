"""Debian base images from debootstrap's minbase variant, as official images are made.

The host's Debian mirror (its apt sources) is the default source. The result is
one layer with the package caches and lists removed, ``Cmd ["bash"]``.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from typing import Any

from dockyard import errors

__all__ = ["SUITE_RE", "debian_config", "debootstrap_argv", "host_mirror", "run_debootstrap", "trim_rootfs"]

SUITE_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}$")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def host_mirror(sources: tuple[str, ...] = ("/etc/apt/sources.list", "/etc/apt/sources.list.d")) -> str:
    """The first plain Debian archive URL in the host's apt sources (one-line or deb822)."""
    files: list[str] = []
    for s in sources:
        files.extend(sorted(glob.glob(os.path.join(s, "*"))) if os.path.isdir(s) else [s])
    for path in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        for m in re.finditer(r"^(?:deb\s+(?:\[[^\]]*\]\s+)?|URIs:\s*)(\S+)", text, re.M):
            url = m.group(1).rstrip("/")
            if url.endswith("/debian") and url.startswith(("http://", "https://", "file:/")):
                return url
    return DEFAULT_MIRROR


def debootstrap_argv(suite: str, target: str, mirror: str, binary: str = "debootstrap") -> list[str]:
    if not SUITE_RE.match(suite):
        raise errors.InvalidArgument(f"invalid Debian suite {suite!r}")
    return [binary, "--variant=minbase", suite, target, mirror]


def run_debootstrap(suite: str, target: str, mirror: str, binary: str = "debootstrap") -> None:
    if shutil.which(binary) is None:
        raise errors.Unavailable(f"{binary} is not installed (apt-get install debootstrap)")
    proc = subprocess.run(debootstrap_argv(suite, target, mirror, binary), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise errors.Unavailable(f"debootstrap {suite} from {mirror} failed: {' | '.join(tail) or proc.returncode}")


def trim_rootfs(root: str) -> None:
    """What official images drop: downloaded packages, apt lists, logs of the install."""
    for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*", "var/log/*.log",
                    "debootstrap", "var/log/bootstrap.log"):  # fmt: skip
        for path in glob.glob(os.path.join(root, pattern)):
            if os.path.isdir(path) and not os.path.islink(path):
                if os.path.basename(path) != "partial":
                    shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
    # the hostname and resolver of the build host don't belong in the image
    for name in ("etc/hostname", "etc/resolv.conf"):
        path = os.path.join(root, name)
        if os.path.lexists(path):
            os.unlink(path)


def debian_config(
    diff_id: str, suite: str, architecture: str, variant: str = "", created: float = 0.0
) -> dict[str, Any]:
    when = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    cfg: dict[str, Any] = {
        "architecture": architecture,
        "os": "linux",
        "created": when,
        "config": {"Env": [PATH_ENV], "Cmd": ["bash"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": when, "created_by": f"dockyard image bootstrap debian:{suite} (debootstrap minbase)"}],
    }
    if variant:
        cfg["variant"] = variant
    return cfg
