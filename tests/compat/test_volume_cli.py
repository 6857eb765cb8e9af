"""Volumes and mounts through the real docker CLI: persistence, sharing, copy-up, read-only, tmpfs,
propagation, anonymous volume clean-up and bad input."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator

import pytest

from dockyard.testing.daemon import DaemonProcess

pytestmark = [pytest.mark.compat, pytest.mark.root]

Docker = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def docker(docker_cli: dict[str, str], clean_daemon: DaemonProcess) -> Iterator[Docker]:
    """Run the docker CLI; afterwards remove the test's containers, then every volume."""

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", *args], env=docker_cli, capture_output=True, text=True, timeout=timeout)

    yield run
    clean_daemon.remove_all_containers()
    status, body = clean_daemon.request("GET", "/volumes")
    if status == 200:
        for v in body["Volumes"]:
            clean_daemon.request("DELETE", f"/volumes/{v['Name']}")


def ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, r.stderr
    return r.stdout


def volume_names(docker: Docker) -> set[str]:
    return set(ok(docker("volume", "ls", "-q")).split())


def mountpoint(docker: Docker, name: str) -> str:
    return ok(docker("volume", "inspect", "-f", "{{.Mountpoint}}", name)).strip()


def wait_for_file(path: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                text = f.read()
            if text:
                return text
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{path} did not appear within {timeout}s")


def test_volume_lifecycle_and_inspect(docker: Docker) -> None:
    ok(docker("volume", "create", "--label", "team=a", "lifevol"))
    info = json.loads(ok(docker("volume", "inspect", "lifevol")))[0]
    assert info["Name"] == "lifevol" and info["Driver"] == "local" and info["Scope"] == "local"
    assert info["Labels"] == {"team": "a"}
    assert os.path.isdir(info["Mountpoint"]) and info["Mountpoint"].endswith("/volumes/lifevol/_data")
    assert ok(docker("volume", "ls", "-q", "--filter", "label=team=a")).split() == ["lifevol"]
    assert ok(docker("volume", "ls", "-q", "--filter", "label=team=b")).split() == []
    assert "lifevol" in ok(docker("volume", "ls", "-q", "--filter", "dangling=true")).split()
    ok(docker("volume", "rm", "lifevol"))
    assert "lifevol" not in volume_names(docker)
    r = docker("volume", "inspect", "lifevol")
    assert r.returncode != 0 and "no such volume" in r.stderr


def test_data_persists_across_container_recreation(docker: Docker) -> None:
    ok(docker("run", "--rm", "-v", "keep:/data", "busybox", "sh", "-c", "echo kept > /data/f"))
    ok(docker("run", "--name", "writer2", "-v", "keep:/data", "busybox", "sh", "-c", "echo more >> /data/f"))
    ok(docker("rm", "-v", "writer2"))  # -v never removes a named volume
    assert ok(docker("run", "--rm", "-v", "keep:/data", "busybox", "cat", "/data/f")) == "kept\nmore\n"
    ok(docker("system", "prune", "-f"))  # only volume rm / volume prune remove data
    assert ok(docker("run", "--rm", "-v", "keep:/data", "busybox", "cat", "/data/f")) == "kept\nmore\n"


def test_two_running_containers_share_a_named_volume(docker: Docker) -> None:
    ok(docker("volume", "create", "shared"))
    host = mountpoint(docker, "shared")
    ok(
        docker(
            "run",
            "-d",
            "--name",
            "first",
            "-v",
            "shared:/data",
            "busybox",
            "sh",
            "-c",
            "echo one > /data/a.t; mv /data/a.t /data/a; while [ ! -f /data/b ]; do sleep 0.05; done; "
            "cat /data/b > /data/c.t; mv /data/c.t /data/c; sleep 60",
        )
    )
    ok(
        docker(
            "run",
            "-d",
            "--name",
            "second",
            "-v",
            "shared:/data",
            "busybox",
            "sh",
            "-c",
            "while [ ! -f /data/a ]; do sleep 0.05; done; cat /data/a > /data/b.t; mv /data/b.t /data/b; sleep 60",
        )
    )
    assert wait_for_file(os.path.join(host, "c")) == "one\n"
    states = ok(docker("inspect", "-f", "{{.State.Running}}", "first", "second")).split()
    assert states == ["true", "true"]


def test_volumes_from_shares_live_and_read_only(docker: Docker) -> None:
    ok(
        docker(
            "run",
            "-d",
            "--name",
            "owner",
            "-v",
            "/data",
            "busybox",
            "sh",
            "-c",
            "while [ ! -f /data/x ]; do sleep 0.05; done; echo seen > /data/y; sleep 60",
        )
    )
    mounts = json.loads(ok(docker("inspect", "-f", "{{json .Mounts}}", "owner")))
    assert len(mounts) == 1 and mounts[0]["Destination"] == "/data" and mounts[0]["Type"] == "volume"
    ok(
        docker(
            "run",
            "-d",
            "--name",
            "guest",
            "--volumes-from",
            "owner",
            "busybox",
            "sh",
            "-c",
            "echo hello > /data/x; sleep 60",
        )
    )
    assert wait_for_file(os.path.join(mounts[0]["Source"], "y")) == "seen\n"
    guest = json.loads(ok(docker("inspect", "-f", "{{json .Mounts}}", "guest")))
    assert [(m["Name"], m["Destination"], m["RW"]) for m in guest] == [(mounts[0]["Name"], "/data", True)]
    r = docker("run", "--rm", "--volumes-from", "owner:ro", "busybox", "sh", "-c", "echo no > /data/z")
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    assert ok(docker("run", "--rm", "--volumes-from", "owner:ro", "busybox", "cat", "/data/x")) == "hello\n"


def _image_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add(
            name: str, kind: bytes, mode: int, uid: int = 0, gid: int = 0, data: bytes = b"", link: str = ""
        ) -> None:
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.uid, ti.gid, ti.mtime, ti.linkname = kind, mode, uid, gid, 1_700_000_000, link
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data) if data else None)

        add("bin", tarfile.DIRTYPE, 0o755)
        with open("/bin/busybox", "rb") as f:
            add("bin/busybox", tarfile.REGTYPE, 0o755, data=f.read())
        for applet in ("sh", "stat", "cat", "ls", "readlink", "true"):
            add(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox")
        add("data", tarfile.DIRTYPE, 0o750, uid=1234, gid=5678)
        add("data/file", tarfile.REGTYPE, 0o640, uid=42, gid=43, data=b"image content\n")
        add("data/link", tarfile.SYMTYPE, 0o777, link="file")
        add("data/sub", tarfile.DIRTYPE, 0o711, uid=7, gid=8)
    return buf.getvalue()


@pytest.fixture
def copyup_image(docker: Docker) -> Iterator[str]:
    with tempfile.NamedTemporaryFile(suffix=".tar") as f:
        f.write(_image_tar())
        f.flush()
        ok(docker("import", "--change", "VOLUME /data", "--change", 'CMD ["sh"]', f.name, "copyup:test"))
    yield "copyup:test"
    docker("rmi", "-f", "copyup:test")


STAT = "stat -c '%n %u:%g %a' /data /data/file /data/sub; readlink /data/link; cat /data/file"
EXPECTED = "/data 1234:5678 750\n/data/file 42:43 640\n/data/sub 7:8 711\nfile\nimage content\n"


def test_copy_up_keeps_content_ownership_and_mode(docker: Docker, copyup_image: str) -> None:
    # The image's VOLUME: an anonymous volume filled from the image.
    assert ok(docker("run", "--rm", copyup_image, "sh", "-c", STAT)) == EXPECTED
    # A new named volume over the same path: the same copy, kept in the volume.
    assert ok(docker("run", "--rm", "-v", "filled:/data", copyup_image, "sh", "-c", STAT)) == EXPECTED
    with open(os.path.join(mountpoint(docker, "filled"), "file")) as f:
        assert f.read() == "image content\n"
    # A volume that already has content is never overwritten.
    ok(docker("run", "--rm", "-v", "filled:/data", "busybox", "sh", "-c", "rm -r /data/*; echo mine > /data/own"))
    out = ok(docker("run", "--rm", "-v", "filled:/data", copyup_image, "ls", "/data"))
    assert out.split() == ["own"]


def test_nocopy_leaves_the_volume_empty(docker: Docker, copyup_image: str) -> None:
    assert ok(docker("run", "--rm", "-v", "bare:/data:nocopy", copyup_image, "ls", "-A", "/data")) == ""
    r = docker(
        "run",
        "--rm",
        "--mount",
        "type=volume,source=bare2,target=/data,volume-nocopy",
        copyup_image,
        "ls",
        "-A",
        "/data",
    )
    assert ok(r) == ""


def test_read_only_volume_and_bind(docker: Docker, tmp_path: str) -> None:
    ok(docker("run", "--rm", "-v", "rov:/data", "busybox", "sh", "-c", "echo base > /data/f"))
    for args in (["-v", "rov:/data:ro"], ["--mount", "type=volume,source=rov,target=/data,readonly"]):
        r = docker("run", "--rm", *args, "busybox", "sh", "-c", "cat /data/f; echo x > /data/g")
        assert r.returncode != 0 and r.stdout == "base\n" and "Read-only file system" in r.stderr
    host = str(tmp_path)
    r = docker("run", "--rm", "--mount", f"type=bind,source={host},target=/h,readonly", "busybox", "touch", "/h/nope")
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    assert os.listdir(host) == []


def test_tmpfs_size_limit(docker: Docker) -> None:
    for args in (["--tmpfs", "/t:size=1m"], ["--mount", "type=tmpfs,target=/t,tmpfs-size=1048576"]):
        r = docker(
            "run",
            "--rm",
            *args,
            "busybox",
            "sh",
            "-c",
            "dd if=/dev/zero of=/t/x bs=1k count=2048 2>/dev/null; echo rc=$?; df -k /t | tail -1",
        )
        lines = ok(r).splitlines()
        assert lines[0] != "rc=0"
        assert lines[1].split()[1] == "1024"  # 1 MiB in 1k blocks


@pytest.fixture
def shared_host_dir() -> Iterator[str]:
    """A host directory that is a shared mount point, as bind propagation needs."""
    d = tempfile.mkdtemp(prefix="dockyard-prop-")
    sub = os.path.join(d, "sub")
    os.mkdir(sub)
    try:
        subprocess.run(["mount", "--bind", d, d], check=True)
        subprocess.run(["mount", "--make-shared", d], check=True)
        yield d
    finally:
        for target in (sub, d):
            subprocess.run(["umount", "-l", target], stderr=subprocess.DEVNULL, check=False)
        subprocess.run(["rm", "-rf", d], check=False)


def test_bind_propagation(docker: Docker, shared_host_dir: str) -> None:
    d = shared_host_dir
    ok(
        docker(
            "run",
            "-d",
            "--name",
            "prop-slave",
            "-v",
            f"{d}:/mnt:rslave",
            "busybox",
            "sh",
            "-c",
            "while [ ! -f /mnt/sub/marker ]; do sleep 0.05; done; echo seen > /mnt/sub/ack; sleep 60",
        )
    )
    ok(docker("run", "-d", "--name", "prop-private", "-v", f"{d}:/mnt", "busybox", "sleep", "60"))
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", os.path.join(d, "sub")], check=True)
    with open(os.path.join(d, "sub", "marker"), "w") as f:
        f.write("x")
    # The mount made on the host after start reached the rslave container, which wrote into it.
    assert wait_for_file(os.path.join(d, "sub", "ack")) == "seen\n"
    info = json.loads(ok(docker("inspect", "-f", "{{json .Mounts}}", "prop-slave")))
    assert info[0]["Propagation"] == "rslave"
    # A private bind (the default) does not see it.
    ok(docker("rm", "-f", "prop-private"))
    r = docker("run", "--rm", "--mount", f"type=bind,source={d},target=/mnt", "busybox", "ls", "/mnt/sub")
    assert "marker" in ok(r)  # a new container's bind copies the host mounts below it (rbind)
    # "shared" needs a shared source: a plain directory is refused with Docker's message.
    plain = tempfile.mkdtemp(prefix="dockyard-prop-plain-")
    try:
        r = docker("run", "--rm", "-v", f"{plain}:/mnt:rshared", "busybox", "true")
        assert r.returncode != 0 and "is not a shared mount" in r.stderr
    finally:
        os.rmdir(plain)


def test_private_bind_does_not_see_later_host_mounts(docker: Docker, shared_host_dir: str) -> None:
    d = shared_host_dir
    ok(
        docker(
            "run",
            "-d",
            "--name",
            "prop-priv",
            "-v",
            f"{d}:/mnt",
            "busybox",
            "sh",
            "-c",
            "while [ ! -f /mnt/go ]; do sleep 0.05; done; "
            "ls /mnt/sub > /mnt/seen.t; mv /mnt/seen.t /mnt/seen; sleep 60",
        )
    )
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", os.path.join(d, "sub")], check=True)
    with open(os.path.join(d, "sub", "marker"), "w") as f:
        f.write("x")
    with open(os.path.join(d, "go"), "w") as f:
        f.write("go")
    # /mnt/seen lands in the directory itself, which the container shares with the host.
    deadline = time.monotonic() + 30
    while not os.path.exists(os.path.join(d, "seen")) and time.monotonic() < deadline:
        time.sleep(0.05)
    subprocess.run(["umount", "-l", os.path.join(d, "sub")], check=True)
    with open(os.path.join(d, "seen")) as f:
        assert f.read() == ""  # the tmpfs (and its marker) never appeared inside


def test_anonymous_volumes_removed_with_rm_v_and_auto_remove(docker: Docker) -> None:
    before = volume_names(docker)
    ok(docker("run", "--rm", "-v", "/anon", "-v", "named-stays:/named", "busybox", "sh", "-c", "echo x > /anon/f"))
    deadline = time.monotonic() + 30
    while volume_names(docker) - before != {"named-stays"} and time.monotonic() < deadline:
        time.sleep(0.1)
    assert volume_names(docker) - before == {"named-stays"}

    ok(docker("create", "--name", "keeper", "-v", "/anon", "busybox", "true"))
    ok(docker("create", "--name", "dropper", "-v", "/anon", "busybox", "true"))
    anon = {
        name: json.loads(ok(docker("inspect", "-f", "{{json .Mounts}}", name)))[0]["Name"]
        for name in ("keeper", "dropper")
    }
    ok(docker("rm", "keeper"))
    ok(docker("rm", "-v", "dropper"))
    names = volume_names(docker)
    assert anon["keeper"] in names and anon["dropper"] not in names
    # A default prune removes the unused anonymous volume, never the named one.
    ok(docker("volume", "prune", "-f"))
    names = volume_names(docker)
    assert anon["keeper"] not in names and "named-stays" in names


def test_anonymous_volume_shared_via_volumes_from_survives_rm_v(docker: Docker) -> None:
    ok(docker("create", "--name", "origin", "-v", "/anon", "busybox", "true"))
    ok(docker("create", "--name", "borrower", "--volumes-from", "origin", "busybox", "true"))
    name = json.loads(ok(docker("inspect", "-f", "{{json .Mounts}}", "origin")))[0]["Name"]
    ok(docker("rm", "-v", "origin"))
    assert name in volume_names(docker)  # still used by borrower
    ok(docker("rm", "-v", "borrower"))
    assert name not in volume_names(docker)


def test_bad_input_is_answered_clearly(docker: Docker) -> None:
    r = docker("volume", "create", "bad/name")
    assert r.returncode != 0 and "includes invalid characters for a local volume name" in r.stderr
    r = docker("run", "--rm", "-v", "bad!name:/data", "busybox", "true")
    assert r.returncode != 0 and "includes invalid characters" in r.stderr
    r = docker("run", "--rm", "--mount", "type=bind,source=/nonexistent/dockyard-src,target=/x", "busybox", "true")
    assert r.returncode != 0 and "bind source path does not exist: /nonexistent/dockyard-src" in r.stderr
    assert not os.path.exists("/nonexistent/dockyard-src")
    r = docker("volume", "create", "-o", "colour=red", "optvol")
    assert r.returncode != 0 and 'invalid option: "colour"' in r.stderr
    assert "optvol" not in volume_names(docker)

    ok(docker("run", "--name", "user", "-v", "busy:/data", "busybox", "sh", "-c", "echo precious > /data/f"))
    r = docker("volume", "rm", "busy")
    assert r.returncode != 0 and "volume is in use" in r.stderr
    assert ok(docker("run", "--rm", "-v", "busy:/data", "busybox", "cat", "/data/f")) == "precious\n"
    ok(docker("rm", "user"))
    ok(docker("volume", "rm", "busy"))


def test_missing_bind_source_of_v_is_created(docker: Docker, tmp_path: str) -> None:
    src = os.path.join(str(tmp_path), "made", "by", "v")
    ok(docker("run", "--rm", "-v", f"{src}:/out", "busybox", "sh", "-c", "echo hi > /out/f"))
    with open(os.path.join(src, "f")) as f:
        assert f.read() == "hi\n"


def test_symlink_cannot_make_a_mount_escape(docker: Docker) -> None:
    outside = tempfile.mkdtemp(prefix="dockyard-escape-")
    try:
        depth = "/".join([".."] * 12)
        # A container plants symlinks in a volume: one relative, climbing out; one absolute.
        ok(
            docker(
                "run",
                "--rm",
                "-v",
                "trap:/data",
                "busybox",
                "sh",
                "-c",
                f"ln -s {depth}{outside} /data/up; ln -s {outside} /data/abs",
            )
        )
        for link in ("up", "abs"):
            ok(
                docker(
                    "run",
                    "--rm",
                    "-v",
                    "trap:/data",
                    "-v",
                    f"inner-{link}:/data/{link}",
                    "busybox",
                    "sh",
                    "-c",
                    f"echo inside > /data/{link}/f",
                )
            )
            # The mount landed inside the container (at <rootfs>/<outside>), so the write went to the volume.
            with open(os.path.join(mountpoint(docker, f"inner-{link}"), "f")) as f:
                assert f.read() == "inside\n"
        assert os.listdir(outside) == []
    finally:
        subprocess.run(["rm", "-rf", outside], check=False)


def test_driver_option_volumes_tmpfs_and_bind(docker: Docker, tmp_path: str) -> None:
    ok(docker("volume", "create", "-d", "local", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", "tvol"))
    info = json.loads(ok(docker("volume", "inspect", "tvol")))[0]
    assert info["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    ok(
        docker(
            "run",
            "-d",
            "--name",
            "tmpfs-user",
            "-v",
            "tvol:/t",
            "busybox",
            "sh",
            "-c",
            "echo in-tmpfs > /t/f.t; mv /t/f.t /t/f; sleep 60",
        )
    )
    r = docker(
        "run",
        "--rm",
        "-v",
        "tvol:/t",
        "busybox",
        "sh",
        "-c",
        "while [ ! -f /t/f ]; do sleep 0.05; done; cat /t/f; df -k /t | tail -1",
    )
    lines = ok(r).splitlines()
    assert lines[0] == "in-tmpfs" and lines[1].split()[1] == "1024"
    host = str(tmp_path)
    ok(docker("volume", "create", "-o", "type=none", "-o", "o=bind", "-o", f"device={host}", "hostvol"))
    ok(docker("run", "--rm", "-v", "hostvol:/h", "busybox", "sh", "-c", "echo via-volume > /h/f"))
    with open(os.path.join(host, "f")) as f:
        assert f.read() == "via-volume\n"
    ok(docker("volume", "rm", "hostvol"))
    with open(os.path.join(host, "f")) as f:  # removing the volume never deletes the host directory's files
        assert f.read() == "via-volume\n"
    mount = "type=volume,source=mvol,target=/m,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=2m"
    out = ok(docker("run", "--rm", "--mount", mount, "busybox", "sh", "-c", "df -k /m | tail -1"))
    assert out.split()[1] == "2048"
    assert json.loads(ok(docker("volume", "inspect", "mvol")))[0]["Options"]["o"] == "size=2m"
    r = docker("volume", "create", "-o", "type=none", "-o", "o=bind", "-o", "device=/nonexistent/dockyard", "nohost")
    assert r.returncode != 0 and "no such file or directory" in r.stderr


def test_failed_create_leaves_no_volumes_behind(docker: Docker, clean_daemon: DaemonProcess) -> None:
    before = volume_names(docker)
    body = {
        "Image": "busybox",
        "Cmd": ["true"],
        "Volumes": {"/anon": {}},
        "HostConfig": {"Binds": ["fresh-named:/named"], "NetworkMode": "no-such-network-here"},
    }
    status, answer = clean_daemon.request("POST", "/containers/create", body)
    assert status >= 400, answer
    # The anonymous volume made for the failed container is gone; the named one is kept, unused.
    assert volume_names(docker) - before == {"fresh-named"}
    assert "fresh-named" in ok(docker("volume", "ls", "-q", "--filter", "dangling=true")).split()


def test_volume_over_etc_keeps_the_daemon_files_on_top(docker: Docker) -> None:
    out = ok(
        docker(
            "run",
            "--rm",
            "--hostname",
            "vol-etc-host",
            "-v",
            "etcvol:/etc",
            "busybox",
            "sh",
            "-c",
            "cat /etc/hostname; grep -c '^root:' /etc/passwd; grep -q localhost /etc/hosts && echo hosts-ok",
        )
    )
    # The volume (copied up from the image's /etc) is mounted first, the daemon's files over it.
    assert out.split() == ["vol-etc-host", "1", "hosts-ok"]
