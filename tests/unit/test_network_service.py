"""NetworkService against the fake plumber: create/list/remove, and a container's start/stop on the
default bridge (addresses, namespace, rules, files, link env)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.containers.create_request import parse_create_request
from dockyard.containers.store import ContainerRecord
from dockyard.engine.networks import NetworkOptions, NetworkService
from dockyard.network.ipam import AddressPool, NetworkStore
from dockyard.testing.fakenet import FakePlumber


class FakeContainers:
    def __init__(self) -> None:
        self.recs: dict[str, ContainerRecord] = {}

    def get(self, ref: str) -> ContainerRecord:
        for r in self.recs.values():
            if ref in (r.id, r.name):
                return r
        raise errors.NotFound(ref)

    def all(self) -> list[ContainerRecord]:
        return list(self.recs.values())

    def update_record(self, rec: ContainerRecord) -> None:
        self.recs[rec.id] = rec


@pytest.fixture
def svc(tmp_path: Path) -> tuple[NetworkService, FakePlumber, FakeContainers]:
    plumber = FakePlumber()
    opts = NetworkOptions(
        exec_root=str(tmp_path / "exec"), bridge="dyunit0", bip="10.77.0.1/24", pools=(AddressPool("10.78.0.0/16", 24),)
    )
    s = NetworkService(NetworkStore(str(tmp_path / "net.db")), plumber, opts)
    cs = FakeContainers()
    s.bind_containers(cs)
    asyncio.run(s.setup())
    return s, plumber, cs


def _record(tmp_path: Path, cid: str, name: str, body: dict[str, object]) -> ContainerRecord:
    d = tmp_path / cid
    d.mkdir()
    return ContainerRecord(
        id=cid,
        name=name,
        created="",
        image="busybox",
        image_id="x",
        config=body,
        host_config=dict(body.get("HostConfig") or {}),  # type: ignore[call-overload]
        hosts_path=str(d / "hosts"),
        resolv_conf_path=str(d / "resolv.conf"),
    )


def test_builtin_networks_and_user_network_lifecycle(svc: tuple[NetworkService, FakePlumber, FakeContainers]) -> None:
    s, plumber, _ = svc
    names = {n.name for n in s.list_networks({})}
    assert names == {"bridge", "host", "none"}
    assert plumber.bridges["dyunit0"] == "10.77.0.1/24"
    nid, _ = asyncio.run(s.create({"Name": "mine", "Labels": {"a": "b"}}))
    net = s.get("mine")
    assert net.id == nid and net.subnet == "10.78.0.0/24" and plumber.bridges[net.bridge] == "10.78.0.1/24"
    assert [n.name for n in s.list_networks({"label": ["a=b"]})] == ["mine"]
    with pytest.raises(errors.Conflict):
        asyncio.run(s.create({"Name": "mine"}))
    with pytest.raises(errors.Forbidden):
        asyncio.run(s.remove("bridge"))
    js = s.to_json(net)
    assert js["IPAM"]["Config"] == [{"Subnet": "10.78.0.0/24", "Gateway": "10.78.0.1"}] and js["Containers"] == {}
    asyncio.run(s.remove("mine"))
    assert net.bridge not in plumber.bridges
    with pytest.raises(errors.NotFound):
        s.get("mine")


def test_container_on_default_bridge_start_and_stop(
    svc: tuple[NetworkService, FakePlumber, FakeContainers], tmp_path: Path
) -> None:
    s, plumber, cs = svc
    body = {"Image": "busybox", "Hostname": "tgt", "ExposedPorts": {"80/tcp": {}}, "Env": ["K=v"]}
    req = parse_create_request(body)
    settings = asyncio.run(s.on_create("a" * 64, "tgt", req.config, req.host_config, req.networking))
    tgt = replace(_record(tmp_path, "a" * 64, "tgt", body), network_settings=settings)
    tgt = tgt.with_state(pid=1, status="running")
    ns_path, started = asyncio.run(s.on_start(tgt))
    tgt = replace(tgt, network_settings=started)
    cs.update_record(tgt)
    assert ns_path is not None and ns_path in plumber.namespaces
    eth0 = plumber.namespaces[ns_path]["eth0"]
    assert eth0.address == "10.77.0.2/24" and eth0.gateway == "10.77.0.1" and eth0.mac == "02:42:0a:4d:00:02"
    assert started["IPAddress"] == "10.77.0.2" and started["Networks"]["bridge"]["Gateway"] == "10.77.0.1"
    assert "10.77.0.2\ttgt" in Path(tgt.hosts_path).read_text()

    lbody = {
        "Image": "busybox",
        "HostConfig": {"Links": ["tgt:db"], "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1"}]}},
    }
    lreq = parse_create_request(lbody)
    lsettings = asyncio.run(s.on_create("b" * 64, "app", lreq.config, lreq.host_config, lreq.networking))
    app = replace(_record(tmp_path, "b" * 64, "app", lbody), network_settings=lsettings)
    _, astarted = asyncio.run(s.on_start(app))
    app = replace(app, network_settings=astarted)
    assert "DB_PORT_80_TCP=tcp://10.77.0.2:80" in s.link_env(app) and "DB_ENV_K=v" in s.link_env(app)
    assert "10.77.0.2\tdb tgt" in Path(app.hosts_path).read_text()
    port = int(astarted["Ports"]["80/tcp"][0]["HostPort"])
    assert f"tcp dport {port} dnat to 10.77.0.3:80" in plumber.rules

    asyncio.run(s.on_stop(app))
    stopped = asyncio.run(s.on_stop(tgt))
    assert stopped["Networks"]["bridge"]["IPAddress"] == "" and plumber.namespaces == {}
    assert "dnat to" not in plumber.rules
    asyncio.run(s.shutdown())


def test_create_refuses_unknown_networks_and_bad_static_ips(
    svc: tuple[NetworkService, FakePlumber, FakeContainers],
) -> None:
    s, _, _ = svc
    req = parse_create_request({"Image": "busybox", "HostConfig": {"NetworkMode": "nope"}})
    with pytest.raises(errors.NotFound):
        asyncio.run(s.on_create("c" * 64, "c", req.config, req.host_config, req.networking))
    req = parse_create_request(
        {
            "Image": "busybox",
            "NetworkingConfig": {"EndpointsConfig": {"bridge": {"IPAMConfig": {"IPv4Address": "10.77.0.9"}}}},
        }
    )
    with pytest.raises(errors.InvalidArgument, match="user configured subnets"):
        asyncio.run(s.on_create("c" * 64, "c", req.config, req.host_config, req.networking))
