"""Networks through docker-py: create with IPAM and options, inspect shapes, connect with aliases
and a static address, ports in inspect, remove while in use (409), prune; then a leak check."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from dockyard.testing.daemon import DaemonProcess

docker = pytest.importorskip("docker")

pytestmark = [pytest.mark.compat, pytest.mark.root, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    if not os.path.exists("/bin/busybox"):
        pytest.skip("needs busybox-static")
    d = DaemonProcess()
    try:
        d.start()
        status, body = d.request("POST", "/dockyard/images/bootstrap?kind=busybox&tag=busybox:latest", timeout=120)
        assert status == 200, body
        c = docker.DockerClient(base_url=d.host, version="1.44", timeout=60)
        yield c
        c.close()
    finally:
        d.destroy()
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert d.root not in links


def _n(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def test_network_api_shapes_connect_and_prune(client: object) -> None:
    c = client  # docker.DockerClient
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet="10.216.5.0/24", gateway="10.216.5.254")])
    name = _n("pynet")
    net = c.networks.create(  # type: ignore[attr-defined]
        name,
        driver="bridge",
        ipam=ipam,
        labels={"team": "net"},
        options={"com.docker.network.driver.mtu": "1400"},
        check_duplicate=True,
    )
    try:
        attrs = c.api.inspect_network(net.id)  # type: ignore[attr-defined]
        assert attrs["Name"] == name and attrs["Driver"] == "bridge" and attrs["Scope"] == "local"
        assert attrs["IPAM"]["Config"] == [{"Subnet": "10.216.5.0/24", "Gateway": "10.216.5.254"}]
        assert attrs["Labels"] == {"team": "net"}
        bridge = attrs["Options"].get("com.docker.network.bridge.name") or f"dy-{net.id[:12]}"
        with open(f"/sys/class/net/{bridge}/mtu") as f:
            assert f.read().strip() == "1400"
        assert [n.name for n in c.networks.list(filters={"label": "team=net"})] == [name]  # type: ignore[attr-defined]
        with pytest.raises(docker.errors.APIError) as dup:
            c.networks.create(name, check_duplicate=True)  # type: ignore[attr-defined]
        assert dup.value.status_code == 409

        ctr = c.containers.run(  # type: ignore[attr-defined]
            "busybox", ["sleep", "300"], name=_n("py"), detach=True, ports={"80/tcp": ("127.0.0.1", None)}
        )
        net.connect(ctr, aliases=["dbalias"], ipv4_address="10.216.5.7")
        ctr.reload()
        eps = ctr.attrs["NetworkSettings"]["Networks"]
        assert eps[name]["IPAddress"] == "10.216.5.7" and "dbalias" in eps[name]["Aliases"]
        assert eps[name]["IPPrefixLen"] == 24 and eps[name]["Gateway"] == "10.216.5.254"
        assert eps["bridge"]["IPAddress"] and ctr.attrs["NetworkSettings"]["IPAddress"] == eps["bridge"]["IPAddress"]
        ports = ctr.attrs["NetworkSettings"]["Ports"]["80/tcp"]
        assert ports[0]["HostIp"] == "127.0.0.1" and int(ports[0]["HostPort"]) > 0
        assert c.api.port(ctr.id, 80)[0]["HostPort"] == ports[0]["HostPort"]  # type: ignore[attr-defined]
        members = c.api.inspect_network(net.id)["Containers"]  # type: ignore[attr-defined]
        assert members[ctr.id]["IPv4Address"] == "10.216.5.7/24"
        with pytest.raises(docker.errors.APIError) as busy:
            net.remove()
        assert busy.value.status_code == 409
        net.disconnect(ctr)
        ctr.remove(force=True)
        pruned = c.networks.prune()  # type: ignore[attr-defined]
        assert name in (pruned.get("NetworksDeleted") or [])
        with pytest.raises(docker.errors.NotFound):
            c.networks.get(net.id)  # type: ignore[attr-defined]
    finally:
        for ctr in c.containers.list(all=True):  # type: ignore[attr-defined]
            ctr.remove(force=True)
        for n in c.networks.list(filters={"type": "custom"}):  # type: ignore[attr-defined]
            n.remove()


def test_builtin_networks_cannot_be_removed(client: object) -> None:
    c = client
    names = {n.name for n in c.networks.list()}  # type: ignore[attr-defined]
    assert {"bridge", "host", "none"} <= names
    with pytest.raises(docker.errors.APIError) as err:
        c.networks.get("bridge").remove()  # type: ignore[attr-defined]
    assert err.value.status_code == 403
