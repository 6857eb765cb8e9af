"""LinuxPlumber, namespaces, nft and the embedded DNS server on the real kernel.

Everything made here (a bridge, two namespaces, an nft table) is named uniquely and removed
by fixtures, also when a test fails; the leak check runs after each test."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator

import dns.message
import pytest

from dockyard.network import netns
from dockyard.network.dns import DnsServer
from dockyard.network.nftrules import BridgeRules, Publish, delete_table, render_table
from dockyard.network.plumbing import LinuxPlumber

pytestmark = [pytest.mark.root, pytest.mark.timeout(60)]


def _links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def env() -> Iterator[tuple[LinuxPlumber, str, str]]:
    if shutil.which("nft") is None:
        pytest.skip("nft is not installed")
    tag = secrets.token_hex(3)
    bridge, table = f"dyit{tag}", f"dyit_{tag}"
    root = tempfile.mkdtemp(prefix="dy-netns-")
    p = LinuxPlumber()
    try:
        yield p, bridge, root
    finally:
        for name in os.listdir(root):
            p.remove_netns(os.path.join(root, name))
        p.delete_bridge(bridge)
        subprocess.run(["nft", "-f", "-"], input=delete_table(table).encode(), capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)
    assert bridge not in _links()
    with open("/proc/self/mountinfo") as f:
        assert root not in f.read()


def _in(ns: str, fn):  # type: ignore[no-untyped-def]
    return netns.run_in_netns(ns, fn)


def test_two_namespaces_talk_over_the_bridge_and_are_torn_down(env: tuple[LinuxPlumber, str, str]) -> None:
    p, bridge, root = env
    p.ensure_bridge(bridge, "10.219.3.1/24", 1400)
    p.ensure_bridge(bridge, "10.219.3.1/24", 1400)  # idempotent
    a, b = os.path.join(root, "a"), os.path.join(root, "b")
    p.create_netns(a)
    p.create_netns(b)
    host_a = p.attach(a, bridge, "eth0", "10.219.3.2/24", "10.219.3.1", "02:42:0a:db:03:02", 1400)
    host_b = p.attach(b, bridge, "eth0", "10.219.3.3/24", "10.219.3.1", "02:42:0a:db:03:03", 1400)
    assert (
        f"master {bridge}"
        in subprocess.run(["ip", "-o", "link", "show", host_a], capture_output=True, text=True).stdout
    )

    def listen() -> socket.socket:
        s = socket.socket()
        s.bind(("10.219.3.3", 7100))
        s.listen(1)
        return s

    server = _in(b, listen)

    def connect() -> tuple[str, str]:
        with socket.create_connection(("10.219.3.3", 7100), timeout=5) as c:
            c.sendall(b"hello")
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            link = ipr.get_links(ipr.link_lookup(ifname="eth0")[0])[0]
            return str(link.get("IFLA_ADDRESS")), str(link.get("IFLA_MTU"))

    mac, mtu = _in(a, connect)
    conn, peer = server.accept()
    with conn:
        assert conn.recv(5) == b"hello" and peer[0] == "10.219.3.2"
    server.close()
    assert (mac, mtu) == ("02:42:0a:db:03:02", "1400")
    p.detach(a, "eth0")
    assert host_a not in _links()
    p.remove_netns(b)
    assert not os.path.exists(b)
    assert host_b not in _links()  # gone at once, not when the kernel gets round to freeing the namespace


def test_rules_load_and_replace_atomically(env: tuple[LinuxPlumber, str, str]) -> None:
    p, bridge, _ = env
    table = "dyit_" + bridge[4:]
    p.apply_rules(
        render_table(
            table,
            [BridgeRules(bridge, "10.219.4.0/24", False, True)],
            [Publish("tcp", "127.0.0.1", 18099, "10.219.4.2", 80)],
        )
    )
    listed = subprocess.run(["nft", "list", "table", "ip", table], capture_output=True, text=True, check=True).stdout
    assert "dnat to 10.219.4.2:80" in listed
    p.apply_rules(render_table(table, [BridgeRules(bridge, "10.219.4.0/24", False, True)], []))
    listed = subprocess.run(["nft", "list", "table", "ip", table], capture_output=True, text=True, check=True).stdout
    assert "dnat to" not in listed and "masquerade" in listed


def test_embedded_dns_answers_inside_the_namespace(env: tuple[LinuxPlumber, str, str]) -> None:
    _, _, root = env
    ns = os.path.join(root, "dns")
    netns.create_netns(ns)

    async def scenario() -> tuple[list[str], int]:
        server = DnsServer(ns, lambda name: ["10.0.0.7"] if name == "web" else None, ["127.0.0.1"])
        await server.start()
        try:

            def ask(name: str) -> dns.message.Message:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(10)
                s.sendto(dns.message.make_query(name, "A").to_wire(), ("127.0.0.11", 53))
                data = s.recv(4096)
                s.close()
                return dns.message.from_wire(data)

            known = await asyncio.to_thread(_in, ns, lambda: ask("web"))
            unknown = await asyncio.to_thread(_in, ns, lambda: ask("elsewhere.invalid"))
            return [r.address for r in known.answer[0]], unknown.rcode()
        finally:
            server.close()

    addrs, rcode = asyncio.run(scenario())
    assert addrs == ["10.0.0.7"]
    assert rcode != 0  # forwarded to 127.0.0.1 where nothing answers: SERVFAIL, not a made-up answer
