"""ExecService against a fake container service and a fake shim: start, output, exit codes, errors."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.containers.store import ContainerRecord
from dockyard.engine.exec import ExecService
from dockyard.tasks.api import ExecSpec, ExitStatus
from dockyard.tasks.errors import RuntimeFailed


class FakeStream:
    def __init__(self, proc: FakeExecProcess) -> None:
        self.proc = proc
        self.closed = False

    async def read(self) -> tuple[int, bytes] | None:
        item = await self.proc.output.get()
        return item

    async def write(self, data: bytes) -> None:
        self.proc.stdin += data
        # an echoing process: what comes in goes out
        await self.proc.output.put((1, data))

    async def close_stdin(self) -> None:
        self.proc.stdin_closed = True
        self.proc.finish(0)

    async def close(self) -> None:
        self.closed = True


class FakeExecProcess:
    def __init__(self, spec: ExecSpec, script: list[tuple[int, bytes]], code: int | None, fail: str = "") -> None:
        self.exec_id = spec.exec_id
        self.spec = spec
        self.pid = 0
        self.output: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self.script = script
        self.code = code
        self.fail = fail
        self.stdin = b""
        self.stdin_closed = False
        self.exited: asyncio.Future[ExitStatus] = asyncio.get_running_loop().create_future()
        self.deleted = False
        self.resized: list[tuple[int, int]] = []

    def finish(self, code: int) -> None:
        if not self.exited.done():
            self.output.put_nowait(None)
            self.exited.set_result(ExitStatus(code, "2026-01-01T00:00:00Z"))

    async def start(self) -> int:
        if self.fail:
            raise RuntimeFailed(self.fail)
        self.pid = 4242
        for item in self.script:
            self.output.put_nowait(item)
        if self.code is not None:
            self.finish(self.code)
        return self.pid

    async def kill(self, signal: int) -> None:
        self.finish(128 + signal)

    async def wait(self) -> ExitStatus:
        return await self.exited

    async def attach(self, *, stdin: bool, stdout: bool, stderr: bool) -> FakeStream:
        return FakeStream(self)

    async def resize(self, height: int, width: int) -> None:
        self.resized.append((height, width))

    async def delete(self) -> ExitStatus | None:
        self.deleted = True
        return None


class FakeTask:
    def __init__(self) -> None:
        self.plan: tuple[list[tuple[int, bytes]], int | None, str] = ([], 0, "")
        self.procs: list[FakeExecProcess] = []

    async def exec(self, spec: ExecSpec) -> FakeExecProcess:
        p = FakeExecProcess(spec, *self.plan)
        self.procs.append(p)
        return p


class FakeContainers:
    def __init__(self, rec: ContainerRecord, task: FakeTask) -> None:
        self.rec = rec
        self.task = task
        self.events: list[tuple[str, dict[str, str]]] = []

    def get(self, ref: str) -> ContainerRecord:
        if ref not in (self.rec.id, self.rec.name):
            raise errors.ContainerNotFound(f"No such container: {ref}")
        return self.rec

    def all(self) -> list[ContainerRecord]:
        return [self.rec]

    def task_for(self, ref: str) -> Any:
        return self.task if self.get(ref).state.running else None

    def update_record(self, rec: ContainerRecord) -> None:
        self.rec = rec

    def emit(self, rec: ContainerRecord, action: str, extra: Mapping[str, str] | None = None) -> None:
        self.events.append((action, dict(extra or {})))


class FakeConn:
    def __init__(self, stdin: bytes = b"", eof: bool = True) -> None:
        self.stdin = asyncio.StreamReader()
        if stdin:
            self.stdin.feed_data(stdin)
        if eof:
            self.stdin.feed_eof()
        self.out = b""
        self._closed = False

    async def write(self, data: bytes) -> None:
        self.out += data

    def close(self) -> None:
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed


def _frames(data: bytes) -> list[tuple[int, bytes]]:
    out = []
    while data:
        stream, n = struct.unpack(">BxxxI", data[:8])
        out.append((stream, data[8 : 8 + n]))
        data = data[8 + n :]
    return out


@pytest.fixture
def bundle(tmp_path: Path) -> str:
    spec = {
        "process": {"args": ["sleep"], "env": ["PATH=/bin", "HOME=/root"], "cwd": "/", "user": {"uid": 0, "gid": 0}}
    }
    (tmp_path / "config.json").write_text(json.dumps(spec))
    etc = tmp_path / "rootfs" / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\nalice:x:1000:\nstaff:x:50:alice\n")
    return str(tmp_path)


def _setup(bundle: str, status: str = "running") -> tuple[ExecService, FakeContainers, FakeTask]:
    rec = ContainerRecord(id="c" * 64, name="box", created="", image="busybox", image_id="x", config={}, host_config={})
    rec = replace(rec, bundle=bundle).with_state(status=status, pid=7)
    task = FakeTask()
    containers = FakeContainers(rec, task)
    return ExecService(containers, output_grace=5), containers, task


def test_attached_exec_streams_output_and_records_exit(bundle: str) -> None:
    async def go() -> None:
        svc, cs, task = _setup(bundle)
        task.plan = ([(1, b"out\n"), (2, b"err\n")], 3, "")
        eid = await svc.create("box", {"Cmd": ["sh", "-c", "x"], "AttachStdout": True, "AttachStderr": True})
        assert list(cs.rec.exec_ids) == [eid]
        assert svc.inspect(eid)["ExitCode"] is None and svc.inspect(eid)["Running"] is False
        conn = FakeConn()
        await svc.start(eid, conn)
        assert _frames(conn.out) == [(1, b"out\n"), (2, b"err\n")]
        j = svc.inspect(eid)
        assert j["ExitCode"] == 3 and j["Running"] is False and j["Pid"] == 4242
        assert list(cs.rec.exec_ids) == []
        actions = [a for a, _ in cs.events]
        assert actions == ["exec_create: sh -c x", "exec_start: sh -c x", "exec_die"]
        assert cs.events[-1][1] == {"execID": eid, "exitCode": "3"}
        await asyncio.sleep(0)
        assert task.procs[0].deleted
        with pytest.raises(errors.Conflict, match="has already run"):
            await svc.start(eid, FakeConn())

    asyncio.run(go())


def test_tty_output_is_raw_and_stdin_is_forwarded(bundle: str) -> None:
    async def go() -> None:
        svc, _, task = _setup(bundle)
        task.plan = ([], None, "")
        eid = await svc.create("box", {"Cmd": ["cat"], "Tty": True, "AttachStdin": True, "AttachStdout": True})
        conn = FakeConn(b"hello")
        await asyncio.wait_for(svc.start(eid, conn, console_size=(30, 100)), 5)
        assert conn.out == b"hello"
        p = task.procs[0]
        assert p.stdin == b"hello" and p.stdin_closed
        assert p.spec.open_stdin and p.spec.console_size == (30, 100)
        assert p.spec.process["terminal"] is True
        assert svc.inspect(eid)["ExitCode"] == 0

    asyncio.run(go())


def test_user_workdir_env_reach_the_process(bundle: str) -> None:
    async def go() -> None:
        svc, _, task = _setup(bundle)
        body = {"Cmd": ["id"], "User": "alice", "WorkingDir": "/tmp", "Env": ["X=1"]}
        eid = await svc.create("box", body)
        await svc.start(eid, None)
        proc: dict[str, Any] = task.procs[0].spec.process
        assert proc["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [1000, 50]}
        assert proc["cwd"] == "/tmp"
        assert "X=1" in proc["env"] and "HOME=/home/alice" in proc["env"]
        await asyncio.wait_for(svc_wait(svc, eid), 5)

    asyncio.run(go())


async def svc_wait(svc: ExecService, eid: str) -> None:
    while svc.inspect(eid)["ExitCode"] is None:
        await asyncio.sleep(0.01)


def test_detached_exec_records_exit_later(bundle: str) -> None:
    async def go() -> None:
        svc, _, task = _setup(bundle)
        task.plan = ([], None, "")
        eid = await svc.create("box", {"Cmd": ["sleep", "1"]})
        await svc.start(eid, None)
        assert svc.inspect(eid)["Running"] is True
        with pytest.raises(errors.Conflict, match="already running"):
            svc.check_startable(eid)
        await svc.resize(eid, 10, 20)
        assert task.procs[0].resized == [(10, 20)]
        task.procs[0].finish(0)
        await asyncio.wait_for(svc_wait(svc, eid), 5)
        assert svc.inspect(eid)["Running"] is False

    asyncio.run(go())


def test_missing_command_gives_127_and_a_message(bundle: str) -> None:
    async def go() -> None:
        svc, _, task = _setup(bundle)
        task.plan = ([], 0, 'exec: "nosuch": executable file not found in $PATH')
        eid = await svc.create("box", {"Cmd": ["nosuch"], "AttachStdout": True})
        conn = FakeConn()
        await svc.start(eid, conn)
        [(stream, msg)] = _frames(conn.out)
        assert stream == 1 and msg.startswith(b"OCI runtime exec failed:") and b"nosuch" in msg
        assert svc.inspect(eid)["ExitCode"] == 127
        eid2 = await svc.create("box", {"Cmd": ["nosuch"]})
        with pytest.raises(errors.InvalidArgument):
            await svc.start(eid2, None)  # detached: the error is the HTTP answer
        assert svc.inspect(eid2)["ExitCode"] == 127

    asyncio.run(go())


def test_exec_needs_a_running_unpaused_container(bundle: str) -> None:
    async def go() -> None:
        for status, msg in (("paused", "is paused"), ("exited", "is not running")):
            svc, _, _ = _setup(bundle, status)
            with pytest.raises(errors.Conflict, match=msg):
                await svc.create("box", {"Cmd": ["true"]})
        svc, _, _ = _setup(bundle)
        with pytest.raises(errors.NotFound):
            await svc.create("nobox", {"Cmd": ["true"]})
        with pytest.raises(errors.NotFound):
            svc.inspect("nosuchexec")

    asyncio.run(go())


def test_unknown_user_fails_the_start(bundle: str) -> None:
    async def go() -> None:
        svc, _, task = _setup(bundle)
        eid = await svc.create("box", {"Cmd": ["id"], "User": "bob", "AttachStdout": True})
        conn = FakeConn()
        await svc.start(eid, conn)
        assert b"unable to find user bob" in conn.out
        assert svc.inspect(eid)["ExitCode"] == 126
        assert task.procs == []

    asyncio.run(go())


def test_detach_keys_end_the_session_not_the_process(bundle: str) -> None:
    async def go() -> None:
        svc, _, task = _setup(bundle)
        task.plan = ([], None, "")
        body = {"Cmd": ["sh"], "Tty": True, "AttachStdin": True, "AttachStdout": True, "DetachKeys": "ctrl-x"}
        eid = await svc.create("box", body)
        conn = FakeConn(b"ab\x18", eof=False)
        await asyncio.wait_for(svc.start(eid, conn), 5)
        assert conn.closed
        assert task.procs[0].stdin == b"ab"
        assert svc.inspect(eid)["Running"] is True and svc.inspect(eid)["ExitCode"] is None
        with pytest.raises(errors.InvalidArgument):
            await svc.create("box", {"Cmd": ["sh"], "DetachKeys": "ctrl-1"})

    asyncio.run(go())


def test_forget_previous_clears_stale_exec_ids(bundle: str) -> None:
    svc, cs, _ = _setup(bundle)
    cs.rec = replace(cs.rec, exec_ids=("old1", "old2"))
    svc.forget_previous()
    assert list(cs.rec.exec_ids) == []
