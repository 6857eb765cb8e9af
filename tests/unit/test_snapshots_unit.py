"""Snapshot bookkeeping without mounting: chain IDs, overlay mount options, the copy snapshotter."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.mount import Mount
from dockyard.oci import Digest
from dockyard.snapshots import CopySnapshotter, OverlaySnapshotter, chain_id, chain_ids


def _d(text: str) -> Digest:
    return Digest("sha256", hashlib.sha256(text.encode()).hexdigest())


def test_chain_ids_follow_the_oci_rule() -> None:
    l0, l1, l2 = _d("a"), _d("b"), _d("c")
    c1 = "sha256:" + hashlib.sha256(f"{l0} {l1}".encode()).hexdigest()
    c2 = "sha256:" + hashlib.sha256(f"{c1} {l2}".encode()).hexdigest()
    assert [str(c) for c in chain_ids([l0, l1, l2])] == [str(l0), c1, c2]
    assert str(chain_id([l0, l1, l2])) == c2
    assert chain_id([l0]) == l0
    assert chain_id([]) is None


def _opts(mounts: list[Mount]) -> dict[str, str]:
    (m,) = mounts
    return dict(o.split("=", 1) for o in m.options if "=" in o)


def test_overlay_mounts_and_lifecycle(tmp_path: Path) -> None:
    s = OverlaySnapshotter(str(tmp_path / "ov"))
    m = s.prepare("l0-active", None)
    assert m[0].type == "bind" and "rw" in m[0].options
    (Path(s.upper_dir("l0-active")) / "f").write_text("0")
    s.commit("l0", "l0-active")
    assert not s.exists("l0-active") and s.exists("l0")
    s.prepare("l1-active", "l0")
    s.commit("l1", "l1-active")
    mounts = s.prepare("ctr", "l1")
    opts = _opts(mounts)
    assert mounts[0].type == "overlay" and mounts[0].source == "overlay"
    assert opts["lowerdir"].split(":") == [s.upper_dir("l1"), s.upper_dir("l0")]
    assert opts["upperdir"] == s.upper_dir("ctr")
    assert os.path.isdir(opts["workdir"])
    # dirs are short numbers so many layers fit one page of mount options
    assert all(len(os.path.basename(os.path.dirname(d))) <= 3 for d in opts["lowerdir"].split(":"))
    assert s.mounts("ctr") == mounts
    assert s.parent("ctr") == "l1"
    v1 = s.view("v1", "l0")
    assert v1[0].type == "bind" and "ro" in v1[0].options and v1[0].source == s.upper_dir("l0")
    v2 = s.view("v2", "l1")
    assert v2[0].type == "overlay" and "upperdir" not in _opts(v2)
    assert s.usage("l0") == 1
    with pytest.raises(errors.Conflict):
        s.prepare("ctr", "l1")
    with pytest.raises(errors.NotFound):
        s.prepare("x", "nope")
    with pytest.raises(errors.InvalidArgument):
        s.prepare("y", "ctr")  # parents must be committed
    with pytest.raises(errors.InUse):
        s.remove("l1")
    for key in ("ctr", "v2", "l1", "v1", "l0"):
        s.remove(key)
    assert s.all_keys() == []
    assert [n for n in os.listdir(tmp_path / "ov") if not n.startswith("metadata.db")] == []


def test_reopen_sweeps_orphan_dirs(tmp_path: Path) -> None:
    s = OverlaySnapshotter(str(tmp_path / "ov"))
    s.prepare("a", None)
    os.makedirs(tmp_path / "ov" / "999" / "fs")
    os.makedirs(tmp_path / "ov" / "rm-7")
    s2 = OverlaySnapshotter(str(tmp_path / "ov"))
    assert s2.exists("a")
    assert sorted(n for n in os.listdir(tmp_path / "ov") if not n.startswith("metadata.db")) == ["1"]


def test_copy_snapshotter_copies_parents(tmp_path: Path) -> None:
    s = CopySnapshotter(str(tmp_path / "cp"))
    assert s.whiteout_style == "remove"
    s.prepare("a", None)
    (Path(s.upper_dir("a")) / "base").write_text("base")
    os.symlink("base", Path(s.upper_dir("a")) / "link")
    s.commit("A", "a")
    m = s.prepare("ctr", "A")
    assert m[0].type == "bind" and m[0].source == s.upper_dir("ctr")
    up = Path(s.upper_dir("ctr"))
    assert (up / "base").read_text() == "base" and os.readlink(up / "link") == "base"
    (up / "base").write_text("changed")
    assert (Path(s.upper_dir("A")) / "base").read_text() == "base"
    assert s.view("v", "A")[0].source == s.upper_dir("A")
