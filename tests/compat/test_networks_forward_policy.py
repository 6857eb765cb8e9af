"""A host whose iptables FORWARD policy is DROP (Docker, ufw and firewalld set it) still forwards
dockyard's traffic, with either firewall backend: containers reach the outside, the outside
reaches published ports, containers on one network reach each other (br_netfilter sends bridged
traffic through FORWARD too).

Everything happens in two network namespaces the test makes: "host", where the policy is set and
a private dockyardd runs, and "outside", linked to it by a veth pair. The host's own policy and
rules are never touched; deleting the namespaces removes all that was made in them."""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from dockyard.network import netns
from dockyard.network.iptables import chain_prefix
from dockyard.testing.daemon import DaemonProcess

from .published_ports import wait_until

pytestmark = [pytest.mark.compat, pytest.mark.root, pytest.mark.timeout(300)]


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed: {r.stderr}")
    return r


@dataclass
class World:
    backend: str
    host_ns: str
    out_ns: str
    host_addr: str  # the "host"'s address on the link to "outside"
    out_addr: str
    daemon: DaemonProcess
    prefix: str  # our iptables chains' prefix

    def path(self, ns: str) -> str:
        return f"/run/netns/{ns}"

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(["docker", *args], env=self.daemon.env(), capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed: {r.stderr}\n{self.daemon.read_log()[-2000:]}")
        return r

    def in_host(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run("ip", "netns", "exec", self.host_ns, *cmd, check=check)


@pytest.fixture(scope="module", params=["nftables", "iptables"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    backend = str(request.param)
    for tool in ("ip", "iptables", "iptables-save", *(("nft",) if backend == "nftables" else ())):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    tag = secrets.token_hex(3)
    host_ns, out_ns = f"dyfwh-{tag}", f"dyfwo-{tag}"
    third = secrets.randbelow(250) + 1
    host_addr, out_addr = f"10.251.{third}.1", f"10.251.{third}.2"
    made: list[str] = []
    daemon: DaemonProcess | None = None
    try:
        for ns in (host_ns, out_ns):
            _run("ip", "netns", "add", ns)
            made.append(ns)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        link = f"dyo{tag}"
        _run("ip", "-n", host_ns, "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", out_ns)
        _run("ip", "-n", host_ns, "addr", "add", f"{host_addr}/24", "dev", link)
        _run("ip", "-n", host_ns, "link", "set", link, "up")
        _run("ip", "-n", out_ns, "addr", "add", f"{out_addr}/24", "dev", "eth0")
        _run("ip", "-n", out_ns, "link", "set", "eth0", "up")
        _run("ip", "netns", "exec", host_ns, "iptables", "-P", "FORWARD", "DROP")
        daemon = DaemonProcess(config={"firewall-backend": backend})
        # Started from a thread inside "host": the daemon, and all it makes, live there.
        netns.run_in_netns(f"/run/netns/{host_ns}", daemon.start)
        status, body = daemon.request("POST", "/dockyard/images/bootstrap?kind=busybox&tag=busybox:latest", timeout=120)
        assert status == 200, body
        with open(f"{daemon.root}/daemon.json") as f:
            prefix = chain_prefix(json.load(f)["bridge"])
        yield World(backend, host_ns, out_ns, host_addr, out_addr, daemon, prefix)
    finally:
        if daemon is not None:
            daemon.destroy()
        for ns in made:
            _run("ip", "netns", "del", ns, check=False)
    listed = _run("ip", "netns", "list").stdout
    assert host_ns not in listed and out_ns not in listed


@pytest.fixture
def network(world: World) -> Iterator[str]:
    name = f"fw-{uuid.uuid4().hex[:6]}"
    world.docker("network", "create", name)
    try:
        yield name
    finally:
        world.daemon.remove_all_containers()
        world.docker("network", "rm", name, check=False)


def _listen_in(ns_path: str, addr: str) -> socket.socket:
    def make() -> socket.socket:
        s = socket.socket()
        s.bind((addr, 0))
        s.listen(8)
        return s

    return netns.run_in_netns(ns_path, make)


class Receiver:
    """Accepts connections on a listening socket in the background and keeps what they sent."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.port = int(sock.getsockname()[1])
        self.got: list[bytes] = []
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    self.got.append(conn.recv(100))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.sock.close()


@pytest.fixture
def outside_server(world: World) -> Iterator[Receiver]:
    r = Receiver(_listen_in(world.path(world.out_ns), world.out_addr))
    try:
        yield r
    finally:
        r.close()


def _send_out(world: World, network: str, server: Receiver, word: str) -> bool:
    """A container on ``network`` sends ``word`` to the server outside; did it arrive?"""
    world.docker(
        "run", "--rm", "--network", network, "busybox",
        "sh", "-c", f"echo {word} | nc -w 3 {world.out_addr} {server.port}", check=False,
    )  # fmt: skip
    return wait_until(lambda: any(word.encode() in g for g in server.got), timeout=3)


def test_the_policy_is_drop_in_the_test_namespace_only(world: World) -> None:
    assert "-P FORWARD DROP" in world.in_host("iptables", "-S", "FORWARD").stdout
    # The real host is untouched by this test (whatever its own policy is, it isn't ours to change).
    assert world.prefix not in _run("iptables-save").stdout


def test_containers_reach_the_outside(world: World, network: str, outside_server: Receiver) -> None:
    assert _send_out(world, network, outside_server, "from-user-net")
    assert _send_out(world, "bridge", outside_server, "from-default-bridge")
    # Control: without our FORWARD rules the policy drops the same traffic...
    world.in_host("iptables", "-F", f"{world.prefix}-FWD")
    assert not _send_out(world, network, outside_server, "while-flushed")
    # ... and the next change of the rules (a new network) restores them.
    other = f"fw-{uuid.uuid4().hex[:6]}"
    world.docker("network", "create", other)
    try:
        assert _send_out(world, network, outside_server, "restored")
    finally:
        world.docker("network", "rm", other, check=False)


def test_outside_reaches_a_published_port(world: World, network: str) -> None:
    srv = f"pub-{uuid.uuid4().hex[:6]}"
    world.docker(
        "run", "-d", "--name", srv, "--network", network, "-p", "7000", "busybox",
        "sh", "-c", "while true; do echo published-pong | nc -l -p 7000; done",
    )  # fmt: skip
    port = int(world.docker("port", srv, "7000/tcp").stdout.split()[0].rsplit(":", 1)[1])

    def ask() -> bytes:
        def connect() -> bytes:
            with socket.create_connection((world.host_addr, port), timeout=3) as c:
                c.settimeout(3)
                return c.recv(100)

        with contextlib.suppress(OSError):
            return netns.run_in_netns(world.path(world.out_ns), connect)
        return b""

    assert wait_until(lambda: b"published-pong" in ask(), timeout=40)


def test_containers_on_one_network_talk_through_the_bridge(world: World, network: str) -> None:
    srv = f"peer-{uuid.uuid4().hex[:6]}"
    world.docker(
        "run", "-d", "--name", srv, "--network", network, "busybox",
        "sh", "-c", "while true; do echo peer-pong | nc -l -p 7000; done",
    )  # fmt: skip
    r = world.docker(
        "run", "--rm", "--network", network, "busybox", "sh", "-c",
        f"for i in $(seq 40); do r=$(nc -w 2 {srv} 7000 </dev/null) && [ -n \"$r\" ] && echo $r && exit 0; "
        "sleep 0.2; done; exit 1",
        check=False,
    )  # fmt: skip
    assert "peer-pong" in r.stdout, r.stderr


def test_iptables_rules_follow_the_policy(world: World) -> None:
    """nftables backend: the iptables chain is there only while the policy is DROP (it is not
    needed otherwise), also when the policy changes behind the daemon's back; iptables backend:
    it is always there, it's where the rules live."""
    jump = f"-A FORWARD -j {world.prefix}-FWD"

    def reload() -> str:
        name = f"fw-{uuid.uuid4().hex[:6]}"
        world.docker("network", "create", name)  # any change reloads the rules
        world.docker("network", "rm", name)
        return world.in_host("iptables-save").stdout

    assert jump in world.in_host("iptables-save").stdout
    world.in_host("iptables", "-P", "FORWARD", "ACCEPT")
    try:
        saved = reload()
        assert (jump in saved) == (world.backend == "iptables")
        assert (world.prefix in saved) == (world.backend == "iptables")
    finally:
        world.in_host("iptables", "-P", "FORWARD", "DROP")
    # The policy turning DROP later (Docker or ufw starting after us) is noticed without any
    # change of ours: the daemon checks every 30 s.
    assert wait_until(lambda: jump in world.in_host("iptables-save").stdout, timeout=90)
    assert jump in reload()
