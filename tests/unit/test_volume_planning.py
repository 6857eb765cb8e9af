"""Mount planning from create requests, names, driver options and mountinfo: pure parts of volumes."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from dockyard import errors
from dockyard.containers.create_request import parse_create_request
from dockyard.volumes.mountpoints import MountPoint, parse_volumes_from, plan_mounts
from dockyard.volumes.names import new_volume_name, validate_volume_name
from dockyard.volumes.options import parse_local_options
from dockyard.volumes.propagation import check_propagation, mount_of


def plan(
    host_config: dict[str, object],
    volumes: list[str] | None = None,
    inherited: Sequence[tuple[Sequence[MountPoint], str]] = (),
) -> list[MountPoint]:
    body: dict[str, object] = {"Image": "busybox", "HostConfig": host_config}
    if volumes:
        body["Volumes"] = {v: {} for v in volumes}
    req = parse_create_request(body)
    return plan_mounts(req.config, req.host_config, inherited)


def by_dest(points: list[MountPoint]) -> dict[str, MountPoint]:
    return {p.destination: p for p in points}


def test_binds_become_binds_and_volumes() -> None:
    points = by_dest(plan({"Binds": ["/host/a:/a:ro,rslave", "named:/b", "other:/c:nocopy"]}))
    a = points["/a"]
    assert (a.type, a.source, a.rw, a.propagation, a.mode, a.create_source) == (
        "bind",
        "/host/a",
        False,
        "rslave",
        "ro,rslave",
        True,
    )
    assert a.to_json() == {
        "Type": "bind",
        "Source": "/host/a",
        "Destination": "/a",
        "Mode": "ro,rslave",
        "RW": False,
        "Propagation": "rslave",
    }
    b = points["/b"]
    assert (b.type, b.name, b.driver, b.rw, b.copy_data, b.anonymous, b.mode) == (
        "volume",
        "named",
        "local",
        True,
        True,
        False,
        "z",
    )
    assert points["/c"].copy_data is False


def test_bind_default_propagation_is_rprivate() -> None:
    (p,) = plan({"Binds": ["/src:/dst"]})
    assert p.propagation == "rprivate" and p.rw


def test_mounts_follow_docker_semantics() -> None:
    points = by_dest(
        plan(
            {
                "Mounts": [
                    {
                        "Type": "bind",
                        "Source": "/srv",
                        "Target": "/srv",
                        "ReadOnly": True,
                        "BindOptions": {"Propagation": "rshared"},
                    },
                    {
                        "Type": "volume",
                        "Source": "data",
                        "Target": "/data",
                        "VolumeOptions": {
                            "NoCopy": True,
                            "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs", "device": "tmpfs"}},
                        },
                    },
                    {"Type": "volume", "Target": "/anon"},
                    {"Type": "tmpfs", "Target": "/tmp", "TmpfsOptions": {"SizeBytes": 1 << 20}},
                ]
            }
        )
    )
    srv = points["/srv"]
    assert (srv.type, srv.rw, srv.propagation, srv.create_source) == ("bind", False, "rshared", False)
    data = points["/data"]
    assert data.copy_data is False and data.driver_options == {"type": "tmpfs", "device": "tmpfs"}
    assert points["/anon"].anonymous and points["/anon"].name == ""
    assert points["/tmp"].type == "tmpfs" and points["/tmp"].to_json()["Source"] == ""


def test_config_volumes_are_anonymous_unless_covered() -> None:
    points = by_dest(plan({"Binds": ["vv:/covered"], "Tmpfs": {"/scratch": ""}}, ["/covered", "/scratch", "/new"]))
    assert set(points) == {"/covered", "/new"}
    assert points["/covered"].name == "vv"
    new = points["/new"]
    assert new.anonymous and new.copy_data and new.mode == ""


def test_volumes_from_inherits_and_binds_override() -> None:
    theirs = [
        MountPoint("volume", "/shared", source="/x/_data", name="v", driver="local", copy_data=True),
        MountPoint("volume", "/ro", source="/y/_data", name="w", driver="local", rw=False),
        MountPoint("bind", "/over", source="/host", propagation="rprivate"),
        MountPoint("tmpfs", "/t"),
    ]
    points = by_dest(plan({"Binds": ["/mine:/over"]}, inherited=[(theirs, "rw")]))
    assert set(points) == {"/shared", "/ro", "/over"}
    assert points["/shared"].copy_data is False and points["/shared"].rw
    assert points["/ro"].rw is False  # "rw" does not make a read-only mount writable
    assert points["/over"].source == "/mine"
    ro = by_dest(plan({}, inherited=[(theirs, "ro")]))
    assert not ro["/shared"].rw


def test_mount_point_record_round_trip() -> None:
    p = MountPoint("volume", "/d", source="/s", name="n", driver="local", labels={"a": "b"}, copy_data=True)
    assert MountPoint.from_record(p.to_record()) == p


@pytest.mark.parametrize(
    ("entry", "expected"), [("web", ("web", "")), ("web:ro", ("web", "ro")), ("web:rw", ("web", "rw"))]
)
def test_parse_volumes_from(entry: str, expected: tuple[str, str]) -> None:
    assert parse_volumes_from(entry) == expected


def test_parse_volumes_from_bad_mode() -> None:
    with pytest.raises(errors.InvalidArgument, match="invalid mode"):
        parse_volumes_from("web:rx")


@pytest.mark.parametrize("bad", ["a", "-x", "with/slash", "sp ace", ".hidden", "ü"])
def test_invalid_volume_names(bad: str) -> None:
    with pytest.raises(errors.InvalidArgument, match="includes invalid characters"):
        validate_volume_name(bad)


def test_invalid_volume_name_in_bind_is_refused() -> None:
    with pytest.raises(errors.InvalidArgument, match="includes invalid characters"):
        plan({"Binds": ["./rel:/x"]})


def test_valid_and_generated_names() -> None:
    for good in ("ab", "my_vol.1-x", "0a"):
        validate_volume_name(good)
    name = new_volume_name()
    validate_volume_name(name)
    assert len(name) == 64 and name != new_volume_name()


def test_local_options() -> None:
    assert parse_local_options({}) is None
    t = parse_local_options({"type": "tmpfs", "device": "tmpfs", "o": "size=1m,uid=1000"})
    assert t is not None and (t.fstype, t.device, t.options) == ("tmpfs", "tmpfs", ("size=1m", "uid=1000"))
    with pytest.raises(errors.InvalidArgument, match='invalid option: "colour"'):
        parse_local_options({"colour": "red"})
    with pytest.raises(errors.InvalidArgument, match='missing required option: "device"'):
        parse_local_options({"type": "tmpfs"})
    with pytest.raises(errors.InvalidArgument, match='missing required option: "type"'):
        parse_local_options({"device": "/dev/sda1"})
    with pytest.raises(errors.InvalidArgument, match="no such file"):
        parse_local_options({"type": "none", "device": "/nonexistent/dockyard-test", "o": "bind"})


MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
40 27 0:50 / /srv/shared rw,relatime shared:7 - tmpfs tmpfs rw
41 27 0:51 / /srv/slave rw,relatime master:7 - tmpfs tmpfs rw
42 27 0:52 / /srv/with\\040space rw shared:9 - tmpfs tmpfs rw
"""


def test_mount_of_finds_longest_prefix() -> None:
    assert mount_of("/srv/shared/x/y", MOUNTINFO) == ("/srv/shared", frozenset({"shared"}))
    assert mount_of("/srv/sharedness", MOUNTINFO)[0] == "/"
    assert mount_of("/srv/with space/a", MOUNTINFO)[1] == frozenset({"shared"})


def test_check_propagation() -> None:
    check_propagation("/srv/shared/a", "rshared", MOUNTINFO)
    check_propagation("/srv/slave/a", "rslave", MOUNTINFO)
    check_propagation("/anything", "rprivate", MOUNTINFO)
    with pytest.raises(errors.InvalidArgument, match="not a shared mount"):
        check_propagation("/srv/slave/a", "shared", MOUNTINFO)
    with pytest.raises(errors.InvalidArgument, match="not a shared or slave mount"):
        check_propagation("/home/x", "slave", MOUNTINFO)
