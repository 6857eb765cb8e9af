"""``-v`` bind strings."""

from __future__ import annotations

import pytest

from dockyard.containers.binds import parse_bind, valid_mount_mode
from dockyard.containers.create_request import parse_create_request
from dockyard.containers.mountspec import BindOptions, MountSpec, VolumeOptions
from dockyard.errors import InvalidArgument


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/data", MountSpec("volume", "/data")),
        ("/srv:/data", MountSpec("bind", "/data", "/srv")),
        ("/srv:/data:ro", MountSpec("bind", "/data", "/srv", read_only=True)),
        ("/srv:/data/:rw,rshared", MountSpec("bind", "/data", "/srv", bind_options=BindOptions("rshared"))),
        ("cache:/var/cache", MountSpec("volume", "/var/cache", "cache")),
        ("cache:/c:ro,nocopy", MountSpec("volume", "/c", "cache", True, volume_options=VolumeOptions(no_copy=True))),
        ("/srv:/data:z", MountSpec("bind", "/data", "/srv")),
    ],
)
def test_parse_bind(raw: str, expected: MountSpec) -> None:
    assert parse_bind(raw) == expected


def test_volume_driver_applies_to_volumes_only() -> None:
    assert parse_bind("v:/d", "local").volume_options == VolumeOptions(driver_name="local")
    assert parse_bind("/h:/d", "local").volume_options is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "invalid volume specification: ''"),
        (":/data", "invalid volume specification: ':/data'"),
        ("/data:ro", "invalid volume specification: '/data:ro'"),
        ("a:b:c:d", "invalid volume specification: 'a:b:c:d'"),
        ("/srv:/data:rx", "invalid mode: rx"),
        ("/srv:/data:ro,rw", "invalid mode: ro,rw"),
        ("/srv:data", "invalid mount path: 'data' mount path must be absolute"),
        ("/srv:/", "destination can't be '/'"),
        ("/srv:/d:nocopy", "field VolumeOptions must not be specified"),
    ],
)
def test_invalid_binds(raw: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        parse_bind(raw)
    assert message in exc.value.message


def test_mount_modes() -> None:
    assert valid_mount_mode("")
    assert valid_mount_mode("ro,z,rslave,nocopy,cached")
    assert not valid_mount_mode("ro,ro")
    assert not valid_mount_mode("shared,slave")
    assert not valid_mount_mode("bogus")


def test_create_validates_binds() -> None:
    with pytest.raises(InvalidArgument, match="invalid mode: xyz"):
        parse_create_request({"HostConfig": {"Binds": ["/a:/b:xyz"]}})
    assert parse_create_request({"HostConfig": {"Binds": ["/a:/b:ro"]}}).host_config.binds == ("/a:/b:ro",)
