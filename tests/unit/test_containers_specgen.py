"""The OCI spec generator: behaviour case by case, plus properties over many inputs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.containers.capabilities import (
    ALL_CAPABILITIES,
    DEFAULT_CAPABILITIES,
    capabilities_from_mask,
    normalize_capabilities,
)
from dockyard.containers.create_request import Ulimit, parse_create_request
from dockyard.containers.hostconfig_defaults import apply_daemon_defaults
from dockyard.containers.merge import merge_image_config, process_args
from dockyard.containers.paths import DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS
from dockyard.containers.specgen import LinuxDevice, SpecInput, generate_spec, standard_file_mounts
from dockyard.containers.user import ResolvedUser
from dockyard.errors import InvalidArgument
from dockyard.mount.types import Mount

CID = "c0ffee" + "0" * 58
IMAGE = {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["sh"]}
ROOT = ResolvedUser(0, 0, (0,), "/root")


def spec_for(host: dict[str, Any] | None = None, user: ResolvedUser = ROOT, **kw: Any) -> dict[str, Any]:
    body = {"Image": "busybox", "HostConfig": host or {}} | kw.pop("config", {})
    req = parse_create_request(body)
    cfg = merge_image_config(req.config, IMAGE)
    hc = apply_daemon_defaults(req.host_config)
    return generate_spec(SpecInput(CID, cfg, hc, user, tuple(process_args(cfg)), **kw))


def mounts_by_target(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["destination"]: m for m in spec["mounts"]}


def namespaces(spec: dict[str, Any]) -> dict[str, str | None]:
    return {n["type"]: n.get("path") for n in spec["linux"]["namespaces"]}


def test_defaults() -> None:
    spec = spec_for()
    assert spec["root"] == {"path": "rootfs"}
    assert spec["hostname"] == CID[:12]
    assert spec["process"]["args"] == ["sh"]
    assert spec["process"]["cwd"] == "/"
    assert spec["process"]["env"] == ["PATH=/usr/bin:/bin", f"HOSTNAME={CID[:12]}", "HOME=/root"]
    assert spec["process"]["capabilities"]["bounding"] == list(DEFAULT_CAPABILITIES)
    assert "rlimits" not in spec["process"]  # inherited from the daemon, as with dockerd
    assert "noNewPrivileges" not in spec["process"]
    assert list(mounts_by_target(spec)) == [
        "/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm",
    ]  # fmt: skip
    assert mounts_by_target(spec)["/dev/shm"]["options"][-1] == "size=67108864"
    assert spec["linux"]["maskedPaths"] == list(DEFAULT_MASKED_PATHS)
    assert spec["linux"]["readonlyPaths"] == list(DEFAULT_READONLY_PATHS)
    assert spec["linux"]["cgroupsPath"] == f"/dockyard/{CID}"
    assert namespaces(spec) == {"mount": None, "network": None, "uts": None, "pid": None, "ipc": None, "cgroup": None}
    assert spec["linux"]["resources"]["devices"][0] == {"allow": False, "access": "rwm"}
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"} in spec["linux"]["resources"][
        "devices"
    ]


def test_output_is_json_and_deterministic() -> None:
    host = {"CapAdd": ["NET_ADMIN"], "Tmpfs": {"/b": "", "/a": "size=1m"}, "Sysctls": {"net.b": "1", "net.a": "2"}}
    first = json.dumps(spec_for(host))
    assert all(json.dumps(spec_for(host)) == first for _ in range(3))


def test_privileged() -> None:
    spec = spec_for({"Privileged": True})
    assert spec["process"]["capabilities"]["bounding"] == list(ALL_CAPABILITIES)
    assert "maskedPaths" not in spec["linux"] and "readonlyPaths" not in spec["linux"]
    assert spec["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    mounts = mounts_by_target(spec)
    assert "ro" not in mounts["/sys"]["options"] and "ro" not in mounts["/sys/fs/cgroup"]["options"]


def test_privileged_ignores_client_masked_paths() -> None:
    assert "maskedPaths" not in spec_for({"Privileged": True, "MaskedPaths": ["/proc/kcore"]})["linux"]


def test_grants_are_limited_to_the_daemons_capabilities() -> None:
    available = capabilities_from_mask(0x1FFFEFFFFFF)  # everything but CAP_SYS_RESOURCE
    assert "CAP_SYS_RESOURCE" not in available and "CAP_SYS_ADMIN" in available
    caps = spec_for({"Privileged": True}, available_capabilities=available)["process"]["capabilities"]
    assert caps["bounding"] == [c for c in ALL_CAPABILITIES if c != "CAP_SYS_RESOURCE"]
    assert caps["effective"] == caps["bounding"]


def test_non_root_gets_only_a_bounding_set() -> None:
    caps = spec_for(user=ResolvedUser(1000, 1000, (1000, 27), "/home/u"))["process"]["capabilities"]
    assert set(caps) == {"bounding"}


def test_user_and_groups() -> None:
    spec = spec_for(user=ResolvedUser(1000, 100, (100, 27), "/home/u"))
    assert spec["process"]["user"] == {"uid": 1000, "gid": 100, "additionalGids": [100, 27]}
    assert "HOME=/home/u" in spec["process"]["env"]


def test_tty_console_size_and_term() -> None:
    spec = spec_for({"ConsoleSize": [40, 120]}, config={"Tty": True})
    assert spec["process"]["terminal"] is True
    assert spec["process"]["consoleSize"] == {"height": 40, "width": 120}
    assert "TERM=xterm" in spec["process"]["env"]
    assert "consoleSize" not in spec_for({"ConsoleSize": [40, 120]})["process"]


def test_explicit_env_and_cwd_are_used_as_given() -> None:
    spec = spec_for(env=("A=1",), cwd="/work", config={"WorkingDir": "/ignored"})
    assert spec["process"]["env"] == ["A=1"]
    assert spec["process"]["cwd"] == "/work"
    assert spec_for(config={"WorkingDir": "/app"})["process"]["cwd"] == "/app"


def test_no_new_privileges_and_oom_score() -> None:
    spec = spec_for({"SecurityOpt": ["no-new-privileges:true"], "OomScoreAdj": -500})
    assert spec["process"]["noNewPrivileges"] is True
    assert spec["process"]["oomScoreAdj"] == -500


def test_readonly_rootfs() -> None:
    assert spec_for({"ReadonlyRootfs": True})["root"] == {"path": "rootfs", "readonly": True}


def test_ulimits_override_the_defaults_per_name() -> None:
    spec = spec_for({"Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}, {"Name": "nproc", "Soft": 5, "Hard": 5}]})
    assert spec["process"]["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "hard": 20, "soft": 10},
        {"type": "RLIMIT_NPROC", "hard": 5, "soft": 5},
    ]
    daemon_default = (Ulimit("nofile", 4096, 8192), Ulimit("core", 0, 0))
    assert spec_for({"Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}]}, default_ulimits=daemon_default)[
        "process"
    ]["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 20, "soft": 10}, {"type": "RLIMIT_CORE", "hard": 0, "soft": 0}]


def test_extra_mounts_come_after_defaults_sorted_parents_first() -> None:
    extra = (
        Mount("bind", "/h/a/b", ("rbind",), "/data/sub"),
        *standard_file_mounts("/c/hostname", "/c/hosts", "/c/resolv.conf"),
        Mount("bind", "/h/a", ("rbind",), "/data"),
    )
    targets = list(mounts_by_target(spec_for(extra_mounts=extra)))
    # Stable by depth: equal depths keep their given order.
    assert targets[7:] == ["/data", "/data/sub", "/etc/resolv.conf", "/etc/hostname", "/etc/hosts"]


def test_a_user_mount_replaces_the_default_at_its_target() -> None:
    spec = spec_for(extra_mounts=(Mount("bind", "/host/shm", ("rbind",), "/dev/shm"),))
    assert [m["source"] for m in spec["mounts"] if m["destination"] == "/dev/shm"] == ["/host/shm"]


def test_a_later_extra_mount_wins_at_the_same_target() -> None:
    files = standard_file_mounts("/c/hostname", "/c/hosts", "/c/resolv.conf")
    extra = (*files, Mount("bind", "/mine", (), "/etc/hosts/"))
    spec = spec_for(extra_mounts=extra)
    assert [m["source"] for m in spec["mounts"] if m["destination"].rstrip("/") == "/etc/hosts"] == ["/mine"]


def test_mounting_dev_drops_every_default_below_it() -> None:
    spec = spec_for(extra_mounts=(Mount("bind", "/dev", ("rbind",), "/dev"),))
    assert [m["destination"] for m in spec["mounts"] if m["destination"].startswith("/dev")] == ["/dev"]


def test_ipc_none_has_no_shm_and_shm_size_is_used() -> None:
    assert "/dev/shm" not in mounts_by_target(spec_for({"IpcMode": "none"}))
    assert mounts_by_target(spec_for({"ShmSize": 1 << 20}))["/dev/shm"]["options"][-1] == "size=1048576"


def test_tmpfs_mounts() -> None:
    mounts = mounts_by_target(
        spec_for(
            {
                "Tmpfs": {"/run": "size=10m,exec"},
                "Mounts": [{"Type": "tmpfs", "Target": "/t", "ReadOnly": True, "TmpfsOptions": {"SizeBytes": 2 << 20}}],
            }
        )
    )
    assert mounts["/run"] == {
        "destination": "/run",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["nosuid", "nodev", "rprivate", "size=10m", "exec"],
    }
    assert mounts["/t"]["options"] == ["noexec", "nosuid", "nodev", "rprivate", "ro", "size=2m"]


def test_relative_mount_targets_are_refused() -> None:
    with pytest.raises(InvalidArgument):
        spec_for(extra_mounts=(Mount("bind", "/x", (), "etc/x"),))


def test_shared_bind_propagation_sets_rootfs_propagation() -> None:
    assert (
        spec_for(extra_mounts=(Mount("bind", "/x", ("rbind", "rshared"), "/x"),))["linux"]["rootfsPropagation"]
        == "shared"
    )
    assert (
        spec_for(extra_mounts=(Mount("bind", "/x", ("rbind", "rslave"), "/x"),))["linux"]["rootfsPropagation"]
        == "rslave"
    )
    assert "rootfsPropagation" not in spec_for()["linux"]


def test_namespace_modes() -> None:
    spec = spec_for({"NetworkMode": "host", "PidMode": "host", "IpcMode": "host", "UTSMode": "host"})
    assert namespaces(spec) == {"mount": None, "cgroup": None}
    assert "hostname" not in spec
    assert "sysctl" not in spec["linux"]  # no unprivileged-port sysctls in the host's netns
    joined = spec_for(
        {"PidMode": "container:abc", "IpcMode": "container:abc", "CgroupnsMode": "host"},
        network_namespace="/run/netns/x",
        pid_ns_path="/proc/1/ns/pid",
        ipc_ns_path="/proc/1/ns/ipc",
    )
    assert namespaces(joined) == {
        "mount": None,
        "network": "/run/netns/x",
        "uts": None,
        "pid": "/proc/1/ns/pid",
        "ipc": "/proc/1/ns/ipc",
    }
    with pytest.raises(InvalidArgument):
        spec_for({"PidMode": "container:abc"})


def test_sysctls_and_unprivileged_defaults() -> None:
    sysctl = spec_for({"Sysctls": {"net.ipv4.ip_unprivileged_port_start": "1024", "kernel.shmmax": "1"}})["linux"][
        "sysctl"
    ]
    assert sysctl == {
        "kernel.shmmax": "1",
        "net.ipv4.ip_unprivileged_port_start": "1024",
        "net.ipv4.ping_group_range": "0 2147483647",
    }


def test_resources() -> None:
    res = spec_for(
        {
            "Memory": 64 << 20,
            "MemoryReservation": 32 << 20,
            "MemorySwappiness": 10,
            "OomKillDisable": True,
            "NanoCpus": 500_000_000,
            "CpuShares": 256,
            "CpusetCpus": "0-1",
            "PidsLimit": 50,
            "BlkioWeight": 300,
            "BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1000}],
        },
        block_devices={"/dev/sda": (8, 0)},
    )["linux"]["resources"]
    assert res["memory"] == {
        "limit": 64 << 20,
        "reservation": 32 << 20,
        "swap": 128 << 20,
        "swappiness": 10,
        "disableOOMKiller": True,
    }
    assert res["cpu"] == {"shares": 256, "quota": 50_000, "period": 100_000, "cpus": "0-1"}
    assert res["pids"] == {"limit": 50}
    assert res["blockIO"] == {"weight": 300, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}]}
    assert "memory" not in spec_for()["linux"]["resources"]
    with pytest.raises(InvalidArgument, match="major:minor"):
        spec_for({"BlkioDeviceReadBps": [{"Path": "/dev/sdz", "Rate": 1}]})


def test_explicit_cfs_values_and_unlimited_swap() -> None:
    res = spec_for({"CpuPeriod": 20_000, "CpuQuota": 10_000, "Memory": 64 << 20, "MemorySwap": -1})["linux"][
        "resources"
    ]
    assert res["cpu"] == {"quota": 10_000, "period": 20_000}
    assert res["memory"] == {"limit": 64 << 20}


def test_devices_and_cgroup_rules() -> None:
    dev = LinuxDevice("/dev/fuse", "c", 10, 229, permissions="rw")
    spec = spec_for({"DeviceCgroupRules": ["b 8:* r"]}, devices=(dev,))
    assert spec["linux"]["devices"] == [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666, "uid": 0, "gid": 0}
    ]
    rules = spec["linux"]["resources"]["devices"]
    assert rules[-2:] == [
        {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"},
        {"allow": True, "type": "b", "major": 8, "access": "r"},
    ]


def test_cgroups_path_and_parent() -> None:
    assert spec_for({"CgroupParent": "/custom/"})["linux"]["cgroupsPath"] == f"/custom/{CID}"
    assert spec_for(cgroups_path="/x/y")["linux"]["cgroupsPath"] == "/x/y"


def test_init_wraps_the_command() -> None:
    spec = spec_for({"Init": True}, init_path="/usr/libexec/init")
    assert spec["process"]["args"] == ["/sbin/docker-init", "--", "sh"]
    assert mounts_by_target(spec)["/sbin/docker-init"]["source"] == "/usr/libexec/init"
    assert spec_for({"Init": True})["process"]["args"] == ["sh"]  # no init binary configured


def test_hostname_domainname_annotations_seccomp() -> None:
    spec = spec_for(
        {"Annotations": {"b": "1", "a": "2"}},
        config={"Hostname": "web", "Domainname": "example.com"},
        annotations={"a": "daemon"},
        seccomp={"defaultAction": "SCMP_ACT_ALLOW"},
    )
    assert (spec["hostname"], spec["domainname"]) == ("web", "example.com")
    assert spec["annotations"] == {"a": "daemon", "b": "1"}
    assert spec["linux"]["seccomp"] == {"defaultAction": "SCMP_ACT_ALLOW"}


def test_the_runtime_accepts_the_spec() -> None:
    runtime_spec = pytest.importorskip("dockyard.runtime.spec")
    spec = spec_for(
        {"Memory": 64 << 20, "PidsLimit": 10, "Tmpfs": {"/run": ""}},
        config={"Tty": True},
        extra_mounts=standard_file_mounts("/c/h", "/c/hosts", "/c/r"),
    )
    parsed = runtime_spec.parse_spec(spec)
    assert parsed.process.args == ("sh",)
    assert parsed.resources.memory_limit == 64 << 20


_caps = st.lists(st.sampled_from([c.removeprefix("CAP_") for c in ALL_CAPABILITIES] + ["ALL"]), max_size=5)


@settings(max_examples=60, deadline=None)
@given(
    cap_add=_caps,
    cap_drop=_caps,
    privileged=st.booleans(),
    uid=st.sampled_from([0, 1000]),
    tty=st.booleans(),
    readonly=st.booleans(),
    ipc=st.sampled_from(["", "private", "shareable", "none", "host"]),
)
def test_properties(
    cap_add: list[str], cap_drop: list[str], privileged: bool, uid: int, tty: bool, readonly: bool, ipc: str
) -> None:
    host = {
        "CapAdd": cap_add,
        "CapDrop": cap_drop,
        "Privileged": privileged,
        "ReadonlyRootfs": readonly,
        "IpcMode": ipc,
    }
    user = ResolvedUser(uid, uid, (uid,), "/")
    spec = spec_for(host, user=user, config={"Tty": tty})
    assert json.dumps(spec) == json.dumps(spec_for(host, user=user, config={"Tty": tty}))
    caps = spec["process"]["capabilities"]
    granted = caps["bounding"]
    assert len(granted) == len(set(granted))
    if privileged:
        assert granted == list(ALL_CAPABILITIES)
        assert "maskedPaths" not in spec["linux"] and "readonlyPaths" not in spec["linux"]
    else:
        added = set(normalize_capabilities(cap_add))
        for cap in set(normalize_capabilities(cap_drop)) - added:
            if "ALL" not in added:
                assert cap not in granted
        assert spec["linux"]["maskedPaths"] == list(DEFAULT_MASKED_PATHS)
    assert ("effective" in caps) == (uid == 0)
    assert spec["process"]["terminal"] is tty
    assert spec["root"].get("readonly", False) is readonly
    destinations = [m["destination"] for m in spec["mounts"]]
    assert len(destinations) == len(set(destinations))
    assert ("/dev/shm" in destinations) == (ipc != "none")
    assert ("ipc" in namespaces(spec)) == (ipc != "host")
