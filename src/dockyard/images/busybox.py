"""A minimal image from the host's static busybox: one deterministic layer.

Every entry gets the busybox binary's mtime and root ownership, so the same
binary always gives the same diffID and image ID on a host.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dockyard import errors

__all__ = ["BusyboxLayer", "busybox_config", "busybox_layer"]

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_DIRS: tuple[tuple[str, int], ...] = (
    ("bin", 0o755),
    ("dev", 0o755),
    ("etc", 0o755),
    ("home", 0o755),
    ("proc", 0o755),
    ("root", 0o700),
    ("sbin", 0o755),
    ("sys", 0o755),
    ("tmp", 0o1777),
    ("usr", 0o755),
    ("usr/bin", 0o755),
    ("usr/sbin", 0o755),
    ("var", 0o755),
    ("var/spool", 0o755),
    ("var/spool/mail", 0o755),
    ("var/www", 0o755),
)

_PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""

_GROUP = """root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
mail:x:12:
www-data:x:33:
operator:x:37:
staff:x:50:
users:x:100:
nogroup:x:65534:
"""


@dataclass(frozen=True)
class BusyboxLayer:
    tar: bytes  # uncompressed layer tar
    mtime: int  # the timestamp used throughout (busybox's own mtime)


def _applets(busybox: str) -> list[str]:
    try:
        out = subprocess.run([busybox, "--list-full"], capture_output=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise errors.InvalidArgument(f"cannot list the applets of {busybox}: {exc}") from None
    names = {line.strip().strip("/") for line in out.decode().splitlines() if line.strip()}
    return sorted(n for n in names if n and n != "bin/busybox" and ".." not in n.split("/"))


def busybox_layer(busybox: str = "/bin/busybox") -> BusyboxLayer:
    """The layer tar: busybox, a hard link per applet, /etc/passwd and /etc/group, the usual dirs."""
    try:
        st = os.stat(busybox)
        with open(busybox, "rb") as f:
            binary = f.read()
    except OSError as exc:
        raise errors.NotFound(f"busybox not found at {busybox}: {exc.strerror}") from None
    mtime = int(st.st_mtime)
    applets = _applets(busybox)
    buf = io.BytesIO()

    def info(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.size, ti.mtime, ti.linkname = kind, mode, size, mtime, link
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = ""
        return ti

    dirs = {d for d, _ in _DIRS}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d, mode in _DIRS:
            tar.addfile(info(d + "/", tarfile.DIRTYPE, mode))
        extra_dirs = sorted({a.rsplit("/", 1)[0] for a in applets if "/" in a} - dirs)
        for d in extra_dirs:
            tar.addfile(info(d + "/", tarfile.DIRTYPE, 0o755))
        tar.addfile(info("bin/busybox", tarfile.REGTYPE, 0o755, len(binary)), io.BytesIO(binary))
        for name in applets:
            tar.addfile(info(name, tarfile.LNKTYPE, 0o755, link="bin/busybox"))
        for name, text in (("etc/passwd", _PASSWD), ("etc/group", _GROUP)):
            data = text.encode()
            tar.addfile(info(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    return BusyboxLayer(buf.getvalue(), mtime)


def busybox_config(diff_id: str, mtime: int, architecture: str, variant: str = "") -> dict[str, Any]:
    """The image config for the busybox layer (``Cmd ["sh"]``, a standard ``PATH``)."""
    created = datetime.fromtimestamp(mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    cfg: dict[str, Any] = {
        "architecture": architecture,
        "os": "linux",
        "created": created,
        "config": {"Env": [PATH_ENV], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "dockyard image bootstrap busybox", "comment": "busybox"}],
    }
    if variant:
        cfg["variant"] = variant
    return cfg
