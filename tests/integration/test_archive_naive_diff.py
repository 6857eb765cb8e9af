"""The copy driver's diff: two whole trees compared and laid out like an overlay upper dir (root: mknod, chown)."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from dockyard.archive import write_layer
from dockyard.archive.naive_diff import materialize_diff
from dockyard.engine.fs_changes import ADDED, DELETED, MODIFIED, overlay_changes

pytestmark = pytest.mark.root


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path, Path]:
    lower = tmp_path / "lower"
    for d in ("etc", "usr/bin", "var/lib/gone", "var/keep", "opt"):
        (lower / d).mkdir(parents=True)
    (lower / "etc/passwd").write_text("root:x:0:0\n")
    (lower / "etc/motd").write_text("hello\n")
    (lower / "etc/owned").write_text("x\n")
    (lower / "usr/bin/tool").write_text("#!/bin/sh\n")
    (lower / "var/lib/gone/f").write_text("bye\n")
    (lower / "var/keep/same").write_text("same\n")
    (lower / "opt/was-file").write_text("file\n")
    (lower / "link").symlink_to("/etc/motd")
    upper = tmp_path / "upper"
    subprocess.run(["cp", "-a", f"{lower}/.", str(upper)], check=True)  # what CopySnapshotter does
    (upper / "etc/passwd").write_text("root:x:0:0\nuser:x:1000:1000\n")  # content
    (upper / "etc/motd").unlink()  # deletion
    os.chown(upper / "etc/owned", 1000, 1000)  # owner only
    os.chmod(upper / "usr/bin", 0o700)  # a directory's mode
    subprocess.run(["rm", "-r", str(upper / "var/lib/gone")], check=True)  # a whole directory
    (upper / "opt/was-file").unlink()
    (upper / "opt/was-file").mkdir()  # a file replaced by a directory
    (upper / "opt/was-file/inner").write_text("in\n")
    (upper / "new/deep").mkdir(parents=True)
    (upper / "new/deep/file").write_text("new\n")
    os.link(upper / "new/deep/file", upper / "new/hard")
    (upper / "link").unlink()
    (upper / "link").symlink_to("/etc/passwd")  # a retargeted symlink
    out = tmp_path / "diff"
    out.mkdir()
    materialize_diff(str(lower), str(upper), str(out))
    return lower, upper, out


def test_the_diff_has_only_the_changes(trees: tuple[Path, Path, Path]) -> None:
    lower, upper, out = trees
    changes = {c.path: c.kind for c in overlay_changes(str(out), [str(lower)])}
    assert changes == {
        "/etc": MODIFIED,
        "/etc/motd": DELETED,
        "/etc/owned": MODIFIED,
        "/etc/passwd": MODIFIED,
        "/link": MODIFIED,
        "/new": ADDED,
        "/new/deep": ADDED,
        "/new/deep/file": ADDED,
        "/new/hard": ADDED,
        "/opt": MODIFIED,
        "/opt/was-file": MODIFIED,
        "/opt/was-file/inner": ADDED,
        "/usr/bin": MODIFIED,
        "/usr": MODIFIED,
        "/var": MODIFIED,
        "/var/lib": MODIFIED,
        "/var/lib/gone": DELETED,
    }
    assert not (out / "var/keep").exists()  # an unchanged directory is not carried
    st = os.lstat(out / "etc/motd")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)  # an overlay whiteout
    # files are hard links of the container's own: nothing was copied
    assert os.stat(out / "etc/passwd").st_ino == os.stat(upper / "etc/passwd").st_ino
    assert stat.S_IMODE(os.stat(out / "usr/bin").st_mode) == 0o700
    assert (os.stat(out / "etc/owned").st_uid, os.stat(out / "etc/owned").st_gid) == (1000, 1000)


def test_the_layer_of_the_diff(trees: tuple[Path, Path, Path]) -> None:
    _, _, out = trees
    buf = io.BytesIO()
    write_layer(str(out), buf)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tar:
        members = {m.name: m for m in tar}
    assert "etc/.wh.motd" in members and "var/lib/.wh.gone" in members
    assert members["new/hard"].islnk() and members["new/hard"].linkname == "new/deep/file"
    assert members["link"].linkname == "/etc/passwd"
    assert "var/keep/same" not in members and "usr/bin/tool" not in members


def test_identical_trees_differ_in_nothing(tmp_path: Path) -> None:
    lower = tmp_path / "lower"
    (lower / "a/b").mkdir(parents=True)
    (lower / "a/b/f").write_text("x")
    upper = tmp_path / "upper"
    subprocess.run(["cp", "-a", f"{lower}/.", str(upper)], check=True)
    out = tmp_path / "diff"
    out.mkdir()
    materialize_diff(str(lower), str(upper), str(out))
    assert os.listdir(out) == []
