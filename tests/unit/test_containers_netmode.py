"""Create options that a shared network or UTS namespace rules out, with dockerd's messages."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.containers.create_request import parse_create_request
from dockyard.containers.netmode import check_network_mode_conflicts
from dockyard.errors import InvalidArgument


def check(config: dict[str, Any], host_config: dict[str, Any]) -> None:
    req = parse_create_request({"Image": "busybox", **config, "HostConfig": host_config})
    check_network_mode_conflicts(req.config, req.host_config)


JOINED = {"NetworkMode": "container:web"}


@pytest.mark.parametrize(
    ("config", "host_config", "message"),
    [
        ({"Hostname": "side"}, JOINED, "conflicting options: hostname and the network mode"),
        ({}, {**JOINED, "Links": ["db:db"]}, "conflicting options: container type network can't be used with links"),
        ({}, {**JOINED, "Dns": ["127.0.0.1"]}, "conflicting options: dns and the network mode"),
        ({}, {**JOINED, "ExtraHosts": ["h:10.0.0.1"]}, "conflicting options: custom host-to-IP mapping"),
        (
            {},
            {**JOINED, "PortBindings": {"80/tcp": [{"HostPort": "8080"}]}},
            "conflicting options: port publishing and the container type network mode",
        ),
        ({}, {**JOINED, "PublishAllPorts": True}, "conflicting options: port publishing"),
        ({"ExposedPorts": {"80/tcp": {}}}, JOINED, "conflicting options: port exposing and the container type"),
        ({"MacAddress": "02:42:ac:11:00:02"}, JOINED, "conflicting options: mac-address and the network mode"),
        ({"MacAddress": "02:42:ac:11:00:02"}, {"NetworkMode": "host"}, "conflicting options: mac-address"),
        ({"Hostname": "h"}, {"UTSMode": "host"}, "conflicting options: hostname and the UTS mode"),
        ({}, {"NetworkMode": "host", "Links": ["db:db"]}, "conflicting options: host type networking can't be used"),
    ],
)
def test_conflicts_are_rejected(config: dict[str, Any], host_config: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=f"^{message}"):
        check(config, host_config)


@pytest.mark.parametrize(
    ("config", "host_config"),
    [
        ({}, JOINED),  # what the docker CLI sends for `--network container:web`
        ({}, {**JOINED, "PortBindings": {}, "Dns": [], "ExtraHosts": None, "Links": None}),
        ({"Hostname": "h", "ExposedPorts": {"80/tcp": {}}}, {"NetworkMode": "bridge", "Links": ["db:db"]}),
        ({"Hostname": "h", "MacAddress": "02:42:ac:11:00:02"}, {"NetworkMode": "mynet", "Dns": ["10.0.0.1"]}),
        ({"Hostname": "h", "ExposedPorts": {"80/tcp": {}}}, {"NetworkMode": "host", "Dns": ["10.0.0.1"]}),
        ({}, {"UTSMode": "host"}),
    ],
)
def test_what_the_modes_allow(config: dict[str, Any], host_config: dict[str, Any]) -> None:
    check(config, host_config)
