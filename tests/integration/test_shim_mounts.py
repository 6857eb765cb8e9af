"""The shim's rootfs mounting against the real kernel: overlays with more options than a page holds."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from dockyard.shim.config import RootfsMount
from dockyard.shim.mounts import MountError, is_mountpoint, mount_all, unmount

pytestmark = pytest.mark.root

if os.geteuid() != 0:
    pytest.skip("needs root (mount(2))", allow_module_level=True)


@pytest.fixture
def workdir() -> Iterator[str]:
    tmp = tempfile.mkdtemp(prefix="dy-shim-mnt-")
    yield tmp
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        left = [line.split()[4] for line in f if line.split()[4].startswith(tmp)]
    for target in reversed(left):
        subprocess.run(["umount", "-l", target], check=False)
    shutil.rmtree(tmp, ignore_errors=True)
    assert not left, f"mounts left behind: {left}"


def _layers(root: str, count: int) -> list[str]:
    layers = []
    for i in range(count):
        d = os.path.join(root, "a-long-state-root-" + "x" * 100, "snapshots", str(i), "fs")
        os.makedirs(d)
        with open(os.path.join(d, f"file{i}"), "w") as f:
            f.write(str(i))
        layers.append(d)
    return layers


def test_overlay_with_options_longer_than_a_page(workdir: str) -> None:
    layers = _layers(workdir, 60)
    snapshots = os.path.dirname(os.path.dirname(layers[0]))
    upper, work = os.path.join(snapshots, "up", "fs"), os.path.join(snapshots, "up", "work")
    target = os.path.join(workdir, "rootfs")
    for d in (upper, work, target):
        os.makedirs(d)
    assert len(f"lowerdir={layers[0]}") * len(layers) > os.sysconf("SC_PAGE_SIZE")
    options = (f"lowerdir={':'.join(reversed(layers))}", f"upperdir={upper}", f"workdir={work}")
    assert len(",".join(options)) > os.sysconf("SC_PAGE_SIZE")
    cwd = os.getcwd()
    mount_all([RootfsMount("overlay", "overlay", options)], target)
    try:
        assert os.getcwd() == cwd, "the mount's chdir is undone"
        assert is_mountpoint(target)
        assert sorted(os.listdir(target)) == sorted(f"file{i}" for i in range(60))
        with open(os.path.join(target, "new"), "w") as f:
            f.write("x")
        assert os.path.exists(os.path.join(upper, "new"))
    finally:
        assert unmount(target)
    assert not is_mountpoint(target)
    assert not unmount(target), "unmounting twice reports that nothing was mounted"


def test_read_only_bind_mount(workdir: str) -> None:
    src, target = os.path.join(workdir, "src"), os.path.join(workdir, "rootfs")
    os.makedirs(src)
    os.makedirs(target)
    mount_all([RootfsMount("bind", src, ("rbind", "ro"))], target)
    try:
        with pytest.raises(OSError):
            open(os.path.join(target, "x"), "w").close()
    finally:
        unmount(target)


def test_failed_mount_names_the_target(workdir: str) -> None:
    target = os.path.join(workdir, "rootfs")
    os.makedirs(target)
    with pytest.raises(MountError, match="rootfs"):
        mount_all([RootfsMount("overlay", "overlay", (f"lowerdir={workdir}/missing",))], target)
    assert not is_mountpoint(target)
