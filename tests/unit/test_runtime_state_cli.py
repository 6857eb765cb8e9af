"""State files, container ids, and the CLI's argument handling (no containers started)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.errors import ContainerNotFound, InvalidArgument, NameConflict
from dockyard.runtime.cli import main
from dockyard.runtime.state import (
    ContainerState,
    create_container_dir,
    load_state,
    process_start_time,
    process_status,
    rfc3339_now,
    save_state,
    validate_id,
    write_atomic,
)


def _state(**kw: object) -> ContainerState:
    base = dict(
        id="c1",
        pid=os.getpid(),
        bundle="/b",
        rootfs="/b/rootfs",
        created=rfc3339_now(),
        annotations={"k": "v"},
        oci_version="1.0.2",
        start_time=process_start_time(os.getpid()),
        cgroups={"memory": "/sys/fs/cgroup/memory/x"},
        namespaces=("pid", "mount"),
    )
    base.update(kw)
    return ContainerState(**base)  # type: ignore[arg-type]


def test_state_round_trip(tmp_path: Path) -> None:
    directory = create_container_dir(str(tmp_path), "c1")
    st = _state()
    save_state(directory, st)
    assert load_state(str(tmp_path), "c1") == (directory, st)
    with pytest.raises(NameConflict):
        create_container_dir(str(tmp_path), "c1")
    with pytest.raises(ContainerNotFound, match="does not exist"):
        load_state(str(tmp_path), "c2")


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a b", "x\n"])
def test_invalid_ids(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_id(bad)


def test_process_status_notices_recycled_pids() -> None:
    me = os.getpid()
    start = process_start_time(me)
    assert start > 0
    assert process_status(me, start) == "alive"
    assert process_status(me, start + 1) == "dead"
    assert process_status(0, 0) == "dead"


def test_process_status_of_a_zombie_is_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        start = process_start_time(child.pid)
        deadline = 100
        while process_status(child.pid, start) == "alive" and deadline:
            os.sched_yield()
            import time

            time.sleep(0.01)
            deadline -= 1
        assert process_status(child.pid, start) == "dead"  # exited but not yet reaped
    finally:
        child.wait(timeout=10)


def test_write_atomic_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "pid"
    write_atomic(str(target), b"123")
    write_atomic(str(target), b"456")
    assert target.read_bytes() == b"456"
    assert os.listdir(tmp_path) == ["pid"]


def test_rfc3339_now_shape() -> None:
    stamp = rfc3339_now()
    assert stamp.endswith("Z")
    assert len(stamp.split(".")[1]) == 10


def test_cli_errors_return_nonzero_with_message(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log.json"
    assert main(["--root", str(tmp_path), "--log", str(log), "--log-format", "json", "state", "nosuch"]) == 1
    assert "does not exist" in capfd.readouterr().err
    line = json.loads(log.read_text().splitlines()[0])
    assert line["level"] == "error"
    assert "does not exist" in line["msg"]
    assert main(["--root", str(tmp_path), "bogus"]) == 1
    assert main(["--root", str(tmp_path), "kill", "--nope", "x"]) == 1
    assert main(["--root", str(tmp_path), "kill", "x", "SIGNOPE"]) == 1
    assert "invalid signal" in capfd.readouterr().err
    assert main(["--root", str(tmp_path), "delete", "--force", "nosuch"]) == 0  # like runc
    assert main(["--root", str(tmp_path), "list", "--format", "json"]) == 0
    assert json.loads(capfd.readouterr().out) == []


def test_features_is_json(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["features"]) == 0
    doc = json.loads(capfd.readouterr().out)
    assert "CAP_NET_RAW" in doc["linux"]["capabilities"]
    assert "rbind" in doc["mountOptions"]


def test_cli_module_stays_lean() -> None:
    """The shim imports the CLI per container: no heavy libraries, runnable without site-packages."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    code = (
        f"import sys; sys.path.insert(0, {src!r}); import dockyard.runtime.cli, dockyard.runtime.container;"
        "import dockyard.runtime.linux.init;"
        "heavy = {'aiohttp', 'click', 'rich', 'pyroute2', 'yaml', 'dataclasses', 'argparse', 'asyncio'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    res = subprocess.run([sys.executable, "-S", "-I", "-c", code], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
