"""The dockyard CLI against a real dockyardd (temp socket, data-root and exec-root)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.client import Client
from dockyard.testing.daemon import DaemonProcess

pytestmark = [pytest.mark.root, pytest.mark.compat]

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def dy(clean_daemon: DaemonProcess) -> Run:
    """The dockyard CLI as a subprocess against the session's dockyardd."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env["DOCKYARD_HOST"] = clean_daemon.host

    def run(*args: str, input: str | bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dockyard.cli", *args],
            input=input or "",
            capture_output=True,
            text=not isinstance(input, bytes),
            timeout=timeout,
            env=env,
        )

    return run


@pytest.fixture
def client(clean_daemon: DaemonProcess) -> Client:
    return Client(clean_daemon.host, timeout=60)


def test_run_output_and_exit_codes(dy: Run) -> None:
    r = dy("run", "--rm", "busybox", "echo", "hello")
    assert (r.returncode, r.stdout) == (0, "hello\n"), r.stderr
    r = dy("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")


def test_run_stdin_is_forwarded_then_closed(dy: Run) -> None:
    r = dy("run", "--rm", "-i", "busybox", "sh", "-c", "wc -l; echo done", input="a\nb\nc\n")
    assert (r.returncode, r.stdout.split()) == (0, ["3", "done"]), r.stderr
    r = dy("run", "--rm", "-i", "busybox", "cat", input="piped through\n")
    assert (r.returncode, r.stdout) == (0, "piped through\n")


def test_run_options_reach_the_process(dy: Run) -> None:
    r = dy(
        "run", "--rm", "-e", "GREETING=hi", "-w", "/tmp", "--hostname", "boat",
        "busybox", "sh", "-c", 'echo "$GREETING $(pwd) $(hostname)"',
    )  # fmt: skip
    assert (r.returncode, r.stdout) == (0, "hi /tmp boat\n"), r.stderr
    r = dy("create", "--name", "dy-conf", "-u", "1234", "--entrypoint", "/bin/echo", "-l", "a=b", "busybox", "x")
    assert r.returncode == 0, r.stderr
    fmt = "{{.Config.User}} {{json .Config.Entrypoint}} {{json .Config.Cmd}} {{.Config.Labels.a}} {{.State.Status}}"
    assert dy("inspect", "-f", fmt, "dy-conf").stdout == '1234 ["/bin/echo"] ["x"] b created\n'


def test_create_then_start_attached(dy: Run) -> None:
    r = dy("create", "--name", "dy-later", "busybox", "sh", "-c", "echo later; exit 7")
    assert r.returncode == 0, r.stderr
    r = dy("start", "-a", "dy-later", timeout=15)
    assert (r.returncode, r.stdout) == (7, "later\n"), r.stderr
    assert dy("wait", "dy-later").stdout == "7\n"


def test_rm_flag_removes_the_container(dy: Run, client: Client) -> None:
    r = dy("run", "--rm", "--name", "dy-gone", "busybox", "true")
    assert r.returncode == 0, r.stderr
    with pytest.raises(errors.NotFound):
        client.inspect_container("dy-gone")


def test_detached_lifecycle(dy: Run) -> None:
    r = dy("run", "-d", "--name", "dy-bg", "-l", "role=test", "busybox", "sh", "-c", "echo started; sleep 60")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    try:
        assert dy("ps", "--format", "{{.ID}} {{.Names}} {{.Labels}}").stdout.splitlines() == [
            f"{cid[:12]} dy-bg role=test"
        ]
        deadline = time.monotonic() + 10
        while "started" not in dy("logs", "dy-bg").stdout and time.monotonic() < deadline:
            time.sleep(0.05)
        assert dy("logs", "dy-bg").stdout == "started\n"
        assert dy("inspect", "-f", "{{.State.Running}}", "dy-bg").stdout == "true\n"
        rm = dy("rm", "dy-bg")
        assert rm.returncode == 1 and rm.stderr.startswith("Error response from daemon:")
        assert dy("stop", "-t", "1", "dy-bg").stdout == "dy-bg\n"
        assert dy("inspect", "-f", "{{.State.Status}}", "dy-bg").stdout == "exited\n"
        assert dy("ps", "-q").stdout == ""
        assert dy("ps", "-aq", "--no-trunc").stdout.split() == [cid]
    finally:
        dy("rm", "-f", "dy-bg")
    assert dy("ps", "-aq").stdout == ""


def test_missing_image_exits_125(dy: Run) -> None:
    r = dy("run", "--rm", "no-such-image-here")
    assert r.returncode == 125
    assert "Unable to find image 'no-such-image-here:latest' locally" in r.stderr


def test_image_commands(dy: Run, tmp_path: Path) -> None:
    assert dy("tag", "busybox", "dy-copy:1").returncode == 0
    ids = dy("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout.splitlines()
    assert len({line.split()[1] for line in ids if line.startswith(("busybox:latest", "dy-copy:1"))}) == 1
    archive = tmp_path / "copy.tar"
    r = dy("save", "-o", str(archive), "dy-copy:1")
    assert r.returncode == 0, r.stderr
    with tarfile.open(archive) as tf:
        assert "index.json" in tf.getnames() or "manifest.json" in tf.getnames()
    assert "Untagged: dy-copy:1" in dy("rmi", "dy-copy:1").stdout
    r = dy("load", "-i", str(archive))
    assert r.returncode == 0 and "dy-copy:1" in r.stdout, r.stderr
    assert dy("run", "--rm", "dy-copy:1", "echo", "loaded").stdout == "loaded\n"
    assert dy("rmi", "dy-copy:1").returncode == 0


def test_import_from_stdin(dy: Run) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = b"imported\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    r = dy("import", "-", "dy-imported:1", input=buf.getvalue())
    assert r.returncode == 0, r.stderr
    doc = json.loads(dy("inspect", "--type", "image", "dy-imported:1").stdout)
    assert doc[0]["RepoTags"] == ["dy-imported:1"]
    assert dy("rmi", "dy-imported:1").returncode == 0


def test_logs_follow_kill_wait_and_filters(dy: Run) -> None:
    r = dy("run", "-d", "--name", "dy-count", "busybox", "sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.1; done")
    assert r.returncode == 0, r.stderr
    assert dy("logs", "-f", "dy-count", timeout=30).stdout == "1\n2\n3\n"  # follows until the container exits
    assert dy("logs", "--tail", "1", "dy-count").stdout == "3\n"
    stamped = dy("logs", "-t", "dy-count").stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == ["1", "2", "3"]
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$", line.split(" ", 1)[0]) for line in stamped)
    dy("run", "-d", "--name", "dy-sleeper", "busybox", "sleep", "30")
    names = dy("ps", "-a", "--filter", "status=running", "--format", "{{.Names}}").stdout.split()
    assert names == ["dy-sleeper"]
    assert dy("ps", "-a", "--filter", "name=dy-count", "--format", "{{.Names}}").stdout.split() == ["dy-count"]
    assert dy("kill", "dy-sleeper").stdout == "dy-sleeper\n"
    assert dy("wait", "dy-sleeper").stdout == "137\n"


def test_rmi_of_an_image_in_use_is_refused(dy: Run) -> None:
    assert dy("tag", "busybox", "dy-used:1").returncode == 0
    assert dy("create", "--name", "dy-user", "dy-used:1", "true").returncode == 0
    assert dy("tag", "busybox", "dy-other:1").returncode == 0
    assert dy("rmi", "dy-other:1").stdout == "Untagged: dy-other:1\n"  # other tags remain: only untagged
    # Another tag is only untagged, used or not; the last name of an image in use stays.
    r = dy("rmi", "dy-used:1", "busybox")
    assert (r.returncode, r.stdout) == (1, "Untagged: dy-used:1\n")
    assert r.stderr.startswith("Error response from daemon:")
    assert dy("images", "-q", "busybox").stdout.strip()
    assert dy("rm", "dy-user").returncode == 0


def test_run_it_on_a_terminal(clean_daemon: DaemonProcess) -> None:
    pexpect = pytest.importorskip("pexpect")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env["DOCKYARD_HOST"] = clean_daemon.host
    child = pexpect.spawn(
        sys.executable, ["-m", "dockyard.cli", "run", "-it", "--rm", "busybox", "sh"], env=env, dimensions=(30, 90),
        timeout=30,
    )  # fmt: skip
    try:
        child.expect(r"[#$] ")
        child.send("stty size; echo $((6*7))\r")
        child.expect("30 90")
        child.expect("42")
        child.send("exit 5\r")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 5
    finally:
        child.close(force=True)


def test_save_to_stdout_and_load_from_stdin(dy: Run) -> None:
    assert dy("tag", "busybox", "dy-piped:1").returncode == 0
    saved = dy("save", "dy-piped:1", input=b"")
    assert saved.returncode == 0, saved.stderr
    with tarfile.open(fileobj=io.BytesIO(saved.stdout)) as tf:  # type: ignore[arg-type]
        assert tf.getnames()
    assert dy("rmi", "dy-piped:1").returncode == 0
    loaded = dy("load", "-q", input=saved.stdout)
    assert loaded.returncode == 0, loaded.stderr
    assert b"dy-piped:1" in loaded.stdout  # type: ignore[operator]
    assert dy("rmi", "dy-piped:1").returncode == 0
