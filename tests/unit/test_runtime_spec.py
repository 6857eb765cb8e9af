"""config.json / process.json parsing for the runtime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dockyard.errors import InvalidArgument
from dockyard.runtime.defaultspec import DOCKER_DEFAULT_CAPS, default_spec
from dockyard.runtime.seccomp import ArgCondition, SyscallRule, action_value, parse_seccomp
from dockyard.runtime.spec import (
    Device,
    Namespace,
    Rlimit,
    User,
    host_id,
    load_process,
    load_spec,
    parse_process,
    parse_spec,
)


def test_default_spec_round_trips_into_values() -> None:
    spec = parse_spec(default_spec(["sh", "-c", "echo hi"], rootfs="/r", cgroups_path="/x/y"))
    assert spec.root_path == "/r"
    assert spec.process is not None
    assert spec.process.args == ("sh", "-c", "echo hi")
    assert spec.process.capabilities is not None
    assert spec.process.capabilities.bounding == DOCKER_DEFAULT_CAPS
    assert spec.process.rlimits == (Rlimit("RLIMIT_NOFILE", 1024, 1024),)
    assert spec.cgroups_path == "/x/y"
    assert spec.namespace("pid") == Namespace("pid")
    assert spec.namespace("user") is None
    assert "/proc/kcore" in spec.masked_paths
    assert [m.destination for m in spec.mounts][:2] == ["/proc", "/dev"]
    assert spec.resources.devices == ((False, "a", None, None, "rwm"),)


def test_process_fields() -> None:
    proc = parse_process(
        {
            "args": ["x"],
            "user": {"uid": 5, "gid": 6, "additionalGids": [7], "umask": 18},
            "cwd": "/w",
            "terminal": True,
            "consoleSize": {"height": 24, "width": 80},
            "noNewPrivileges": True,
            "oomScoreAdj": 100,
        }
    )
    assert proc.user == User(5, 6, (7,), 18)
    assert (proc.cwd, proc.terminal, proc.console_size) == ("/w", True, (24, 80))
    assert proc.no_new_privileges
    assert proc.oom_score_adj == 100
    assert proc.capabilities is None


@pytest.mark.parametrize(
    "doc",
    [
        {"args": []},
        {"args": "sh"},
        {"args": ["sh"], "cwd": "relative"},
        {"args": ["sh"], "user": {"uid": "0"}},
        {"args": ["sh"], "rlimits": [{"soft": 1}]},
    ],
)
def test_bad_process_is_invalid(doc: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        parse_process(doc)


@pytest.mark.parametrize(
    "patch",
    [
        {"root": {}},
        {"mounts": [{"destination": "relative"}]},
        {"linux": {"namespaces": [{"type": "bogus"}]}},
        {"linux": {"namespaces": [{"type": "pid"}, {"type": "pid"}]}},
    ],
)
def test_bad_spec_is_invalid(patch: dict[str, Any]) -> None:
    doc = default_spec(["sh"])
    doc.update(patch)
    with pytest.raises(InvalidArgument):
        parse_spec(doc)


def test_resources_and_extras() -> None:
    doc = default_spec(["sh"])
    doc["linux"]["resources"] = {
        "memory": {"limit": 1 << 20, "swap": 2 << 20},
        "pids": {"limit": 10},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
        "devices": [{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
    }
    doc["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    doc["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ERRNO"}
    doc["linux"]["namespaces"].append({"type": "network", "path": "/proc/1/ns/net"})
    doc["linux"]["namespaces"] = [n for n in doc["linux"]["namespaces"] if n != {"type": "network"}]
    doc["annotations"] = {"a": "b"}
    spec = parse_spec(doc)
    r = spec.resources
    assert (r.memory_limit, r.memory_swap, r.pids_limit) == (1 << 20, 2 << 20, 10)
    assert (r.cpu_shares, r.cpu_quota, r.cpu_period, r.cpuset_cpus) == (512, 50000, 100000, "0")
    assert r.devices == ((True, "c", 1, 3, "rw"),)
    assert spec.sysctl == (("net.ipv4.ip_forward", "1"),)
    assert spec.seccomp is not None
    assert spec.namespace("network") == Namespace("network", "/proc/1/ns/net")
    assert spec.annotations == (("a", "b"),)


def test_load_from_files(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(default_spec(["true"])))
    assert load_spec(str(tmp_path)).process is not None
    (tmp_path / "p.json").write_text(json.dumps({"args": ["ls"], "env": ["A=1"]}))
    assert load_process(str(tmp_path / "p.json")).env == ("A=1",)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InvalidArgument):
        load_process(str(tmp_path / "bad.json"))
    with pytest.raises(InvalidArgument):
        load_spec(str(tmp_path / "nowhere"))


def test_host_id_follows_the_mappings() -> None:
    maps = ((0, 100000, 1000), (1000, 5000, 10))
    assert host_id(maps, 0) == 100000
    assert host_id(maps, 999) == 100999
    assert host_id(maps, 1005) == 5005
    with pytest.raises(InvalidArgument):
        host_id(maps, 1010)


def test_devices_and_user_namespace_fields() -> None:
    doc = default_spec(["sh"])
    doc["linux"]["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o600}]
    doc["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
    doc["hooks"] = {"prestart": [{"path": "/bin/true"}]}
    spec = parse_spec(doc)
    assert spec.devices == (Device("/dev/fuse", 10, 229, 0o600, "c", None, None),)
    assert spec.uid_mappings == ((0, 1000, 1),)
    assert [h.path for h in spec.hooks.get("prestart")] == ["/bin/true"]
    doc["linux"]["devices"] = [{"path": "/etc/passwd", "type": "c"}]
    with pytest.raises(InvalidArgument):
        parse_spec(doc)
    doc["linux"]["devices"] = [{"path": "/dev/x", "type": "z"}]
    with pytest.raises(InvalidArgument):
        parse_spec(doc)


def test_seccomp_profile_values() -> None:
    doc = default_spec(["sh"])
    doc["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
            {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        ],
    }  # fmt: skip
    profile = parse_spec(doc).seccomp
    assert profile is not None
    assert profile.default_action == action_value("SCMP_ACT_ERRNO", 38) == 0x00050000 | 38
    assert profile.architectures == ("x86_64",)
    assert profile.flags == ("SECCOMP_FILTER_FLAG_LOG",)
    allow, personality, ptrace = profile.rules
    assert allow == SyscallRule(("read", "write"), 0x7FFF0000)
    assert personality.args == (ArgCondition(0, 8, 0, 4),)
    assert ptrace.action == 0x00050001
    assert action_value("SCMP_ACT_ERRNO") == 0x00050001  # EPERM when no errnoRet, like runc
    assert action_value("SCMP_ACT_KILL_PROCESS") == 0x80000000
    assert parse_spec(default_spec(["sh"])).seccomp is None


@pytest.mark.parametrize(
    "bad",
    [
        {"defaultAction": "SCMP_ACT_DANCE"},
        {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]},
        {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}]},
        {"defaultAction": "SCMP_ACT_ALLOW",
         "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "op": "SCMP_CMP_EQ"}]}]},
        {"defaultAction": "SCMP_ACT_ALLOW",
         "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "op": "SCMP_CMP_NEAR"}]}]},
    ],
)  # fmt: skip
def test_bad_seccomp_is_invalid(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        parse_seccomp(bad)
