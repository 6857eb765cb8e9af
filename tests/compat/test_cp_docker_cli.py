"""docker cp, export and diff through the real docker CLI and docker-py."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from dockyard.testing.daemon import DaemonProcess

pytestmark = [pytest.mark.compat, pytest.mark.root]


def docker(
    env: dict[str, str], *args: str, input: bytes | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["docker", *args], env=env, input=input, capture_output=True, timeout=timeout)


def ok(env: dict[str, str], *args: str, input: bytes | None = None) -> bytes:
    r = docker(env, *args, input=input)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


SETUP = "mkdir -p /d/sub && echo hi > /d/f && echo deep > /d/sub/g && ln -s /etc /d/etclink"


@pytest.fixture
def stopped(docker_cli: dict[str, str]) -> str:
    ok(docker_cli, "run", "--name", "cpstopped", "busybox", "sh", "-c", SETUP)
    return "cpstopped"


@pytest.fixture
def running(docker_cli: dict[str, str]) -> str:
    ok(docker_cli, "run", "-d", "--name", "cprunning", "busybox", "sh", "-c", SETUP + " && sleep 300")
    for _ in range(100):  # the setup commands run before sleep: wait for them (bounded)
        r = docker(docker_cli, "cp", "cprunning:/d/etclink", "-")
        if r.returncode == 0:
            break
        subprocess.run(["sleep", "0.1"], check=True)
    return "cprunning"


@pytest.mark.parametrize("which", ["stopped", "running"])
def test_cp_out_file_dir_and_dot(
    docker_cli: dict[str, str], tmp_path: Path, which: str, request: pytest.FixtureRequest
) -> None:
    c = request.getfixturevalue(which)
    ok(docker_cli, "cp", f"{c}:/d/f", str(tmp_path / "f"))
    assert (tmp_path / "f").read_text() == "hi\n"
    ok(docker_cli, "cp", f"{c}:/d", str(tmp_path / "copy"))  # new name: the dir itself, renamed
    assert sorted(os.listdir(tmp_path / "copy")) == ["etclink", "f", "sub"]
    assert (tmp_path / "copy" / "sub" / "g").read_text() == "deep\n"
    assert os.readlink(tmp_path / "copy" / "etclink") == "/etc"  # the link itself, not /etc
    (tmp_path / "existing").mkdir()
    ok(docker_cli, "cp", f"{c}:/d", str(tmp_path / "existing"))  # existing dir: copied into it
    assert (tmp_path / "existing" / "d" / "f").read_text() == "hi\n"
    (tmp_path / "dot").mkdir()
    ok(docker_cli, "cp", f"{c}:/d/.", str(tmp_path / "dot"))  # /. copies the contents
    assert sorted(os.listdir(tmp_path / "dot")) == ["etclink", "f", "sub"]


def test_cp_out_to_stdout_is_a_tar(docker_cli: dict[str, str], stopped: str) -> None:
    data = ok(docker_cli, "cp", f"{stopped}:/d", "-")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = sorted(tar.getnames())
        assert names == ["d", "d/etclink", "d/f", "d/sub", "d/sub/g"]
        f = tar.extractfile("d/f")
        assert f is not None and f.read() == b"hi\n"


def test_cp_missing_source_fails(docker_cli: dict[str, str], stopped: str, tmp_path: Path) -> None:
    r = docker(docker_cli, "cp", f"{stopped}:/nope", str(tmp_path / "x"))
    assert r.returncode != 0
    assert b"Could not find the file /nope" in r.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("which", ["stopped", "running"])
def test_cp_in_file_dir_rename_and_missing_parent(
    docker_cli: dict[str, str], tmp_path: Path, which: str, request: pytest.FixtureRequest
) -> None:
    c = request.getfixturevalue(which)
    (tmp_path / "up").write_text("up\n")
    (tmp_path / "tree" / "inner").mkdir(parents=True)
    (tmp_path / "tree" / "inner" / "z").write_text("z\n")
    ok(docker_cli, "cp", str(tmp_path / "up"), f"{c}:/d/")
    ok(docker_cli, "cp", str(tmp_path / "up"), f"{c}:/d/renamed")
    ok(docker_cli, "cp", str(tmp_path / "tree"), f"{c}:/d/sub")  # existing dir: lands inside
    ok(docker_cli, "cp", str(tmp_path / "tree") + "/.", f"{c}:/d/merged")  # new dir from the contents
    r = docker(docker_cli, "cp", str(tmp_path / "up"), f"{c}:/no/such/dir/")
    assert r.returncode != 0
    out = ok(docker_cli, "cp", f"{c}:/d", "-")
    with tarfile.open(fileobj=io.BytesIO(out)) as tar:
        names = set(tar.getnames())
        for n in ("d/up", "d/renamed", "d/sub/tree/inner/z", "d/merged/inner/z"):
            assert n in names
        f = tar.extractfile("d/renamed")
        assert f is not None and f.read() == b"up\n"
    with tarfile.open(fileobj=io.BytesIO(ok(docker_cli, "cp", f"{c}:/", "-"))) as tar:
        assert any(n.endswith("d/renamed") for n in tar.getnames())  # the whole root copies too


def test_cp_in_running_is_visible_inside(docker_cli: dict[str, str], tmp_path: Path) -> None:
    ok(
        docker_cli,
        "run",
        "-d",
        "--name",
        "cpwatch",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ ! -f /tmp/up ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; cat /tmp/up",
    )
    (tmp_path / "up").write_text("seen inside\n")
    ok(docker_cli, "cp", str(tmp_path / "up"), "cpwatch:/tmp/up")
    assert ok(docker_cli, "wait", "cpwatch").strip() == b"0"
    assert ok(docker_cli, "logs", "cpwatch") == b"seen inside\n"


def test_cp_through_symlink_to_host_path_stays_inside(docker_cli: dict[str, str], tmp_path: Path) -> None:
    host_dir = tmp_path / "hostside"
    host_dir.mkdir()
    # In the container, /esc points at an absolute path that exists on the host: it must mean
    # the container's own path of that name.
    ok(
        docker_cli,
        "run",
        "--name",
        "cpesc",
        "busybox",
        "sh",
        "-c",
        f"mkdir -p {host_dir} && ln -s {host_dir} /esc && ln -s ../../../../../{host_dir} /climb",
    )
    (tmp_path / "payload").write_text("payload\n")
    ok(docker_cli, "cp", str(tmp_path / "payload"), "cpesc:/esc/")
    docker(docker_cli, "cp", str(tmp_path / "payload"), "cpesc:/climb/p2")
    assert os.listdir(host_dir) == []
    data = ok(docker_cli, "cp", f"cpesc:{host_dir}/payload", "-")
    assert b"payload\n" in data
    # reading through the links never reads the host either
    (host_dir / "secret").write_text("host secret\n")
    r = docker(docker_cli, "cp", "cpesc:/esc/secret", "-")
    assert r.returncode != 0 and b"host secret" not in r.stdout


def test_cp_file_over_directory_is_refused(docker_cli: dict[str, str], stopped: str, tmp_path: Path) -> None:
    (tmp_path / "sub").write_text("a file named like the dir\n")
    r = docker(docker_cli, "cp", str(tmp_path / "sub"), f"{stopped}:/d/")
    assert r.returncode != 0
    assert b"cannot overwrite directory" in r.stderr
    out = ok(docker_cli, "cp", f"{stopped}:/d/sub/g", "-")
    assert b"deep\n" in out


def test_export_is_the_whole_filesystem(docker_cli: dict[str, str], stopped: str) -> None:
    r = subprocess.run(
        f"docker export {stopped} | tar -t", shell=True, env=docker_cli, capture_output=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    names = set(r.stdout.decode().split())
    assert {"bin/busybox", "d/f", "d/sub/g", "etc/passwd"} <= names


def test_diff_reports_added_changed_deleted(docker_cli: dict[str, str]) -> None:
    ok(
        docker_cli,
        "run",
        "--name",
        "cpdiff",
        "busybox",
        "sh",
        "-c",
        "touch /tmp/new && rm /bin/ls && echo x >> /etc/passwd",
    )
    lines = ok(docker_cli, "diff", "cpdiff").decode().splitlines()
    assert lines == ["C /bin", "D /bin/ls", "C /etc", "C /etc/passwd", "C /tmp", "A /tmp/new"]


def test_docker_py_archive_roundtrip(clean_daemon: DaemonProcess) -> None:
    docker_py = pytest.importorskip("docker")
    client = docker_py.DockerClient(base_url=clean_daemon.host, timeout=60)
    try:
        c = client.containers.create("busybox", ["sh"], name="cppy")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("hello.txt")
            info.size = 3
            tar.addfile(info, io.BytesIO(b"hey"))
        assert c.put_archive("/tmp", buf.getvalue()) is True
        bits, st = c.get_archive("/tmp/hello.txt")
        data = b"".join(bits)
        assert st["name"] == "hello.txt" and st["size"] == 3
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            f = tar.extractfile("hello.txt")
            assert f is not None and f.read() == b"hey"
        assert {"Path": "/tmp/hello.txt", "Kind": 1} in c.diff()
        exported = b"".join(c.export())
        with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
            assert "tmp/hello.txt" in tar.getnames()
        with pytest.raises(docker_py.errors.NotFound):
            c.get_archive("/missing")
        assert client.api.inspect_container(c.id)["State"]["Status"] == "created"  # copies start nothing
    finally:
        client.close()


def test_cp_archive_mode_chowns_to_the_container_user(docker_cli: dict[str, str], tmp_path: Path) -> None:
    ok(docker_cli, "create", "--name", "cpuser", "--user", "nobody", "busybox")
    src = tmp_path / "owned"
    src.write_text("o\n")
    os.chown(src, 1234, 1234)
    ok(docker_cli, "cp", str(src), "cpuser:/tmp/plain")
    ok(docker_cli, "cp", "-a", str(src), "cpuser:/tmp/archived")
    for name, uid in (("plain", 1234), ("archived", 65534)):
        with tarfile.open(fileobj=io.BytesIO(ok(docker_cli, "cp", f"cpuser:/tmp/{name}", "-"))) as tar:
            member = tar.getmember(name)
            assert (member.uid, member.gid) == (uid, uid), name


def test_cp_out_network_files_are_the_containers(docker_cli: dict[str, str]) -> None:
    ok(docker_cli, "run", "--name", "cpnet", "--hostname", "cphost", "busybox", "true")
    data = ok(docker_cli, "cp", "cpnet:/etc/hostname", "-")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        f = tar.extractfile("hostname")
        assert f is not None and f.read() == b"cphost\n"


def test_cp_into_read_only_rootfs_is_refused(docker_cli: dict[str, str], tmp_path: Path) -> None:
    ok(docker_cli, "create", "--name", "cpro", "--read-only", "busybox")
    (tmp_path / "f").write_text("f\n")
    r = docker(docker_cli, "cp", str(tmp_path / "f"), "cpro:/tmp/")
    assert r.returncode != 0
    assert b"read-only" in r.stderr
    assert docker(docker_cli, "cp", "cpro:/tmp/f", "-").returncode != 0


def test_concurrent_copies_of_a_stopped_container(
    docker_cli: dict[str, str], stopped: str, clean_daemon: DaemonProcess
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: docker(docker_cli, "cp", f"{stopped}:/d", "-"), range(8)))
    for r in results:
        assert r.returncode == 0, r.stderr
        with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tar:
            assert "d/sub/g" in tar.getnames()
    views = os.path.join(clean_daemon.exec_root, "fsviews")
    with open("/proc/self/mountinfo") as f:
        assert [line for line in f if line.split()[4].startswith(views + "/")] == []
    assert os.listdir(views) == []


def test_cp_out_root_and_hard_links(docker_cli: dict[str, str], stopped: str, tmp_path: Path) -> None:
    ok(docker_cli, "cp", f"{stopped}:/", str(tmp_path / "root"))  # a new directory holding the rootfs
    assert (tmp_path / "root" / "d" / "f").read_text() == "hi\n"
    assert not (tmp_path / "d").exists()  # nothing spilled next to it
    ok(docker_cli, "cp", f"{stopped}:/bin", str(tmp_path / "bin"))
    sh, busybox = os.stat(tmp_path / "bin" / "sh"), os.stat(tmp_path / "bin" / "busybox")
    assert (sh.st_ino, sh.st_dev) == (busybox.st_ino, busybox.st_dev)  # hard links stay hard links


def test_cp_in_from_stdin_tar(docker_cli: dict[str, str], stopped: str) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("fromstdin/x")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"stdin\n"))
    ok(docker_cli, "cp", "-", f"{stopped}:/tmp", input=buf.getvalue())
    with tarfile.open(fileobj=io.BytesIO(ok(docker_cli, "cp", f"{stopped}:/tmp/fromstdin/x", "-"))) as tar:
        f = tar.extractfile("x")
        assert f is not None and f.read() == b"stdin\n"


@pytest.mark.parametrize("state", ["running", "stopped"])
def test_cp_sees_volumes_and_binds(docker_cli: dict[str, str], tmp_path: Path, state: str) -> None:
    bind = tmp_path / "bind"
    bind.mkdir()
    (bind / "hostfile").write_text("from the host\n")
    vol = f"cpvol{os.getpid()}{state}"
    name = f"cpvolumes{state}"
    cmd = "echo in-volume > /data/f" + (" && sleep 300" if state == "running" else "")
    ok(docker_cli, "run", "-d", "--name", name, "-v", f"{vol}:/data", "-v", f"{bind}:/b:ro", "busybox", "sh", "-c", cmd)
    try:
        if state == "stopped":
            ok(docker_cli, "wait", name)
        for _ in range(100):  # the command writes the file shortly after start (bounded wait)
            if docker(docker_cli, "cp", f"{name}:/data/f", str(tmp_path / "f")).returncode == 0:
                break
            subprocess.run(["sleep", "0.1"], check=True)
        assert (tmp_path / "f").read_text() == "in-volume\n"
        ok(docker_cli, "cp", f"{name}:/b/hostfile", str(tmp_path / "h"))
        assert (tmp_path / "h").read_text() == "from the host\n"
        (tmp_path / "up").write_text("uploaded\n")
        ok(docker_cli, "cp", str(tmp_path / "up"), f"{name}:/data/")
        mountpoint = ok(docker_cli, "volume", "inspect", "-f", "{{.Mountpoint}}", vol).decode().strip()
        assert Path(mountpoint, "up").read_text() == "uploaded\n"  # in the volume, not under it
        r = docker(docker_cli, "cp", str(tmp_path / "up"), f"{name}:/b/")
        assert r.returncode != 0 and b"mounted volume is marked read-only" in r.stderr
        assert sorted(os.listdir(bind)) == ["hostfile"]
        exported = ok(docker_cli, "export", name)
        with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
            assert not [m.name for m in tar if m.name.startswith(("data/", "b/"))]  # export leaves volumes out
    finally:
        docker(docker_cli, "rm", "-f", name)
        docker(docker_cli, "volume", "rm", "-f", vol)
