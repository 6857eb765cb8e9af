"""The rendered docker-default profile: Docker's rules, parameterised by name, daemon profile and includes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dockyard.security.apparmor_profile import DefaultProfileParams, render_default_profile


def _rules(text: str) -> list[str]:
    """The profile's rule lines, comments stripped (``#include`` is a directive, not a comment)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("#include"):
            line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


@pytest.fixture
def rules() -> list[str]:
    return _rules(render_default_profile(DefaultProfileParams(name="docker-default", daemon_profile="dockerd")))


def test_header_and_balanced_body(rules: list[str]) -> None:
    assert rules[0] == "@{PROC}=/proc/"
    assert rules[1] == "profile docker-default flags=(attach_disconnected,mediate_deleted) {"
    assert rules[-1] == "}"
    assert [r for r in rules if r.endswith("{")] == [rules[1]]  # one block: the profile's own
    # every rule inside the block ends with a comma, as apparmor_parser requires
    assert all(r.endswith(",") for r in rules[2:-1])


def test_broad_allows(rules: list[str]) -> None:
    for allow in ("network,", "capability,", "file,", "umount,"):
        assert allow in rules


def test_mount_is_denied(rules: list[str]) -> None:
    assert "deny mount," in rules


def test_proc_writes_denied(rules: list[str]) -> None:
    assert "deny @{PROC}/* w," in rules
    assert "deny @{PROC}/sys/[^k]** w," in rules
    assert "deny @{PROC}/sys/kernel/{?,??,[^s][^h][^m]**} w," in rules
    assert "deny @{PROC}/sysrq-trigger rwklx," in rules
    assert "deny @{PROC}/kcore rwklx," in rules
    pids = next(r for r in rules if r.startswith("deny @{PROC}/{"))
    assert pids.endswith("}/** w,")


def test_proc_entry_pattern_spares_pids_and_sys(rules: list[str]) -> None:
    """The /proc/<entry>/** rule, read as a regex over entry names: PIDs and "sys" stay writable."""
    rule = next(r for r in rules if r.startswith("deny @{PROC}/{"))
    alternatives = rule[len("deny @{PROC}/{") : -len("}/** w,")].split(",")

    def to_regex(glob: str) -> str:
        out = ""
        i = 0
        while i < len(glob):
            if glob[i] == "[":
                j = glob.index("]", i)
                out += glob[i : j + 1]
                i = j + 1
            elif glob[i] == "*":
                out += "[^/]*"
                i += 1
            else:
                out += re.escape(glob[i])
                i += 1
        return out

    pattern = re.compile("|".join(f"(?:{to_regex(a)})" for a in alternatives))

    def denied(entry: str) -> bool:
        return pattern.fullmatch(entry) is not None

    for spared in ("1", "42", "123", "65535", "sys"):
        assert not denied(spared), spared
    for entry in ("acpi", "fs", "irq", "driver", "tty", "sysvipc", "x"):
        assert denied(entry), entry
    # Docker's pattern lets three-letter names ending in "s" through (only "sys" was meant):
    # /proc/bus stays writable by this rule, and is covered by the spec's readonlyPaths instead.
    assert not denied("bus")


def test_sys_is_read_only_except_cgroups(rules: list[str]) -> None:
    sys_rules = [r for r in rules if r.startswith("deny /sys/")]
    assert "deny /sys/firmware/** rwklx," in sys_rules
    assert "deny /sys/kernel/security/** rwklx," in sys_rules
    writes = [r.removeprefix("deny ").removesuffix(" wklx,") for r in sys_rules if r.endswith(" wklx,")]

    def denied(path: str) -> bool:
        for glob in writes:
            regex = glob.replace("**", "\0").replace("*", "[^/]*").replace("\0", ".*")
            if re.fullmatch(regex, path):
                return True
        return False

    assert not denied("/sys/fs/cgroup/memory/memory.limit_in_bytes")
    for path in ("/sys/kernel/mm/ksm/run", "/sys/class/net/eth0/mtu", "/sys/fs/fuse/connections/1/abort"):
        assert denied(path), path


def test_signals_and_ptrace_name_the_peers(rules: list[str]) -> None:
    assert "signal (receive) peer=unconfined," in rules
    assert "signal (receive) peer=dockerd," in rules  # the daemon may kill containers
    assert "signal (send,receive) peer=docker-default," in rules
    assert "ptrace (trace,read,tracedby,readby) peer=docker-default," in rules


def test_name_and_includes_are_parameters() -> None:
    params = DefaultProfileParams(name="other", tunables_global=True, abstractions_base=True)
    text = render_default_profile(params)
    rules = _rules(text)
    assert rules[0] == "#include <tunables/global>" and "@{PROC}=/proc/" not in rules
    assert rules[1].startswith("profile other flags=")
    assert rules[2] == "#include <abstractions/base>"
    assert "signal (send,receive) peer=other," in rules and "ptrace (trace,read,tracedby,readby) peer=other," in rules
    assert "signal (receive) peer=unconfined," in rules  # the default daemon profile
    assert render_default_profile(params) == text  # deterministic


def test_an_unconfined_daemon_needs_no_rule_of_its_own() -> None:
    rules = _rules(render_default_profile(DefaultProfileParams()))
    assert [r for r in rules if r.startswith("signal (receive)")] == ["signal (receive) peer=unconfined,"]


PARSER = shutil.which("apparmor_parser")


def _compiles(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The real parser, compiling only: -Q skips the kernel, -K the cache, -S writes the binary to stdout."""
    assert PARSER is not None
    path = tmp_path / "profile"
    path.write_text(text)
    return subprocess.run(
        [PARSER, "-Q", "-K", "-S", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60
    )


@pytest.mark.skipif(PARSER is None, reason="apparmor_parser is not installed (Debian package apparmor)")
@pytest.mark.parametrize("with_host_includes", [False, True])
def test_the_real_parser_accepts_the_profile(tmp_path: Path, with_host_includes: bool) -> None:
    if with_host_includes and not os.path.exists("/etc/apparmor.d/tunables/global"):
        pytest.skip("the apparmor package's /etc/apparmor.d includes are missing")
    params = DefaultProfileParams(
        daemon_profile="dockerd", tunables_global=with_host_includes, abstractions_base=with_host_includes
    )
    text = render_default_profile(params)
    done = _compiles(text, tmp_path)
    assert done.returncode == 0, done.stderr
    # and the check is real: the same text with one rule broken is refused
    broken = _compiles(text.replace("deny mount,", "deny mount"), tmp_path)
    assert broken.returncode != 0 and "syntax error" in broken.stderr
