"""Docker's cp path rules and the path-stat header, on plain directories (no root)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from dockyard.engine.cp_paths import (
    archive_name,
    container_path,
    go_file_mode,
    path_stat,
    resolve_last_unfollowed,
    stat_header,
)


@pytest.mark.parametrize(
    ("given", "want"),
    [
        ("etc/hosts", "/etc/hosts"),
        ("/etc//x/../hosts", "/etc/hosts"),
        ("/d/", "/d/"),
        ("/d/.", "/d/."),
        ("d/./", "/d/"),
        ("/", "/"),
        ("/.", "/."),
        ("/../../etc", "/etc"),
        ("//abs", "/abs"),
    ],
)
def test_container_path_is_absolute_clean_and_keeps_trailing_marks(given: str, want: str) -> None:
    assert container_path(given) == want


@pytest.mark.parametrize(("abs_path", "want"), [("/a/b", "b"), ("/a/b/", "b"), ("/a/.", "."), ("/", "/"), ("/x", "x")])
def test_archive_name_is_go_base(abs_path: str, want: str) -> None:
    assert archive_name(abs_path) == want


def test_go_file_mode_type_bits() -> None:
    assert go_file_mode(stat.S_IFREG | 0o644) == 0o644
    assert go_file_mode(stat.S_IFDIR | 0o755) == (1 << 31) | 0o755
    assert go_file_mode(stat.S_IFLNK | 0o777) == (1 << 27) | 0o777
    assert go_file_mode(stat.S_IFCHR | 0o600) == (1 << 26) | (1 << 21) | 0o600
    assert go_file_mode(stat.S_IFREG | stat.S_ISUID | 0o755) == (1 << 23) | 0o755
    assert go_file_mode(stat.S_IFDIR | stat.S_ISVTX | 0o777) == (1 << 31) | (1 << 20) | 0o777


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hosts").write_text("127.0.0.1 x\n")
    (root / "data").mkdir()
    os.symlink("/etc", root / "data" / "abs")  # absolute: must mean the rootfs's /etc
    os.symlink("../../../../etc", root / "data" / "climb")  # climbing out stops at the rootfs
    return root


def test_last_symlink_is_kept_but_directories_resolve_inside(rootfs: Path) -> None:
    root = str(rootfs)
    assert resolve_last_unfollowed(root, "/data/abs") == f"{root}/data/abs"
    assert resolve_last_unfollowed(root, "/data/abs/hosts") == f"{root}/etc/hosts"
    assert resolve_last_unfollowed(root, "/data/climb/hosts") == f"{root}/etc/hosts"
    assert resolve_last_unfollowed(root, "/data/abs/") == f"{root}/etc"
    assert resolve_last_unfollowed(root, "/data/.") == f"{root}/data/."


def test_path_stat_of_symlink_reports_target_inside_root(rootfs: Path) -> None:
    root = str(rootfs)
    st = path_stat(root, "/data/climb", resolve_last_unfollowed(root, "/data/climb"))
    assert st.name == "climb"
    assert st.mode & (1 << 27)
    assert st.link_target == "/etc"


def test_path_stat_of_file_and_dir(rootfs: Path) -> None:
    root = str(rootfs)
    f = path_stat(root, "/etc/hosts", resolve_last_unfollowed(root, "/etc/hosts"))
    assert (f.name, f.size, f.link_target) == ("hosts", 12, "")
    assert f.mode == stat.S_IMODE(os.stat(rootfs / "etc" / "hosts").st_mode)
    assert f.mtime.endswith("Z") and f.mtime[:4].isdigit()
    d = path_stat(root, "/etc/", resolve_last_unfollowed(root, "/etc/"))
    assert d.name == "etc" and d.mode & (1 << 31)


def test_path_stat_missing_raises(rootfs: Path) -> None:
    root = str(rootfs)
    with pytest.raises(FileNotFoundError):
        path_stat(root, "/nope", resolve_last_unfollowed(root, "/nope"))


def test_stat_header_is_base64_json(rootfs: Path) -> None:
    root = str(rootfs)
    st = path_stat(root, "/etc/hosts", resolve_last_unfollowed(root, "/etc/hosts"))
    decoded = json.loads(base64.b64decode(stat_header(st)))
    assert decoded == {"name": "hosts", "size": 12, "mode": st.mode, "mtime": st.mtime, "linkTarget": ""}
