"""userns-remap: subordinate id ranges, and the user namespace they put in the spec."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.containers.capabilities import ALL_CAPABILITIES
from dockyard.containers.create_request import parse_create_request
from dockyard.containers.specgen import SpecInput, generate_spec
from dockyard.containers.user import ResolvedUser
from dockyard.engine.isolation import HostFacts, Isolation, security_options
from dockyard.engine.userns_remap import IdMaps, check_searchable, next_free_range, parse_subid, remap_for
from dockyard.idmaps import OVERFLOW_ID

SUBUID = "# comment\nalice:100000:65536\n1001:200000:65536\nbroken:x:1\nzero:5:0\ndockremap:300000:65536\n"
HOST = HostFacts(frozenset(ALL_CAPABILITIES), "x86_64", (6, 1), True)


def test_parse_subid_by_name_or_id() -> None:
    assert parse_subid(SUBUID, ["alice"]) == (100000, 65536)
    assert parse_subid(SUBUID, ["someone", "1001"]) == (200000, 65536)
    assert parse_subid(SUBUID, ["broken"]) is None
    assert parse_subid(SUBUID, ["zero"]) is None  # an empty range is no range


def test_remap_setting_forms(tmp_path: Path) -> None:
    (tmp_path / "subuid").write_text(SUBUID)
    (tmp_path / "subgid").write_text(SUBUID)
    files = {"subuid": str(tmp_path / "subuid"), "subgid": str(tmp_path / "subgid")}
    assert remap_for("default", **files) == IdMaps(300000, 65536, 300000, 65536)
    assert remap_for("alice:dockremap", **files) == IdMaps(100000, 65536, 300000, 65536)
    with pytest.raises(errors.InvalidArgument, match="no subordinate uid range for 'nobody-here'"):
        remap_for("nobody-here", **files)


def _spec(
    netns: str | None, uid_mappings: tuple[tuple[int, int, int], ...], gid_mappings: tuple[tuple[int, int, int], ...]
) -> dict[str, Any]:
    req = parse_create_request({"Image": "busybox", "Cmd": ["true"]})
    return generate_spec(
        SpecInput(
            container_id="c" * 64,
            config=req.config,
            host_config=req.host_config,
            user=ResolvedUser(uid=0, gid=0, additional_gids=(), home="/root"),
            args=("true",),
            network_namespace=netns,
            uid_mappings=uid_mappings,
            gid_mappings=gid_mappings,
        )
    )


def _remapped_spec(netns: str | None) -> dict[str, Any]:
    maps = IdMaps(300000, 65536, 300000, 65536)
    return _spec(netns, maps.uid_mappings, maps.gid_mappings)


def test_remapped_spec_has_a_user_namespace() -> None:
    maps = IdMaps(300000, 65536, 400000, 65536)
    iso = Isolation(HOST, remap=(maps.uid_mappings, maps.gid_mappings))
    req = parse_create_request({"Image": "busybox", "Cmd": ["true"]})
    got = iso.for_start(req.host_config)
    spec = _spec(None, got.uid_mappings, got.gid_mappings)
    assert {"type": "user"} in spec["linux"]["namespaces"]
    assert spec["linux"]["uidMappings"] == [{"containerID": 0, "hostID": 300000, "size": 65536}]
    assert spec["linux"]["gidMappings"] == [{"containerID": 0, "hostID": 400000, "size": 65536}]
    with pytest.raises(errors.InvalidArgument, match="privileged"):
        iso.for_start(parse_create_request({"Image": "b", "HostConfig": {"Privileged": True}}).host_config)
    assert Isolation(HOST).for_start(req.host_config).uid_mappings == ()


def test_id_maps_shift_both_ways() -> None:
    maps = IdMaps(300000, 65536, 400000, 1000)
    assert (maps.host_uid(0), maps.host_uid(65535), maps.host_gid(999)) == (300000, 365535, 400999)
    assert (maps.container_uid(300000), maps.container_gid(400999)) == (0, 999)
    # Host ids outside the range show as the kernel's overflow id, like a stat inside would.
    assert (maps.container_uid(0), maps.container_gid(401000)) == (OVERFLOW_ID, OVERFLOW_ID)
    with pytest.raises(errors.InvalidArgument, match="gid 1000 cannot be mapped"):
        maps.host_gid(1000)
    with pytest.raises(errors.InvalidArgument, match="uid -1"):
        maps.host_uid(-1)
    assert maps.root == (300000, 400000)


def test_next_free_range_follows_every_range() -> None:
    assert next_free_range([""]) == 100000
    assert next_free_range([SUBUID, "x:500000:10\n"]) == 500010
    assert next_free_range(["a:1000:10\n"], first=200000) == 200000


def test_default_makes_dockremap_with_a_free_range(tmp_path: Path) -> None:
    subuid, subgid = tmp_path / "subuid", tmp_path / "subgid"
    subuid.write_text("alice:100000:65536")  # no final newline: the new line must still start a line
    subgid.write_text("alice:100000:65536\nbob:165536:65536\n")
    made: list[str] = []
    maps = remap_for("default", str(subuid), str(subgid), useradd=made.append)
    assert maps == IdMaps(231072, 65536, 231072, 65536)
    assert subuid.read_text() == "alice:100000:65536\ndockremap:231072:65536\n"
    assert subgid.read_text().endswith("bob:165536:65536\ndockremap:231072:65536\n")
    try:
        pwd.getpwnam("dockremap")
        assert made == []  # an existing user is reused
    except KeyError:
        assert made == ["dockremap"]
    # A second start finds the ranges and adds nothing.
    assert remap_for("default", str(subuid), str(subgid), useradd=made.append) == maps
    assert subuid.read_text().count("dockremap") == 1


def test_a_failing_useradd_is_a_clear_error(tmp_path: Path) -> None:
    def fail(name: str) -> None:
        raise subprocess.CalledProcessError(1, ["useradd", name])

    try:
        pwd.getpwnam("dockremap")
        pytest.skip("dockremap exists on this host")
    except KeyError:
        pass
    with pytest.raises(errors.InvalidArgument, match="cannot create the user dockremap"):
        remap_for("default", str(tmp_path / "subuid"), str(tmp_path / "subgid"), useradd=fail)


def test_remap_refuses_host_namespaces_and_privileged_at_create() -> None:
    maps = IdMaps(300000, 65536, 300000, 65536)
    iso = Isolation(HOST, remap=(maps.uid_mappings, maps.gid_mappings))

    def hc(**fields: object) -> Any:
        return parse_create_request({"Image": "b", "HostConfig": fields}).host_config

    for fields, message in (
        ({"Privileged": True}, "privileged mode is incompatible"),
        ({"NetworkMode": "host"}, "host's network namespace"),
        ({"PidMode": "host"}, "host PID namespace"),
    ):
        with pytest.raises(errors.InvalidArgument, match=message):
            iso.check_create(hc(**fields))
        iso.check_create(hc(**fields, UsernsMode="host"))  # opting out lifts it
        Isolation(HOST).check_create(hc(**fields))  # and without a remap nothing is refused
    assert iso.for_start(hc(UsernsMode="host", Privileged=True)).uid_mappings == ()


def test_a_remapped_root_in_a_daemon_made_netns_binds_sys() -> None:
    joined = _remapped_spec("/run/dockyard/netns/c")
    sys_mount = next(m for m in joined["mounts"] if m["destination"] == "/sys")
    assert sys_mount["type"] == "bind" and sys_mount["source"] == "/sys" and "ro" in sys_mount["options"]
    # the daemon writes these into the namespace itself (prime_netns): the runtime could not
    assert "net.ipv4.ip_unprivileged_port_start" not in joined["linux"].get("sysctl", {})
    own = _remapped_spec(None)  # a netns the runtime makes inside the user namespace: sysfs works
    assert next(m for m in own["mounts"] if m["destination"] == "/sys")["type"] == "sysfs"
    assert own["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"] == "0"


def test_every_directory_above_the_state_must_be_searchable() -> None:
    base = tempfile.mkdtemp(prefix="dockyard-searchable-")  # pytest's tmp_path sits below a 0700 directory
    try:
        os.chmod(base, 0o755)
        closed = os.path.join(base, "closed")
        os.makedirs(os.path.join(closed, "data"))
        os.chmod(closed, 0o700)
        with pytest.raises(errors.InvalidArgument, match=r"cannot pass through .*closed \(mode 700\)"):
            check_searchable(os.path.join(closed, "data", "not-yet"))
        os.chmod(closed, 0o711)
        check_searchable(os.path.join(closed, "data", "not-yet"))
    finally:
        shutil.rmtree(base)


def test_info_security_options_name_the_remap() -> None:
    assert security_options(HOST, "", True, "1") == ["name=seccomp,profile=builtin", "name=userns"]
    assert security_options(HOST, "unconfined", False, "2") == ["name=seccomp,profile=unconfined", "name=cgroupns"]
    no_seccomp = HostFacts(HOST.capabilities, HOST.machine, HOST.kernel, False)
    assert security_options(no_seccomp, "", False, "1") == []
