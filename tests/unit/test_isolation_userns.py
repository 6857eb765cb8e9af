"""userns-remap: subordinate id ranges, and the user namespace they put in the spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard import errors
from dockyard.containers.capabilities import ALL_CAPABILITIES
from dockyard.containers.create_request import parse_create_request
from dockyard.containers.specgen import SpecInput, generate_spec
from dockyard.containers.user import ResolvedUser
from dockyard.engine.isolation import HostFacts, Isolation, SharedShmMounter
from dockyard.engine.userns_remap import IdMaps, isolation_mounter, parse_subid, remap_for

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


def test_a_remap_is_refused_until_remapped_rootfs_exists() -> None:
    class Inner:
        def mount(self, mounts: object, target: str) -> None: ...
        def unmount(self, target: str) -> None: ...
        def is_mounted(self, target: str) -> bool:
            return False

    assert isinstance(isolation_mounter(Inner(), None), SharedShmMounter)
    with pytest.raises(errors.NotImplementedYet, match="userns-remap"):
        isolation_mounter(Inner(), IdMaps(1, 2, 3, 4))


def test_remapped_spec_has_a_user_namespace() -> None:
    maps = IdMaps(300000, 65536, 400000, 65536)
    iso = Isolation(HOST, remap=(maps.uid_mappings, maps.gid_mappings))
    req = parse_create_request({"Image": "busybox", "Cmd": ["true"]})
    got = iso.for_start(req.host_config)
    spec = generate_spec(
        SpecInput(
            container_id="c" * 64,
            config=req.config,
            host_config=req.host_config,
            user=ResolvedUser(uid=0, gid=0, additional_gids=(), home="/root"),
            args=("true",),
            uid_mappings=got.uid_mappings,
            gid_mappings=got.gid_mappings,
        )
    )
    assert {"type": "user"} in spec["linux"]["namespaces"]
    assert spec["linux"]["uidMappings"] == [{"containerID": 0, "hostID": 300000, "size": 65536}]
    assert spec["linux"]["gidMappings"] == [{"containerID": 0, "hostID": 400000, "size": 65536}]
    with pytest.raises(errors.InvalidArgument, match="privileged"):
        iso.for_start(parse_create_request({"Image": "b", "HostConfig": {"Privileged": True}}).host_config)
    assert Isolation(HOST).for_start(req.host_config).uid_mappings == ()
