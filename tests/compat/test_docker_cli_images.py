"""The real docker CLI against dockyardd: images, tags, save/load/import."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import tempfile

import pytest

pytestmark = [pytest.mark.compat, pytest.mark.root]


def docker(env: dict[str, str], *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["docker", *args], env=env, input=input, capture_output=True, timeout=120)


def image_id(env: dict[str, str], name: str) -> str:
    r = docker(env, "image", "inspect", "-f", "{{.Id}}", name)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().strip()


def test_images_lists_busybox(docker_cli: dict[str, str]) -> None:
    r = docker(docker_cli, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
    assert r.returncode == 0, r.stderr
    assert any(line.startswith("busybox:latest ") for line in r.stdout.decode().splitlines())


def test_tag_and_rmi_untags(docker_cli: dict[str, str]) -> None:
    bid = image_id(docker_cli, "busybox")
    assert docker(docker_cli, "tag", "busybox", "localhost:5000/me/bb:v1").returncode == 0
    assert image_id(docker_cli, "localhost:5000/me/bb:v1") == bid
    r = docker(docker_cli, "rmi", "localhost:5000/me/bb:v1")
    assert r.returncode == 0, r.stderr
    assert b"Untagged: localhost:5000/me/bb:v1" in r.stdout
    assert image_id(docker_cli, "busybox") == bid  # still there


def test_rmi_in_use_conflict(docker_cli: dict[str, str]) -> None:
    docker(docker_cli, "tag", "busybox", "inuse:1")
    assert docker(docker_cli, "create", "--name", "user1", "inuse:1", "true").returncode == 0
    r = docker(docker_cli, "rmi", image_id(docker_cli, "inuse:1"))
    assert r.returncode != 0
    assert b"conflict" in r.stderr.lower()
    assert image_id(docker_cli, "busybox")  # nothing was removed
    docker(docker_cli, "rm", "user1")
    assert docker(docker_cli, "rmi", "inuse:1").returncode == 0


def test_save_load_round_trip(docker_cli: dict[str, str]) -> None:
    bid = image_id(docker_cli, "busybox")
    docker(docker_cli, "tag", "busybox", "saved:rt")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "img.tar")
        r = docker(docker_cli, "save", "-o", path, "saved:rt")
        assert r.returncode == 0, r.stderr
        with tarfile.open(path) as tf:
            names = tf.getnames()
        assert "manifest.json" in names
        assert docker(docker_cli, "rmi", "saved:rt").returncode == 0
        r = docker(docker_cli, "load", "-i", path)
        assert r.returncode == 0, r.stderr
        assert b"saved:rt" in r.stdout
    assert image_id(docker_cli, "saved:rt") == bid
    docker(docker_cli, "rmi", "saved:rt")


def test_import_rootfs_tar_with_changes(docker_cli: dict[str, str]) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("hello.txt")
        data = b"imported\n"
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
        with open("/bin/busybox", "rb") as f:
            bb = f.read()
        info = tarfile.TarInfo("bin/busybox")
        info.size = len(bb)
        info.mode = 0o755
        tf.addfile(info, io.BytesIO(bb))
        for applet in ("sh", "cat"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tf.addfile(link)
    r = docker(
        docker_cli,
        "import",
        "-c",
        'CMD ["/bin/cat", "/hello.txt"]',
        "-c",
        "ENV X=1",
        "-",
        "imported:v1",
        input=buf.getvalue(),
    )
    assert r.returncode == 0, r.stderr
    cfg = json.loads(docker(docker_cli, "image", "inspect", "imported:v1").stdout)[0]["Config"]
    assert cfg["Cmd"] == ["/bin/cat", "/hello.txt"]
    assert "X=1" in cfg["Env"]
    out = docker(docker_cli, "run", "--rm", "imported:v1")
    assert out.stdout == b"imported\n", out.stderr
    docker(docker_cli, "rmi", "imported:v1")


def test_load_corrupt_tarball_is_refused(docker_cli: dict[str, str]) -> None:
    before = docker(docker_cli, "images", "-q", "--no-trunc").stdout
    r = docker(docker_cli, "load", input=b"this is not a tar archive at all" * 100)
    assert r.returncode != 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "img.tar")
        assert docker(docker_cli, "save", "-o", path, "busybox").returncode == 0
        with open(path, "rb") as f:
            data = f.read()
    r = docker(docker_cli, "load", input=data[: len(data) // 2])
    assert r.returncode != 0
    assert docker(docker_cli, "images", "-q", "--no-trunc").stdout == before


def test_history_and_inspect(docker_cli: dict[str, str]) -> None:
    r = docker(docker_cli, "history", "--no-trunc", "--format", "{{.CreatedBy}}", "busybox")
    assert r.returncode == 0, r.stderr
    info = json.loads(docker(docker_cli, "image", "inspect", "busybox").stdout)[0]
    assert info["Id"].startswith("sha256:")
    assert "docker.io/library/busybox:latest" not in info["RepoTags"]
    assert "busybox:latest" in info["RepoTags"]
    assert info["Os"] == "linux"
    assert info["RootFS"]["Type"] == "layers"
