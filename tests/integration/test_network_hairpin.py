"""Hairpin on the real kernel, in a namespace of the test's own standing in for the host: a
container namespace reaches its own published port through the bridge's gateway address. The
plumber turns hairpin mode on for each bridge port; with br_netfilter the DNATed packet is bridged
back out of the port it came in, which the bridge refuses otherwise (the control below)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from dockyard.network import netns
from dockyard.network.nftrules import BridgeRules, Publish, render_table
from dockyard.network.plumbing import LinuxPlumber

pytestmark = [pytest.mark.root, pytest.mark.timeout(90)]


@pytest.fixture
def host_ns() -> Iterator[str]:
    if shutil.which("nft") is None:
        pytest.skip("nft is not installed")
    name = f"dyhp-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield f"/run/netns/{name}"
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
    assert name not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


@pytest.fixture
def scratch() -> Iterator[str]:
    root = tempfile.mkdtemp(prefix="dy-hairpin-")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
    with open("/proc/self/mountinfo") as f:
        assert root not in f.read()


def _hairpin(link: str) -> bool:
    out = subprocess.run(["ip", "-d", "link", "show", link], capture_output=True, text=True, check=True).stdout
    return "hairpin on" in out


def _br_netfilter() -> bool:
    """Whether bridged IPv4 goes through netfilter in this namespace (br_netfilter loaded and on)."""
    try:
        with open("/proc/sys/net/bridge/bridge-nf-call-iptables") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def test_a_container_reaches_its_own_published_port_via_the_gateway(host_ns: str, scratch: str) -> None:
    def scenario() -> tuple[bool, bytes, str, bool, bool]:
        p = LinuxPlumber()
        p.ensure_bridge("dyhp0", "10.252.1.1/24", 1500)
        c = os.path.join(scratch, "c")
        p.create_netns(c)
        try:
            host_end = p.attach(c, "dyhp0", "eth0", "10.252.1.2/24", "10.252.1.1", "02:42:0a:fc:01:02", 1500)
            hairpin = _hairpin(host_end)
            bridge = [BridgeRules("dyhp0", "10.252.1.0/24", False, True)]
            p.apply_rules(render_table("dyhp", bridge, [Publish("tcp", "", 18080, "10.252.1.2", 80)]))

            def listen() -> socket.socket:
                s = socket.socket()
                s.bind(("10.252.1.2", 80))
                s.listen(4)
                s.settimeout(5)
                return s

            server = netns.run_in_netns(c, listen)

            def roundtrip() -> tuple[bytes, str]:
                client = netns.run_in_netns(c, lambda: socket.create_connection(("10.252.1.1", 18080), timeout=3))
                with client:
                    conn, peer = server.accept()
                    with conn:
                        conn.sendall(b"pong")
                    return client.recv(10), peer[0]

            try:
                got, peer = roundtrip()
                # Control: hairpin off, and (with br_netfilter) the same connection can't be made.
                subprocess.run(["ip", "link", "set", host_end, "type", "bridge_slave", "hairpin", "off"], check=True)
                br_nf = _br_netfilter()
                blocked = False
                if br_nf:
                    try:
                        roundtrip()
                    except OSError:
                        blocked = True
            finally:
                server.close()
            return hairpin, got, peer, br_nf, blocked
        finally:
            p.remove_netns(c)
            p.delete_bridge("dyhp0")

    hairpin, got, peer, br_nf, blocked = netns.run_in_netns(host_ns, scenario)
    assert hairpin
    assert got == b"pong"
    assert peer == "10.252.1.1"  # masqueraded, so the reply takes the NAT back
    assert blocked or not br_nf
