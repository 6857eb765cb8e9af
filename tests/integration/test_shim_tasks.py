"""ShimTaskManager + dockyard-shim against real OCI runtimes (runc, crun, dockyard-runtime).

Each container runs busybox from an overlay rootfs (lower: a busybox tree,
upper/work in a temp dir). Every test checks on the way out that no mount,
shim or container process was left behind.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from dockyard.errors import Conflict, NotFound
from dockyard.mount.types import Mount
from dockyard.tasks.api import STDERR, STDOUT, AttachStream, ExecSpec, TaskSpec
from dockyard.tasks.errors import RuntimeFailed
from dockyard.tasks.shim_client import ShimTask, ShimTaskManager

from .shim_bundle import make_busybox_rootfs, write_bundle

pytestmark = [pytest.mark.root, pytest.mark.timeout(60)]

T = TypeVar("T")
RUNTIMES = ("/usr/sbin/runc", "/usr/bin/crun", "dockyard-runtime")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


def run(coro: Coroutine[Any, Any, T], timeout: float = 20) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def _overlay_supported() -> bool:
    with open("/proc/filesystems", encoding="ascii") as f:
        return any(line.split()[-1] == "overlay" for line in f if line.strip())


if os.geteuid() != 0:
    pytest.skip("needs root (mounts, namespaces)", allow_module_level=True)
if not _overlay_supported():
    pytest.skip("overlayfs is not available", allow_module_level=True)


def _runtime_probe(runtime: str) -> str:
    """Why ``runtime`` cannot run a trivial container here ("" when it can)."""
    if runtime == "dockyard-runtime":
        try:
            import dockyard.runtime.cli  # noqa: F401
        except ImportError:
            return "dockyard.runtime.cli is not written yet"
    elif not os.access(runtime, os.X_OK):
        return f"{runtime} is not installed"
    tmp = tempfile.mkdtemp(prefix="dy-probe-")
    try:
        bundle = write_bundle(os.path.join(tmp, "b"), ["true"])
        make_busybox_rootfs(os.path.join(bundle, "rootfs"))
        argv = [runtime] if runtime != "dockyard-runtime" else [sys.executable, "-m", "dockyard.runtime.cli"]
        r = subprocess.run(
            [*argv, "--root", os.path.join(tmp, "root"), "run", "--bundle", bundle, f"probe{os.getpid()}"],
            capture_output=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
        if r.returncode != 0:
            return f"{runtime} cannot run containers here: {(r.stderr or r.stdout).decode(errors='replace').strip()}"
        return ""
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{runtime} cannot run containers here: {e}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def busybox_lower() -> Iterator[str]:
    tmp = tempfile.mkdtemp(prefix="dy-shim-lower-")
    try:
        yield make_busybox_rootfs(os.path.join(tmp, "lower"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module", params=RUNTIMES, ids=lambda r: os.path.basename(r))
def runtime(request: pytest.FixtureRequest) -> str:
    reason = _runtime_probe(request.param)
    if reason:
        pytest.skip(reason)
    return str(request.param)


@dataclass
class Container:
    spec: TaskSpec
    task: ShimTask
    manager: ShimTaskManager
    tmp: str

    @property
    def log_path(self) -> str:
        assert self.spec.log_path
        return self.spec.log_path

    def log_records(self) -> list[dict[str, str]]:
        with open(self.log_path, encoding="utf-8") as f:
            return [json.loads(line) for line in f]

    def shim_pid(self) -> int:
        with open(os.path.join(self.spec.state_dir, "shim.pid"), encoding="ascii") as f:
            return int(f.read())


def _mounts_under(path: str) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


def _pids_mentioning(text: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


def wait_until(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def _pid_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(") ")[1].split()[0] == "Z"  # a zombie of someone else's is gone for us
    except (OSError, IndexError):
        return True


def _processes_gone(state_dir: str) -> bool:
    return all(_pid_gone(pid) for pid in _pids_mentioning(state_dir))


MakeContainer = Callable[..., Container]


@pytest.fixture
def make_container(runtime: str, busybox_lower: str) -> Iterator[MakeContainer]:
    created: list[tuple[str, TaskSpec | None]] = []

    def make(
        args: list[str], *, manager: ShimTaskManager | None = None, memory_limit: int = 0, **options: Any
    ) -> Container:
        tmp = tempfile.mkdtemp(prefix="dy-shim-")
        created.append((tmp, None))
        upper, work = os.path.join(tmp, "upper"), os.path.join(tmp, "work")
        os.makedirs(upper)
        os.makedirs(work)
        bundle = write_bundle(
            os.path.join(tmp, "bundle"), args, tty=bool(options.get("tty")), memory_limit=memory_limit
        )
        overlay = Mount("overlay", "overlay", (f"lowerdir={busybox_lower}", f"upperdir={upper}", f"workdir={work}"))
        spec = TaskSpec(
            container_id=f"shimtest-{os.path.basename(tmp)[len('dy-shim-') :]}",
            bundle=bundle,
            state_dir=os.path.join(tmp, "state"),
            runtime=runtime,
            runtime_root=os.path.join(tmp, "runtime-root"),
            rootfs_mounts=(overlay,),
            log_path=os.path.join(tmp, "container.log"),
            **options,
        )
        created[-1] = (tmp, spec)  # from here on a failed create is still cleaned up
        mgr = manager or ShimTaskManager()
        return Container(spec, run(mgr.create(spec)), mgr, tmp)

    yield make

    problems = []
    for tmp, spec in created:
        if spec is not None:
            run(ShimTaskManager().cleanup(spec.container_id, spec.state_dir))
            if not wait_until(functools.partial(_processes_gone, spec.state_dir)):
                for pid in _pids_mentioning(spec.state_dir):
                    os.kill(pid, signal.SIGKILL)
                problems.append(f"shim of {spec.container_id} still running after cleanup")
        for target in reversed(_mounts_under(tmp)):
            subprocess.run(["umount", "-l", target], check=False)
            problems.append(f"mount left behind: {target}")
        shutil.rmtree(tmp, ignore_errors=True)
    assert not problems, problems


async def read_all(stream: AttachStream) -> list[tuple[int, bytes]]:
    chunks = []
    while (chunk := await stream.read()) is not None:
        chunks.append(chunk)
    return chunks


def joined(chunks: list[tuple[int, bytes]], stream: int) -> bytes:
    return b"".join(data for s, data in chunks if s == stream)


def test_output_reaches_attach_and_log_and_exit_code(make_container: MakeContainer) -> None:
    c = make_container(["sh", "-c", "echo hello; echo oops >&2; exit 3"])

    async def scenario() -> tuple[list[tuple[int, bytes]], Any, Any, Any]:
        stream = await c.task.attach(stdin=False, stdout=True, stderr=True)
        pid = await c.task.start()
        assert pid > 0 and c.task.pid == pid
        chunks = await read_all(stream)
        status = await c.task.wait()
        deleted = await c.task.delete()
        return chunks, status, deleted, await c.manager.exit_status(c.spec.container_id, c.spec.state_dir)

    chunks, status, deleted, recorded = run(scenario())
    assert joined(chunks, STDOUT) == b"hello\n"
    assert joined(chunks, STDERR) == b"oops\n"
    assert status.code == 3 and TIME_RE.match(status.exited_at) and not status.oom_killed
    assert deleted == status == recorded
    records = c.log_records()
    assert sorted((r["stream"], r["log"]) for r in records) == [("stderr", "oops\n"), ("stdout", "hello\n")]
    assert all(TIME_RE.match(r["time"]) for r in records)
    assert not _mounts_under(c.tmp), "rootfs still mounted after delete"


def test_attach_selects_streams(make_container: MakeContainer) -> None:
    c = make_container(["sh", "-c", "echo out; echo err >&2"])

    async def scenario() -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
        only_err = await c.task.attach(stdin=False, stdout=False, stderr=True)
        both = await c.task.attach(stdin=False, stdout=True, stderr=True)
        await c.task.start()
        return await read_all(only_err), await read_all(both)

    only_err, both = run(scenario())
    assert only_err == [(STDERR, b"err\n")]
    assert joined(both, STDOUT) == b"out\n" and joined(both, STDERR) == b"err\n"


def test_stdin_reaches_cat_and_half_close_ends_it(make_container: MakeContainer) -> None:
    c = make_container(["cat"], open_stdin=True, stdin_once=True)

    async def scenario() -> tuple[bytes, int]:
        stream = await c.task.attach(stdin=True, stdout=True, stderr=True)
        await c.task.start()
        await stream.write(b"x\n")
        await stream.write(b"y" * 100_000)  # more than a pipe holds: stdin must not block the shim
        await stream.close_stdin()
        out = joined(await read_all(stream), STDOUT)
        return out, (await c.task.wait()).code

    out, code = run(scenario())
    assert out == b"x\n" + b"y" * 100_000
    assert code == 0
    records = c.log_records()
    assert "".join(r["log"] for r in records) == "x\n" + "y" * 100_000
    assert max(len(r["log"]) for r in records) == 16 * 1024, "long lines are split at 16 KiB"


def test_tty_echo_and_size(make_container: MakeContainer) -> None:
    c = make_container(
        ["sh", "-c", "stty size; read line; echo got:$line; read line; stty size"],
        tty=True,
        open_stdin=True,
        console_size=(24, 90),
    )

    async def scenario() -> bytes:
        stream = await c.task.attach(stdin=True, stdout=True, stderr=True)
        await c.task.start()
        out = b""
        while b"24 90" not in out:
            chunk = await stream.read()
            assert chunk is not None, out
            assert chunk[0] == STDOUT
            out += chunk[1]
        await stream.write(b"hello\r")
        while b"got:hello" not in out:
            chunk = await stream.read()
            assert chunk is not None, out
            out += chunk[1]
        await c.task.resize(30, 100)
        await stream.write(b"\r")
        rest = await read_all(stream)
        assert (await c.task.wait()).code == 0
        return out + joined(rest, STDOUT)

    out = run(scenario())
    assert b"hello" in out.split(b"got:")[0], "the terminal echoes input"
    assert b"got:hello\r\n" in out
    assert out.rstrip().endswith(b"30 100")
    assert all(r["stream"] == "stdout" for r in c.log_records())


def test_kill_reports_137_and_kill_after_exit_is_fine(make_container: MakeContainer) -> None:
    c = make_container(["sleep", "100"])

    async def scenario() -> int:
        await c.task.start()
        waiter = asyncio.ensure_future(c.task.wait())
        await asyncio.sleep(0)
        await c.task.kill(signal.SIGKILL)
        status = await waiter
        await c.task.kill(signal.SIGKILL)  # already exited: no error
        return status.code

    assert run(scenario()) == 137


def test_exit_zero_and_wait_after_exit(make_container: MakeContainer) -> None:
    c = make_container(["true"])

    async def scenario() -> tuple[int, int]:
        await c.task.start()
        first = await c.task.wait()
        return first.code, (await c.task.wait()).code

    assert run(scenario()) == (0, 0)


def test_runtime_error_reaches_create(make_container: MakeContainer) -> None:
    with pytest.raises(RuntimeFailed) as info:
        make_container(["/no/such/binary"])
    message = info.value.message.lower()
    assert "no such file" in message or "not found" in message, message


def test_shim_survives_the_daemon(make_container: MakeContainer) -> None:
    script = "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.02; done"
    c = make_container(["sh", "-c", script])
    run(c.task.start())
    shim_pid = c.shim_pid()
    with open(f"/proc/{shim_pid}/stat", encoding="ascii") as f:
        ppid = int(f.read().split(") ")[1].split()[1])
    assert ppid != os.getpid(), "the shim must not be the daemon's child"
    assert wait_until(lambda: os.path.exists(c.log_path) and os.path.getsize(c.log_path) > 100)
    del c.task  # the "daemon" is gone: a new manager finds the shim again

    async def reconnect() -> tuple[int, bytes, int]:
        manager = ShimTaskManager()
        task = await manager.get(c.spec.container_id, c.spec.state_dir)
        assert task is not None and task.pid > 0
        stream = await task.attach(stdin=False, stdout=True, stderr=False)
        first = await stream.read()
        assert first is not None
        await task.kill(signal.SIGKILL)
        await read_all(stream)
        status = await task.wait()
        await task.delete()
        gone = await manager.get(c.spec.container_id, c.spec.state_dir)
        assert gone is None
        return status.code, first[1], task.pid

    code, first, pid = run(reconnect())
    assert code == 137
    assert first.startswith(b"line")
    lines = [r["log"] for r in c.log_records()]
    assert lines == [f"line{i}\n" for i in range(len(lines))], "the log is complete and in order"
    assert wait_until(lambda: _pid_gone(shim_pid) and _pid_gone(pid))


def test_exit_status_is_read_after_the_shim_left(make_container: MakeContainer) -> None:
    manager = ShimTaskManager(exit_linger=0.1)
    c = make_container(["sh", "-c", "echo bye; exit 5"], manager=manager)
    run(c.task.start())
    shim_pid = c.shim_pid()
    assert wait_until(lambda: _pid_gone(shim_pid)), "a shim with no clients leaves after its linger time"
    assert not _mounts_under(c.tmp)

    async def after() -> tuple[Any, Any]:
        status = await manager.exit_status(c.spec.container_id, c.spec.state_dir)
        task = await manager.get(c.spec.container_id, c.spec.state_dir)
        await manager.cleanup(c.spec.container_id, c.spec.state_dir)
        await manager.cleanup(c.spec.container_id, c.spec.state_dir)  # idempotent
        return status, task

    status, task = run(after())
    assert task is None
    assert status is not None and status.code == 5
    assert [r["log"] for r in c.log_records()] == ["bye\n"]


def test_cleanup_after_shim_was_killed(make_container: MakeContainer) -> None:
    c = make_container(["sleep", "100"])
    run(c.task.start())
    init_pid = c.task.pid
    os.kill(c.shim_pid(), signal.SIGKILL)
    assert wait_until(lambda: run(c.manager.get(c.spec.container_id, c.spec.state_dir)) is None)
    run(c.manager.cleanup(c.spec.container_id, c.spec.state_dir))
    assert wait_until(lambda: _pid_gone(init_pid)), "cleanup kills what the runtime still knows"
    assert not _mounts_under(c.tmp)
    assert run(c.manager.exit_status(c.spec.container_id, c.spec.state_dir)) is None


def test_delete_refuses_a_running_container(make_container: MakeContainer) -> None:
    c = make_container(["sleep", "100"])

    async def scenario() -> int:
        await c.task.start()
        with pytest.raises(Conflict):
            await c.task.delete()
        await c.task.kill(signal.SIGTERM)  # pid 1 without a handler ignores SIGTERM
        await c.task.kill(signal.SIGKILL)
        code = (await c.task.wait()).code
        await c.task.delete()
        return code

    assert run(scenario()) == 137


def test_oom_kill_is_recorded(make_container: MakeContainer) -> None:
    c = make_container(["sh", "-c", "x=$(yes | head -c 300000000); echo survived"], memory_limit=32 << 20)

    async def scenario() -> Any:
        await c.task.start()
        return await c.task.wait()

    status = run(scenario(), timeout=40)
    if status.code == 0:
        pytest.skip("the runtime did not apply the memory limit here")
    assert status.code == 137
    assert status.oom_killed


def test_not_oom_killed_when_killed_by_signal(make_container: MakeContainer) -> None:
    c = make_container(["sleep", "100"], memory_limit=32 << 20)

    async def scenario() -> Any:
        await c.task.start()
        await c.task.kill(signal.SIGKILL)
        return await c.task.wait()

    status = run(scenario())
    assert (status.code, status.oom_killed) == (137, False)


def test_detached_client_does_not_disturb_the_container(make_container: MakeContainer) -> None:
    c = make_container(["sh", "-c", "read line; echo got:$line"], open_stdin=True)

    async def scenario() -> bytes:
        first = await c.task.attach(stdin=True, stdout=True, stderr=True)
        await c.task.start()
        await first.close()  # detach: no EOF for the container (not StdinOnce)
        second = await c.task.attach(stdin=True, stdout=True, stderr=True)
        await second.write(b"hi\n")
        out = joined(await read_all(second), STDOUT)
        assert (await c.task.wait()).code == 0
        return out

    assert run(scenario()) == b"got:hi\n"


def exec_process(args: list[str], tty: bool = False) -> dict[str, object]:
    return {
        "args": args,
        "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
        "cwd": "/",
        "user": {"uid": 0, "gid": 0},
        "terminal": tty,
    }


def test_exec_output_exit_code_and_no_log(make_container: MakeContainer) -> None:
    c = make_container(["sh", "-c", "echo main; sleep 100"])

    async def scenario() -> tuple[list[tuple[int, bytes]], int, int]:
        main = await c.task.attach(stdin=False, stdout=True, stderr=True)
        await c.task.start()
        assert await main.read() == (STDOUT, b"main\n")
        proc = await c.task.exec(ExecSpec("e1", exec_process(["sh", "-c", "echo out; echo err >&2; exit 7"])))
        assert proc.pid == 0
        stream = await proc.attach(stdin=False, stdout=True, stderr=True)
        pid = await proc.start()
        assert pid > 0 and pid != c.task.pid
        chunks = await read_all(stream)
        code = (await proc.wait()).code
        assert (await proc.delete()) is not None
        with pytest.raises(NotFound):
            await proc.wait()
        await c.task.kill(signal.SIGKILL)
        return chunks, code, (await c.task.wait()).code

    chunks, code, main_code = run(scenario())
    assert joined(chunks, STDOUT) == b"out\n" and joined(chunks, STDERR) == b"err\n"
    assert (code, main_code) == (7, 137)
    assert [r["log"] for r in c.log_records()] == ["main\n"], "exec output is not logged"


def test_exec_stdin_reaches_the_process(make_container: MakeContainer) -> None:
    c = make_container(["sleep", "100"])

    async def scenario() -> bytes:
        await c.task.start()
        cat = await c.task.exec(ExecSpec("cat", exec_process(["cat"]), open_stdin=True))
        cat_io = await cat.attach(stdin=True, stdout=True, stderr=True)
        await cat.start()
        await cat_io.write(b"ping\n")
        await cat_io.close_stdin()
        out = joined(await read_all(cat_io), STDOUT)
        assert (await cat.wait()).code == 0
        return out

    assert run(scenario()) == b"ping\n"


def test_exec_with_a_tty(make_container: MakeContainer) -> None:
    c = make_container(["sleep", "100"])

    async def scenario() -> bytes:
        await c.task.start()
        spec = ExecSpec("tty", exec_process(["sh", "-c", "tty; stty size"], tty=True), console_size=(33, 77))
        tty = await c.task.exec(spec)
        tty_io = await tty.attach(stdin=False, stdout=True, stderr=True)
        await tty.start()
        return joined(await read_all(tty_io), STDOUT)

    out = run(scenario())
    assert re.search(rb"/dev/pts/\d+\r\n33 77\r\n", out), out


def test_exec_kill_and_exec_after_exit(make_container: MakeContainer) -> None:
    c = make_container(["sleep", "100"])

    async def scenario() -> int:
        await c.task.start()
        sleeper = await c.task.exec(ExecSpec("sleep", exec_process(["sleep", "100"])))
        await sleeper.start()
        with pytest.raises(Conflict):
            await sleeper.delete()  # still running
        task = await ShimTaskManager().get(c.spec.container_id, c.spec.state_dir)  # as after a daemon restart
        assert task is not None
        found = await task.get_exec("sleep")
        assert found is not None and found.pid == sleeper.pid > 0
        assert await task.get_exec("nope") is None
        await found.kill(signal.SIGKILL)
        killed = (await sleeper.wait()).code
        await c.task.kill(signal.SIGKILL)
        await c.task.wait()
        with pytest.raises(Conflict):
            await c.task.exec(ExecSpec("late", exec_process(["true"])))
        return killed

    assert run(scenario()) == 137


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_slow_client_applies_backpressure(make_container: MakeContainer) -> None:
    total = 32 << 20
    c = make_container(["sh", "-c", f"yes {'y' * 999} | head -c {total}"])

    async def scenario() -> tuple[str, int, int]:
        stream = await c.task.attach(stdin=False, stdout=True, stderr=False)
        await c.task.start()
        await asyncio.sleep(0.5)  # the client reads nothing meanwhile; the container must block, not the shim grow
        state = await c.task.state()
        rss = _rss_kib(c.shim_pid())
        received = sum(len(data) for _, data in await read_all(stream))
        assert (await c.task.wait()).code == 0
        return str(state["status"]), rss, received

    status, rss, received = run(scenario(), timeout=40)
    assert status == "running", "the writer is blocked while the client does not read"
    assert rss < 30 * 1024, f"the shim buffered {rss} KiB"
    assert received == total
    assert sum(len(r["log"]) for r in c.log_records()) == total


def test_log_rotation(make_container: MakeContainer) -> None:
    c = make_container(
        ["sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); done"], log_max_size=2000, log_max_files=3
    )

    async def scenario() -> int:
        await c.task.start()
        return (await c.task.wait()).code

    assert run(scenario()) == 0
    files = [c.log_path, c.log_path + ".1", c.log_path + ".2"]
    assert all(os.path.exists(f) for f in files) and not os.path.exists(c.log_path + ".3")
    lines = []
    for path in reversed(files):
        with open(path, encoding="utf-8") as f:
            lines += [json.loads(line)["log"] for line in f]
    assert lines == [f"line{i}\n" for i in range(300 - len(lines), 300)], "the newest lines, in order, no gaps"
    assert all(os.path.getsize(f) < 2000 + 200 for f in files)


_DAEMON_SCRIPT = """
import asyncio, json, sys
from dockyard.mount.types import Mount
from dockyard.tasks.api import TaskSpec
from dockyard.tasks.shim_client import ShimTaskManager

async def main():
    raw = json.loads(sys.argv[1])
    raw["rootfs_mounts"] = tuple(Mount(m["type"], m["source"], tuple(m["options"])) for m in raw["rootfs_mounts"])
    task = await ShimTaskManager().create(TaskSpec(**raw))
    await task.start()
    print(task.pid, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_shim_outlives_a_killed_daemon(busybox_lower: str, runtime: str) -> None:
    tmp = tempfile.mkdtemp(prefix="dy-shim-")
    for d in ("upper", "work"):
        os.makedirs(os.path.join(tmp, d))
    script = "i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.02; done"
    bundle = write_bundle(os.path.join(tmp, "bundle"), ["sh", "-c", script])
    options = [f"lowerdir={busybox_lower}", f"upperdir={tmp}/upper", f"workdir={tmp}/work"]
    raw = {
        "container_id": f"shimtest-kd-{os.path.basename(tmp)[len('dy-shim-') :]}",
        "bundle": bundle,
        "state_dir": os.path.join(tmp, "state"),
        "runtime": runtime,
        "runtime_root": os.path.join(tmp, "runtime-root"),
        "log_path": os.path.join(tmp, "container.log"),
        "rootfs_mounts": [{"type": "overlay", "source": "overlay", "options": options}],
    }
    cid, state_dir, log_path = raw["container_id"], os.path.join(tmp, "state"), os.path.join(tmp, "container.log")
    daemon = subprocess.Popen(
        [sys.executable, "-c", _DAEMON_SCRIPT, json.dumps(raw)], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert daemon.stdout is not None
        pid = int(daemon.stdout.readline())
        daemon.kill()  # SIGKILL: the "daemon" gets no chance to clean anything up
        daemon.wait(10)
        assert wait_until(lambda: os.path.exists(log_path) and os.path.getsize(log_path) > 200), "logs keep flowing"

        async def after() -> int:
            task = await ShimTaskManager().get(str(cid), state_dir)
            assert task is not None and task.pid == pid
            await task.kill(signal.SIGKILL)
            code = (await task.wait()).code
            await task.delete()
            return code

        assert run(after()) == 137
        with open(log_path, encoding="utf-8") as f:
            lines = [json.loads(line)["log"] for line in f]
        assert lines == [f"tick{i}\n" for i in range(len(lines))]
        assert wait_until(lambda: _pid_gone(pid) and _processes_gone(state_dir))
        assert not _mounts_under(tmp)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(10)
        run(ShimTaskManager().cleanup(str(cid), state_dir))
        for target in reversed(_mounts_under(tmp)):
            subprocess.run(["umount", "-l", target], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def test_exec_of_a_missing_binary_fails_at_start(make_container: MakeContainer) -> None:
    c = make_container(["sleep", "100"])

    async def scenario() -> str:
        await c.task.start()
        proc = await c.task.exec(ExecSpec("bad", exec_process(["/no/such/binary"])))
        stream = await proc.attach(stdin=False, stdout=True, stderr=True)
        with pytest.raises(RuntimeFailed) as info:
            await proc.start()
        assert await stream.read() is None, "the attach stream of a process that never ran ends"
        with pytest.raises(Conflict):
            await proc.wait()
        await proc.delete()
        await c.task.kill(signal.SIGKILL)
        await c.task.wait()
        return info.value.message.lower()

    message = run(scenario())
    assert "no such file" in message or "not found" in message, message
