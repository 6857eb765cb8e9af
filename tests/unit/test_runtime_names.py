"""Pure name -> number conversions: mount options, capabilities, signals, rlimits, device rules."""

from __future__ import annotations

import signal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import InvalidArgument
from dockyard.runtime.caps import CAPABILITIES, cap_number, caps_mask, mask_caps
from dockyard.runtime.defaultspec import DOCKER_DEFAULT_CAPS
from dockyard.runtime.devices import DEFAULT_DEVICE_RULES, device_cgroup_rules
from dockyard.runtime.mountflags import (
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_SLAVE,
    parse_mount_options,
    propagation_flags,
)
from dockyard.runtime.rlimits import rlimit_number
from dockyard.runtime.signals import parse_signal


def test_mount_options_split_into_flags_propagation_and_data() -> None:
    f = parse_mount_options(["nosuid", "noexec", "nodev", "ro", "rbind", "rprivate", "mode=755", "size=1k"])
    assert f.flags == MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY | MS_BIND | MS_REC
    assert f.propagation == (MS_PRIVATE | MS_REC,)
    assert f.data == "mode=755,size=1k"
    assert f.is_bind


def test_later_options_clear_earlier_ones() -> None:
    assert parse_mount_options(["ro", "rw"]).flags == 0
    assert parse_mount_options(["nosuid", "suid", "exec"]).flags == 0
    assert not parse_mount_options(["newinstance", "ptmxmode=0666"]).is_bind
    assert parse_mount_options(["newinstance", "ptmxmode=0666"]).data == "newinstance,ptmxmode=0666"


def test_rootfs_propagation() -> None:
    assert propagation_flags("") == MS_SLAVE | MS_REC  # runc's default
    assert propagation_flags("private") == MS_PRIVATE
    with pytest.raises(InvalidArgument):
        propagation_flags("sideways")


def test_docker_default_caps_mask() -> None:
    assert caps_mask(DOCKER_DEFAULT_CAPS) == 0xA80425FB


def test_cap_names() -> None:
    assert cap_number("CAP_NET_RAW") == 13
    assert cap_number("net_raw") == 13
    assert cap_number("CAP_CHECKPOINT_RESTORE") == 40
    with pytest.raises(InvalidArgument):
        cap_number("CAP_FLY")


@given(st.sets(st.sampled_from(CAPABILITIES)))
def test_mask_round_trip(names: set[str]) -> None:
    assert set(mask_caps(caps_mask(names))) == names


@pytest.mark.parametrize(
    ("text", "num"),
    [("KILL", 9), ("SIGKILL", 9), ("sigterm", 15), ("9", 9), ("HUP", 1), ("RTMIN+1", signal.SIGRTMIN + 1)],
)
def test_signals(text: str, num: int) -> None:
    assert parse_signal(text) == num


@pytest.mark.parametrize("text", ["", "0", "999", "SIGNOPE", "RTMIN+99", "KILL!"])
def test_bad_signals(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_signal(text)


def test_rlimits() -> None:
    assert rlimit_number("RLIMIT_NOFILE") == 7
    assert rlimit_number("rlimit_core") == 4
    with pytest.raises(InvalidArgument):
        rlimit_number("RLIMIT_FUN")


def test_device_rules_keep_spec_order_then_runc_defaults() -> None:
    rules = device_cgroup_rules(((False, "a", None, None, "rwm"), (True, "c", 1, None, "r")))
    assert rules[:2] == [("devices.deny", "a"), ("devices.allow", "c 1:* r")]
    assert [r for _, r in rules[2:]] == list(DEFAULT_DEVICE_RULES)
    assert device_cgroup_rules(()) == []
