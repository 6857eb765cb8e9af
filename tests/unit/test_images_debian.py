"""Debian bootstrap: mirror discovery, debootstrap arguments, image config, trimming."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard import errors
from dockyard.images.debian import debian_config, debootstrap_argv, host_mirror, trim_rootfs


def test_mirror_from_deb822_and_one_line_sources(tmp_path: Path) -> None:
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "a.sources").write_text("Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n")
    assert host_mirror((str(tmp_path / "none"), str(d))) == "http://mirror.example/debian"
    one = tmp_path / "sources.list"
    one.write_text("deb [arch=amd64] https://other.example/debian bookworm main\n")
    assert host_mirror((str(one),)) == "https://other.example/debian"
    (tmp_path / "empty").write_text("deb https://packages.example.com/apt stable main\n")
    assert host_mirror((str(tmp_path / "empty"),)) == "http://deb.debian.org/debian"


def test_argv_and_suite_validation() -> None:
    assert debootstrap_argv("bookworm", "/t", "http://m/debian") == [
        "debootstrap", "--variant=minbase", "bookworm", "/t", "http://m/debian"
    ]  # fmt: skip
    for bad in ("", "Bookworm", "../x", "a b"):
        with pytest.raises(errors.InvalidArgument):
            debootstrap_argv(bad, "/t", "http://m/debian")


def test_config_shape() -> None:
    cfg = debian_config("sha256:" + "a" * 64, "trixie", "amd64", created=0)
    assert cfg["config"]["Cmd"] == ["bash"]
    assert cfg["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + "a" * 64]}
    assert "trixie" in cfg["history"][0]["created_by"]


def test_trim_drops_caches_and_host_identity(tmp_path: Path) -> None:
    for rel in ("var/cache/apt/archives/partial", "var/lib/apt/lists/partial", "etc", "var/log"):
        (tmp_path / rel).mkdir(parents=True, exist_ok=True)
    (tmp_path / "var/cache/apt/archives/x.deb").write_bytes(b"x")
    (tmp_path / "var/lib/apt/lists/deb.debian.org_dists").write_text("x")
    (tmp_path / "etc/hostname").write_text("buildhost\n")
    (tmp_path / "etc/os-release").write_text("ID=debian\n")
    trim_rootfs(str(tmp_path))
    assert not (tmp_path / "var/cache/apt/archives/x.deb").exists()
    assert not (tmp_path / "var/lib/apt/lists/deb.debian.org_dists").exists()
    assert not (tmp_path / "etc/hostname").exists()
    assert (tmp_path / "etc/os-release").exists()
