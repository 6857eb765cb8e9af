"""dockyard-runtime against real bundles, with runc and crun run through the same tests to pin the contract.

A small "mini shim" (a child subreaper, like dockyard-shim) runs ``create`` and reaps
the container's init, so exit codes are observed the way the real shim sees them.
"""

from __future__ import annotations

import array
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.runtime.defaultspec import default_spec

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs busybox-static"),
    pytest.mark.timeout(60),
]

RUNTIMES = {
    "dockyard": [sys.executable, "-m", "dockyard.runtime.cli"],
    "runc": ["/usr/sbin/runc"],
    "crun": ["/usr/bin/crun"],
}

# Stands in for dockyard-shim: become a subreaper, run `create`, then reap the init
# and record its exit status. argv: status-file pid-file runtime-argv...
MINI_SHIM = r"""
import ctypes, os, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
status_file, pid_file = sys.argv[1], sys.argv[2]
rc = subprocess.call(sys.argv[3:])
if rc != 0:
    sys.exit(rc)
init = int(open(pid_file).read())
code = None
while True:
    try:
        pid, status = os.wait()
    except ChildProcessError:
        break
    if pid == init:
        code = os.waitstatus_to_exitcode(status)
with open(status_file + ".tmp", "w") as f:
    f.write(str(code))
os.rename(status_file + ".tmp", status_file)
"""


def wait_for(cond: Any, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rootfs")
    root.chmod(0o755)  # pytest makes it 0700: a non-root container user could not reach /bin
    (root / "bin").mkdir()
    shutil.copy("/bin/busybox", root / "bin" / "busybox")
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    for d in ("proc", "sys", "dev", "tmp", "etc", "mnt"):
        (root / d).mkdir()
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "passwd").chmod(0o644)
    return root


class Container:
    """One container driven through a runtime's CLI; everything it makes is undone by cleanup()."""

    def __init__(self, runtime: str, state_root: Path, bundle: Path, rootfs: Path) -> None:
        self.runtime = runtime
        self.argv = RUNTIMES[runtime]
        self.state_root = state_root
        self.bundle = bundle
        self.rootfs = rootfs
        self.id = f"t{uuid.uuid4().hex[:10]}"
        self.cgroups_path = f"/dockyard-test/{self.id}"
        self.shim: subprocess.Popen[bytes] | None = None
        self.execs: list[subprocess.Popen[bytes]] = []

    def write_spec(self, args: list[str], **tweaks: Any) -> dict[str, Any]:
        spec = default_spec(args, rootfs=str(self.rootfs), cgroups_path=self.cgroups_path)
        for key, value in tweaks.items():
            if key == "process":
                spec["process"].update(value)
            elif key == "linux":
                spec["linux"].update(value)
            else:
                spec[key] = value
        (self.bundle / "config.json").write_text(json.dumps(spec))
        return spec

    def cli(self, *args: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*self.argv, "--root", str(self.state_root), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{args[0]} failed ({proc.returncode}): {proc.stderr}")
        return proc

    @property
    def pid_file(self) -> Path:
        return self.bundle / "init.pid"

    @property
    def status_file(self) -> Path:
        return self.bundle / "exit.status"

    def create(self, *extra: str, umask: int = 0o077) -> subprocess.Popen[bytes]:
        """Run ``create`` under the mini shim; a strict umask by default, so nothing may depend on it."""
        cmd = [*self.argv, "--root", str(self.state_root), "create", "--bundle", str(self.bundle)]
        cmd += ["--pid-file", str(self.pid_file), *extra, self.id]
        self.shim = subprocess.Popen(
            [sys.executable, "-c", MINI_SHIM, str(self.status_file), str(self.pid_file), *cmd],
            umask=umask,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        return self.shim

    def wait_created(self) -> int:
        assert self.shim is not None
        wait_for(lambda: self.pid_file.exists() or self.shim.poll() is not None, what="create")  # type: ignore[union-attr]
        if not self.pid_file.exists():
            err = self.shim.stderr.read().decode() if self.shim.stderr else ""
            raise AssertionError(f"create failed ({self.shim.returncode}): {err}")
        return int(self.pid_file.read_text())

    def run(self, args: list[str], **tweaks: Any) -> tuple[int, str, str]:
        """create + start + wait: (exit code, stdout, stderr)."""
        self.write_spec(args, **tweaks)
        self.create()
        self.wait_created()
        self.cli("start", self.id)
        return self.wait_exit()

    def wait_exit(self) -> tuple[int, str, str]:
        assert self.shim is not None
        out, err = self.shim.communicate(timeout=20)
        code = int(self.status_file.read_text())
        return code, out.decode(), err.decode()

    def state(self) -> dict[str, Any]:
        return json.loads(self.cli("state", self.id).stdout)  # type: ignore[no-any-return]

    def cleanup(self) -> None:
        self.cli("delete", "--force", self.id, check=False)
        for p in [*self.execs, *([self.shim] if self.shim else [])]:
            if p.poll() is None:
                p.kill()
            p.communicate(timeout=10)


def host_mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if str(path) in line]


def cgroup_dirs(container_id: str) -> list[str]:
    found = []
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        if (hierarchy / "dockyard-test" / container_id).exists():
            found.append(str(hierarchy / "dockyard-test" / container_id))
    return found


_USABLE: dict[str, str] = {}


def runtime_problem(name: str, rootfs: Path, tmp: Path) -> str:
    """Why ``name`` cannot run a trivial container on this host ("" when it can); probed once."""
    if name not in _USABLE:
        if not os.path.exists(RUNTIMES[name][0]):
            _USABLE[name] = f"{name} is not installed"
        else:
            spec = default_spec(["true"], rootfs=str(rootfs), cgroups_path=f"/dockyard-test/probe{os.getpid()}")
            (tmp / "config.json").write_text(json.dumps(spec))
            probe = subprocess.run(
                [*RUNTIMES[name], "--root", str(tmp / "state"), "run", "--bundle", str(tmp), f"probe{os.getpid()}"],
                capture_output=True,
                text=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
            )
            subprocess.run([*RUNTIMES[name], "--root", str(tmp / "state"), "delete", "-f", f"probe{os.getpid()}"],
                           capture_output=True, timeout=30)  # fmt: skip
            _USABLE[name] = "" if probe.returncode == 0 else f"{name} cannot run containers here: {probe.stderr}"
    return _USABLE[name]


@pytest.fixture(params=list(RUNTIMES))
def ctr(request: pytest.FixtureRequest, tmp_path: Path, rootfs: Path) -> Iterator[Container]:
    name = request.param
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    problem = runtime_problem(name, rootfs, probe_dir)
    if problem:
        pytest.skip(problem.strip())
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    c = Container(name, tmp_path / "state", bundle, rootfs)
    try:
        yield c
    finally:
        c.cleanup()
    # Nothing may outlive the container: mounts, cgroups, state.
    assert host_mounts_under(rootfs) == []
    assert cgroup_dirs(c.id) == []
    assert not (c.state_root / c.id).exists()


def test_echo_and_exit_code(ctr: Container) -> None:
    code, out, _ = ctr.run(["sh", "-c", "echo hello from $0; exit 3"])
    assert (code, out) == (3, "hello from sh\n")


def test_pid_one_hostname_and_isolated_processes(ctr: Container) -> None:
    code, out, _ = ctr.run(["sh", "-c", "echo $$; hostname; ls /proc | grep -c '^[0-9]'"], hostname="boxy")
    pid, host, nprocs = out.split()
    assert (code, pid, host) == (0, "1", "boxy")
    # sh, ls and grep at most: nothing of the host's
    assert int(nprocs) <= 3


def test_capabilities_match_docker_default(ctr: Container) -> None:
    code, out, _ = ctr.run(["sh", "-c", "grep -E '^Cap(Eff|Prm|Bnd|Amb)' /proc/self/status"])
    caps = dict(line.split(":\t") for line in out.splitlines())
    assert code == 0
    assert caps == {"CapPrm": "00000000a80425fb", "CapEff": "00000000a80425fb", "CapBnd": "00000000a80425fb",
                    "CapAmb": "0000000000000000"}  # fmt: skip


def test_confinement(ctr: Container) -> None:
    script = (
        "mount -t tmpfs none /mnt && echo mounted;"
        "echo x > /proc/sys/kernel/hostname && echo wrote-proc-sys;"
        "echo 1 > /sys/kernel/profiling && echo wrote-sys;"
        "echo timer_list=$(cat /proc/timer_list 2>/dev/null | wc -c);"
        "grep -q '^NoNewPrivs:.1' /proc/self/status && echo nnp"
    )
    # /proc/timer_list stands in for /proc/kcore, which this kernel may not have: both are masked
    assert Path("/proc/timer_list").read_bytes()
    code, out, _ = ctr.run(["sh", "-c", script])
    assert out.split() == ["timer_list=0", "nnp"]
    assert code == 0


def test_user_switch_env_cwd_rlimits(ctr: Container) -> None:
    script = "id -u; id -g; id -G; echo $FOO; pwd; ulimit -n; grep CapEff /proc/self/status; umask"
    code, out, _ = ctr.run(
        ["sh", "-c", script],
        process={
            "user": {"uid": 1000, "gid": 1001, "additionalGids": [1002, 1003]},
            "env": ["PATH=/bin", "FOO=bar baz"],
            "cwd": "/work/dir",
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 456}],
            # like --cap-drop ALL: nothing may depend on the init keeping CAP_DAC_OVERRIDE
            "capabilities": {"bounding": [], "effective": [], "permitted": []},
        },
    )
    lines = out.splitlines()
    assert code == 0
    assert lines[:2] == ["1000", "1001"]
    assert set(lines[2].split()) >= {"1001", "1002", "1003"}
    assert lines[3:6] == ["bar baz", "/work/dir", "321"]
    # a non-root user keeps no effective capabilities (no ambient set given)
    assert lines[6].split() == ["CapEff:", "0000000000000000"]
    assert lines[7] == "0022"  # runc's default, whatever the caller's umask (0077 here)


def test_missing_and_unexecutable_programs_fail_create(ctr: Container) -> None:
    ctr.write_spec(["nosuch-program"])
    shim = ctr.create()
    _, err = shim.communicate(timeout=20)
    assert shim.returncode != 0
    assert "not found" in err.decode()
    if ctr.runtime != "crun":  # crun words it "executable file `x` not found in $PATH"
        assert "executable file not found" in err.decode()
    assert not ctr.pid_file.exists()

    ctr.shim = None
    ctr.write_spec(["/etc/passwd"])
    shim = ctr.create()
    _, err = shim.communicate(timeout=20)
    assert shim.returncode != 0
    assert "permission denied" in err.decode().lower()


def test_lifecycle_state_kill_delete(ctr: Container) -> None:
    ctr.write_spec(["sleep", "1000"], annotations={"org.example/key": "v"})
    ctr.create()
    pid = ctr.wait_created()
    st = ctr.state()
    assert (st["id"], st["status"], st["pid"], st["bundle"]) == (ctr.id, "created", pid, str(ctr.bundle))
    assert st["annotations"] == {"org.example/key": "v"}
    # the created init sits in the container's cgroup, before the user's program runs
    dirs = cgroup_dirs(ctr.id)
    assert dirs
    assert str(pid) in Path(dirs[0], "cgroup.procs").read_text().split()

    ctr.cli("start", ctr.id)
    assert ctr.state()["status"] == "running"
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] == b"sleep"
    assert ctr.cli("delete", ctr.id, check=False).returncode != 0  # running: needs --force

    ctr.cli("kill", ctr.id, "KILL")
    code, _, _ = ctr.wait_exit()
    assert code == -signal.SIGKILL
    assert ctr.state()["status"] == "stopped"
    ctr.cli("delete", ctr.id)
    gone = ctr.cli("state", ctr.id, check=False)
    assert gone.returncode != 0
    assert "does not exist" in gone.stderr
    assert cgroup_dirs(ctr.id) == []


def test_cgroup_limits_applied(ctr: Container) -> None:
    ctr.write_spec(
        ["sleep", "1000"],
        linux={"resources": {"memory": {"limit": 64 << 20}, "pids": {"limit": 42}, "cpu": {"shares": 512}}},
    )
    ctr.create()
    ctr.wait_created()
    base = Path("/sys/fs/cgroup")
    if (base / "cgroup.controllers").exists():
        cg = base / "dockyard-test" / ctr.id
        assert (cg / "memory.max").read_text().strip() == str(64 << 20)
        assert (cg / "pids.max").read_text().strip() == "42"
    else:
        assert (base / "memory/dockyard-test" / ctr.id / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
        assert (base / "pids/dockyard-test" / ctr.id / "pids.max").read_text().strip() == "42"
        assert (base / "cpu/dockyard-test" / ctr.id / "cpu.shares").read_text().strip() == "512"


def test_pause_resume_and_ps(ctr: Container) -> None:
    ctr.write_spec(["sleep", "1000"])
    ctr.create()
    pid = ctr.wait_created()
    ctr.cli("start", ctr.id)
    ctr.cli("pause", ctr.id)
    assert ctr.state()["status"] == "paused"
    ctr.cli("resume", ctr.id)
    assert ctr.state()["status"] == "running"
    assert pid in json.loads(ctr.cli("ps", "--format", "json", ctr.id).stdout)


def test_exec_joins_the_container(ctr: Container, tmp_path: Path) -> None:
    ctr.write_spec(["sleep", "1000"], hostname="exechost")
    ctr.create()
    ctr.wait_created()
    ctr.cli("start", ctr.id)
    process = {
        "args": ["sh", "-c", "hostname; tr '\\0' ' ' < /proc/1/cmdline; echo; grep CapEff /proc/self/status; exit 7"],
        "env": ["PATH=/bin"],
        "cwd": "/",
        "user": {"uid": 0, "gid": 0},
        "capabilities": default_spec(["x"])["process"]["capabilities"],
    }
    (tmp_path / "process.json").write_text(json.dumps(process))
    res = ctr.cli("exec", "--process", str(tmp_path / "process.json"), ctr.id, check=False)
    assert res.returncode == 7, res.stderr
    assert res.stdout.split() == ["exechost", "sleep", "1000", "CapEff:", "00000000a80425fb"]

    # runc's other form: the command after the id, the rest from config.json's process
    res = ctr.cli(
        "exec", "--env", "EXTRA=1", "--cwd", "/tmp", ctr.id, "sh", "-c", "echo $EXTRA $PWD; exit 2", check=False
    )
    assert (res.returncode, res.stdout) == (2, "1 /tmp\n"), res.stderr

    process["args"] = ["nosuch"]
    (tmp_path / "process.json").write_text(json.dumps(process))
    res = ctr.cli("exec", "--process", str(tmp_path / "process.json"), ctr.id, check=False)
    assert res.returncode != 0
    assert "not found" in res.stderr


def _recv_fd(conn: socket.socket) -> int:
    fds = array.array("i")
    _, ancdata, _, _ = conn.recvmsg(1024, socket.CMSG_SPACE(fds.itemsize))
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    assert len(fds) == 1
    return fds[0]


def test_terminal_via_console_socket(ctr: Container, tmp_path: Path) -> None:
    sock_path = tmp_path / "console.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    server.listen(1)
    server.settimeout(20)
    master = -1
    try:
        ctr.write_spec(["sh", "-c", "tty; [ -t 0 ] && echo stdin-is-tty; exit 5"], process={"terminal": True})
        ctr.create("--console-socket", str(sock_path))
        conn, _ = server.accept()
        with conn:
            master = _recv_fd(conn)
        ctr.wait_created()
        ctr.cli("start", ctr.id)
        output = b""
        deadline = time.monotonic() + 20
        while b"stdin-is-tty" not in output and time.monotonic() < deadline:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO once the slave side is closed
                break
            if not chunk:
                break
            output += chunk
        code, _, _ = ctr.wait_exit()
        assert code == 5
        text = output.decode().replace("\r", "")
        assert "/dev/pts/" in text or "/dev/console" in text
        assert "stdin-is-tty" in text
    finally:
        if master >= 0:
            os.close(master)
        server.close()


def test_run_in_the_foreground(ctr: Container) -> None:
    ctr.write_spec(["sh", "-c", "echo foreground; exit 4"])
    res = ctr.cli("run", "--bundle", str(ctr.bundle), ctr.id, check=False)
    assert (res.returncode, res.stdout) == (4, "foreground\n")
    assert ctr.cli("state", ctr.id, check=False).returncode != 0  # run removes what it created


def test_mounts_readonly_root_and_sysctl(ctr: Container, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "f").write_text("from host\n")
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("")
    script = (
        "touch /newfile 2>/dev/null && echo root-writable;"
        "cat /data/f; touch /data/g 2>/dev/null && echo data-writable;"
        "echo appended >> /etc/hostfile && echo file-ok;"
        "touch /scratch/z && echo scratch-ok;"
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/domainname"
    )
    mounts = default_spec(["x"])["mounts"] + [
        {"destination": "/data", "type": "bind", "source": str(shared), "options": ["rbind", "ro", "rprivate"]},
        {"destination": "/etc/hostfile", "type": "bind", "source": str(hostfile), "options": ["bind", "rw"]},
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m"]},
    ]
    code, out, _ = ctr.run(
        ["sh", "-c", script],
        root={"path": str(ctr.rootfs), "readonly": True},
        mounts=mounts,
        domainname="example.org",
        linux={"sysctl": {"net.ipv4.ip_forward": "1"}},
    )
    words = out.split()
    assert words[:5] == ["from", "host", "file-ok", "scratch-ok", "1"]
    if ctr.runtime == "dockyard":  # this host's runc predates `domainname` support
        assert words[5] == "example.org"
    assert code == 0
    assert hostfile.read_text() == "appended\n"
    assert not (shared / "g").exists()


def test_join_network_namespace_by_path(ctr: Container) -> None:
    if shutil.which("ip") is None:
        pytest.skip("needs iproute2")
    name = f"dyt-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    try:
        ns = os.stat(f"/run/netns/{name}")
        spec_ns = [{"type": t} for t in ("pid", "ipc", "uts", "mount")] + [
            {"type": "network", "path": f"/run/netns/{name}"}
        ]
        code, out, _ = ctr.run(["readlink", "/proc/self/ns/net"], linux={"namespaces": spec_ns})
        assert (code, out.strip()) == (0, f"net:[{ns.st_ino}]")
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True, timeout=10)


def test_delete_a_created_container_kills_its_init(ctr: Container) -> None:
    ctr.write_spec(["sleep", "1000"])
    ctr.create()
    pid = ctr.wait_created()
    ctr.cli("delete", ctr.id)
    code, _, _ = ctr.wait_exit()
    assert code == -signal.SIGKILL
    assert not Path(f"/proc/{pid}").exists()
    assert cgroup_dirs(ctr.id) == []


def test_kill_all_reaches_exec_processes(ctr: Container, tmp_path: Path) -> None:
    ctr.write_spec(["sleep", "1000"])
    ctr.create()
    ctr.wait_created()
    ctr.cli("start", ctr.id)
    (tmp_path / "p.json").write_text(json.dumps({"args": ["sleep", "999"], "cwd": "/", "env": ["PATH=/bin"]}))
    # a detached process keeps the runtime's stdio: hand it files, not pipes we would wait on
    with open(tmp_path / "exec.err", "w+") as err:
        res = subprocess.run(
            [*ctr.argv, "--root", str(ctr.state_root), "exec", "-d", "--pid-file", str(tmp_path / "exec.pid"),
             "--process", str(tmp_path / "p.json"), ctr.id],
            stdin=subprocess.DEVNULL, stdout=err, stderr=err, timeout=20,
        )  # fmt: skip
        assert res.returncode == 0, (tmp_path / "exec.err").read_text()
    exec_pid = int((tmp_path / "exec.pid").read_text())
    assert exec_pid in json.loads(ctr.cli("ps", "--format", "json", ctr.id).stdout)
    ctr.cli("kill", "--all", ctr.id, "KILL")
    code, _, _ = ctr.wait_exit()  # the mini shim is the subreaper of the exec'd process too
    assert code == -signal.SIGKILL
    wait_for(lambda: not Path(f"/proc/{exec_pid}").exists(), what="exec'd process to go")


# The shim's way: main() in a forked child of a subreaper; the caller's namespaces must be untouched.
IN_PROCESS = r"""
import ctypes, json, os, sys
from dockyard.runtime.cli import main
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)
root, bundle, cid = sys.argv[1:4]
before = os.readlink("/proc/self/ns/pid_for_children")
child = os.fork()
if child == 0:
    code = main(["--root", root, "create", "--bundle", bundle, "--pid-file", bundle + "/pid", cid])
    same = os.readlink("/proc/self/ns/pid_for_children") == before
    os._exit(code if same else 99)
_, status = os.waitpid(child, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
assert main(["--root", root, "start", cid]) == 0
init = int(open(bundle + "/pid").read())
_, status = os.waitpid(init, 0)
print("exit", os.waitstatus_to_exitcode(status))
assert main(["--root", root, "delete", cid]) == 0
"""


def test_main_in_process_like_the_shim(tmp_path: Path, rootfs: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    cid = f"t{uuid.uuid4().hex[:10]}"
    (bundle / "config.json").write_text(
        json.dumps(
            default_spec(
                ["sh", "-c", "echo in-process; exit 6"], rootfs=str(rootfs), cgroups_path=f"/dockyard-test/{cid}"
            )
        )
    )
    try:
        res = subprocess.run(
            [sys.executable, "-c", IN_PROCESS, str(tmp_path / "state"), str(bundle), cid],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert res.returncode == 0, res.stderr
        assert res.stdout.split() == ["in-process", "exit", "6"]
    finally:
        subprocess.run([*RUNTIMES["dockyard"], "--root", str(tmp_path / "state"), "delete", "-f", cid], timeout=30)
    assert cgroup_dirs(cid) == []


def test_seccomp_filter(ctr: Container) -> None:
    """Errno for mkdir, and a condition on an argument: chmod to 0777 only is refused."""
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 1, "value": 0o777, "op": "SCMP_CMP_EQ"}]},
            {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 2, "value": 0o777, "op": "SCMP_CMP_EQ"}]},
            {"names": ["no_such_syscall"], "action": "SCMP_ACT_ERRNO"},
        ],
    }  # fmt: skip
    script = (
        "grep '^Seccomp:' /proc/self/status; mkdir /tmp/d 2>&1; touch /tmp/f;"
        "chmod 755 /tmp/f && echo chmod-755-ok; chmod 777 /tmp/f 2>&1 || echo chmod-777-refused"
    )
    for no_new_privs in (True, False):
        code, out, err = ctr.run(
            ["sh", "-c", script], process={"noNewPrivileges": no_new_privs}, linux={"seccomp": seccomp}
        )
        lines = out.splitlines()
        assert code == 0, err
        assert lines[0].split() == ["Seccomp:", "2"]
        assert "Function not implemented" in lines[1]  # errno 38
        assert lines[2] == "chmod-755-ok"
        assert "Operation not permitted" in lines[3]
        assert lines[-1] == "chmod-777-refused"
        ctr.cli("delete", ctr.id)
        ctr.shim = None
        ctr.status_file.unlink()
        ctr.pid_file.unlink()


def test_run_forwards_signals(ctr: Container) -> None:
    script = 'trap "echo got-term; exit 9" TERM; echo ready; while :; do sleep 0.05; done'
    ctr.write_spec(["sh", "-c", script])
    proc = subprocess.Popen(
        [*ctr.argv, "--root", str(ctr.state_root), "run", "--bundle", str(ctr.bundle), ctr.id],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    ctr.execs.append(proc)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert (proc.returncode, out) == (9, b"got-term\n")


def test_exec_with_a_terminal(ctr: Container, tmp_path: Path) -> None:
    ctr.write_spec(["sleep", "1000"])
    ctr.create()
    ctr.wait_created()
    ctr.cli("start", ctr.id)
    sock_path = tmp_path / "exec-console.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    server.listen(1)
    server.settimeout(20)
    master = -1
    process = {"args": ["sh", "-c", "[ -t 1 ] && echo out-is-tty; exit 3"], "cwd": "/", "env": ["PATH=/bin"],
               "terminal": True}  # fmt: skip
    (tmp_path / "p.json").write_text(json.dumps(process))
    try:
        proc = subprocess.Popen(
            [*ctr.argv, "--root", str(ctr.state_root), "exec", "-d", "--console-socket", str(sock_path),
             "--process", str(tmp_path / "p.json"), ctr.id],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        ctr.execs.append(proc)
        conn, _ = server.accept()
        with conn:
            master = _recv_fd(conn)
        output = b""
        while b"out-is-tty" not in output:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        # detached, like containerd runs it: the exit status goes to the subreaper, not to us
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert b"out-is-tty" in output
    finally:
        if master >= 0:
            os.close(master)
        server.close()


def test_extra_devices_and_no_pivot(ctr: Container) -> None:
    device = {"path": "/dev/sub/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 5, "gid": 6}
    ctr.write_spec(
        ["sh", "-c", "stat -c '%F %a %u %g %t %T' /dev/sub/mynull; echo hi > /dev/sub/mynull && echo written"],
        linux={"devices": [device]},
    )
    ctr.create("--no-pivot")
    ctr.wait_created()
    ctr.cli("start", ctr.id)
    code, out, err = ctr.wait_exit()
    assert (code, out) == (0, "character special file 640 5 6 1 3\nwritten\n"), err


def test_v2_cgroup_manager_on_the_unified_hierarchy() -> None:
    """The v2 code path, on whichever cgroup2 mount this host has (pure v2 or hybrid's unified)."""
    from dockyard.runtime.linux.cgroups import V2Cgroups
    from dockyard.runtime.mountinfo import parse_mountinfo
    from dockyard.runtime.spec import Resources

    mounts = [m for m in parse_mountinfo(Path("/proc/self/mountinfo").read_text()) if m.fstype == "cgroup2"]
    if not mounts:
        pytest.skip("no cgroup2 mount")
    base = mounts[0].mount_point
    path = f"{base}/dockyard-test/v2-{uuid.uuid4().hex[:8]}"
    cg = V2Cgroups(path, base)
    child = subprocess.Popen(["sleep", "100"])
    try:
        has_pids = "pids" in Path(base, "cgroup.controllers").read_text().split()
        limits = Resources(pids_limit=7) if has_pids else Resources()
        cg.create(limits)
        cg.join(child.pid)
        assert cg.pids() == [child.pid]
        if limits.pids_limit:
            assert Path(path, "pids.max").read_text().strip() == "7"
        if Path(path, "cgroup.freeze").exists():
            cg.freeze()
            assert cg.frozen()
            cg.thaw()
            assert not cg.frozen()
    finally:
        child.kill()
        child.wait(timeout=10)
        cg.destroy()
        try:
            os.rmdir(f"{base}/dockyard-test")
        except OSError:
            pass
    assert not os.path.exists(path)


@pytest.fixture(scope="module")
def public_rootfs(rootfs: Path) -> Iterator[Path]:
    """A copy of the rootfs on a path every user can traverse: a user namespace's root is nobody on the host."""
    base = Path(tempfile.mkdtemp(prefix="dockyard-userns-", dir="/tmp"))
    try:
        base.chmod(0o755)
        shutil.copytree(rootfs, base / "rootfs", symlinks=True)
        (base / "rootfs").chmod(0o755)
        (base / "rootfs" / "tmp").chmod(0o1777)
        yield base / "rootfs"
    finally:
        shutil.rmtree(base)


def test_user_namespace(ctr: Container, public_rootfs: Path, tmp_path: Path) -> None:
    ctr.rootfs = public_rootfs
    namespaces = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "user")]
    maps = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    ctr.write_spec(["sleep", "1000"], linux={"namespaces": namespaces, "uidMappings": maps, "gidMappings": maps})
    ctr.create(umask=0o022)  # runc makes the cgroup directories the mapped root must traverse 0755 & ~umask
    pid = ctr.wait_created()
    # seen from the host, the container's root is the mapped id
    uids = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Uid:"))
    assert uids.split()[1:] == ["100000"] * 4
    ctr.cli("start", ctr.id)
    script = (
        "id -u; cat /proc/self/uid_map; grep -E '^Cap(Eff|Bnd)' /proc/self/status;"
        "touch /tmp/mine && stat -c %u /tmp/mine; rm /tmp/mine"
    )
    process = {"args": ["sh", "-c", script], "cwd": "/", "env": ["PATH=/bin"],
               "capabilities": default_spec(["x"])["process"]["capabilities"]}  # fmt: skip
    (tmp_path / "p.json").write_text(json.dumps(process))
    res = ctr.cli("exec", "--process", str(tmp_path / "p.json"), ctr.id, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["0", "0", "100000", "65536", "CapEff:", "00000000a80425fb", "CapBnd:",
                                  "00000000a80425fb", "0"]  # fmt: skip
    bnd = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("CapBnd:"))
    assert bnd.split()[1] == "00000000a80425fb"


def test_update_changes_limits(ctr: Container, tmp_path: Path) -> None:
    ctr.write_spec(["sleep", "1000"], linux={"resources": {"pids": {"limit": 10}, "memory": {"limit": 64 << 20}}})
    ctr.create()
    ctr.wait_created()
    ctr.cli("start", ctr.id)
    ctr.cli("update", "--pids-limit", "20", "--memory", "96m", ctr.id)
    (tmp_path / "r.json").write_text(json.dumps({"cpu": {"shares": 256}}))
    ctr.cli("update", "--resources", str(tmp_path / "r.json"), ctr.id)
    base = Path("/sys/fs/cgroup")
    if (base / "cgroup.controllers").exists():
        cg = base / "dockyard-test" / ctr.id
        assert (cg / "pids.max").read_text().strip() == "20"
        assert (cg / "memory.max").read_text().strip() == str(96 << 20)
    else:
        assert (base / "pids/dockyard-test" / ctr.id / "pids.max").read_text().strip() == "20"
        assert (base / "memory/dockyard-test" / ctr.id / "memory.limit_in_bytes").read_text().strip() == str(96 << 20)
        assert (base / "cpu/dockyard-test" / ctr.id / "cpu.shares").read_text().strip() == "256"


def test_duplicate_id_double_start_and_bad_rootfs_leave_nothing(ctr: Container) -> None:
    ctr.write_spec(["sleep", "1000"])
    ctr.create()
    ctr.wait_created()
    again = ctr.cli("create", "--bundle", str(ctr.bundle), ctr.id, check=False)
    assert again.returncode != 0
    assert "exist" in again.stderr
    assert ctr.state()["status"] == "created"  # the first one is untouched
    ctr.cli("start", ctr.id)
    assert ctr.cli("start", ctr.id, check=False).returncode != 0
    assert ctr.state()["status"] == "running"
    ctr.cli("delete", "--force", ctr.id)

    other = f"{ctr.id}-bad"
    spec = default_spec(["true"], rootfs=str(ctr.bundle / "missing"), cgroups_path=f"/dockyard-test/{other}")
    (ctr.bundle / "config.json").write_text(json.dumps(spec))
    bad = ctr.cli("create", "--bundle", str(ctr.bundle), other, check=False)
    assert bad.returncode != 0
    assert not (ctr.state_root / other).exists()
    assert cgroup_dirs(other) == []


def test_hooks_run_at_their_points(ctr: Container, tmp_path: Path) -> None:
    log = tmp_path / "hooks"
    log.mkdir()

    def record(name: str) -> dict[str, Any]:
        return {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {log}/{name}.json"], "timeout": 10}

    rootfs_shm = f"{ctr.rootfs}/dev/shm"
    hooks = {
        "prestart": [record("prestart")],
        "createRuntime": [record("createRuntime")],
        # inside the container's mount namespace, after its mounts: its /dev/shm is the container's tmpfs
        "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", f"echo created > {rootfs_shm}/created"]}],
        # inside the container after pivot_root: paths are the container's
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo started > /dev/shm/started"]}],
        "poststart": [record("poststart")],
        "poststop": [record("poststop")],
    }
    ctr.write_spec(["sh", "-c", "cat /dev/shm/created /dev/shm/started"], hooks=hooks)
    ctr.create()
    pid = ctr.wait_created()
    for kind in ("prestart", "createRuntime"):
        state = json.loads((log / f"{kind}.json").read_text())
        assert (state["id"], state["pid"], state["status"]) == (ctr.id, pid, "creating")
    if ctr.runtime != "runc":  # runc before 1.2 runs poststart hooks already at create
        assert not (log / "poststart.json").exists()
    ctr.cli("start", ctr.id)
    code, out, err = ctr.wait_exit()
    assert (code, out) == (0, "created\nstarted\n"), err
    assert json.loads((log / "poststart.json").read_text())["id"] == ctr.id
    assert not (log / "poststop.json").exists()
    ctr.cli("delete", ctr.id)
    assert json.loads((log / "poststop.json").read_text())["id"] == ctr.id


def test_failing_prestart_hook_fails_create(ctr: Container) -> None:
    ctr.write_spec(["true"], hooks={"prestart": [{"path": "/bin/false"}]})
    shim = ctr.create()
    shim.communicate(timeout=20)
    assert shim.returncode != 0
    assert not ctr.pid_file.exists()
    assert cgroup_dirs(ctr.id) == []
