"""``image bootstrap debian`` end to end with a stand-in debootstrap (tests may not
reach a Debian mirror): the rootfs it makes becomes a trimmed one-layer image."""

from __future__ import annotations

import asyncio
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.images.service import ImageService
from dockyard.snapshots import OverlaySnapshotter

pytestmark = [pytest.mark.root]

FAKE = """#!/bin/sh
# args: --variant=minbase SUITE TARGET MIRROR
[ "$1" = "--variant=minbase" ] || exit 9
t="$3"
mkdir -p "$t/bin" "$t/etc" "$t/var/cache/apt/archives/partial" "$t/var/lib/apt/lists" "$t/tmp"
cp /bin/busybox "$t/bin/busybox"
ln -s busybox "$t/bin/sh"
echo "12.0" > "$t/etc/debian_version"
echo "$2 from $4" > "$t/etc/origin"
echo buildhost > "$t/etc/hostname"
echo junk > "$t/var/cache/apt/archives/x.deb"
echo junk > "$t/var/lib/apt/lists/index"
"""


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[ImageService]:
    s = ImageService(str(tmp_path / "root"), OverlaySnapshotter(str(tmp_path / "root" / "snapshots" / "overlay")))
    yield s
    s.meta.db.close()


@pytest.fixture
def fake_debootstrap(tmp_path: Path) -> str:
    p = tmp_path / "debootstrap"
    p.write_text(FAKE)
    p.chmod(p.stat().st_mode | stat.S_IEXEC)
    return str(p)


def test_bootstrap_debian_makes_a_trimmed_image(svc: ImageService, fake_debootstrap: str) -> None:
    image_id = asyncio.run(svc.bootstrap_debian("testsuite", "", "http://mirror.invalid/debian", fake_debootstrap))
    rec = svc.resolve("debian:testsuite")
    assert rec.id == image_id
    assert rec.container_config["Cmd"] == ["bash"]
    assert len(rec.diff_ids) == 1
    blob = svc.content.open(svc._manifest(svc._find("debian:testsuite")[0]).layers[0].digest)
    with tarfile.open(fileobj=blob) as tf:
        names = set(tf.getnames())
        origin = tf.extractfile("etc/origin")
        assert origin is not None and origin.read() == b"testsuite from http://mirror.invalid/debian\n"
    assert "etc/debian_version" in names and "bin/busybox" in names
    assert "var/cache/apt/archives/x.deb" not in names
    assert "var/lib/apt/lists/index" not in names
    assert "etc/hostname" not in names
    assert not os.listdir(svc.tmp_dir)  # the work directory is gone


def test_failed_debootstrap_stores_nothing(svc: ImageService, tmp_path: Path) -> None:
    bad = tmp_path / "failing"
    bad.write_text("#!/bin/sh\necho 'E: Failed getting release file' >&2\nexit 1\n")
    bad.chmod(0o755)
    with pytest.raises(errors.Unavailable, match="Failed getting release file"):
        asyncio.run(svc.bootstrap_debian("bookworm", "", "http://mirror.invalid/debian", str(bad)))
    assert not svc.exists("debian:bookworm")
    assert not os.listdir(svc.tmp_dir)
