"""User resolution against an image's /etc/passwd and /etc/group."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.containers.rootfs import read_rootfs_file, secure_join
from dockyard.containers.user import ResolvedUser, parse_group, parse_passwd, resolve_user, resolve_user_in_rootfs
from dockyard.errors import InvalidArgument, UnsafePath

PASSWD = """root:x:0:0:root:/root:/bin/sh
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
broken line
app:x:1000:1000::/home/app:/bin/sh
"""
GROUP = """root:x:0:
daemon:x:1:
www-data:x:33:
audio:x:29:app,www-data
video:x:44:app
staff:x:50:
app:x:1000:
"""


def test_parsers_skip_malformed_lines() -> None:
    assert [u.name for u in parse_passwd(PASSWD)] == ["root", "daemon", "www-data", "app"]
    audio = next(g for g in parse_group(GROUP) if g.name == "audio")
    assert audio.gid == 29 and audio.members == ("app", "www-data")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", ResolvedUser(0, 0, (0,), "/root")),
        ("root", ResolvedUser(0, 0, (0,), "/root")),
        ("app", ResolvedUser(1000, 1000, (1000, 29, 44), "/home/app")),
        ("1000", ResolvedUser(1000, 1000, (1000, 29, 44), "/home/app")),
        ("app:staff", ResolvedUser(1000, 50, (50,), "/home/app")),
        ("app:50", ResolvedUser(1000, 50, (50,), "/home/app")),
        ("www-data:4000", ResolvedUser(33, 4000, (4000,), "/var/www")),
        ("4242", ResolvedUser(4242, 0, (0,), "/")),
        ("4242:4343", ResolvedUser(4242, 4343, (4343,), "/")),
        ("33:audio", ResolvedUser(33, 29, (29,), "/var/www")),
    ],
)
def test_resolution(spec: str, expected: ResolvedUser) -> None:
    assert resolve_user(spec, PASSWD, GROUP) == expected


def test_numeric_ids_need_no_files() -> None:
    assert resolve_user("1:2") == ResolvedUser(1, 2, (2,), "/")
    assert resolve_user("") == ResolvedUser(0, 0, (0,), "/")


def test_unknown_user_uses_runcs_message() -> None:
    with pytest.raises(InvalidArgument, match=r"^unable to find user foo: no matching entries in passwd file$"):
        resolve_user("foo", PASSWD, GROUP)
    with pytest.raises(InvalidArgument, match="unable to find user foo"):
        resolve_user("foo")


def test_unknown_group_uses_runcs_message() -> None:
    with pytest.raises(InvalidArgument, match=r"^unable to find group nogroup: no matching entries in group file$"):
        resolve_user("app:nogroup", PASSWD, GROUP)


def test_out_of_range_ids_are_rejected() -> None:
    with pytest.raises(InvalidArgument, match="range"):
        resolve_user("4294967296")


def test_group_add_by_name_and_number_without_duplicates() -> None:
    user = resolve_user("app", PASSWD, GROUP, ["staff", "7777", "audio"])
    assert user.additional_gids == (1000, 29, 44, 50, 7777)
    with pytest.raises(InvalidArgument, match="Unable to find group nope: no matching entries in group file"):
        resolve_user("app", PASSWD, GROUP, ["nope"])


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    return root


def test_resolve_in_rootfs(rootfs: Path) -> None:
    assert resolve_user_in_rootfs(str(rootfs), "app", ["staff"]).additional_gids == (1000, 29, 44, 50)


def test_missing_files_read_as_empty(tmp_path: Path) -> None:
    assert read_rootfs_file(str(tmp_path), "/etc/passwd") == ""
    assert resolve_user_in_rootfs(str(tmp_path), "5:6") == ResolvedUser(5, 6, (6,), "/")


def test_symlinks_resolve_inside_the_rootfs(tmp_path: Path, rootfs: Path) -> None:
    outside = tmp_path / "host-passwd"
    outside.write_text("evil:x:0:0::/:/bin/sh\n")
    os.rename(rootfs / "etc" / "passwd", rootfs / "real-passwd")
    # An absolute link is read relative to the rootfs, never the host.
    (rootfs / "etc" / "passwd").symlink_to("/real-passwd")
    assert "app:x:1000" in read_rootfs_file(str(rootfs), "/etc/passwd")
    (rootfs / "etc" / "passwd").unlink()
    (rootfs / "etc" / "passwd").symlink_to(str(outside))
    assert read_rootfs_file(str(rootfs), "/etc/passwd") == ""
    (rootfs / "etc" / "passwd").unlink()
    (rootfs / "etc" / "passwd").symlink_to("../../../../../host-passwd")
    assert secure_join(str(rootfs), "/etc/passwd") == str(rootfs / "host-passwd")
    assert read_rootfs_file(str(rootfs), "/etc/passwd") == ""


def test_directory_links_are_followed_within_the_rootfs(rootfs: Path) -> None:
    (rootfs / "usr").mkdir()
    os.rename(rootfs / "etc", rootfs / "usr" / "etc")
    (rootfs / "etc").symlink_to("usr/etc")
    assert secure_join(str(rootfs), "/etc/group") == str(rootfs / "usr" / "etc" / "group")
    assert resolve_user_in_rootfs(str(rootfs), "app").uid == 1000


def test_symlink_loops_are_refused(rootfs: Path) -> None:
    (rootfs / "loop").symlink_to("/loop")
    with pytest.raises(UnsafePath):
        secure_join(str(rootfs), "/loop/x")


def test_non_regular_files_are_not_read(rootfs: Path) -> None:
    os.mkfifo(rootfs / "fifo")
    assert read_rootfs_file(str(rootfs), "/fifo") == ""
    assert read_rootfs_file(str(rootfs), "/etc") == ""
