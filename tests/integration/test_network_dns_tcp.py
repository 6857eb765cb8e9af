"""The embedded DNS server over TCP, in a namespace of the test's own: truncated UDP answers
and the TCP retry, several queries on one connection, forwarding over TCP to an upstream, and
the redirect of 127.0.0.11:53 (both protocols) that leaves port 53 to the container.

The upstream is a small TCP DNS server of the test's on a 127.0.0.0/8 address of the host."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import struct
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from dockyard.network import netns
from dockyard.network.dns import DnsServer, frame
from dockyard.network.dns_redirect import DnsRedirect, choose_dns_redirect

pytestmark = [pytest.mark.root, pytest.mark.timeout(60)]

ADDRS = [f"10.{i // 200}.{i % 200}.9" for i in range(150)]  # ~2.4 kB of A records


def _lookup(name: str) -> list[str] | None:
    return {"big": ADDRS, "web": ["10.0.0.7"]}.get(name)


@pytest.fixture
def ns() -> Iterator[str]:
    root = tempfile.mkdtemp(prefix="dy-dnstcp-")
    path = os.path.join(root, "ns")
    netns.create_netns(path)
    try:
        yield path
    finally:
        netns.remove_netns(path)
        shutil.rmtree(root, ignore_errors=True)
    with open("/proc/self/mountinfo") as f:
        assert root not in f.read()


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed mid-message")
        buf += chunk
    return buf


def ask_udp(q: dns.message.Message) -> dns.message.Message:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(10)
        s.sendto(q.to_wire(), ("127.0.0.11", 53))
        return dns.message.from_wire(s.recv(65535))


def ask_tcp(*queries: dns.message.Message) -> list[dns.message.Message]:
    """All queries written at once on one connection (pipelined), then every answer read."""
    with socket.create_connection(("127.0.0.11", 53), timeout=10) as s:
        s.sendall(b"".join(frame(q.to_wire()) for q in queries))
        out = []
        for _ in queries:
            (size,) = struct.unpack("!H", _recv_exact(s, 2))
            out.append(dns.message.from_wire(_recv_exact(s, size)))
        return out


@contextlib.asynccontextmanager
async def serving(ns: str, upstreams: list[str], redirect: DnsRedirect | None = None) -> AsyncIterator[DnsServer]:
    server = DnsServer(ns, _lookup, upstreams, redirect)
    await server.start()
    try:
        yield server
    finally:
        server.close()


def test_big_answer_truncated_over_udp_and_whole_over_tcp(ns: str) -> None:
    async def scenario() -> tuple[dns.message.Message, list[dns.message.Message]]:
        async with serving(ns, []):
            udp = await asyncio.to_thread(netns.run_in_netns, ns, lambda: ask_udp(dns.message.make_query("big", "A")))
            qs = [dns.message.make_query(n, "A") for n in ("big", "web", "big")]
            tcp = await asyncio.to_thread(netns.run_in_netns, ns, lambda: ask_tcp(*qs))
            for q, r in zip(qs, tcp, strict=True):
                assert r.id == q.id
            return udp, tcp

    udp, (big, web, big2) = asyncio.run(scenario())
    assert udp.flags & dns.flags.TC and not udp.answer
    for r in (big, big2):
        assert not r.flags & dns.flags.TC
        assert sorted(rr.address for rr in r.answer[0]) == sorted(ADDRS)
    assert [rr.address for rr in web.answer[0]] == ["10.0.0.7"]


def test_tcp_connection_closed_by_server_close(ns: str) -> None:
    async def scenario() -> bytes:
        async with serving(ns, []) as server:

            def connect() -> socket.socket:
                s = socket.create_connection(("127.0.0.11", 53), timeout=10)
                s.sendall(frame(dns.message.make_query("web", "A").to_wire()))
                return s

            s = await asyncio.to_thread(netns.run_in_netns, ns, connect)
            try:
                (size,) = struct.unpack("!H", await asyncio.to_thread(_recv_exact, s, 2))
                await asyncio.to_thread(_recv_exact, s, size)
                server.close()  # an idle client connection must not outlive the server
                return await asyncio.to_thread(s.recv, 10)
            finally:
                s.close()

    assert asyncio.run(scenario()) == b""


async def _fake_upstream(host: str) -> asyncio.Server:
    """Answers every A query over TCP with one record, 192.0.2.1."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                (size,) = struct.unpack("!H", await reader.readexactly(2))
                q = dns.message.from_wire(await reader.readexactly(size))
                r = dns.message.make_response(q)
                r.answer.append(dns.rrset.from_text_list(q.question[0].name, 60, "IN", "A", ["192.0.2.1"]))
                writer.write(frame(r.to_wire()))
                await writer.drain()
        writer.close()

    return await asyncio.start_server(serve, host, 53)


def test_unknown_names_are_forwarded_over_tcp(ns: str) -> None:
    upstream = f"127.{secrets.randbelow(200) + 20}.{secrets.randbelow(250) + 1}.53"

    async def scenario() -> tuple[dns.message.Message, dns.message.Message]:
        up = await _fake_upstream(upstream)
        try:
            async with serving(ns, [upstream]):
                q = dns.message.make_query("elsewhere.example", "A")
                (fwd,) = await asyncio.to_thread(netns.run_in_netns, ns, lambda: ask_tcp(q))
                # UDP to the same upstream finds nobody (it serves TCP only): SERVFAIL, not a guess.
                fail = await asyncio.to_thread(netns.run_in_netns, ns, lambda: ask_udp(q))
                return fwd, fail
        finally:
            up.close()
            await up.wait_closed()

    fwd, fail = asyncio.run(scenario())
    assert [rr.address for rr in fwd.answer[0]] == ["192.0.2.1"]
    assert fail.rcode() == dns.rcode.SERVFAIL


def _redirects() -> list[tuple[str, DnsRedirect]]:
    out: list[tuple[str, DnsRedirect]] = []
    for firewall in ("nftables", "iptables"):
        r = choose_dns_redirect(firewall)
        if r is not None:
            out.append((firewall, r))
    return out


@pytest.mark.parametrize(("firewall", "redirect"), _redirects(), ids=lambda v: v if isinstance(v, str) else "")
def test_redirect_leaves_port_53_to_the_container(ns: str, firewall: str, redirect: DnsRedirect) -> None:
    def own_servers() -> tuple[socket.socket, socket.socket]:
        # What a DNS server in the container does: take port 53 on every address.
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("0.0.0.0", 53))
        t = socket.socket()
        t.bind(("0.0.0.0", 53))
        t.listen(1)
        return u, t

    def saved_rules() -> str:
        cmd = ["nft", "list", "ruleset"] if firewall == "nftables" else ["iptables-save", "-t", "nat"]
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    async def scenario() -> tuple[tuple[int, int], tuple[int, int], str]:
        async with serving(ns, [], redirect) as first:
            before = first.ports
        async with serving(ns, [], redirect) as server:  # a daemon restart: new ports, rules replaced
            own = await asyncio.to_thread(netns.run_in_netns, ns, own_servers)
            try:
                q = dns.message.make_query("web", "A")
                udp = await asyncio.to_thread(netns.run_in_netns, ns, lambda: ask_udp(q))
                (tcp,) = await asyncio.to_thread(netns.run_in_netns, ns, lambda: ask_tcp(q))
                for r in (udp, tcp):
                    assert [rr.address for rr in r.answer[0]] == ["10.0.0.7"]
                rules = await asyncio.to_thread(netns.run_in_netns, ns, saved_rules)
                return before, server.ports, rules
            finally:
                for s in own:
                    s.close()

    before, after, rules = asyncio.run(scenario())
    assert 53 not in (*before, *after) and 0 not in after
    for port in after:
        assert f"127.0.0.11:{port}" in rules
    # Only the current ports: the restart replaced the previous rules instead of adding to them.
    assert rules.count("127.0.0.11:") == 2
