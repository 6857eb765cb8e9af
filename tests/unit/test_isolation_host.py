"""engine.isolation: what a container's spec needs from the host, with fakes for the host's parts."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from dockyard import errors
from dockyard.containers.capabilities import ALL_CAPABILITIES, DEFAULT_CAPABILITIES
from dockyard.containers.create_request import HostConfig, parse_create_request
from dockyard.containers.specgen import SpecInput, generate_spec
from dockyard.containers.store import ContainerRecord, ContainerState
from dockyard.containers.user import ResolvedUser
from dockyard.engine.isolation import (
    HostFacts,
    Isolation,
    block_device_numbers,
    kernel_version,
    load_daemon_seccomp,
    resolve_devices,
    seccomp_for,
)
from dockyard.runtime.sysctls import check_sysctls

# A host whose bounding set lacks CAP_MAC_OVERRIDE, like this project's CI machine.
HOST = HostFacts(
    capabilities=frozenset(ALL_CAPABILITIES) - {"CAP_MAC_OVERRIDE"},
    machine="x86_64",
    kernel=(6, 1),
    seccomp=True,
    init_path="/usr/local/bin/dockyard-init",
)


def host_config(**fields: Any) -> HostConfig:
    return parse_create_request({"Image": "busybox", "HostConfig": fields}).host_config


def record(cid: str, *, running: bool = True, pid: int = 4242, ipc: str = "shareable") -> ContainerRecord:
    rec = ContainerRecord.__new__(ContainerRecord)  # only the fields the lookup reads
    object.__setattr__(rec, "id", cid)
    object.__setattr__(
        rec, "state", ContainerState(status="running" if running else "exited", pid=pid if running else 0)
    )
    object.__setattr__(rec, "host_config", {"IpcMode": ipc})
    object.__setattr__(rec, "bundle", f"/run/test/{cid}")
    return rec


def lookup_of(*recs: ContainerRecord) -> Callable[[str], ContainerRecord]:
    by_id = {r.id: r for r in recs}

    def lookup(ref: str) -> ContainerRecord:
        if ref not in by_id:
            raise errors.ContainerNotFound(f"No such container: {ref}")
        return by_id[ref]

    return lookup


def testkernel_versions_from_uname() -> None:
    assert kernel_version("6.18.44-fc-v669") == (6, 18)
    assert kernel_version("4.8.0") == (4, 8)
    assert kernel_version("5.10rc1") == (5, 10)
    assert kernel_version("weird") == (0, 0)


def test_seccomp_default_unconfined_privileged_and_custom() -> None:
    default = load_daemon_seccomp("")
    caps = frozenset(DEFAULT_CAPABILITIES)
    oci = seccomp_for(host_config(), caps, HOST, default)
    assert oci is not None and oci["defaultAction"] == "SCMP_ACT_ERRNO"
    assert seccomp_for(host_config(SecurityOpt=["seccomp=unconfined"]), caps, HOST, default) is None
    assert seccomp_for(host_config(Privileged=True), caps, HOST, default) is None
    custom = host_config(SecurityOpt=['seccomp={"defaultAction":"SCMP_ACT_LOG"}'])
    assert seccomp_for(custom, caps, HOST, default) == {
        "defaultAction": "SCMP_ACT_LOG",
        "architectures": [],
        "syscalls": [],
    }
    # A daemon configured "unconfined" gives no default filter, but honours a container's own.
    assert seccomp_for(host_config(), caps, HOST, load_daemon_seccomp("unconfined")) is None
    assert seccomp_for(custom, caps, HOST, None) is not None


def test_daemon_seccomp_file(tmp_path: Any) -> None:
    path = tmp_path / "profile.json"
    path.write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    profile = load_daemon_seccomp(str(path))
    assert profile is not None and profile.default_action == "SCMP_ACT_ALLOW"
    with pytest.raises(errors.InvalidArgument):
        load_daemon_seccomp(str(tmp_path / "missing.json"))


def test_devices_resolve_from_the_host() -> None:
    (dev,) = resolve_devices(
        host_config(
            Devices=[{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull", "CgroupPermissions": "r"}]
        ).resources.devices
        or ()
    )
    st = os.stat("/dev/null")
    assert (dev.path, dev.type, dev.major, dev.minor, dev.permissions) == (
        "/dev/mynull",
        "c",
        os.major(st.st_rdev),
        os.minor(st.st_rdev),
        "r",
    )
    with pytest.raises(errors.InvalidArgument, match="no-such-device"):
        resolve_devices(host_config(Devices=[{"PathOnHost": "/dev/no-such-device"}]).resources.devices or ())


def test_block_devices_must_exist_and_be_block_devices() -> None:
    with pytest.raises(errors.InvalidArgument, match="not a block device"):
        block_device_numbers(host_config(BlkioDeviceReadBps=[{"Path": "/dev/null", "Rate": 1}]))
    with pytest.raises(errors.InvalidArgument, match="No such file"):
        block_device_numbers(host_config(BlkioDeviceWriteIOps=[{"Path": "/dev/nope", "Rate": 1}]))
    assert block_device_numbers(host_config()) == {}


def test_ipc_and_pid_of_another_container() -> None:
    iso = Isolation(HOST, lookup_of(record("donor"), record("private", ipc="private"), record("gone", running=False)))
    got = iso.for_start(host_config(IpcMode="container:donor", PidMode="container:donor"))
    assert got.ipc_ns_path == "/proc/4242/ns/ipc"
    assert got.pid_ns_path == "/proc/4242/ns/pid"
    assert [(m.source, m.target) for m in got.extra_mounts] == [("/run/test/donor/shm", "/dev/shm")]
    with pytest.raises(errors.Conflict, match="non-shareable IPC"):
        iso.for_start(host_config(IpcMode="container:private"))
    with pytest.raises(errors.Conflict, match="non running"):
        iso.for_start(host_config(PidMode="container:gone"))
    with pytest.raises(errors.NotFound):
        iso.for_start(host_config(PidMode="container:nobody"))


def test_init_needs_a_binary() -> None:
    assert Isolation(HOST).for_start(host_config(Init=True)).init_path == HOST.init_path
    assert Isolation(HOST).for_start(host_config()).init_path == ""
    no_init = HostFacts(HOST.capabilities, HOST.machine, HOST.kernel, HOST.seccomp, init_path="")
    with pytest.raises(errors.InvalidArgument, match="init"):
        Isolation(no_init).for_start(host_config(Init=True))


def spec_for(hc: HostConfig, iso: Isolation) -> dict[str, Any]:
    req = parse_create_request({"Image": "busybox", "Cmd": ["true"], "HostConfig": {}})
    got = iso.for_start(hc)
    return generate_spec(
        SpecInput(
            container_id="c" * 64,
            config=req.config,
            host_config=hc,
            user=ResolvedUser(uid=0, gid=0, additional_gids=(), home="/root"),
            args=("true",),
            seccomp=got.seccomp,
            devices=got.devices,
            init_path=got.init_path,
            available_capabilities=got.available_capabilities,
            extra_mounts=got.extra_mounts,
        )
    )


def test_privileged_gets_what_the_host_has_and_every_device() -> None:
    spec = spec_for(host_config(Privileged=True), Isolation(HOST))
    caps = spec["process"]["capabilities"]["bounding"]
    assert "CAP_SYS_ADMIN" in caps and "CAP_MAC_OVERRIDE" not in caps
    assert "seccomp" not in spec["linux"]
    assert "maskedPaths" not in spec["linux"]
    assert {"path": "/dev/null"}.items() <= next(
        d for d in spec["linux"]["devices"] if d["path"] == "/dev/null"
    ).items()
    assert spec["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]


def test_default_container_gets_seccomp_and_init() -> None:
    spec = spec_for(host_config(Init=True), Isolation(HOST, seccomp_default=load_daemon_seccomp()))
    assert spec["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert spec["process"]["args"][:2] == ["/sbin/docker-init", "--"]
    assert any(m["destination"] == "/sbin/docker-init" and m["source"] == HOST.init_path for m in spec["mounts"])


@pytest.mark.parametrize(
    ("key", "namespaces", "error"),
    [
        ("kernel.shmmax", ("ipc",), ""),
        ("fs.mqueue.msg_max", ("ipc",), ""),
        ("net.ipv4.ip_forward", ("network",), ""),
        ("kernel.shmmax", ("network",), "host's ipc namespace"),
        ("net.core.somaxconn", ("ipc",), "host's network namespace"),
        ("vm.swappiness", ("ipc", "network", "uts"), "not in a separate kernel namespace"),
        ("kernel/msgmax", ("uts",), "host's ipc namespace"),
    ],
)
def test_the_runtime_refuses_host_wide_sysctls(key: str, namespaces: tuple[str, ...], error: str) -> None:
    if error:
        with pytest.raises(errors.InvalidArgument, match=error):
            check_sysctls([key], namespaces)
    else:
        check_sysctls([key], namespaces)


def test_create_refuses_ipc_sysctls_in_the_host_ipc_namespace() -> None:
    with pytest.raises(errors.InvalidArgument, match="host IPC namespace"):
        host_config(IpcMode="host", Sysctls={"kernel.msgmax": "4096"})
    assert host_config(IpcMode="private", Sysctls={"kernel.msgmax": "4096"}).sysctls == {"kernel.msgmax": "4096"}
