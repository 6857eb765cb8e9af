"""Whiteouts applied in overlayfs form (needs root: mknod and trusted.* xattrs)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from dockyard.archive import apply_layer
from dockyard.archive.whiteouts import OPAQUE_XATTR

pytestmark = pytest.mark.root


def _tar(*names: str, devices: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            ti = tarfile.TarInfo(name)
            if name.endswith("/"):
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(ti, io.BytesIO(b""))
        for name in devices:
            ti = tarfile.TarInfo(name)
            ti.type, ti.devmajor, ti.devminor, ti.mode, ti.uid, ti.gid = tarfile.CHRTYPE, 1, 3, 0o666, 0, 5
            tar.addfile(ti)
    return buf.getvalue()


def test_overlay_whiteouts_and_opaque(tmp_path: Path) -> None:
    root = tmp_path / "upper"
    root.mkdir()
    layer = _tar("etc/", "etc/.wh.passwd", "var/", "var/cache/", "var/cache/.wh..wh..opq", "var/cache/new")
    apply_layer(io.BytesIO(layer), str(root), whiteouts="overlay")
    st = os.lstat(root / "etc/passwd")
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 0 and os.minor(st.st_rdev) == 0
    assert os.getxattr(root / "var/cache", OPAQUE_XATTR) == b"y"
    assert (root / "var/cache/new").exists()
    assert not (root / "etc/.wh.passwd").exists()


def test_device_nodes_ownership_and_xattrs(tmp_path: Path) -> None:
    root = tmp_path / "upper"
    root.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        ti = tarfile.TarInfo("bin/ping")
        ti.size, ti.mode, ti.uid, ti.gid = 4, 0o4755, 1000, 1000
        ti.pax_headers = {"SCHILY.xattr.user.note": "hello"}
        tar.addfile(ti, io.BytesIO(b"ping"))
    layer = buf.getvalue()
    apply_layer(io.BytesIO(_tar(devices=("dev/null",))), str(root), whiteouts="overlay")
    apply_layer(io.BytesIO(layer), str(root), whiteouts="overlay")
    st = os.lstat(root / "dev/null")
    assert stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3) and st.st_gid == 5
    st = os.lstat(root / "bin/ping")
    assert (st.st_uid, st.st_gid) == (1000, 1000)
    assert stat.S_IMODE(st.st_mode) == 0o4755  # set-id survives: chmod comes after chown
    try:
        assert os.getxattr(root / "bin/ping", "user.note") == b"hello"
    except OSError:
        pytest.skip("user xattrs are not supported on this filesystem")
