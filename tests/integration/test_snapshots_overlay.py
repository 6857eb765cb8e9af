"""overlayfs snapshots with real mounts: changes land in the upper dir and diff back to whiteouts."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.archive import apply_layer, write_layer
from dockyard.mount.linux import mount_all, unmount_all
from dockyard.snapshots import OverlaySnapshotter

pytestmark = pytest.mark.root


def _overlay_available() -> bool:
    with open("/proc/filesystems") as f:
        return any(line.split()[-1] == "overlay" for line in f if line.strip())


@pytest.fixture
def mnt(tmp_path: Path) -> Iterator[list[str]]:
    """Targets to mount on; every one is unmounted at the end, even when the test fails."""
    if not _overlay_available():
        pytest.skip("overlayfs is not available")
    targets: list[str] = []
    yield targets
    for t in reversed(targets):
        unmount_all(t)


def _target(tmp_path: Path, mnt: list[str], name: str) -> str:
    t = str(tmp_path / name)
    os.makedirs(t)
    mnt.append(t)
    return t


def test_overlay_changes_diff_and_reapply(tmp_path: Path, mnt: list[str]) -> None:
    s = OverlaySnapshotter(str(tmp_path / "ov"))
    s.prepare("base-active", None)
    up = Path(s.upper_dir("base-active"))
    (up / "etc").mkdir()
    (up / "etc/keep").write_text("keep")
    (up / "etc/drop").write_text("drop")
    (up / "opq").mkdir()
    (up / "opq/old").write_text("old")
    s.commit("base", "base-active")

    root = _target(tmp_path, mnt, "rootfs")
    mount_all(s.prepare("ctr", "base"), root)
    assert Path(root, "etc/keep").read_text() == "keep"
    os.unlink(os.path.join(root, "etc/drop"))
    Path(root, "etc/new").write_text("new")
    for name in os.listdir(os.path.join(root, "opq")):
        os.unlink(os.path.join(root, "opq", name))
    os.rmdir(os.path.join(root, "opq"))
    os.mkdir(os.path.join(root, "opq"))
    Path(root, "opq/fresh").write_text("fresh")
    unmount_all(root)

    upper = s.upper_dir("ctr")
    st = os.lstat(os.path.join(upper, "etc/drop"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    out = io.BytesIO()
    write_layer(upper, out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        names = set(tar.getnames())
    assert {"etc/.wh.drop", "etc/new", "opq/.wh..wh..opq", "opq/fresh"} <= names
    assert "etc/keep" not in names

    # The diff applied as a new layer over base gives the container's view back.
    s.prepare("layer2-active", "base")
    apply_layer(io.BytesIO(out.getvalue()), s.upper_dir("layer2-active"), whiteouts="overlay")
    s.commit("layer2", "layer2-active")
    view = _target(tmp_path, mnt, "view")
    mount_all(s.view("v", "layer2"), view)
    assert sorted(os.listdir(os.path.join(view, "etc"))) == ["keep", "new"]
    assert os.listdir(os.path.join(view, "opq")) == ["fresh"]
    with pytest.raises(OSError):
        Path(view, "etc/ro").write_text("x")  # a view is read-only
    unmount_all(view)
    for key in ("v", "ctr", "layer2", "base"):
        s.remove(key)
    assert s.all_keys() == []


def test_read_only_bind_view(tmp_path: Path, mnt: list[str]) -> None:
    s = OverlaySnapshotter(str(tmp_path / "ov"))
    s.prepare("a", None)
    Path(s.upper_dir("a"), "f").write_text("x")
    s.commit("A", "a")
    view = _target(tmp_path, mnt, "view")
    mount_all(s.view("v", "A"), view)
    assert Path(view, "f").read_text() == "x"
    with pytest.raises(OSError):
        Path(view, "g").write_text("y")
