"""Docker's seccomp profile format and the default profile, resolved per container (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dockyard.containers.capabilities import DEFAULT_CAPABILITIES
from dockyard.containers.create_request import parse_create_request
from dockyard.errors import InvalidArgument
from dockyard.runtime.seccomp import parse_seccomp
from dockyard.security import default_profile, parse_profile, to_oci


def allowed(oci: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """syscall name -> the entries that name it."""
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in oci["syscalls"]:
        for name in entry["names"]:
            out.setdefault(name, []).append(entry)
    return out


def test_default_profile_denies_by_default_with_eperm() -> None:
    oci = to_oci(parse_profile(default_profile()), DEFAULT_CAPABILITIES, machine="x86_64", kernel=(6, 1))
    assert oci["defaultAction"] == "SCMP_ACT_ERRNO"
    assert oci["defaultErrnoRet"] == 1
    assert oci["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]


@pytest.mark.parametrize(
    "name",
    [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "init_module",
        "finit_module",
        "delete_module",
        "kexec_load",
        "reboot",
        "settimeofday",
        "clock_settime",
        "sethostname",
        "open_by_handle_at",
        "bpf",
        "acct",
        "swapon",
        "keyctl",
        "add_key",
        "request_key",
        "iopl",
        "kcmp",
        "userfaultfd",
    ],
)
def test_default_profile_refuses_escape_syscalls_for_default_capabilities(name: str) -> None:
    oci = to_oci(parse_profile(default_profile()), DEFAULT_CAPABILITIES, machine="x86_64", kernel=(6, 1))
    assert name not in allowed(oci)


def test_capabilities_unlock_their_syscalls() -> None:
    profile = parse_profile(default_profile())
    admin = allowed(to_oci(profile, (*DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"), machine="x86_64", kernel=(6, 1)))
    assert {"mount", "umount2", "unshare", "setns", "sethostname"} <= set(admin)
    # With CAP_SYS_ADMIN clone is allowed outright; without it only without namespace flags.
    assert any("args" not in e for e in admin["clone"])
    assert "clone3" in admin and all(e["action"] == "SCMP_ACT_ALLOW" for e in admin["clone3"])
    time = allowed(to_oci(profile, (*DEFAULT_CAPABILITIES, "CAP_SYS_TIME"), machine="x86_64", kernel=(6, 1)))
    assert "settimeofday" in time and "mount" not in time


def test_clone_without_sys_admin_masks_namespace_flags_and_clone3_gets_enosys() -> None:
    calls = allowed(to_oci(parse_profile(default_profile()), DEFAULT_CAPABILITIES, machine="x86_64", kernel=(6, 1)))
    (clone,) = calls["clone"]
    (arg,) = clone["args"]
    assert arg == {"index": 0, "value": 0x7E020000, "op": "SCMP_CMP_MASKED_EQ"}
    (clone3,) = calls["clone3"]
    assert clone3["action"] == "SCMP_ACT_ERRNO" and clone3["errnoRet"] == 38


def test_architecture_conditions_follow_the_machine() -> None:
    profile = parse_profile(default_profile())
    x86 = allowed(to_oci(profile, DEFAULT_CAPABILITIES, machine="x86_64", kernel=(6, 1)))
    arm = allowed(to_oci(profile, DEFAULT_CAPABILITIES, machine="aarch64", kernel=(6, 1)))
    assert "arch_prctl" in x86 and "arch_prctl" not in arm
    assert "set_tls" in arm and "set_tls" not in x86
    s390 = allowed(to_oci(profile, DEFAULT_CAPABILITIES, machine="s390x", kernel=(6, 1)))
    assert [e["args"][0]["index"] for e in s390["clone"]] == [1]


def test_min_kernel_condition() -> None:
    profile = parse_profile(default_profile())
    assert "ptrace" in allowed(to_oci(profile, DEFAULT_CAPABILITIES, machine="x86_64", kernel=(4, 8)))
    assert "ptrace" not in allowed(to_oci(profile, DEFAULT_CAPABILITIES, machine="x86_64", kernel=(4, 4)))


def test_the_runtime_accepts_what_the_profile_produces() -> None:
    oci = to_oci(parse_profile(default_profile()), DEFAULT_CAPABILITIES, machine="x86_64", kernel=(6, 1))
    parsed = parse_seccomp(oci)
    assert parsed is not None
    assert parsed.architectures == ("x86_64", "x86", "x32")
    assert len(parsed.rules) == len(oci["syscalls"])


def test_a_custom_profile_in_dockers_format() -> None:
    text = json.dumps(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [
                {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_FOWNER"]}},
            ],
        }
    )
    oci = to_oci(parse_profile(text), ["CAP_FOWNER"], machine="x86_64", kernel=(6, 1))
    assert oci["architectures"] == ["SCMP_ARCH_X86_64"]
    assert oci["syscalls"] == [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ('{"defaultAction": ', "decoding seccomp profile failed"),
        ("[]", "must be an object"),
        ("{}", "empty"),
        ('{"defaultAction": "SCMP_ACT_NOPE"}', "unknown action"),
        ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": {}}', "syscalls must be a list"),
        ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}]}', "names"),
        ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "ALLOW"}]}', "unknown action"),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "read", "names": ["write"], '
            '"action": "SCMP_ACT_ALLOW"}]}',
            "either 'name' or 'names'",
        ),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", '
            '"args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}',
            "0..5",
        ),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", '
            '"args": [{"index": 0, "value": 1, "op": "EQ"}]}]}',
            "unknown operator",
        ),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", '
            '"args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]}',
            "unsigned",
        ),
        ('{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_Z80"]}', "unknown architecture"),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"], '
            '"archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}',
            "either 'architectures' or 'archMap'",
        ),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", '
            '"includes": {"minKernel": "four"}}]}',
            "invalid kernel version",
        ),
        ('{"defaultAction": "SCMP_ACT_NOTIFY"}', "listenerPath"),
        ('{"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]}', "unknown flag"),
    ],
)
def test_malformed_profiles_are_refused_clearly(doc: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_profile(doc)


def test_create_refuses_a_malformed_profile_before_anything_starts() -> None:
    body = {"Image": "busybox", "HostConfig": {"SecurityOpt": ['seccomp={"defaultAction": "SCMP_ACT_NOPE"}']}}
    with pytest.raises(InvalidArgument, match="unknown action"):
        parse_create_request(body)
    ok = {"Image": "busybox", "HostConfig": {"SecurityOpt": ["seccomp=unconfined"]}}
    assert parse_create_request(ok).host_config.security_opt == ("seccomp=unconfined",)
