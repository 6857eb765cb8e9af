"""The dockyard CLI, as a real subprocess, against an in-process fake Engine API."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard.cli.main import main
from dockyard.client.fake_engine import FakeEngine

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def sockdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="dyc", dir="/tmp"))  # short: unix socket paths are limited
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def engine(sockdir: Path) -> Iterator[FakeEngine]:
    with FakeEngine(str(sockdir / "d.sock")) as eng:
        yield eng


def _env(host: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    return {**env, "DOCKYARD_HOST": host, **extra}


@pytest.fixture
def dy(engine: FakeEngine) -> Run:
    def run(
        *args: str, input: str | None = None, env_extra: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dockyard.cli", *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            timeout=30,
            env=_env("unix://" + engine.socket_path, **(env_extra or {})),
        )

    return run


def test_run_attaches_and_waits_before_start(dy: Run, engine: FakeEngine) -> None:
    r = dy("run", "busybox", "echo", "hello", "world")
    assert (r.returncode, r.stdout, r.stderr) == (0, "hello world\n", "")
    kinds = [p.split("?")[0].rsplit("/", 1)[-1] for _, p in engine.requests if p.startswith("/containers/")]
    assert kinds[:4] == ["create", "attach", "wait", "start"], kinds
    assert "condition=next-exit" in next(p for _, p in engine.requests if "/wait" in p)


def test_run_exit_code_and_stderr(dy: Run) -> None:
    r = dy("run", "busybox", "fail", "3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "", "failing\n")


def test_run_interactive_forwards_stdin_then_eof(dy: Run) -> None:
    r = dy("run", "-i", "busybox", "cat", input="line 1\nline 2\n")
    assert (r.returncode, r.stdout) == (0, "line 1\nline 2\n")


def test_run_rm_waits_for_removal(dy: Run, engine: FakeEngine) -> None:
    r = dy("run", "--rm", "--name", "gone", "busybox", "echo", "x")
    assert (r.returncode, r.stdout) == (0, "x\n")
    assert any("condition=removed" in p for _, p in engine.requests)
    assert engine.find_container("gone") is None


def test_run_detached_prints_id_then_stop_rm(dy: Run, engine: FakeEngine) -> None:
    r = dy("run", "-d", "--name", "bg", "-e", "A=1", "-l", "k=v", "busybox", "sleep")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    c = engine.containers[cid]
    assert (c.status, c.config["Env"], c.config["Labels"]) == ("running", ["A=1"], {"k": "v"})
    assert dy("ps", "--format", "{{.Names}} {{.Status}}").stdout.startswith("bg Up")
    r = dy("rm", "bg")
    assert r.returncode == 1 and "You cannot remove a running container" in r.stderr
    assert (dy("stop", "bg").stdout, c.status) == ("bg\n", "exited")
    assert dy("wait", "bg").stdout == "143\n"
    r = dy("rm", "bg", "nosuch")
    assert (r.returncode, r.stdout) == (1, "bg\n")
    assert r.stderr == "Error response from daemon: No such container: nosuch\n"
    assert cid not in engine.containers


def test_run_missing_image_tries_pull_then_fails_125(dy: Run, engine: FakeEngine) -> None:
    r = dy("run", "nosuch")
    assert r.returncode == 125
    assert r.stderr.startswith("Unable to find image 'nosuch:latest' locally\n")
    assert "dockyard: Error response from daemon: pull access denied" in r.stderr
    assert any(p.startswith("/images/create?fromImage=nosuch") for _, p in engine.requests)


def test_unreachable_daemon_says_how_to_start_it(sockdir: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "dockyard.cli", "ps"],
        capture_output=True,
        text=True,
        timeout=30,
        env=_env(f"unix://{sockdir}/none.sock"),
    )
    assert r.returncode == 1
    assert f"Cannot connect to the dockyard daemon at unix://{sockdir}/none.sock" in r.stderr
    assert "dockyardd" in r.stderr


def test_autostart_starts_dockyardd_and_retries(sockdir: Path) -> None:
    bindir = sockdir / "bin"
    bindir.mkdir()
    pidfile = sockdir / "fake.pid"
    script = bindir / "dockyardd"
    script.write_text(
        textwrap.dedent(f"""\
        #!{sys.executable}
        import os, sys, threading
        from dockyard.client.fake_engine import FakeEngine
        open({str(pidfile)!r}, "w").write(str(os.getpid()))
        FakeEngine(sys.argv[sys.argv.index("--host") + 1].removeprefix("unix://")).start()
        threading.Event().wait(60)
        """)
    )
    script.chmod(0o755)
    host = f"unix://{sockdir}/auto.sock"
    env = _env(host, DOCKYARD_AUTOSTART="1")
    env["PATH"] = f"{bindir}:{env['PATH']}"
    try:
        r = subprocess.run(
            [sys.executable, "-m", "dockyard.cli", "images", "-q"], capture_output=True, text=True, timeout=30, env=env
        )
        assert r.returncode == 0, r.stderr
        assert "starting" in r.stderr and "dockyardd" in r.stderr
        assert re.fullmatch(r"[0-9a-f]{12}\n", r.stdout)
    finally:
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def test_ps_modes(dy: Run, engine: FakeEngine) -> None:
    ids = [dy("run", "-d", "--name", n, "busybox", "echo", n).stdout.strip() for n in ("first", "second")]
    for cid in ids:
        assert engine.containers[cid].exited.wait(5)
    assert dy("ps", "-q").stdout == ""  # none running
    assert sorted(dy("ps", "-aq").stdout.split()) == sorted(i[:12] for i in ids)
    assert len(dy("ps", "-a", "-q", "--no-trunc").stdout.split()[0]) == 64
    assert dy("ps", "-l", "--format", "{{.Names}}").stdout.strip() in ("first", "second")
    lines = dy("ps", "-a").stdout.splitlines()
    assert lines[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    assert len(lines) == 3
    rows = [json.loads(x) for x in dy("ps", "-a", "--format", "json").stdout.splitlines()]
    assert {r["Names"] for r in rows} == {"first", "second"}
    assert {r["Command"] for r in rows} == {'"echo first"', '"echo second"'}
    r = dy("ps", "-a", "--format", "table {{.Names}}\\t{{.State}}")
    assert r.stdout.splitlines()[0] == "NAMES     STATE"


def test_logs_keep_streams_apart(dy: Run) -> None:
    dy("run", "--name", "l", "busybox", "fail", "2")
    r = dy("logs", "l")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "failing\n")


def test_inspect(dy: Run) -> None:
    dy("run", "--name", "i", "busybox", "fail", "5")
    assert dy("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "i").stdout == "exited 5\n"
    doc = json.loads(dy("inspect", "i", "busybox").stdout)
    assert [d["Id"][:7] == "sha256:" for d in doc] == [False, True]
    r = dy("inspect", "nosuch")
    assert (r.returncode, r.stderr) == (1, "Error: No such object: nosuch\n")
    r = dy("inspect", "--type", "container", "busybox")
    assert (r.returncode, r.stderr) == (1, "Error: No such container: busybox\n")


def test_image_commands(dy: Run, engine: FakeEngine, sockdir: Path) -> None:
    assert dy("tag", "busybox", "mine:1").returncode == 0
    out = dy("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert sorted(out) == ["busybox:latest", "mine:1"]
    assert dy("rmi", "mine:1").stdout == "Untagged: mine:1\n"
    tar = sockdir / "out.tar"
    r = dy("save", "-o", str(tar), "busybox")
    assert r.returncode == 0 and tar.read_bytes() == b"FAKETAR busybox"
    tar.write_bytes(b"FAKETAR again:2")
    assert dy("load", "-i", str(tar)).stdout == "Loaded image: again:2\n"
    r = dy("import", "-", "imp:3", input="some tar bytes")
    assert r.returncode == 0 and r.stdout.startswith("sha256:")
    assert engine.find_image("imp:3") is not None
    assert dy("image", "bootstrap", "busybox", "--tag", "bb:boot").stdout.splitlines() == [
        "Bootstrapping busybox",
        "Tagged bb:boot",
    ]
    r = dy("rmi", "nosuch")
    assert (r.returncode, r.stderr) == (1, "Error response from daemon: No such image: nosuch\n")


def test_usage_errors_exit_like_docker(dy: Run) -> None:
    assert dy("ps", "--bogus").returncode == 125
    assert dy("rm").returncode == 1
    assert dy("run", "-e", "=bad", "busybox").returncode == 125


def test_version_shows_both_sides(dy: Run) -> None:
    out = dy("version").stdout
    assert "Client:" in out and "0.0-fake" in out


def test_registry_delegates(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, list[str]]] = []

    def serve_main(argv: list[str]) -> int:
        seen.append(("serve", argv))
        return 0

    def gc_main(argv: list[str]) -> int:
        seen.append(("gc", argv))
        return 3

    fake = types.ModuleType("dockyard.registry.main")
    fake.serve_main = serve_main  # type: ignore[attr-defined]
    fake.gc_main = gc_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dockyard.registry.main", fake)
    assert main(["registry", "serve", "--addr", "127.0.0.1:5000", "--help"]) == 0
    assert main(["registry", "gc", "/data"]) == 3
    assert seen == [("serve", ["--addr", "127.0.0.1:5000", "--help"]), ("gc", ["/data"])]


def test_env_file_and_env_flags(dy: Run, engine: FakeEngine, sockdir: Path) -> None:
    envfile = sockdir / "vars.env"
    envfile.write_text("# comment\nFROM_FILE=1\nFROM_HOST\n")
    r = dy("create", "--env-file", str(envfile), "-e", "LATER=2", "busybox", env_extra={"FROM_HOST": "h"})
    assert r.returncode == 0, r.stderr
    c = engine.containers[r.stdout.strip()]
    assert c.config["Env"] == ["FROM_FILE=1", "FROM_HOST=h", "LATER=2"]
    r = dy("create", "--env-file", str(sockdir / "missing.env"), "busybox")
    assert r.returncode == 1 and "missing.env" in r.stderr


def test_signals_to_the_cli_reach_the_container(engine: FakeEngine) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockyard.cli", "run", "--name", "sig", "busybox", "sleep"],
        env=_env("unix://" + engine.socket_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # bounded: until run has attached and started
            c = engine.find_container("sig")
            if c is not None and c.status == "running" and c.attached:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 143  # the container's exit code, not the CLI dying of the signal
        assert engine.find_container("sig").stop_signal == "SIGTERM"  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()


def test_exec_in_a_running_container(dy: Run, engine: FakeEngine) -> None:
    assert dy("run", "-d", "--name", "host", "busybox", "sleep").returncode == 0
    r = dy("exec", "host", "echo", "from", "exec")
    assert (r.returncode, r.stdout) == (0, "from exec\n")
    r = dy("exec", "-i", "-e", "A=1", "-w", "/tmp", "-u", "7", "host", "cat", input="fed\n")
    assert (r.returncode, r.stdout) == (0, "fed\n")
    ex = next(e for e in engine.execs.values() if e.config["Cmd"] == ["cat"])
    assert (ex.config["Env"], ex.config["WorkingDir"], ex.config["User"], ex.config["AttachStdin"]) == (
        ["A=1"],
        "/tmp",
        "7",
        True,
    )
    r = dy("exec", "host", "fail", "9")
    assert (r.returncode, r.stdout, r.stderr) == (9, "", "failing\n")
    assert dy("exec", "-d", "host", "echo", "bg").stdout == ""
    dy("stop", "host")
    r = dy("exec", "host", "echo")
    assert r.returncode == 1 and "is not running" in r.stderr


def test_help_without_a_command_is_not_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert capsys.readouterr().out.startswith("Usage: dockyard")
    assert main(["image"]) == 0
    assert "bootstrap" in capsys.readouterr().out


def test_version_without_daemon_shows_client_then_fails(sockdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-H", f"unix://{sockdir}/none.sock", "version"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("Client:\n") and "Server:" not in out
    assert "Cannot connect to the dockyard daemon" in err
