"""The shim and ShimTaskManager end to end without root, against a fake runc (``shim_fake_runtime.py``).

The fake runs the bundle's process directly on the host: this checks the
protocol, stdio plumbing, logging, reaping and exit codes; the real runtimes
are exercised in ``tests/integration/test_shim_tasks.py``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dockyard.errors import Conflict
from dockyard.tasks.api import STDERR, STDOUT, AttachStream, ExecSpec, TaskSpec
from dockyard.tasks.errors import RuntimeFailed
from dockyard.tasks.shim_client import ShimTask, ShimTaskManager

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")
FAKE = Path(__file__).with_name("shim_fake_runtime.py")
ENV = ["PATH=/usr/local/bin:/usr/bin:/bin"]


def run(coro: Coroutine[Any, Any, T], timeout: float = 20) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def wait_until(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(") ")[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


MakeTask = Callable[..., tuple[TaskSpec, ShimTask]]


@pytest.fixture
def make_task(tmp_path: Path) -> Iterator[MakeTask]:
    runtime = tmp_path / "fake-runc"
    runtime.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE} "$@"\n')
    runtime.chmod(0o755)
    specs: list[TaskSpec] = []

    def make(
        args: list[str], name: str = "c1", manager: ShimTaskManager | None = None, **options: Any
    ) -> tuple[TaskSpec, ShimTask]:
        bundle = tmp_path / name / "bundle"
        bundle.mkdir(parents=True)
        process = {"args": args, "env": ENV, "cwd": "/", "terminal": bool(options.get("tty"))}
        (bundle / "config.json").write_text(json.dumps({"ociVersion": "1.0.2", "process": process}))
        spec = TaskSpec(
            container_id=name,
            bundle=str(bundle),
            state_dir=str(tmp_path / name / "state"),
            runtime=str(runtime),
            runtime_root=str(tmp_path / "runtime-root"),
            log_path=str(tmp_path / name / "log.json"),
            **options,
        )
        specs.append(spec)
        return spec, run((manager or ShimTaskManager()).create(spec))

    yield make

    pids = []
    for spec in specs:
        pid_file = Path(spec.state_dir) / "shim.pid"
        if pid_file.exists():
            pids.append(int(pid_file.read_text()))
        run(ShimTaskManager().cleanup(spec.container_id, spec.state_dir))
    assert wait_until(lambda: not any(alive(p) for p in pids)), "a shim outlived cleanup"


async def read_all(stream: AttachStream) -> dict[int, bytes]:
    out = {STDOUT: b"", STDERR: b""}
    while (chunk := await stream.read()) is not None:
        out[chunk[0]] += chunk[1]
    return out


def log_lines(spec: TaskSpec) -> list[tuple[str, str]]:
    assert spec.log_path
    with open(spec.log_path, encoding="utf-8") as f:
        return [(r["stream"], r["log"]) for r in map(json.loads, f)]


def test_output_log_and_exit_code(make_task: MakeTask) -> None:
    spec, task = make_task(["sh", "-c", "echo out; echo err >&2; exit 3"])

    async def scenario() -> tuple[dict[int, bytes], int]:
        stream = await task.attach(stdin=False, stdout=True, stderr=True)
        assert await task.start() > 0
        out = await read_all(stream)
        return out, (await task.wait()).code

    out, code = run(scenario())
    assert out == {STDOUT: b"out\n", STDERR: b"err\n"}
    assert code == 3
    assert sorted(log_lines(spec)) == [("stderr", "err\n"), ("stdout", "out\n")]


def test_stdin_once_closes_stdin(make_task: MakeTask) -> None:
    _, task = make_task(["cat"], open_stdin=True, stdin_once=True)

    async def scenario() -> tuple[bytes, int]:
        stream = await task.attach(stdin=True, stdout=True, stderr=False)
        await task.start()
        await stream.write(b"x\n")
        await stream.close_stdin()
        out = (await read_all(stream))[STDOUT]
        return out, (await task.wait()).code

    assert run(scenario()) == (b"x\n", 0)


def test_kill_is_137_and_the_shim_is_found_again(make_task: MakeTask) -> None:
    spec, task = make_task(["sleep", "100"])
    run(task.start())

    async def again() -> int:
        found = await ShimTaskManager().get(spec.container_id, spec.state_dir)
        assert found is not None and found.pid == task.pid
        with pytest.raises(Conflict):
            await found.delete()
        await found.kill(signal.SIGKILL)
        code = (await found.wait()).code
        await found.delete()
        assert await ShimTaskManager().get(spec.container_id, spec.state_dir) is None
        return code

    assert run(again()) == 137


def test_missing_executable_fails_create(make_task: MakeTask) -> None:
    with pytest.raises(RuntimeFailed, match="executable file not found"):
        make_task(["/no/such/thing"])


def test_tty_output_is_stdout(make_task: MakeTask) -> None:
    spec, task = make_task(["sh", "-c", "stty size; echo to-stderr >&2"], tty=True, console_size=(20, 60))

    async def scenario() -> dict[int, bytes]:
        stream = await task.attach(stdin=False, stdout=True, stderr=True)
        await task.start()
        out = await read_all(stream)
        assert (await task.wait()).code == 0
        return out

    out = run(scenario())
    assert out[STDERR] == b""
    assert out[STDOUT] == b"20 60\r\nto-stderr\r\n"
    assert {stream for stream, _ in log_lines(spec)} == {"stdout"}


def test_exec_and_linger(make_task: MakeTask) -> None:
    spec, task = make_task(["sleep", "100"], manager=ShimTaskManager(exit_linger=0.05))
    shim_pid = int((Path(spec.state_dir) / "shim.pid").read_text())

    async def scenario() -> tuple[dict[int, bytes], int]:
        await task.start()
        proc = await task.exec(ExecSpec("e1", {"args": ["sh", "-c", "echo exec; exit 4"], "env": ENV, "cwd": "/"}))
        stream = await proc.attach(stdin=False, stdout=True, stderr=True)
        await proc.start()
        out = await read_all(stream)
        code = (await proc.wait()).code
        await task.kill(signal.SIGTERM)
        assert (await task.wait()).code == 143
        return out, code

    out, code = run(scenario())
    assert (out[STDOUT], code) == (b"exec\n", 4)
    assert log_lines(spec) == [], "exec output is not logged"
    assert wait_until(lambda: not alive(shim_pid)), "the shim leaves after lingering with no client"
    assert not (Path(spec.state_dir) / "shim.sock").exists()
    status = run(ShimTaskManager().exit_status(spec.container_id, spec.state_dir))
    assert status is not None and status.code == 143


def test_exec_output_survives_the_end_of_stdin_racing_the_exit(make_task: MakeTask) -> None:
    """`docker exec -i ... </dev/null`: the client's end of stdin reaches the shim about when the
    process exits. The shim must not close the stream with that frame unread: a unix socket closed
    with unread data resets the peer, and the daemon would lose output it had not read yet."""
    _, task = make_task(["sleep", "100"])

    async def scenario() -> list[bytes]:
        await task.start()
        outputs = []
        for i in range(40):
            spec = ExecSpec(f"e{i}", {"args": ["sh", "-c", "echo out"], "env": ENV, "cwd": "/"}, open_stdin=True)
            proc = await task.exec(spec)
            stream = await proc.attach(stdin=True, stdout=True, stderr=True)
            await proc.start()
            await stream.close_stdin()
            outputs.append((await read_all(stream))[STDOUT])
            await stream.close()
            assert (await proc.wait()).code == 0
            await proc.delete()
        await task.kill(signal.SIGKILL)
        return outputs

    outputs = run(scenario(), timeout=60)
    assert outputs == [b"out\n"] * 40, f"{outputs.count(b'')} of 40 outputs lost"
