"""The local driver and copy-up on the real kernel: ownership, device nodes, mounts of driver options."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from dockyard import errors
from dockyard.containers.rootfs import secure_join
from dockyard.testing.daemon import cleanup_mounts_under
from dockyard.volumes import KernelVolumeMounter, LocalDriver, VolumeStore, copy_up

pytestmark = [pytest.mark.root]


@pytest.fixture
def driver(tmp_path: Any) -> Iterator[LocalDriver]:
    store = VolumeStore(os.path.join(str(tmp_path), "volumes.db"))
    try:
        yield LocalDriver(os.path.join(str(tmp_path), "volumes"), store, KernelVolumeMounter())
    finally:
        cleanup_mounts_under(str(tmp_path))
        store.close()


def test_copy_up_keeps_owners_modes_links_and_nodes(tmp_path: Any) -> None:
    src = os.path.join(str(tmp_path), "src")
    os.makedirs(os.path.join(src, "sub"))
    with open(os.path.join(src, "file"), "w") as f:
        f.write("content")
    os.chown(os.path.join(src, "file"), 42, 43)
    os.chmod(os.path.join(src, "file"), 0o4640)
    os.link(os.path.join(src, "file"), os.path.join(src, "hard"))
    os.symlink("/etc/passwd", os.path.join(src, "abs-link"))
    os.chown(os.path.join(src, "sub"), 7, 8)
    os.chmod(os.path.join(src, "sub"), 0o511)  # not writable: the copy must still fill it
    with open(os.path.join(src, "sub", "inner"), "w") as f:
        f.write("x")
    os.mknod(os.path.join(src, "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mkfifo(os.path.join(src, "fifo"), 0o600)
    os.chown(src, 1234, 5678)
    os.chmod(src, 0o750)
    dst = os.path.join(str(tmp_path), "vol")
    os.mkdir(dst)

    assert copy_up(src, dst) is True
    st = os.lstat(dst)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 5678, 0o750)
    st = os.lstat(os.path.join(dst, "file"))
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (42, 43, 0o4640)
    assert os.lstat(os.path.join(dst, "hard")).st_ino == st.st_ino
    assert os.readlink(os.path.join(dst, "abs-link")) == "/etc/passwd"
    sub = os.lstat(os.path.join(dst, "sub"))
    assert (sub.st_uid, sub.st_gid, stat.S_IMODE(sub.st_mode)) == (7, 8, 0o511)
    with open(os.path.join(dst, "sub", "inner")) as f:
        assert f.read() == "x"
    assert os.lstat(os.path.join(dst, "null")).st_rdev == os.makedev(1, 3)
    assert stat.S_ISFIFO(os.lstat(os.path.join(dst, "fifo")).st_mode)
    assert os.lstat(os.path.join(dst, "sub")).st_mtime_ns == os.lstat(os.path.join(src, "sub")).st_mtime_ns
    # A second copy into the now non-empty volume does nothing.
    os.remove(os.path.join(dst, "hard"))
    assert copy_up(src, dst) is False
    assert not os.path.exists(os.path.join(dst, "hard"))


def test_copy_up_source_resolved_inside_rootfs(tmp_path: Any) -> None:
    """An image whose volume path is a symlink out of the rootfs copies from inside the rootfs."""
    rootfs = os.path.join(str(tmp_path), "rootfs")
    outside = os.path.join(str(tmp_path), "outside")
    os.makedirs(os.path.join(rootfs, "inside"))
    os.makedirs(outside)
    with open(os.path.join(outside, "secret"), "w") as f:
        f.write("host secret")
    with open(os.path.join(rootfs, "inside", "ok"), "w") as f:
        f.write("image data")
    os.symlink("../../../../../../" + outside.lstrip("/"), os.path.join(rootfs, "data"))
    os.symlink(outside, os.path.join(rootfs, "data2"))
    vol = os.path.join(str(tmp_path), "vol")
    os.mkdir(vol)
    for name in ("data", "data2"):
        src = secure_join(rootfs, "/" + name)
        assert src.startswith(rootfs + "/")
        assert copy_up(src, vol) is False  # the resolved path does not exist inside the rootfs
    assert os.listdir(vol) == []
    os.symlink("/inside", os.path.join(rootfs, "data3"))
    assert copy_up(secure_join(rootfs, "/data3"), vol) is True
    assert os.listdir(vol) == ["ok"]


def test_tmpfs_volume_mounted_and_removed(driver: LocalDriver) -> None:
    vol = driver.create("tvol", {"type": "tmpfs", "device": "tmpfs", "o": "size=1m,mode=0710"}, {})
    path = driver.mount("tvol")
    assert path == vol.mountpoint and os.path.ismount(path)
    assert driver.mount("tvol") == path  # mounted once, however many users
    st = os.statvfs(path)
    assert st.f_blocks * st.f_frsize == 1 << 20
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o710
    driver.remove("tvol")
    assert not os.path.exists(os.path.dirname(path))
    with pytest.raises(errors.NotFound):
        driver.get("tvol")


def test_bind_volume_of_a_host_directory(driver: LocalDriver, tmp_path: Any) -> None:
    host = os.path.join(str(tmp_path), "host-dir")
    os.mkdir(host)
    with open(os.path.join(host, "f"), "w") as f:
        f.write("host data")
    driver.create("bvol", {"type": "none", "device": host, "o": "bind"}, {})
    path = driver.mount("bvol")
    with open(os.path.join(path, "f")) as f:
        assert f.read() == "host data"
    driver.remove("bvol")
    with open(os.path.join(host, "f")) as f:  # removing the volume unmounts, never deletes the host's data
        assert f.read() == "host data"


def test_mount_failure_is_reported(driver: LocalDriver) -> None:
    driver.create("broken", {"type": "no-such-fs", "device": "x"}, {})
    with pytest.raises(errors.InvalidArgument, match="failed to mount local volume"):
        driver.mount("broken")
    driver.remove("broken")


@pytest.fixture
def loop_device(tmp_path: Any) -> Iterator[str]:
    """An 8 MiB ext4 filesystem on a loop device."""
    image = os.path.join(str(tmp_path), "fs.img")
    with open(image, "wb") as f:
        f.truncate(8 << 20)
    if subprocess.run(["mkfs.ext4", "-q", "-F", image], capture_output=True).returncode != 0:
        pytest.skip("mkfs.ext4 is not available")
    r = subprocess.run(["losetup", "-f", "--show", image], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"no loop devices here: {r.stderr.strip()}")
    dev = r.stdout.strip()
    try:
        yield dev
    finally:
        cleanup_mounts_under(str(tmp_path))
        subprocess.run(["losetup", "-d", dev], check=False)


def test_block_device_volume_keeps_data_across_mounts(driver: LocalDriver, loop_device: str) -> None:
    driver.create("blk", {"type": "ext4", "device": loop_device}, {})
    path = driver.mount("blk")
    with open("/proc/self/mountinfo") as f:
        assert any(line.split()[4] == path and " ext4 " in line for line in f)
    with open(os.path.join(path, "on-disk"), "w") as f:
        f.write("persisted")
    driver.unmount("blk")
    assert not os.path.exists(os.path.join(path, "on-disk"))  # the data lives on the device, not in _data
    path = driver.mount("blk")
    with open(os.path.join(path, "on-disk")) as f:
        assert f.read() == "persisted"
    driver.remove("blk")
