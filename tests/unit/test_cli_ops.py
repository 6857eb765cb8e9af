"""The new container, network, volume and system commands, in-process against the fake Engine API."""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard.cli.main import main
from dockyard.client.fake_engine import FakeContainer, FakeEngine

Dy = Callable[..., tuple[int, str, str]]


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    d = tempfile.mkdtemp(prefix="dyo", dir="/tmp")  # short: unix socket paths are limited
    try:
        with FakeEngine(os.path.join(d, "d.sock")) as eng:
            yield eng
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def dy(engine: FakeEngine, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> Dy:
    monkeypatch.setenv("DOCKYARD_HOST", engine.host)

    def run(*args: str, stdin: str | bytes = "") -> tuple[int, str, str]:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        fake_in = io.TextIOWrapper(io.BytesIO(data))
        monkeypatch.setattr(sys, "stdin", fake_in)
        rc = main(list(args))
        out, err = capfd.readouterr()
        return rc, out, err

    return run


def _running(engine: FakeEngine, dy: Dy, name: str = "web") -> FakeContainer:
    rc, _, err = dy("run", "-d", "--name", name, "busybox", "sleep")
    assert rc == 0, err
    c = engine.find_container(name)
    assert c is not None
    deadline = time.monotonic() + 10
    while c.status != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    return c


def test_pause_unpause_restart_rename(dy: Dy, engine: FakeEngine) -> None:
    c = _running(engine, dy)
    assert dy("pause", "web") == (0, "web\n", "")
    assert c.id in engine.resources.paused
    rc, _, err = dy("pause", "web")
    assert rc == 1 and "already paused" in err
    assert dy("container", "unpause", "web") == (0, "web\n", "")
    assert c.id not in engine.resources.paused
    assert dy("restart", "-t", "3", "web")[0] == 0
    assert engine.resources.restarts == [(c.id, "3")]
    assert dy("rename", "web", "web2") == (0, "", "")
    assert c.name == "web2"
    rc, _, err = dy("restart", "nosuch")
    assert rc == 1 and "No such container: nosuch" in err


def test_update_body_and_errors(dy: Dy, engine: FakeEngine) -> None:
    c = _running(engine, dy)
    rc, out, _ = dy(
        "update", "--memory", "64m", "--cpus", "0.5", "--restart", "on-failure:3", "--pids-limit", "50", "web"
    )
    assert (rc, out) == (0, "web\n")
    assert engine.resources.updates[c.id] == [
        {
            "Memory": 64 << 20,
            "NanoCpus": 500_000_000,
            "PidsLimit": 50,
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
        }
    ]
    rc, _, err = dy("update", "web")
    assert rc == 1 and "one or more flags" in err
    rc, _, err = dy("update", "--restart", "sometimes", "web")
    assert rc == 1 and "sometimes" in err


def test_top_port_diff(dy: Dy, engine: FakeEngine) -> None:
    c = _running(engine, dy)
    rc, out, _ = dy("top", "web")
    lines = out.splitlines()
    assert rc == 0 and lines[0].split() == ["UID", "PID", "CMD"] and lines[1].split() == ["root", "4242", "sleep"]
    c.config["HostConfig"] = {}
    # `port` reads NetworkSettings from inspect: give the fake container some.
    orig = c.inspect
    ports = {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "53/udp": None}
    c.inspect = lambda: {**orig(), "NetworkSettings": {"Ports": ports}}  # type: ignore[method-assign]
    assert dy("port", "web") == (0, "80/tcp -> 0.0.0.0:8080\n", "")
    assert dy("port", "web", "80") == (0, "0.0.0.0:8080\n", "")
    rc, _, err = dy("port", "web", "53/udp")
    assert rc == 1 and "No public port '53/udp' published for web" in err
    Path(engine.resources.rootfs(c.id), "new.txt").write_text("x")
    assert dy("diff", "web") == (0, "C /etc\nA /new.txt\n", "")


def test_export_commit(dy: Dy, engine: FakeEngine, tmp_path: Path) -> None:
    c = _running(engine, dy)
    Path(engine.resources.rootfs(c.id), "data.txt").write_text("payload")
    out_file = tmp_path / "fs.tar"
    assert dy("export", "-o", str(out_file), "web") == (0, "", "")
    with tarfile.open(out_file) as tf:
        assert "data.txt" in tf.getnames()
        f = tf.extractfile("data.txt")
        assert f is not None and f.read() == b"payload"
    assert not list(tmp_path.glob("*.tmp-*"))
    rc, out, _ = dy("commit", "-a", "me", "-m", "msg", "-c", "ENV A=1", "--pause=false", "web", "snap:v1")
    assert rc == 0 and out.startswith("sha256:")
    img = engine.images[out.strip()]
    assert (img.tags, img.comment, img.author, img.changes, img.pause) == (["snap:v1"], "msg", "me", ["ENV A=1"], "0")


def test_container_prune(dy: Dy, engine: FakeEngine) -> None:
    _running(engine, dy, "keep")
    assert dy("create", "--name", "dead", "busybox", "echo")[0] == 0
    dead = engine.find_container("dead")
    assert dead is not None
    rc, out, _ = dy("container", "prune", stdin="n\n")
    assert rc == 0 and "Are you sure" in out and engine.find_container("dead") is not None
    rc, out, _ = dy("container", "prune", "-f")
    assert rc == 0 and out == f"Deleted Containers:\n{dead.id}\n\nTotal reclaimed space: 1kB\n"
    assert engine.find_container("dead") is None and engine.find_container("keep") is not None


def test_network_group(dy: Dy, engine: FakeEngine) -> None:
    rc, out, err = dy(
        "network", "create", "--subnet", "10.9.0.0/24", "--gateway", "10.9.0.1", "--ip-range", "10.9.0.128/25",
        "--internal", "--label", "a=b", "-o", "com.docker.network.driver.mtu=1400", "net1",
    )  # fmt: skip
    assert rc == 0, err
    net = engine.resources.networks["net1"]
    assert out.strip() == net["Id"]
    assert net["IPAM"]["Config"] == [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1", "IPRange": "10.9.0.128/25"}]
    assert (net["Internal"], net["Labels"], net["Options"]) == (
        True,
        {"a": "b"},
        {"com.docker.network.driver.mtu": "1400"},
    )
    rc, out, _ = dy("network", "ls")
    lines = out.splitlines()
    assert lines[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert [ln.split()[1] for ln in lines[1:]] == ["bridge", "host", "net1", "none"]
    assert dy("network", "ls", "-q", "--no-trunc")[1].splitlines()[2] == net["Id"]
    assert dy("network", "inspect", "-f", "{{.Name}} {{.Internal}}", "net1") == (0, "net1 true\n", "")
    rc, _, err = dy("network", "inspect", "nope")
    assert rc == 1 and "No such network: nope" in err
    c = _running(engine, dy)
    assert dy("network", "connect", "--alias", "db", "--ip", "10.9.0.5", "net1", "web") == (0, "", "")
    assert net["Containers"][c.id]["EndpointConfig"] == {"Aliases": ["db"], "IPAMConfig": {"IPv4Address": "10.9.0.5"}}
    rc, _, err = dy("network", "rm", "net1")
    assert rc == 1 and "active endpoints" in err
    assert dy("network", "disconnect", "net1", "web") == (0, "", "")
    assert dy("network", "rm", "net1") == (0, "net1\n", "")
    assert dy("network", "rm", "-f", "net1")[0] == 0
    assert dy("network", "create", "net2")[0] == 0
    assert dy("network", "prune", "-f") == (0, "Deleted Networks:\nnet2\n", "")


def test_volume_group(dy: Dy, engine: FakeEngine) -> None:
    assert dy("volume", "create", "-d", "local", "-o", "type=tmpfs", "-o", "device=tmpfs", "--label", "k=v", "v1") == (
        0,
        "v1\n",
        "",
    )
    vol = engine.resources.volumes["v1"]
    assert (vol["Options"], vol["Labels"]) == ({"type": "tmpfs", "device": "tmpfs"}, {"k": "v"})
    rc, anon, _ = dy("volume", "create")
    assert rc == 0 and len(anon.strip()) == 64
    rc, out, _ = dy("volume", "ls")
    assert out.splitlines()[0].split() == ["DRIVER", "VOLUME", "NAME"]
    assert sorted(ln.split()[1] for ln in out.splitlines()[1:]) == sorted([anon.strip(), "v1"])
    assert dy("volume", "ls", "-q", "-f", "name=v1") == (0, "v1\n", "")
    assert dy("volume", "inspect", "--format", "{{.Mountpoint}}", "v1")[1] == "/var/lib/dockyard/volumes/v1/_data\n"
    assert dy("volume", "rm", "v1") == (0, "v1\n", "")
    rc, _, err = dy("volume", "rm", "v1")
    assert rc == 1 and "no such volume" in err
    rc, out, _ = dy("volume", "prune", "-f")
    assert rc == 0 and out.startswith(f"Deleted Volumes:\n{anon.strip()}\n")
    assert "Total reclaimed space" in out


def test_system_df_and_prune(dy: Dy, engine: FakeEngine) -> None:
    _running(engine, dy)
    dy("volume", "create", "v1")
    rc, out, _ = dy("system", "df")
    lines = [ln.split("  ") for ln in out.splitlines()]
    assert rc == 0 and out.splitlines()[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    rows = {ln[0].strip(): [x.strip() for x in ln if x.strip()] for ln in lines[1:]}
    assert rows["Images"][1:3] == ["1", "1"]
    assert rows["Containers"][1:3] == ["1", "1"]
    assert rows["Local Volumes"][1:4] == ["1", "0", "2.05kB"]
    rc, out, _ = dy("system", "df", "-v")
    assert "Images space usage:" in out and "Local Volumes space usage:" in out and "v1" in out
    assert dy("system", "df", "--format", "{{.Type}}={{.TotalCount}}")[1].splitlines()[0] == "Images=1"
    engine.add_image("", ["sh"]).tags = []
    rc, out, _ = dy("system", "prune", stdin="no\n")
    assert "all dangling images" in out and "Deleted" not in out
    rc, out, _ = dy("system", "prune", "-f", "--volumes")
    assert rc == 0 and "Deleted Images:\ndeleted: sha256:" in out and "Deleted Volumes:\nv1" in out
    assert "Total reclaimed space:" in out


def test_events_filters_and_format(dy: Dy, engine: FakeEngine) -> None:
    c = _running(engine, dy)
    start = time.time() - 1
    dy("pause", "web")
    dy("unpause", "web")
    dy("volume", "create", "v1")
    until = str(time.time() + 1)
    rc, out, _ = dy("events", "--since", str(start), "--until", until)
    lines = out.splitlines()
    assert rc == 0 and len(lines) == 3
    assert lines[0].split()[1:4] == ["container", "pause", c.id] and lines[0].endswith("(name=web)")
    rc, out, _ = dy("events", "--until", until, "--filter", "type=volume", "--format", "{{.Type}}/{{.Action}}")
    assert out == "volume/create\n"
    rc, out, _ = dy("system", "events", "--until", until, "-f", "event=unpause", "--format", "json")
    assert json.loads(out)["Actor"]["Attributes"] == {"name": "web"}


def test_stats_no_stream(dy: Dy, engine: FakeEngine) -> None:
    c = _running(engine, dy)
    rc, out, _ = dy("stats", "--no-stream")
    head, row = out.splitlines()
    assert rc == 0 and head.split("  ")[0] == "CONTAINER ID"
    cols = [x.strip() for x in row.split("   ") if x.strip()]
    # cpu: 1e8/1e9 * 2 cpus; memory: 12MiB minus 4MiB inactive file of 64MiB
    assert cols == [c.id[:12], "web", "20.00%", "8MiB / 64MiB", "12.50%", "1.5kB / 500B", "4.1kB / 0B", "3"]
    fmt = "{{.Name}} {{.CPUPerc}} {{.PIDs}}"
    assert dy("container", "stats", "--no-stream", "--format", fmt, "web") == (0, "web 20.00% 3\n", "")
    rc, _, err = dy("stats", "--no-stream", "nosuch")
    assert rc == 1 and "No such container" in err


def test_stats_live_redraws_until_interrupted(dy: Dy, engine: FakeEngine) -> None:
    import signal
    import subprocess

    _running(engine, dy)
    env = {**os.environ, "DOCKYARD_HOST": engine.host}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockyard.cli", "stats", "--format", "{{.Name}} {{.CPUPerc}}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        seen = b""
        deadline = time.monotonic() + 30
        while seen.count(b"web 20.00%") < 2 and time.monotonic() < deadline:
            seen += os.read(proc.stdout.fileno(), 4096)
        # not a terminal: each refresh clears the screen and prints the table again
        assert seen.count(b"\x1b[2J\x1b[H") >= 2 and seen.count(b"web 20.00%") >= 2
        # without names, containers started meanwhile join the table
        _running(engine, dy, "late")
        while b"late 20.00%" not in seen and time.monotonic() < deadline:
            seen += os.read(proc.stdout.fileno(), 4096)
        assert b"late 20.00%" in seen
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_stats_and_pull_on_a_terminal(dy: Dy, engine: FakeEngine) -> None:
    import pexpect

    _running(engine, dy)
    engine.resources.remote_images["localhost:5000/tty:latest"] = ["f00dface", "beefcafe"]
    env = {**os.environ, "DOCKYARD_HOST": engine.host, "COLUMNS": "120"}
    child = pexpect.spawn(sys.executable, ["-m", "dockyard.cli", "stats"], env=env, timeout=30, encoding="utf-8")
    try:
        child.expect("CONTAINER ID")
        child.expect("20.00%")
        child.expect("8MiB / 64MiB")
        child.sendintr()
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 130 or child.signalstatus is not None
    finally:
        if child.isalive():
            child.terminate(force=True)
    child = pexpect.spawn(
        sys.executable, ["-m", "dockyard.cli", "pull", "localhost:5000/tty"], env=env, timeout=30, encoding="utf-8"
    )
    try:
        child.expect("f00dface: Pull complete")  # a progress line per layer
        child.expect("beefcafe")
        child.expect("localhost:5000/tty:latest")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
    finally:
        if child.isalive():
            child.terminate(force=True)
