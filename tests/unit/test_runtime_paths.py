"""secure_join and executable lookup, on a scratch directory tree (no root needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.runtime.paths import (
    DEFAULT_PATH,
    ExecutableNotFound,
    ExecutablePermissionDenied,
    find_executable,
    path_from_env,
    secure_join,
)


def test_secure_join_keeps_symlinks_inside_root(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "abs").symlink_to("/etc")
    (tmp_path / "rel").symlink_to("../../../etc")
    (tmp_path / "loop").symlink_to("loop")
    root = str(tmp_path)
    assert secure_join(root, "/abs/passwd") == f"{root}/etc/passwd"
    assert secure_join(root, "rel") == f"{root}/etc"
    assert secure_join(root, "/../../x") == f"{root}/x"
    assert secure_join(root, "/") == root
    assert secure_join(root, "/new/dir") == f"{root}/new/dir"
    with pytest.raises(Exception, match="too many symlinks"):
        secure_join(root, "/loop")


def test_find_executable(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    data = bin_dir / "data"
    data.write_text("x")
    data.chmod(0o644)
    search = f"{tmp_path}/nowhere:{bin_dir}"
    assert find_executable("tool", search) == str(tool)
    assert find_executable(str(tool), "") == str(tool)
    with pytest.raises(ExecutableNotFound, match="executable file not found"):
        find_executable("nosuch", search)
    with pytest.raises(ExecutableNotFound, match="executable file not found"):
        find_executable(f"{tmp_path}/nosuch", search)
    with pytest.raises(ExecutablePermissionDenied, match="permission denied"):
        find_executable("data", search)
    with pytest.raises(ExecutablePermissionDenied, match="permission denied"):
        find_executable(str(bin_dir), search)


def test_path_from_env() -> None:
    assert path_from_env(["A=1", "PATH=/x:/y"]) == "/x:/y"
    assert path_from_env([]) == DEFAULT_PATH
