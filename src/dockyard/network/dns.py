"""The embedded DNS server of user-defined networks, on 127.0.0.11 inside each container.

``answer`` is pure: given a query and a lookup over the container's networks it
returns the reply, or None when the name isn't ours and goes to the host's
resolvers. ``DnsServer`` serves one container from the daemon's event loop on a
socket created inside the container's namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Sequence

import dns.asyncquery
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from dockyard.network import netns
from dockyard.network.files import EMBEDDED_DNS

__all__ = ["DnsServer", "Lookup", "answer"]

log = logging.getLogger("dockyard.network.dns")

Lookup = Callable[[str], "list[str] | None"]  # name (lower case, no trailing dot) -> IPv4 addresses
TTL = 600


def answer(query: dns.message.Message, lookup: Lookup) -> dns.message.Message | None:
    """Our reply to ``query``, or None to forward it."""
    if len(query.question) != 1:
        reply = dns.message.make_response(query)
        reply.set_rcode(dns.rcode.FORMERR)
        return reply
    q = query.question[0]
    name = q.name.to_text(omit_final_dot=True).lower()
    addrs = lookup(name)
    if addrs is None:
        return None
    reply = dns.message.make_response(query)
    reply.flags |= dns.flags.AA | dns.flags.RA
    if q.rdtype == dns.rdatatype.A and q.rdclass == dns.rdataclass.IN:
        reply.answer.append(dns.rrset.from_text_list(q.name, TTL, "IN", "A", addrs))
    # Other types for a name of ours: NOERROR with no records (like Docker), so AAAA doesn't fail A.
    return reply


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self._server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._server.handle(data, addr, self)


class DnsServer:
    """Answers one container's queries; forwards unknown names to ``upstreams``."""

    def __init__(self, ns_path: str, lookup: Lookup, upstreams: Sequence[str]) -> None:
        self._ns_path = ns_path
        self._lookup = lookup
        self._upstreams = list(upstreams)
        self._proto: _Protocol | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        def bind() -> socket.socket:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((EMBEDDED_DNS, 53))
            s.setblocking(False)
            return s

        sock = await asyncio.to_thread(netns.run_in_netns, self._ns_path, bind)
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        self._proto = proto

    def close(self) -> None:
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()
        self._proto = None
        for t in list(self._tasks):
            t.cancel()

    def handle(self, data: bytes, addr: tuple[str, int], proto: _Protocol) -> None:
        try:
            query = dns.message.from_wire(data)
        except Exception:
            return
        reply = answer(query, self._lookup)
        if reply is not None:
            if proto.transport is not None:
                proto.transport.sendto(reply.to_wire(), addr)
            return
        t = asyncio.ensure_future(self._forward(query, addr, proto))
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _forward(self, query: dns.message.Message, addr: tuple[str, int], proto: _Protocol) -> None:
        reply: dns.message.Message | None = None
        for server in self._upstreams:
            with contextlib.suppress(Exception):
                reply = await dns.asyncquery.udp(query, server, timeout=3)
                break
        if reply is None:
            reply = dns.message.make_response(query)
            reply.set_rcode(dns.rcode.SERVFAIL)
        if proto.transport is not None:
            proto.transport.sendto(reply.to_wire(), addr)
