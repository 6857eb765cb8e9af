"""The copy storage driver (hosts without overlayfs): diff, commit and build work as with overlay."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator

import pytest

from dockyard.testing.daemon import DaemonProcess

pytestmark = [pytest.mark.compat, pytest.mark.root]


@pytest.fixture(scope="module")
def copy_env() -> Iterator[dict[str, str]]:
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    if not os.path.exists("/bin/busybox"):
        pytest.skip("needs busybox-static (/bin/busybox)")
    d = DaemonProcess(extra_args=("--storage-driver", "copy"))
    try:
        d.start()
        status, body = d.request("POST", "/dockyard/images/bootstrap?kind=busybox&tag=busybox:latest", timeout=120)
        assert status == 200, body
        yield d.env()
    finally:
        d.destroy()


def docker(env: dict[str, str], *args: str) -> str:
    r = subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


def _layer_members(env: dict[str, str], image: str) -> dict[str, tarfile.TarInfo]:
    """The members of the image's top layer."""
    saved = subprocess.run(["docker", "save", image], env=env, capture_output=True, check=True, timeout=60).stdout
    with tarfile.open(fileobj=io.BytesIO(saved)) as outer:
        index = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        top = index[0]["Layers"][-1]
        with tarfile.open(fileobj=outer.extractfile(top)) as layer:
            return {m.name: m for m in layer}


def test_driver_is_reported(copy_env: dict[str, str]) -> None:
    assert docker(copy_env, "info", "--format", "{{.Driver}}").strip() == "copy"


def test_diff_and_commit_hold_only_the_changes(copy_env: dict[str, str]) -> None:
    name = f"copydiff{os.getpid()}"
    docker(
        copy_env, "run", "--name", name, "busybox", "sh", "-c", "echo hi > /root/new && rm /bin/ls && chmod 700 /tmp"
    )
    try:
        changes = docker(copy_env, "diff", name).split("\n")
        assert {"A /root/new", "D /bin/ls", "C /tmp", "C /bin", "C /root"} <= set(changes)
        assert not [c for c in changes if c.endswith(("/etc/hosts", "/etc/resolv.conf", "/etc/hostname"))]
        image = f"copycommit{os.getpid()}"
        docker(copy_env, "commit", name, image)
        try:
            members = _layer_members(copy_env, image)
            assert {"root/new", "bin/.wh.ls", "tmp"} <= set(members)
            assert "bin/sh" not in members and "etc/hosts" not in members  # not the whole tree
            r = docker(copy_env, "run", "--rm", image, "sh", "-c", "cat /root/new; ls /bin/ls || echo no-ls")
            assert r.split() == ["hi", "no-ls"]
        finally:
            docker(copy_env, "rmi", image)
    finally:
        docker(copy_env, "rm", "-f", name)


def test_build_run_layers_are_diffs(copy_env: dict[str, str]) -> None:
    ctx = tempfile.mkdtemp(prefix="dockyard-copy-build-")
    image = f"copybuild{os.getpid()}"
    try:
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write("FROM busybox\nRUN echo built > /built && rm /bin/ls\n")
        docker(copy_env, "build", "-q", "-t", image, ctx)
        members = _layer_members(copy_env, image)
        assert set(members) == {"built", "bin", "bin/.wh.ls"}
        assert docker(copy_env, "run", "--rm", image, "cat", "/built").strip() == "built"
    finally:
        shutil.rmtree(ctx)
        subprocess.run(["docker", "rmi", "-f", image], env=copy_env, capture_output=True, timeout=60)
