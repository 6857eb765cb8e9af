"""The dockyard CLI's lifecycle, filesystem, network, volume, build and system commands against a real dockyardd."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard.testing.daemon import DaemonProcess

pytestmark = [pytest.mark.root, pytest.mark.compat]

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def dy(clean_daemon: DaemonProcess) -> Iterator[Run]:
    """The CLI as a subprocess; networks, volumes and images made through it are removed afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env["DOCKYARD_HOST"] = clean_daemon.host

    def run(*args: str, input: str = "", timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dockyard.cli", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )

    yield run
    clean_daemon.remove_all_containers()
    for kind, names in (
        ("network", ("dytest-n1", "dytest-n2")),
        ("volume", ("dytest-v1",)),
        ("image", ("dytest-snap:1",)),
    ):
        for name in names:
            with contextlib.suppress(subprocess.TimeoutExpired):
                run(kind, "rm", "-f", name)
    with contextlib.suppress(subprocess.TimeoutExpired):
        run("rmi", "-f", "dytest-built:1")


def _ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, (r.args, r.stdout, r.stderr)
    return r.stdout


def _start(dy: Run, name: str) -> None:
    _ok(dy("run", "-d", "--name", name, "busybox", "sleep", "300"))


def test_pause_top_rename_update_restart(dy: Run) -> None:
    _start(dy, "dytest-c1")
    assert _ok(dy("pause", "dytest-c1")) == "dytest-c1\n"
    assert "(Paused)" in _ok(dy("ps", "--filter", "name=dytest-c1", "--format", "{{.Status}}"))
    assert _ok(dy("unpause", "dytest-c1")) == "dytest-c1\n"
    top = _ok(dy("top", "dytest-c1")).splitlines()
    assert top[0].split()[:2] == ["UID", "PID"] and top[1].endswith("sleep 300")
    assert _ok(dy("rename", "dytest-c1", "dytest-c2")) == ""
    assert _ok(dy("inspect", "-f", "{{.Name}}", "dytest-c2")) == "/dytest-c2\n"
    _ok(dy("update", "--restart", "on-failure:2", "dytest-c2"))
    policy = _ok(
        dy(
            "inspect",
            "-f",
            "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}",
            "dytest-c2",
        )
    )
    assert policy == "on-failure 2\n"
    before = _ok(dy("inspect", "-f", "{{.State.StartedAt}}", "dytest-c2"))
    assert _ok(dy("restart", "-t", "1", "dytest-c2")) == "dytest-c2\n"
    assert _ok(dy("inspect", "-f", "{{.State.Running}} {{.State.StartedAt}}", "dytest-c2")) != "true " + before
    r = dy("pause", "dytest-nosuch")
    assert r.returncode == 1 and "No such container" in r.stderr


def test_cp_diff_export_commit(dy: Run, tmp_path: Path) -> None:
    _start(dy, "dytest-fs")
    (tmp_path / "in.txt").write_text("to the container\n")
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "t.txt").write_text("tree file\n")
    _ok(dy("cp", str(tmp_path / "in.txt"), "dytest-fs:/tmp/"))
    _ok(dy("cp", str(tmp_path / "tree"), "dytest-fs:/tmp/newtree"))
    _ok(dy("cp", "dytest-fs:/tmp/in.txt", str(tmp_path / "back.txt")))
    assert (tmp_path / "back.txt").read_text() == "to the container\n"
    _ok(dy("cp", "dytest-fs:/tmp/newtree", str(tmp_path / "out")))
    assert (tmp_path / "out" / "sub" / "t.txt").read_text() == "tree file\n"
    changes = _ok(dy("diff", "dytest-fs")).splitlines()
    assert "A /tmp/in.txt" in changes and "A /tmp/newtree/sub/t.txt" in changes
    _ok(dy("export", "-o", str(tmp_path / "fs.tar"), "dytest-fs"))
    with tarfile.open(tmp_path / "fs.tar") as tf:
        names = {n.lstrip("./") for n in tf.getnames()}
    assert {"tmp/in.txt", "bin/busybox"} <= names
    image_id = _ok(dy("commit", "-m", "snapshot", "-c", "CMD cat /tmp/in.txt", "dytest-fs", "dytest-snap:1")).strip()
    assert image_id.startswith("sha256:")
    assert _ok(dy("run", "--rm", "dytest-snap:1")) == "to the container\n"


def test_network_and_volume_groups(dy: Run) -> None:
    net_id = _ok(dy("network", "create", "--subnet", "10.231.7.0/24", "--label", "t=1", "dytest-n1")).strip()
    assert net_id in _ok(dy("network", "ls", "-q", "--no-trunc"))
    ipam = json.loads(_ok(dy("network", "inspect", "-f", "{{json .IPAM.Config}}", "dytest-n1")))
    assert ipam[0]["Subnet"] == "10.231.7.0/24"
    _start(dy, "dytest-netc")
    _ok(dy("network", "connect", "--alias", "dbalias", "dytest-n1", "dytest-netc"))
    r = dy("network", "rm", "dytest-n1")
    assert r.returncode == 1 and r.stderr.startswith("Error response from daemon:")
    _ok(dy("network", "disconnect", "dytest-n1", "dytest-netc"))
    assert _ok(dy("network", "rm", "dytest-n1")) == "dytest-n1\n"
    assert _ok(dy("volume", "create", "--label", "k=v", "dytest-v1")) == "dytest-v1\n"
    assert "dytest-v1" in _ok(dy("volume", "ls", "-q")).split()
    _ok(dy("run", "--rm", "-v", "dytest-v1:/data", "busybox", "sh", "-c", "echo kept > /data/f"))
    assert _ok(dy("run", "--rm", "--mount", "type=volume,src=dytest-v1,dst=/d,readonly", "busybox", "cat", "/d/f")) == (
        "kept\n"
    )
    assert _ok(dy("volume", "inspect", "-f", "{{.Labels}}", "dytest-v1")) == "map[k:v]\n"
    assert _ok(dy("volume", "rm", "dytest-v1")) == "dytest-v1\n"


def test_run_flags_reach_the_container(dy: Run) -> None:
    out = _ok(
        dy(
            "run", "--rm", "--add-host", "dyhost:10.1.2.3", "--dns", "10.9.9.9", "--memory", "64m",
            "--pids-limit", "64", "--hostname", "flagged", "busybox",
            "sh", "-c", "grep dyhost /etc/hosts; grep nameserver /etc/resolv.conf; hostname",
        )
    )  # fmt: skip
    lines = out.split("\n")
    assert lines[0].split() == ["10.1.2.3", "dyhost"] and "10.9.9.9" in lines[1] and lines[2] == "flagged"
    cid = _ok(dy("create", "--memory", "64m", "--cpus", "0.5", "--restart", "always", "busybox", "true")).strip()
    fmt = "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.RestartPolicy.Name}}"
    assert _ok(dy("inspect", "-f", fmt, cid)) == f"{64 << 20} 500000000 always\n"


def test_build_stats_df_events_prune(dy: Run, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY keep.txt /keep.txt\nCMD cat /keep.txt\n")
    (ctx / "keep.txt").write_text("from the context\n")
    (ctx / "skip.txt").write_text("ignored\n")
    (ctx / ".dockerignore").write_text("skip.txt\n")
    since = str(time.time() - 1)
    out = _ok(dy("build", "-t", "dytest-built:1", str(ctx)))
    assert "Step 2/3 : COPY keep.txt /keep.txt" in out and out.rstrip().endswith("Successfully tagged dytest-built:1")
    assert _ok(dy("run", "--rm", "dytest-built:1")) == "from the context\n"
    r = dy("run", "--rm", "dytest-built:1", "cat", "/skip.txt")
    assert r.returncode != 0
    quiet = _ok(dy("build", "-q", "-t", "dytest-built:1", str(ctx))).strip()
    assert quiet == _ok(dy("image", "inspect", "-f", "{{.Id}}", "dytest-built:1")).strip()
    _start(dy, "dytest-stats")
    row = _ok(dy("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "dytest-stats")).split()
    assert row[0] == "dytest-stats" and int(row[1]) >= 1
    df = _ok(dy("system", "df")).splitlines()
    assert df[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"] and df[1].startswith("Images")
    events = _ok(dy("events", "--since", since, "--until", str(time.time()), "--filter", "type=container"))
    assert " container start " in events and "name=dytest-stats" in events
    _ok(dy("stop", "-t", "1", "dytest-stats"))
    pruned = _ok(dy("container", "prune", "-f"))
    assert "Deleted Containers:" in pruned and "Total reclaimed space:" in pruned


def test_mount_network_and_security_flags(dy: Run) -> None:
    anon = _ok(dy("run", "--rm", "-v", "/anon", "busybox", "sh", "-c", "grep -c ' /anon ' /proc/mounts"))
    assert anon == "1\n"
    r = dy("run", "--rm", "--read-only", "--tmpfs", "/scratch:size=1m", "busybox",
           "sh", "-c", "touch /scratch/ok && echo tmpfs-ok; touch /nope")  # fmt: skip
    assert r.returncode == 1 and r.stdout == "tmpfs-ok\n" and "Read-only file system" in r.stderr
    _ok(dy("run", "-d", "--name", "dytest-src", "-v", "/shared", "busybox", "sleep", "300"))
    _ok(dy("run", "--rm", "--volumes-from", "dytest-src", "busybox", "sh", "-c", "echo via-volumes-from > /shared/f"))
    assert (
        _ok(dy("run", "--rm", "--volumes-from", "dytest-src:ro", "busybox", "cat", "/shared/f")) == "via-volumes-from\n"
    )
    _ok(dy("run", "-d", "--name", "dytest-pub", "-p", "127.0.0.1:18931:80", "busybox", "sleep", "300"))
    assert _ok(dy("port", "dytest-pub")) == "80/tcp -> 127.0.0.1:18931\n"
    assert _ok(dy("port", "dytest-pub", "80/tcp")) == "127.0.0.1:18931\n"
    _ok(dy("network", "create", "dytest-n2"))
    _ok(dy("run", "-d", "--name", "dytest-svc", "--network", "dytest-n2", "--network-alias", "svcalias", "busybox",
           "sleep", "300"))  # fmt: skip
    ip = _ok(dy("inspect", "-f", "{{json .NetworkSettings.Networks}}", "dytest-svc"))
    address = json.loads(ip)["dytest-n2"]["IPAddress"]
    looked_up = _ok(dy("run", "--rm", "--network", "dytest-n2", "busybox", "nslookup", "svcalias", "127.0.0.11"))
    assert f"Address: {address}" in looked_up
    init = _ok(
        dy("run", "--rm", "--init", "--ulimit", "nofile=123:456", "busybox", "sh", "-c", "ulimit -n; ps -o comm")
    )
    assert init.split()[0] == "123" and init.split()[2] != "sh"  # PID 1 is the init, not the shell
