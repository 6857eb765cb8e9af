"""userns-remap end to end: a daemon whose containers' root is a subordinate id range of the host.

The test adds its own range to /etc/subuid and /etc/subgid (and takes it out again),
starts a private dockyardd with ``userns-remap`` naming it, and checks from the
inside and from the host: ids inside look like the image's, files on the host
belong to the range, host files stay out of reach, and everything that crosses
the boundary (commit, export, save, cp, build) carries the image's own ids.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockyard.engine.userns_remap import next_free_range
from dockyard.registry import RegistryConfig, RunningRegistry
from dockyard.testing.daemon import DaemonProcess

pytestmark = [pytest.mark.compat, pytest.mark.root]

NAME = f"dockyard-test-remap-{os.getpid()}"
COUNT = 65536


@dataclass(frozen=True)
class Remapped:
    daemon: DaemonProcess
    start: int  # host uid and gid of the containers' root

    def docker(self, *args: str, check: bool = True, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            ["docker", *args],
            env=self.daemon.env(),
            input=stdin.decode("latin-1") if stdin is not None else None,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check:
            assert r.returncode == 0, f"docker {' '.join(args)}: {r.stderr}"
        return r


def _remove_line(path: str, line: str, existed: bool) -> None:
    if not existed:
        os.unlink(path)  # the test made it
        return
    with open(path) as f:
        kept = [x for x in f.read().splitlines() if x != line]
    with open(path, "w") as f:
        f.write("".join(x + "\n" for x in kept))


@pytest.fixture(scope="module")
def remapped() -> Iterator[Remapped]:
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    if not os.path.exists("/bin/busybox"):
        pytest.skip("needs busybox-static (/bin/busybox)")
    texts = []
    existed = {path: os.path.exists(path) for path in ("/etc/subuid", "/etc/subgid")}
    for path in ("/etc/subuid", "/etc/subgid"):
        try:
            with open(path) as f:
                texts.append(f.read())
        except FileNotFoundError:
            texts.append("")
    start = next_free_range(texts, first=500000)
    line = f"{NAME}:{start}:{COUNT}"
    added: list[str] = []
    d: DaemonProcess | None = None
    try:
        for path, text in zip(("/etc/subuid", "/etc/subgid"), texts, strict=True):
            with open(path, "a") as f:
                f.write(("\n" if text and not text.endswith("\n") else "") + line + "\n")
            added.append(path)
        d = DaemonProcess(config={"userns-remap": NAME})
        os.makedirs(d.root, exist_ok=True)
        os.chmod(d.root, 0o711)  # the remapped root passes through it (mkdtemp makes 0700)
        d.start()
        status, body = d.request("POST", "/dockyard/images/bootstrap?kind=busybox&tag=busybox:latest", timeout=120)
        assert status == 200, body
        yield Remapped(d, start)
    finally:
        if d is not None:
            d.destroy()
        for path in added:
            _remove_line(path, line, existed[path])


def test_root_inside_is_the_range_outside(remapped: Remapped) -> None:
    r = remapped.docker("run", "--rm", "busybox", "sh", "-c", "id -u; cat /proc/self/uid_map; stat -c %u:%g /bin/sh /")
    uid, uid_map, *owners = r.stdout.split("\n")
    assert uid == "0"
    assert uid_map.split() == ["0", str(remapped.start), str(COUNT)]
    assert owners[:2] == ["0:0", "0:0"]  # the image's root owns its files, as seen inside

    cid = remapped.docker("run", "-d", "busybox", "sleep", "60").stdout.strip()
    try:
        info = json.loads(remapped.docker("inspect", cid).stdout)[0]
        with open(f"/proc/{info['State']['Pid']}/status") as f:
            uids = next(x for x in f if x.startswith("Uid:")).split()[1:]
        assert uids == [str(remapped.start)] * 4  # on the host the process is an unprivileged id
        st = os.stat(f"/proc/{info['State']['Pid']}/root/bin/busybox")
        assert (st.st_uid, st.st_gid) == (remapped.start, remapped.start)
        assert remapped.docker("exec", cid, "id", "-u").stdout.strip() == "0"
        assert remapped.docker("exec", "-u", "1000", cid, "id", "-u").stdout.strip() == "1000"
    finally:
        remapped.docker("rm", "-f", cid)


def test_state_lives_in_a_directory_of_the_range(remapped: Remapped) -> None:
    root = remapped.docker("info", "--format", "{{.DockerRootDir}}").stdout.strip()
    assert root == os.path.join(remapped.daemon.data_root, f"{remapped.start}.{remapped.start}")
    st = os.stat(root)
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o710, 0, remapped.start)
    options = remapped.docker("info", "--format", "{{json .SecurityOptions}}").stdout
    assert "name=userns" in json.loads(options)


def test_host_files_stay_out_of_reach(remapped: Remapped) -> None:
    host = tempfile.mkdtemp(prefix="dockyard-remap-bind-")
    try:
        os.chmod(host, 0o755)
        with open(os.path.join(host, "public"), "w") as f:
            f.write("hello\n")
        with open(os.path.join(host, "secret"), "w") as f:
            f.write("secret\n")
        os.chmod(os.path.join(host, "secret"), 0o600)
        script = (
            "cat /h/public; cat /h/secret || echo no-read; echo x > /h/public || echo no-write; "
            "touch /h/new || echo no-create"
        )
        r = remapped.docker("run", "--rm", "-v", f"{host}:/h", "busybox", "sh", "-c", script)
        assert r.stdout.split() == ["hello", "no-read", "no-write", "no-create"]
        with open(os.path.join(host, "public")) as f:
            assert f.read() == "hello\n"
        assert sorted(os.listdir(host)) == ["public", "secret"]
        # Capabilities are the namespace's only: even all of them make no device node, load no module.
        r = remapped.docker(
            "run", "--rm", "--cap-add", "ALL", "busybox", "sh", "-c",
            "mknod /tmp/sda b 8 0 || echo no-mknod; insmod /bin/busybox 2>/dev/null || echo no-module; "
            "hostname other && echo own-uts",
        )  # fmt: skip
        assert r.stdout.split() == ["no-mknod", "no-module", "own-uts"]
    finally:
        shutil.rmtree(host)


def test_host_namespaces_and_privileged_are_refused(remapped: Remapped) -> None:
    for flags, message in (
        (["--privileged"], "privileged mode is incompatible with user namespaces"),
        (["--network", "host"], "cannot share the host's network namespace"),
        (["--pid", "host"], "cannot share the host PID namespace"),
    ):
        r = remapped.docker("create", *flags, "busybox", "true", check=False)
        assert r.returncode != 0 and message in r.stderr, (flags, r.stderr)
    # --userns=host opts out: the files then show their stored, shifted owners.
    r = remapped.docker("run", "--rm", "--userns", "host", "--privileged", "busybox", "stat", "-c", "%u", "/bin/sh")
    assert r.stdout.strip() == str(remapped.start)


def test_volumes_belong_to_the_mapped_root(remapped: Remapped) -> None:
    vol = f"remapvol{os.getpid()}"
    try:
        r = remapped.docker(
            "run", "--rm", "-v", f"{vol}:/data", "-v", f"{vol}-etc:/etc", "busybox", "sh", "-c",
            "echo hi > /data/f && stat -c %u:%g /data /data/f /etc/passwd",
        )  # fmt: skip
        assert r.stdout.split() == ["0:0", "0:0", "0:0"]  # copy-up kept the image's owners
        mountpoint = remapped.docker("volume", "inspect", "-f", "{{.Mountpoint}}", vol).stdout.strip()
        st = os.stat(os.path.join(mountpoint, "f"))
        assert (st.st_uid, st.st_gid) == (remapped.start, remapped.start)
    finally:
        remapped.docker("volume", "rm", "-f", vol, f"{vol}-etc", check=False)


def _tar_owners(data: bytes, names: set[str]) -> dict[str, tuple[int, int]]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar:
            name = m.name.strip("/")
            if name in names:
                out[name] = (m.uid, m.gid)
    return out


def test_ids_crossing_the_boundary_are_the_images(remapped: Remapped) -> None:
    name = f"remapfs{os.getpid()}"
    remapped.docker("run", "--name", name, "busybox", "sh", "-c", "mkdir /d && echo x > /d/f && chown -R 1000:1001 /d")
    try:
        # export and cp out: container ids, not the host's
        exported = subprocess.run(
            ["docker", "export", name], env=remapped.daemon.env(), capture_output=True, check=True, timeout=60
        ).stdout
        assert _tar_owners(exported, {"d", "d/f", "bin/sh"}) == {
            "d": (1000, 1001),
            "d/f": (1000, 1001),
            "bin/sh": (0, 0),
        }
        copied = subprocess.run(
            ["docker", "cp", f"{name}:/d", "-"], env=remapped.daemon.env(), capture_output=True, check=True, timeout=60
        ).stdout
        assert _tar_owners(copied, {"d", "d/f"}) == {"d": (1000, 1001), "d/f": (1000, 1001)}
        # commit and save: the layer holds container ids
        image = f"remapcommit{os.getpid()}"
        remapped.docker("commit", name, image)
        saved = subprocess.run(
            ["docker", "save", image], env=remapped.daemon.env(), capture_output=True, check=True, timeout=60
        ).stdout
        owners: dict[str, tuple[int, int]] = {}
        with tarfile.open(fileobj=io.BytesIO(saved)) as outer:
            for m in outer:
                f = outer.extractfile(m) if m.isfile() else None
                if f is None or not m.name.startswith("blobs/"):
                    continue
                try:
                    with tarfile.open(fileobj=f) as layer:
                        owners |= {x.name: (x.uid, x.gid) for x in layer if x.name in ("d", "d/f")}
                except tarfile.ReadError:
                    continue  # a manifest or config blob
        assert owners == {"d": (1000, 1001), "d/f": (1000, 1001)}
        r = remapped.docker("run", "--rm", image, "stat", "-c", "%u:%g", "/d/f")
        assert r.stdout.strip() == "1000:1001"
        remapped.docker("rmi", image)
    finally:
        remapped.docker("rm", "-f", name, check=False)


def test_cp_into_a_container_shifts_onto_the_range(remapped: Remapped) -> None:
    cid = remapped.docker("run", "-d", "busybox", "sleep", "60").stdout.strip()
    try:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("in.txt")
            info.uid, info.gid, info.size = 123, 456, 3
            tar.addfile(info, io.BytesIO(b"abc"))
        subprocess.run(
            ["docker", "cp", "-", f"{cid}:/tmp"], input=buf.getvalue(), env=remapped.daemon.env(), check=True
        )
        assert remapped.docker("exec", cid, "stat", "-c", "%u:%g", "/tmp/in.txt").stdout.strip() == "123:456"
        pid = json.loads(remapped.docker("inspect", cid).stdout)[0]["State"]["Pid"]
        st = os.stat(f"/proc/{pid}/root/tmp/in.txt")
        assert (st.st_uid, st.st_gid) == (remapped.start + 123, remapped.start + 456)
    finally:
        remapped.docker("rm", "-f", cid)


def test_build_layers_hold_the_images_ids(remapped: Remapped) -> None:
    ctx = tempfile.mkdtemp(prefix="dockyard-remap-build-")
    image = f"remapbuild{os.getpid()}"
    try:
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write(
                "FROM busybox\n"
                "RUN mkdir /r && chown 7:8 /r\n"
                "COPY --chown=5:6 f /f\n"
                "COPY --from=busybox /etc/passwd /p\n"
                "RUN stat -c %u:%g /r /f /p > /owners\n"
            )
        with open(os.path.join(ctx, "f"), "w") as f:
            f.write("hello")
        remapped.docker("build", "-q", "-t", image, ctx)
        r = remapped.docker("run", "--rm", image, "cat", "/owners")
        assert r.stdout.split() == ["7:8", "5:6", "0:0"]
    finally:
        shutil.rmtree(ctx)
        remapped.docker("rmi", "-f", image, check=False)


@pytest.mark.parametrize("runtime", ["dockyard-runtime", "runc"])
def test_networked_container_under_each_runtime(remapped: Remapped, runtime: str) -> None:
    if runtime != "dockyard-runtime" and shutil.which(runtime) is None:
        pytest.skip(f"{runtime} is not installed")
    net = f"remapnet{os.getpid()}"
    remapped.docker("network", "create", net)
    server = ""
    try:
        server = remapped.docker(
            "run", "-d", "--runtime", runtime, "--network", net, "--name", f"srv{os.getpid()}", "busybox",
            "sh", "-c", "echo pong | nc -l -p 80",
        ).stdout.strip()  # fmt: skip
        r = remapped.docker(
            "run", "--rm", "--runtime", runtime, "--network", net, "--user", "1000", "busybox", "sh", "-c",
            f"cat /proc/sys/net/ipv4/ip_unprivileged_port_start; ls /sys/class/net >/dev/null && echo sys; "
            f"for i in 1 2 3 4 5 6 7 8 9 10; do nc srv{os.getpid()} 80 </dev/null && break; sleep 0.3; done",
        )  # fmt: skip
        assert r.stdout.split() == ["0", "sys", "pong"]
    finally:
        if server:
            remapped.docker("rm", "-f", server, check=False)
        remapped.docker("network", "rm", net, check=False)


def test_pulled_layers_are_unpacked_for_the_range(remapped: Remapped, tmp_path: Path) -> None:
    cfg = RegistryConfig(root=str(tmp_path / "registry"), access_log=False)
    with RunningRegistry(cfg) as reg:
        ref = f"127.0.0.1:{reg.port}/remap/owned:latest"
        name = f"remappush{os.getpid()}"
        remapped.docker("run", "--name", name, "busybox", "sh", "-c", "mkdir /p && chown 1000:1001 /p")
        cid = ""
        try:
            remapped.docker("commit", name, ref)
            remapped.docker("push", ref)
            remapped.docker("rm", name)
            remapped.docker("rmi", ref)  # its own layer is gone from the store: the pull must unpack it
            remapped.docker("pull", ref)
            cid = remapped.docker("run", "-d", ref, "sleep", "60").stdout.strip()
            assert remapped.docker("exec", cid, "stat", "-c", "%u:%g", "/p").stdout.strip() == "1000:1001"
            pid = json.loads(remapped.docker("inspect", cid).stdout)[0]["State"]["Pid"]
            st = os.stat(f"/proc/{pid}/root/p")
            assert (st.st_uid, st.st_gid) == (remapped.start + 1000, remapped.start + 1001)
        finally:
            if cid:
                remapped.docker("rm", "-f", cid, check=False)
            remapped.docker("rm", "-f", name, check=False)
            remapped.docker("rmi", "-f", ref, check=False)
