"""Layers unpacked for a remapped root and written back (needs root: chown to other ids)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.archive import apply_layer, write_layer
from dockyard.idmaps import IdMaps

pytestmark = pytest.mark.root

MAPS = IdMaps(700000, 65536, 800000, 65536)


def _layer() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, uid, gid in (("etc/", 0, 0), ("etc/passwd", 0, 42), ("home/", 0, 0), ("home/u/", 1000, 1000)):
            ti = tarfile.TarInfo(name.rstrip("/"))
            ti.uid, ti.gid, ti.mtime = uid, gid, 1_700_000_000
            if name.endswith("/"):
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(ti)
            else:
                ti.size, ti.mode = 4, 0o644
                tar.addfile(ti, io.BytesIO(b"root"))
        wh = tarfile.TarInfo("home/.wh.gone")
        wh.uid = wh.gid = 0
        tar.addfile(wh)
    return buf.getvalue()


def test_unpacked_owners_are_shifted_and_written_back_unshifted(tmp_path: Path) -> None:
    upper, plain_dir = tmp_path / "upper", tmp_path / "plain"
    upper.mkdir()
    plain_dir.mkdir()
    original = apply_layer(io.BytesIO(_layer()), str(plain_dir))
    result = apply_layer(io.BytesIO(_layer()), str(upper), ids=MAPS)
    assert result.diff_id == original.diff_id  # the diffID is the tar's, whatever the owners on disk
    owners = {rel: (os.lstat(upper / rel).st_uid, os.lstat(upper / rel).st_gid) for rel in ("etc/passwd", "home/u")}
    assert owners == {"etc/passwd": (700000, 800042), "home/u": (701000, 801000)}
    whiteout = os.lstat(upper / "home/gone")
    assert (whiteout.st_uid, whiteout.st_gid) == (700000, 800000)

    back = io.BytesIO()
    write_layer(str(upper), back, ids=MAPS)
    with tarfile.open(fileobj=io.BytesIO(back.getvalue())) as tar:
        got = {m.name: (m.uid, m.gid) for m in tar}
    assert got["etc/passwd"] == (0, 42) and got["home/u"] == (1000, 1000) and got["home/.wh.gone"] == (0, 0)
    # Without the maps the same tree shows the host's ids: what commit would leak without them.
    plain = io.BytesIO()
    write_layer(str(upper), plain)
    with tarfile.open(fileobj=io.BytesIO(plain.getvalue())) as tar:
        assert {m.name: m.uid for m in tar}["home/u"] == 701000


def test_ids_outside_the_range_are_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ti = tarfile.TarInfo("big")
        ti.uid, ti.size = 70000, 0
        tar.addfile(ti, io.BytesIO(b""))
    with pytest.raises(errors.InvalidArgument, match="uid 70000 cannot be mapped"):
        apply_layer(io.BytesIO(buf.getvalue()), str(tmp_path), ids=MAPS)
