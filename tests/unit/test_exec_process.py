"""Exec requests, the exec's OCI process built from the container's, inspect JSON and the store."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard import errors
from dockyard.containers.capabilities import ALL_CAPABILITIES
from dockyard.containers.user import ResolvedUser
from dockyard.engine.exec import (
    ExecConfig,
    ExecRecord,
    ExecStore,
    build_exec_process,
    exec_inspect_json,
    parse_exec_config,
)

BASE: dict[str, Any] = {
    "terminal": False,
    "user": {"uid": 0, "gid": 0, "additionalGids": [0, 10], "umask": 18},
    "args": ["sleep", "1000"],
    "env": ["PATH=/usr/bin:/bin", "HOSTNAME=abc", "APP=1", "HOME=/root"],
    "cwd": "/srv",
    "capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]},
    "noNewPrivileges": True,
    "apparmorProfile": "docker-default",
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "oomScoreAdj": 0,
    "consoleSize": {"height": 10, "width": 10},
}


def test_parse_full_request() -> None:
    cfg = parse_exec_config(
        {
            "Cmd": ["sh", "-c", "echo hi"],
            "Env": ["A=1"],
            "User": "nobody",
            "WorkingDir": "/tmp",
            "Tty": True,
            "Privileged": True,
            "AttachStdin": True,
            "AttachStdout": True,
            "AttachStderr": False,
            "DetachKeys": "ctrl-x",
            "ConsoleSize": [30, 120],
        }
    )
    assert cfg == ExecConfig(
        cmd=("sh", "-c", "echo hi"),
        env=("A=1",),
        user="nobody",
        working_dir="/tmp",
        tty=True,
        privileged=True,
        attach_stdin=True,
        attach_stdout=True,
        attach_stderr=False,
        detach_keys="ctrl-x",
        console_size=(30, 120),
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"Cmd": []},
        {"Cmd": [1]},
        {"Cmd": ["x"], "WorkingDir": "relative"},
        {"Cmd": ["x"], "Env": ["=bad"]},
        {"Cmd": ["x"], "ConsoleSize": [1]},
        {"Cmd": ["x"], "User": 0},
    ],
)
def test_parse_refuses(body: dict[str, Any]) -> None:
    with pytest.raises(errors.InvalidArgument):
        parse_exec_config(body)


def test_process_keeps_container_security_and_applies_exec_settings() -> None:
    cfg = ExecConfig(cmd=("ls", "-l"), env=("APP=2", "NEW=x"), working_dir="/tmp")
    proc = build_exec_process(BASE, cfg)
    assert proc["args"] == ["ls", "-l"]
    assert proc["cwd"] == "/tmp"
    assert proc["env"] == ["PATH=/usr/bin:/bin", "HOSTNAME=abc", "APP=2", "HOME=/root", "NEW=x"]
    assert proc["capabilities"] == BASE["capabilities"]
    assert proc["noNewPrivileges"] is True and proc["apparmorProfile"] == "docker-default"
    assert proc["rlimits"] == BASE["rlimits"]
    assert proc["user"] == BASE["user"]
    assert proc["terminal"] is False
    assert "consoleSize" not in proc
    assert BASE["args"] == ["sleep", "1000"]  # the container's spec is not touched


def test_default_cwd_is_the_containers() -> None:
    assert build_exec_process(BASE, ExecConfig(cmd=("pwd",)))["cwd"] == "/srv"
    assert build_exec_process({}, ExecConfig(cmd=("pwd",)))["cwd"] == "/"


def test_tty_adds_term_unless_set() -> None:
    proc = build_exec_process(BASE, ExecConfig(cmd=("sh",), tty=True))
    assert proc["terminal"] is True and "TERM=xterm" in proc["env"]
    proc = build_exec_process(BASE, ExecConfig(cmd=("sh",), tty=True, env=("TERM=vt100",)))
    assert [e for e in proc["env"] if e.startswith("TERM=")] == ["TERM=vt100"]


def test_user_replaces_ids_and_home() -> None:
    user = ResolvedUser(uid=65534, gid=65534, additional_gids=(65534,), home="/home")
    proc = build_exec_process(BASE, ExecConfig(cmd=("id",), user="nobody"), user=user)
    assert proc["user"] == {"umask": 18, "uid": 65534, "gid": 65534, "additionalGids": [65534]}
    assert "HOME=/home" in proc["env"] and "HOME=/root" not in proc["env"]
    # a HOME the container's config sets wins over the passwd entry
    proc = build_exec_process(BASE, ExecConfig(cmd=("id",), user="nobody"), container_env=["HOME=/app"], user=user)
    assert "HOME=/root" in proc["env"]


def test_privileged_gets_every_capability() -> None:
    proc = build_exec_process(BASE, ExecConfig(cmd=("sh",), privileged=True))
    for key in ("bounding", "effective", "permitted"):
        assert proc["capabilities"][key] == list(ALL_CAPABILITIES)


def test_inspect_json_shape() -> None:
    cfg = ExecConfig(cmd=("sh", "-c", "exit 5"), attach_stdout=True, user="1000")
    rec = ExecRecord(id="e1", container_id="c1", config=cfg, started=True, exit_code=5, pid=9323)
    j = exec_inspect_json(rec)
    assert j["ID"] == "e1" and j["ContainerID"] == "c1"
    assert j["Running"] is False and j["ExitCode"] == 5 and j["Pid"] == 9323
    assert j["ProcessConfig"] == {
        "tty": False,
        "entrypoint": "sh",
        "arguments": ["-c", "exit 5"],
        "privileged": False,
        "user": "1000",
    }
    assert (j["OpenStdin"], j["OpenStdout"], j["OpenStderr"]) == (False, True, False)
    assert exec_inspect_json(ExecRecord(id="e2", container_id="c1", config=cfg))["ExitCode"] is None


def test_store_prunes_finished_records() -> None:
    store = ExecStore()
    cfg = ExecConfig(cmd=("true",))
    for i in range(5):
        store.add(ExecRecord(id=f"done{i}", container_id="live", config=cfg, exit_code=0, finished_at=float(i)))
    store.add(ExecRecord(id="gone", container_id="removed", config=cfg, exit_code=0, finished_at=9.0))
    store.add(ExecRecord(id="running", container_id="removed", config=cfg, started=True, running=True))
    store.prune(lambda cid: cid == "live", keep_finished=3)
    assert {r.id for r in store.all()} == {"done2", "done3", "done4", "running"}
    with pytest.raises(errors.NotFound, match="No such exec instance: gone"):
        store.get("gone")


def test_privileged_is_limited_to_the_available_capabilities() -> None:
    available = frozenset({"CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_KILL"})
    proc = build_exec_process(BASE, ExecConfig(cmd=("sh",), privileged=True), available_caps=available)
    assert set(proc["capabilities"]["bounding"]) == available
