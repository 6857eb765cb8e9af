"""Capability arithmetic, device rules, tmpfs options and security options."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.containers.capabilities import (
    ALL_CAPABILITIES,
    CAPABILITY_NUMBERS,
    DEFAULT_CAPABILITIES,
    capabilities_from_mask,
    effective_capabilities,
    normalize_capabilities,
)
from dockyard.containers.devices import DeviceRule, parse_device_cgroup_rule
from dockyard.containers.security_opts import SecurityOptions, parse_security_opts
from dockyard.containers.tmpfs import merge_tmpfs_options, tmpfs_mount_options, tmpfs_options_data
from dockyard.errors import InvalidArgument


def test_capability_table_is_the_kernels_numbering() -> None:
    assert sorted(CAPABILITY_NUMBERS.values()) == list(range(len(CAPABILITY_NUMBERS)))
    assert CAPABILITY_NUMBERS["CAP_SYS_ADMIN"] == 21
    assert ALL_CAPABILITIES[0] == "CAP_CHOWN" and ALL_CAPABILITIES[-1] == "CAP_CHECKPOINT_RESTORE"
    assert set(DEFAULT_CAPABILITIES) <= set(ALL_CAPABILITIES)
    assert len(DEFAULT_CAPABILITIES) == 14


def test_capabilities_from_mask() -> None:
    assert capabilities_from_mask(0) == frozenset()
    assert capabilities_from_mask(0b101) == {"CAP_CHOWN", "CAP_DAC_READ_SEARCH"}
    assert capabilities_from_mask((1 << 41) - 1) == set(ALL_CAPABILITIES)


def test_normalize_capabilities() -> None:
    assert normalize_capabilities(["net_admin", "CAP_SYS_TIME", "all"]) == ("CAP_NET_ADMIN", "CAP_SYS_TIME", "ALL")
    with pytest.raises(InvalidArgument, match='invalid CapDrop: unknown capability: "CAP_NOPE"'):
        normalize_capabilities(["nope"], "CapDrop")


def test_effective_capabilities_cases() -> None:
    assert effective_capabilities(None, None) == DEFAULT_CAPABILITIES
    assert effective_capabilities(None, None, privileged=True) == ALL_CAPABILITIES
    assert effective_capabilities(["ALL"], ["MKNOD"]) == tuple(c for c in ALL_CAPABILITIES if c != "CAP_MKNOD")
    assert effective_capabilities(["CHOWN", "KILL"], ["ALL"]) == ("CAP_CHOWN", "CAP_KILL")
    assert effective_capabilities(["CHOWN"], None) == DEFAULT_CAPABILITIES  # no duplicates
    caps = effective_capabilities(["SYS_ADMIN"], ["NET_RAW"])
    assert caps[-1] == "CAP_SYS_ADMIN" and "CAP_NET_RAW" not in caps


_cap = st.sampled_from([*ALL_CAPABILITIES, *(c.removeprefix("CAP_").lower() for c in ALL_CAPABILITIES)])


@given(adds=st.lists(_cap, max_size=6), drops=st.lists(_cap, max_size=6))
def test_dropped_capabilities_are_never_granted_unless_added(adds: list[str], drops: list[str]) -> None:
    caps = effective_capabilities(adds, drops)
    added = set(normalize_capabilities(adds))
    dropped = set(normalize_capabilities(drops))
    assert len(caps) == len(set(caps))
    for cap in dropped - added:
        assert cap not in caps
    for cap in added:
        assert cap in caps
    assert set(caps) <= set(ALL_CAPABILITIES)


def test_device_cgroup_rules() -> None:
    assert parse_device_cgroup_rule("c 1:3 mr") == DeviceRule(True, "c", 1, 3, "mr")
    assert parse_device_cgroup_rule("b *:* rwm") == DeviceRule(True, "b", None, None, "rwm")
    assert parse_device_cgroup_rule("a *:* rwm").to_spec() == {
        "allow": True,
        "access": "rwm",
    }  # type "a" is the default
    for bad in ("c 1:3", "x 1:3 r", "c 1:3 rwx", "c a:3 r", " c 1:3 r"):
        with pytest.raises(InvalidArgument, match="invalid device cgroup format"):
            parse_device_cgroup_rule(bad)


def test_tmpfs_options_later_ones_win() -> None:
    assert tmpfs_mount_options("") == ["noexec", "nosuid", "nodev", "rprivate"]
    assert tmpfs_mount_options("exec,size=1m,size=2m") == ["nosuid", "nodev", "rprivate", "exec", "size=2m"]
    assert merge_tmpfs_options(["ro", "rw", "shared", "rprivate", "mode=700", "defaults"]) == [
        "rw",
        "rprivate",
        "mode=700",
    ]
    with pytest.raises(InvalidArgument, match='Invalid tmpfs option "foo=1"'):
        merge_tmpfs_options(["foo=1"])


def test_tmpfs_options_data() -> None:
    assert tmpfs_options_data(0, 0, False) == ""
    assert tmpfs_options_data(1 << 30, 0o1777, True) == "ro,mode=1777,size=1g"
    assert tmpfs_options_data(3 << 20, 0, False) == "size=3m"
    assert tmpfs_options_data(1000, 0, False) == "size=1000"


def test_security_options() -> None:
    assert parse_security_opts([]) == SecurityOptions()
    opts = parse_security_opts(["no-new-privileges:true", "seccomp=unconfined", "apparmor=p", "label=type:x"])
    assert opts == SecurityOptions(True, "unconfined", "p", ("type:x",))
    assert parse_security_opts(["no-new-privileges", "no-new-privileges=false"]).no_new_privileges is False
