"""Changes from an overlay upper dir against lower dirs (whiteouts need CAP_MKNOD)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dockyard.engine.fs_changes import ADDED, DELETED, MODIFIED, overlay_changes, runtime_stubs


def _tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        if rel.endswith("/"):
            p.mkdir(parents=True, exist_ok=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)


@pytest.fixture
def layers(tmp_path: Path) -> tuple[Path, Path]:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    _tree(lower, {"bin/sh": "x", "bin/ls": "x", "etc/passwd": "root", "tmp/": "", "usr/lib/a": "a"})
    upper.mkdir()
    return lower, upper


def _kinds(upper: Path, lower: Path) -> list[tuple[str, int]]:
    return [(c.path, c.kind) for c in overlay_changes(str(upper), [str(lower)])]


def test_no_changes(layers: tuple[Path, Path]) -> None:
    lower, upper = layers
    assert _kinds(upper, lower) == []


def test_added_and_modified_in_walk_order(layers: tuple[Path, Path]) -> None:
    lower, upper = layers
    _tree(upper, {"tmp/x": "1", "etc/passwd": "root2", "new/dir/f": "n", "etc-x": "e"})
    assert _kinds(upper, lower) == [
        ("/etc", MODIFIED),
        ("/etc/passwd", MODIFIED),
        ("/etc-x", ADDED),
        ("/new", ADDED),
        ("/new/dir", ADDED),
        ("/new/dir/f", ADDED),
        ("/tmp", MODIFIED),
        ("/tmp/x", ADDED),
    ]


def test_unchanged_copied_up_directory_is_not_reported(layers: tuple[Path, Path]) -> None:
    lower, upper = layers
    (upper / "usr").mkdir()
    os.chmod(upper / "usr", stat.S_IMODE(os.stat(lower / "usr").st_mode))
    assert _kinds(upper, lower) == []
    os.chmod(upper / "usr", 0o700)
    assert _kinds(upper, lower) == [("/usr", MODIFIED)]


def test_mountpoint_stubs_are_not_changes(layers: tuple[Path, Path]) -> None:
    lower, upper = layers
    _tree(upper, {"etc/hosts": "", "etc/resolv.conf": "", "etc/hostname": "", "proc/": ""})
    # etc/ itself holds only stubs and is the image's: it is left out of a layer too
    assert runtime_stubs(str(upper), [str(lower)]) == {"etc/hosts", "etc/resolv.conf", "etc/hostname", "proc", "etc"}
    assert _kinds(upper, lower) == []
    (upper / "etc" / "hostname").write_text("written by the user")
    assert _kinds(upper, lower) == [("/etc", MODIFIED), ("/etc/hostname", ADDED)]
    assert "etc" not in runtime_stubs(str(upper), [str(lower)])


@pytest.mark.root
def test_whiteouts_are_deletions(layers: tuple[Path, Path]) -> None:
    if os.geteuid() != 0:
        pytest.skip("whiteouts are 0/0 character devices: mknod needs root")
    lower, upper = layers
    (upper / "bin").mkdir()
    os.mknod(upper / "bin" / "ls", stat.S_IFCHR | 0o000, os.makedev(0, 0))
    os.mknod(upper / "ghost", stat.S_IFCHR | 0o000, os.makedev(0, 0))  # nothing below to delete
    assert _kinds(upper, lower) == [("/bin", MODIFIED), ("/bin/ls", DELETED)]
