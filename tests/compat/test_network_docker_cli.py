"""Networks through the real docker CLI against a private dockyardd: DNS, aliases, links,
published ports, isolation, internal networks, connect/disconnect, conflicts, IPAM across restarts.
Every test ends with a leak check of links, nft tables, mounts and namespaces."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from dockyard.testing.daemon import DaemonProcess

from .published_ports import assert_published_ports_answer, run_two_port_server, wait_until

pytestmark = [pytest.mark.compat, pytest.mark.root, pytest.mark.timeout(240)]


def _links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def _tables() -> set[str]:
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout
    return set(out.split("\n"))


class Net:
    def __init__(self, d: DaemonProcess) -> None:
        self.d = d
        with open(os.path.join(d.root, "daemon.json")) as f:
            self.cfg = json.load(f)

    @property
    def table(self) -> str:
        return f"dockyard_{self.cfg['bridge']}"

    def docker(self, *args: str, check: bool = True, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(["docker", *args], env=self.d.env(), capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed: {r.stderr}\n{self.d.read_log()[-2000:]}")
        return r

    def ip_of(self, name: str, network: str) -> str:
        fmt = '{{(index .NetworkSettings.Networks "' + network + '").IPAddress}}'
        return self.docker("inspect", "-f", fmt, name).stdout.strip()


@pytest.fixture(scope="module")
def private_daemon() -> Iterator[DaemonProcess]:
    if not os.path.exists("/bin/busybox"):
        pytest.skip("needs busybox-static")
    d = DaemonProcess()
    made: set[str] = set()
    try:
        d.start()
        status, body = d.request("POST", "/dockyard/images/bootstrap?kind=busybox&tag=busybox:latest", timeout=120)
        assert status == 200, body
        yield d
    finally:
        with contextlib.suppress(Exception):
            status, nets = d.request("GET", "/networks")
            made = {x["Options"].get("com.docker.network.bridge.name", "") for x in nets if x["Driver"] == "bridge"}
        with open(os.path.join(d.root, "daemon.json")) as f:
            bridge = json.load(f)["bridge"]
        d.destroy()
    # After the daemon is gone: no bridge it made and no table of its own.
    assert not ({bridge, *made} - {""}) & _links()
    assert f"table ip dockyard_{bridge}" not in _tables()


@pytest.fixture
def net(private_daemon: DaemonProcess) -> Iterator[Net]:
    n = Net(private_daemon)
    yield n
    private_daemon.remove_all_containers()
    status, nets = private_daemon.request("GET", "/networks?filters=%7B%22type%22%3A%5B%22custom%22%5D%7D")
    assert status == 200
    custom_bridges = {x["Options"].get("com.docker.network.bridge.name") or f"dy-{x['Id'][:12]}" for x in nets}
    for x in nets:
        assert private_daemon.request("DELETE", f"/networks/{x['Id']}")[0] == 204
    # Leak check: the networks' bridges, veths on the default bridge, namespaces, publish rules, addresses.
    assert not custom_bridges & _links()
    ns_dir = os.path.join(private_daemon.exec_root, "netns")
    assert not os.listdir(ns_dir) if os.path.isdir(ns_dir) else True
    enslaved = subprocess.run(["ip", "-o", "link", "show", "master", n.cfg["bridge"]], capture_output=True, text=True)
    assert enslaved.stdout.strip() == ""
    rules = subprocess.run(["nft", "list", "chain", "ip", n.table, "publish"], capture_output=True, text=True).stdout
    assert "dnat to" not in rules
    addrs = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    assert not [line for line in addrs.splitlines() if any(b in line.split() for b in custom_bridges)]
    with open("/proc/self/mountinfo") as f:
        assert ns_dir not in f.read()


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def test_default_bridge_gives_address_route_and_hosts(net: Net) -> None:
    out = net.docker(
        "run",
        "--rm",
        "--hostname",
        "boxy",
        "--add-host",
        "extra.test:10.1.2.3",
        "busybox",
        "sh",
        "-c",
        "ip -4 addr show eth0; ip route; cat /etc/hosts",
    ).stdout
    sub = net.cfg["bip"].rsplit(".", 1)[0]
    assert f"inet {sub}." in out
    assert f"default via {net.cfg['bip'].split('/')[0]}" in out
    assert "boxy" in out and "10.1.2.3\textra.test" in out


def test_user_network_name_and_alias_resolution(net: Net) -> None:
    nw, srv = _name("net"), _name("srv")
    net.docker("network", "create", nw)
    net.docker(
        "run",
        "-d",
        "--name",
        srv,
        "--network",
        nw,
        "--network-alias",
        "webalias",
        "busybox",
        "sh",
        "-c",
        "while true; do echo pong | nc -l -p 7000; done",
    )
    for target in (srv, "webalias"):
        r = net.docker(
            "run",
            "--rm",
            "--network",
            nw,
            "busybox",
            "sh",
            "-c",
            f"for i in $(seq 50); do nc {target} 7000 </dev/null && exit 0; sleep 0.2; done; exit 1",
        )
        assert "pong" in r.stdout
    r = net.docker("run", "--rm", "--network", nw, "busybox", "nslookup", srv, "127.0.0.11")
    assert net.ip_of(srv, nw) in r.stdout
    insp = json.loads(net.docker("network", "inspect", nw).stdout)[0]
    assert any(c["Name"] == srv for c in insp["Containers"].values())
    # On a user network a --link is a DNS alias, seen only by the linking container.
    r = net.docker(
        "run", "--rm", "--network", nw, "--link", f"{srv}:dblink", "busybox", "nslookup", "dblink", "127.0.0.11"
    )
    assert net.ip_of(srv, nw) in r.stdout


def test_network_events_and_connect_before_start(net: Net) -> None:
    nw, c = _name("ev"), _name("late")
    since = str(int(time.time()) - 1)
    net.docker("network", "create", nw)
    net.docker("create", "--name", c, "busybox", "sleep", "300")
    net.docker("network", "connect", "--alias", "lateone", nw, c)
    net.docker("start", c)
    out = net.docker("run", "--rm", "--network", nw, "busybox", "nslookup", "lateone", "127.0.0.11").stdout
    assert net.ip_of(c, nw) in out and net.ip_of(c, "bridge")
    net.docker("rm", "-f", c)
    net.docker("network", "rm", nw)
    until = str(int(time.time()) + 1)
    events = net.docker(
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        "type=network",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ).stdout.splitlines()
    assert f"create {nw}" in events and f"connect {nw}" in events
    assert f"disconnect {nw}" in events and f"destroy {nw}" in events


def test_link_env_and_hosts_one_way(net: Net) -> None:
    target, linker = _name("tgt"), _name("lnk")
    net.docker("run", "-d", "--name", target, "--expose", "80", "-e", "SECRET=x1", "busybox", "sleep", "300")
    out = net.docker(
        "run", "--rm", "--name", linker, "--link", f"{target}:db", "busybox", "sh", "-c", "env; cat /etc/hosts"
    ).stdout
    ip = net.ip_of(target, "bridge")
    assert f"DB_PORT_80_TCP=tcp://{ip}:80" in out
    assert f"DB_NAME=/{linker}/db" in out and "DB_ENV_SECRET=x1" in out
    assert f"{ip}\tdb" in out
    # The linked container learns nothing.
    path = net.docker("inspect", "-f", "{{.HostsPath}}", target).stdout.strip()
    with open(path) as f:
        hosts = f.read()
    assert "db" not in hosts.split() and linker not in hosts


def test_published_port_from_host_loopback_and_bridge_address(net: Net) -> None:
    name = _name("pub")
    p1, p2 = run_two_port_server(net.docker, name)
    assert f"127.0.0.1:{p1}" in net.docker("port", name).stdout
    assert_published_ports_answer(net.docker, net.cfg["bip"].split("/")[0], p1, p2)


def test_port_conflict_is_a_clear_error(net: Net) -> None:
    holder = socket.socket()
    holder.bind(("0.0.0.0", 0))
    port = holder.getsockname()[1]
    try:
        r = net.docker("run", "-d", "--name", _name("cf"), "-p", f"{port}:80", "busybox", "sleep", "30", check=False)
        assert r.returncode != 0
        assert "port is already allocated" in r.stderr
    finally:
        holder.close()


def test_networks_are_isolated_and_internal_has_no_way_out(net: Net) -> None:
    n1, n2, n3 = _name("iso"), _name("iso"), _name("int")
    net.docker("network", "create", n1)
    net.docker("network", "create", n2)
    net.docker("network", "create", "--internal", n3)
    a = _name("a")
    net.docker(
        "run", "-d", "--name", a, "--network", n1, "busybox", "sh", "-c", "while true; do echo hi | nc -l -p 7001; done"
    )
    ip = net.ip_of(a, n1)
    same = net.docker(
        "run",
        "--rm",
        "--network",
        n1,
        "busybox",
        "sh",
        "-c",
        f"for i in $(seq 30); do nc {ip} 7001 </dev/null && exit 0; sleep 0.2; done; exit 1",
    )
    assert "hi" in same.stdout
    other = net.docker("run", "--rm", "--network", n2, "busybox", "nc", "-w", "2", ip, "7001", check=False)
    assert "hi" not in other.stdout
    # --dns 127.0.0.1: the embedded server's upstream, so the unknown name never leaves the host.
    name_lookup = net.docker(
        "run", "--rm", "--network", n2, "--dns", "127.0.0.1", "busybox", "nslookup", a, "127.0.0.11", check=False
    )
    assert ip not in name_lookup.stdout
    internal = net.docker("run", "--rm", "--network", n3, "busybox", "ip", "route", check=False)
    assert "default" not in internal.stdout
    reach = net.docker("run", "--rm", "--network", n3, "busybox", "nc", "-w", "2", ip, "7001", check=False)
    assert "hi" not in reach.stdout


def test_connect_and_disconnect_at_run_time(net: Net) -> None:
    n1, n2 = _name("cn"), _name("cn")
    net.docker("network", "create", n1)
    net.docker("network", "create", "--subnet", "10.215.77.0/24", n2)
    c = _name("c")
    net.docker("run", "-d", "--name", c, "--network", n1, "busybox", "sleep", "300")
    net.docker("network", "connect", "--ip", "10.215.77.9", n2, c)
    # Look inside through a container sharing its namespace (--network container:).
    out = net.docker("run", "--rm", "--network", f"container:{c}", "busybox", "ip", "-4", "addr").stdout
    assert "10.215.77.9/24" in out
    assert net.ip_of(c, n2) == "10.215.77.9"
    r = net.docker("network", "rm", n2, check=False)
    assert r.returncode != 0 and "active endpoints" in r.stderr
    net.docker("network", "disconnect", n2, c)
    out = net.docker("run", "--rm", "--network", f"container:{c}", "busybox", "ip", "-4", "addr").stdout
    assert "10.215.77.9" not in out
    net.docker("network", "rm", n2)


def test_ipam_survives_a_daemon_restart(net: Net) -> None:
    nw = _name("ipam")
    net.docker("network", "create", nw)
    first = _name("first")
    net.docker(
        "run",
        "-d",
        "--name",
        first,
        "--network",
        nw,
        "-p",
        "127.0.0.1::7300",
        "busybox",
        "sh",
        "-c",
        "while true; do echo kept | nc -l -p 7300; done",
    )
    ip1 = net.ip_of(first, nw)
    ports = json.loads(net.docker("inspect", "-f", "{{json .NetworkSettings.Ports}}", first).stdout)
    port = int(ports["7300/tcp"][0]["HostPort"])
    net.d.kill9()
    net.d.start()

    def fetch() -> bytes:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
                return s.recv(100)
        except OSError:
            return b""

    # The published port works after the restart, and is held again so no one else can take it.
    assert wait_until(lambda: fetch() == b"kept\n")
    taker = socket.socket()
    with pytest.raises(OSError):
        taker.bind(("127.0.0.1", port))
    taker.close()
    second = _name("second")
    net.docker("run", "-d", "--name", second, "--network", nw, "busybox", "sleep", "300")
    ip2 = net.ip_of(second, nw)
    assert ip1 and ip2 and ip1 != ip2
    assert net.ip_of(first, nw) == ip1
    # The embedded DNS is back for the restored container too.
    r = net.docker("run", "--rm", "--network", f"container:{first}", "busybox", "nslookup", second, "127.0.0.11")
    assert ip2 in r.stdout


def test_static_ip_mac_dns_options_host_and_none(net: Net) -> None:
    nw = _name("st")
    net.docker("network", "create", "--subnet", "10.215.88.0/24", "--ip-range", "10.215.88.128/25", nw)
    out = net.docker(
        "run",
        "--rm",
        "--network",
        nw,
        "--ip",
        "10.215.88.50",
        "--mac-address",
        "02:42:aa:bb:cc:dd",
        "--dns",
        "127.0.0.1",
        "--dns-search",
        "corp.test",
        "--dns-option",
        "ndots:3",
        "busybox",
        "sh",
        "-c",
        "ip addr show eth0; cat /etc/resolv.conf",
    ).stdout
    assert "10.215.88.50/24" in out and "02:42:aa:bb:cc:dd" in out
    assert "nameserver 127.0.0.11" in out and "search corp.test" in out and "ndots:3" in out
    auto = net.docker("run", "--rm", "--network", nw, "busybox", "ip", "-4", "addr", "show", "eth0").stdout
    assert "10.215.88.129/24" in auto  # from the ip-range
    none = net.docker("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link").stdout
    assert "eth0" not in none
    host_links = net.docker("run", "--rm", "--network", "host", "busybox", "ip", "-o", "link").stdout
    assert net.cfg["bridge"] in host_links


def test_publish_all_uses_exposed_ports(net: Net) -> None:
    name = _name("pall")
    net.docker(
        "run",
        "-d",
        "--name",
        name,
        "--expose",
        "9000",
        "--expose",
        "9001/udp",
        "-P",
        "busybox",
        "sh",
        "-c",
        "while true; do echo all | nc -l -p 9000; done",
    )
    ports = json.loads(net.docker("inspect", "-f", "{{json .NetworkSettings.Ports}}", name).stdout)
    assert set(ports) == {"9000/tcp", "9001/udp"}
    port = int(ports["9000/tcp"][0]["HostPort"])
    assert port > 0 and f"0.0.0.0:{port}" in net.docker("port", name, "9000").stdout

    def fetch() -> bytes:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
                return s.recv(100)
        except OSError:
            return b""

    assert wait_until(lambda: fetch() == b"all\n")
    net.docker("stop", "-t", "1", name)
    assert fetch() == b""
    rules = subprocess.run(["nft", "list", "chain", "ip", net.table, "publish"], capture_output=True, text=True).stdout
    assert f"dport {port}" not in rules


def test_failed_start_releases_namespace_ports_and_address(net: Net) -> None:
    name = _name("bad")
    r = net.docker("run", "--name", name, "-p", "127.0.0.1::80", "busybox", "/no/such/binary", check=False)
    assert r.returncode != 0
    settings = json.loads(net.docker("inspect", "-f", "{{json .NetworkSettings}}", name).stdout)
    assert settings["SandboxKey"] == "" and settings["Networks"]["bridge"]["IPAddress"] == ""
    # The fixture's leak check then finds no namespace, veth or publish rule of it.
