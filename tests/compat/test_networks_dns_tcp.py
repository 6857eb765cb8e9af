"""The embedded DNS server answers over TCP inside a real container (a query sent from the
container's network namespace, as ``dig +tcp`` would), and still over UDP (busybox nslookup),
without taking port 53 from the container."""

from __future__ import annotations

import json
import re
import shutil
import socket
import struct
import subprocess
import time
import uuid

import dns.flags
import dns.message
import pytest

from dockyard.network import netns
from dockyard.testing.daemon import DaemonProcess
from dockyard.testing.docker_cli import docker as _docker

pytestmark = [pytest.mark.compat, pytest.mark.root, pytest.mark.timeout(180)]


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed mid-message")
        buf += chunk
    return buf


def _tcp_query(pid: int, name: str) -> dns.message.Message:
    """An A query over TCP to 127.0.0.11:53 from inside the network namespace of process ``pid``."""

    def ask() -> dns.message.Message:
        wire = dns.message.make_query(name, "A").to_wire()
        with socket.create_connection(("127.0.0.11", 53), timeout=15) as s:
            s.sendall(struct.pack("!H", len(wire)) + wire)
            (size,) = struct.unpack("!H", _recv_exact(s, 2))
            return dns.message.from_wire(_recv_exact(s, size))

    return netns.run_in_netns(f"/proc/{pid}/ns/net", ask)


def test_container_names_and_aliases_resolve_over_tcp(docker_cli: dict[str, str], user_network: str) -> None:
    srv, client = f"srv-{uuid.uuid4().hex[:6]}", f"cli-{uuid.uuid4().hex[:6]}"
    _docker(
        docker_cli, "run", "-d", "--name", srv, "--network", user_network, "--network-alias", "tcpalias", "busybox",
        "sleep", "600",
    )  # fmt: skip
    # --dns 127.0.0.1: unknown names go nowhere off the host.
    _docker(
        docker_cli, "run", "-d", "--name", client, "--network", user_network, "--dns", "127.0.0.1", "busybox",
        "sleep", "600",
    )  # fmt: skip
    fmt = '{{json (index .NetworkSettings.Networks "' + user_network + '")}}'
    ip = json.loads(_docker(docker_cli, "inspect", "-f", fmt, srv).stdout)["IPAddress"]
    pid = int(_docker(docker_cli, "inspect", "-f", "{{.State.Pid}}", client).stdout)
    for name in (srv, "tcpalias"):
        reply = _tcp_query(pid, name)
        assert not reply.flags & dns.flags.TC
        assert [rr.address for rr in reply.answer[0]] == [ip]
    assert _tcp_query(pid, "nosuchname-" + uuid.uuid4().hex[:6]).rcode() != 0
    # UDP still answers alongside.
    out = _docker(docker_cli, "exec", client, "nslookup", srv, "127.0.0.11").stdout
    assert ip in out


def test_port_53_is_left_to_the_container(docker_cli: dict[str, str], user_network: str) -> None:
    """Like Docker's, the embedded server only borrows 127.0.0.11:53 through a redirect: a DNS
    server of the container's own can listen on port 53 (TCP and UDP), and names still resolve."""
    srv, own = f"srv-{uuid.uuid4().hex[:6]}", f"own-{uuid.uuid4().hex[:6]}"
    _docker(docker_cli, "run", "-d", "--name", srv, "--network", user_network, "busybox", "sleep", "600")
    _docker(
        docker_cli, "run", "-d", "--name", own, "--network", user_network, "--dns", "127.0.0.1", "busybox",
        "sh", "-c", "nc -ll -p 53 -e echo own-tcp & sleep 600",
    )  # fmt: skip
    fmt = '{{json (index .NetworkSettings.Networks "' + user_network + '")}}'
    ip = json.loads(_docker(docker_cli, "inspect", "-f", fmt, srv).stdout)["IPAddress"]
    own_ip = json.loads(_docker(docker_cli, "inspect", "-f", fmt, own).stdout)["IPAddress"]
    pid = int(_docker(docker_cli, "inspect", "-f", "{{.State.Pid}}", own).stdout)

    def bind_udp_53() -> socket.socket:
        # busybox has no UDP server: the test takes UDP port 53 in the container's namespace.
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", 53))
        return s

    udp_own = netns.run_in_netns(f"/proc/{pid}/ns/net", bind_udp_53)
    try:
        answer = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "own-tcp" not in answer:
            answer = _docker(docker_cli, "exec", own, "nc", "-w", "3", own_ip, "53", check=False).stdout
            time.sleep(0.1)
        assert "own-tcp" in answer  # the container's own TCP server on port 53
        listening = _docker(docker_cli, "exec", own, "netstat", "-ltn").stdout
        assert re.search(r"(0\.0\.0\.0|::):53\s", listening), listening  # all addresses, v4 (or dual-stack)
        assert [rr.address for rr in _tcp_query(pid, srv).answer[0]] == [ip]
        assert ip in _docker(docker_cli, "exec", own, "nslookup", srv, "127.0.0.11").stdout
    finally:
        udp_own.close()


def test_names_resolve_over_both_protocols_after_a_daemon_restart(own_daemon: DaemonProcess) -> None:
    """The restarted daemon serves DNS on new ports and replaces the redirect to the old ones."""
    env = own_daemon.env()
    nw, srv = f"dnsrs-{uuid.uuid4().hex[:6]}", f"srv-{uuid.uuid4().hex[:6]}"
    _docker(env, "network", "create", nw)
    _docker(env, "run", "-d", "--name", srv, "--network", nw, "--dns", "127.0.0.1", "busybox", "sleep", "600")
    fmt = '{{json (index .NetworkSettings.Networks "' + nw + '")}}'
    ip = json.loads(_docker(env, "inspect", "-f", fmt, srv).stdout)["IPAddress"]
    pid = int(_docker(env, "inspect", "-f", "{{.State.Pid}}", srv).stdout)
    assert [rr.address for rr in _tcp_query(pid, srv).answer[0]] == [ip]
    own_daemon.stop()
    own_daemon.start()  # the container lives on
    assert int(_docker(env, "inspect", "-f", "{{.State.Pid}}", srv).stdout) == pid
    assert [rr.address for rr in _tcp_query(pid, srv).answer[0]] == [ip]
    assert ip in _docker(env, "exec", srv, "nslookup", srv, "127.0.0.11").stdout
    if shutil.which("nft") is not None:  # the daemon's backend ("auto" picks nftables then)
        rules = netns.run_in_netns(
            f"/proc/{pid}/ns/net",
            lambda: subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout,
        )
        assert rules.count("dnat to 127.0.0.11:") == 2  # replaced, not added to
