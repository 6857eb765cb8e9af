"""Pure network parts: IPAM arithmetic and store, nft rules, hosts/resolv.conf, link env, DNS answers."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import dns.message
import dns.rcode
import pytest

from dockyard import errors
from dockyard.network.dns import answer
from dockyard.network.files import HostEntry, render_hosts, render_resolv_conf
from dockyard.network.hostroutes import parse_proc_routes
from dockyard.network.ipam import AddressPool, NetworkRecord, NetworkStore, first_free_address, mac_for, pick_subnet
from dockyard.network.links import link_env, parse_link
from dockyard.network.nftrules import BridgeRules, Publish, render_table
from dockyard.network.ports import PortMapping, PortRequest, PortReserver, port_requests, ports_json


def test_pick_subnet_skips_taken_and_overlapping() -> None:
    pools = [AddressPool("10.50.0.0/16", 24)]
    assert pick_subnet(pools, []) == "10.50.0.0/24"
    assert pick_subnet(pools, ["10.50.0.0/24", "10.50.1.128/25"]) == "10.50.2.0/24"
    with pytest.raises(errors.Unavailable):
        pick_subnet([AddressPool("10.50.0.0/24", 24)], ["10.0.0.0/8"])


def test_first_free_address_honours_range_and_reserved() -> None:
    assert first_free_address("10.0.0.0/24", "", ["10.0.0.1"]) == "10.0.0.2"
    assert first_free_address("10.0.0.0/24", "10.0.0.128/25", []) == "10.0.0.129"
    with pytest.raises(errors.Unavailable):
        first_free_address("10.0.0.0/30", "", ["10.0.0.1", "10.0.0.2"])


def test_mac_is_derived_from_the_address() -> None:
    assert mac_for("10.231.0.2") == "02:42:0a:e7:00:02"


def _net(nid: str = "n1") -> NetworkRecord:
    return NetworkRecord(
        id=nid, name=f"net-{nid}", driver="bridge", created="", subnet="10.9.0.0/29", gateway="10.9.0.1"
    )


def test_store_never_hands_out_an_address_twice_also_after_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "net.db")
    store = NetworkStore(path)
    net = _net()
    store.add(net)
    a = store.allocate(net, "c1")
    assert store.allocate(net, "c1") == a  # idempotent per container
    store.close()
    store = NetworkStore(path)
    b = store.allocate(net, "c2")
    assert a != b and net.gateway not in (a, b)
    with pytest.raises(errors.Conflict):
        store.allocate(net, "c3", wanted=a)
    with pytest.raises(errors.InvalidArgument):
        store.allocate(net, "c3", wanted="10.10.0.5")
    store.release_container("c1")
    assert store.allocate(net, "c3", wanted=a) == a
    assert store.get("net-n1").id == "n1" and store.get("n").id == "n1"
    with pytest.raises(errors.Conflict):
        store.add(net)
    with pytest.raises(errors.NotFound):
        store.get("nope")


def test_rules_publish_masquerade_and_isolation() -> None:
    script = render_table(
        "t",
        [BridgeRules("b0", "10.0.0.0/24", False, True), BridgeRules("b1", "10.0.1.0/24", True, True)],
        [Publish("tcp", "127.0.0.1", 8080, "10.0.0.2", 80), Publish("udp", "", 53, "10.0.0.3", 5353)],
    )
    assert "ip daddr 127.0.0.1 tcp dport 8080 dnat to 10.0.0.2:80" in script
    assert "\n    udp dport 53 dnat to 10.0.0.3:5353" in script
    assert 'ip saddr 10.0.0.0/24 oifname != "b0" masquerade' in script
    assert 'ip saddr 10.0.1.0/24 oifname != "b1" masquerade' not in script  # internal: no way out
    assert 'iifname "b0" oifname "b1" drop' in script and 'iifname "b1" oifname "b0" drop' in script
    assert script.startswith("table ip t {}\ndelete table ip t\n")


def test_hosts_and_resolv_rendering() -> None:
    hosts = render_hosts([HostEntry("10.0.0.2", ("box",))], ["db.test:10.1.1.1"], [HostEntry("10.0.0.3", ("db", "t"))])
    lines = hosts.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert lines.index("10.1.1.1\tdb.test") < lines.index("10.0.0.3\tdb t") < lines.index("10.0.0.2\tbox")
    host = "nameserver 127.0.0.53\nnameserver 9.9.9.9\nsearch corp\noptions edns0\n"
    assert render_resolv_conf(host, [], [], [], False) == "nameserver 9.9.9.9\nsearch corp\noptions edns0\n"
    assert render_resolv_conf(host, [], [], [], True) == "nameserver 127.0.0.11\nsearch corp\noptions edns0 ndots:0\n"
    out = render_resolv_conf(host, ["1.1.1.1"], ["a.b"], ["ndots:2"], False)
    assert out == "nameserver 1.1.1.1\nsearch a.b\noptions ndots:2\n"


def test_link_env_matches_docker_names() -> None:
    assert parse_link("web:db") == ("web", "db") and parse_link("/web") == ("web", "web")
    env = link_env("db", "app", "10.0.0.5", ["5432/tcp", "80/tcp"], ["PATH=/bin", "PW=s"])
    assert env[0] == "DB_PORT=tcp://10.0.0.5:80"
    assert "DB_PORT_5432_TCP_ADDR=10.0.0.5" in env and "DB_PORT_80_TCP_PROTO=tcp" in env
    assert "DB_NAME=/app/db" in env and "DB_ENV_PW=s" in env
    assert not any(e.startswith("DB_ENV_PATH") for e in env)


def test_dns_answers_our_names_and_forwards_others() -> None:
    table = {"web": ["10.0.0.2"], "alias": ["10.0.0.2", "10.0.0.3"]}
    q = dns.message.make_query("Alias.", "A")
    reply = answer(q, lambda n: table.get(n))
    assert reply is not None and reply.rcode() == dns.rcode.NOERROR
    assert sorted(r.address for r in reply.answer[0]) == ["10.0.0.2", "10.0.0.3"]
    aaaa = answer(dns.message.make_query("web", "AAAA"), lambda n: table.get(n))
    assert aaaa is not None and not aaaa.answer
    assert answer(dns.message.make_query("example.com", "A"), lambda n: table.get(n)) is None


def test_port_requests_and_json() -> None:
    reqs = port_requests({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}, ["80/tcp", "53/udp"], True)
    assert reqs == [PortRequest(80, "tcp", "127.0.0.1", "8080"), PortRequest(53, "udp", "", "")]
    js = ports_json(["80/tcp", "443/tcp"], [PortMapping(80, "tcp", "127.0.0.1", 8080)])
    assert js == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}], "443/tcp": None}


def test_reserver_detects_taken_ports_and_releases() -> None:
    r = PortReserver()
    (m,) = r.reserve("a", [PortRequest(80, "tcp", "127.0.0.1", "")])
    assert m.host_port > 0
    with pytest.raises(errors.Conflict, match="port is already allocated"):
        r.reserve("b", [PortRequest(81, "tcp", "127.0.0.1", str(m.host_port))])
    r.release("a")
    (again,) = r.reserve("b", [PortRequest(81, "tcp", "127.0.0.1", str(m.host_port))])
    assert again.host_port == m.host_port
    r.release("b")


def test_proc_routes_parse() -> None:
    text = (
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "br0\t0000D50A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
    )
    assert parse_proc_routes(text) == ["10.213.0.0/16"]
    assert ipaddress.ip_network("10.213.0.0/16")


def test_daemon_config_network_keys() -> None:
    from dockyard.daemon.config import config_from_mapping
    from dockyard.network.ipam import parse_pools

    cfg = config_from_mapping(
        {
            "bridge": "dyx0",
            "bip": "10.1.2.1/24",
            "ip-masq": False,
            "mtu": 1400,
            "default-address-pools": [{"base": "10.60.0.0/16", "size": 26}],
        }
    )
    assert (cfg.bridge, cfg.bip, cfg.ip_masq, cfg.mtu) == ("dyx0", "10.1.2.1/24", False, 1400)
    assert parse_pools(cfg.default_address_pools) == (AddressPool("10.60.0.0/16", 26),)
    with pytest.raises(errors.InvalidArgument):
        config_from_mapping({"mtu": 10})
    with pytest.raises(errors.InvalidArgument):
        config_from_mapping({"default-address-pools": "10.0.0.0/8"})
