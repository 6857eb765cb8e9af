"""The embedded DNS server of user-defined networks, on 127.0.0.11 inside each container.

``answer`` is pure: given a query and a lookup over the container's networks it
returns the reply, or None when the name isn't ours and goes to the host's
resolvers. ``DnsServer`` serves one container from the daemon's event loop on a
UDP and a TCP socket created inside the container's namespace, on 127.0.0.11 and
ports the kernel picks; :mod:`~dockyard.network.dns_redirect` DNATs port 53 of both
protocols there (without it, the sockets take 127.0.0.11:53 themselves). UDP answers
that don't fit the client's size (512 bytes, or its EDNS payload) go out truncated
with TC set, and the client asks again over TCP, where messages carry RFC 1035's
two-byte length prefix (several per connection, RFC 7766).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import dns.asyncquery
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from dockyard import errors
from dockyard.network import netns
from dockyard.network.dns_redirect import DnsRedirect
from dockyard.network.files import EMBEDDED_DNS

__all__ = ["DnsServer", "Lookup", "answer", "frame", "tcp_wire", "udp_limit", "udp_wire"]

log = logging.getLogger("dockyard.network.dns")

Lookup = Callable[[str], "list[str] | None"]  # name (lower case, no trailing dot) -> IPv4 addresses
TTL = 600
UDP_MIN = 512  # RFC 1035's limit for a client without EDNS
TCP_MAX = 65535
TCP_IDLE = 10.0  # seconds a client's TCP connection may sit idle (RFC 7766 suggests a few)
_FORWARD_TIMEOUT = 3.0


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


def udp_limit(query: dns.message.Message) -> int:
    """The largest UDP reply ``query``'s sender takes: 512, or its EDNS payload size."""
    if query.edns >= 0:
        return min(max(UDP_MIN, query.payload), TCP_MAX)
    return UDP_MIN


def udp_wire(reply: dns.message.Message, query: dns.message.Message) -> bytes:
    """``reply`` for a UDP client: whole sections dropped and TC set when it doesn't fit."""
    return reply.to_wire(max_size=udp_limit(query), prefer_truncation=True)


def tcp_wire(reply: dns.message.Message) -> bytes:
    return reply.to_wire(max_size=TCP_MAX, prefer_truncation=True)


def frame(wire: bytes) -> bytes:
    """A message as sent over TCP: its length in two bytes, network order, then the message."""
    return struct.pack("!H", len(wire)) + wire


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self._server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._server.handle(data, addr, self)


def _bind(kind: int, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, kind)
    try:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # rebinding after a daemon restart
        s.bind((EMBEDDED_DNS, port))
        if kind == socket.SOCK_STREAM:
            s.listen(64)
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s


class DnsServer:
    """Answers one container's queries; forwards unknown names to ``upstreams`` over the
    protocol the client used."""

    def __init__(
        self, ns_path: str, lookup: Lookup, upstreams: Sequence[str], redirect: DnsRedirect | None = None
    ) -> None:
        self._ns_path = ns_path
        self._lookup = lookup
        self._upstreams = list(upstreams)
        self._redirect = redirect
        self.ports: tuple[int, int] = (0, 0)  # (udp, tcp) as bound; 0: no TCP
        self._proto: _Protocol | None = None
        self._tcp: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        udp, tcp = await asyncio.to_thread(netns.run_in_netns, self._ns_path, self._bind_in_netns)
        self.ports = (udp.getsockname()[1], tcp.getsockname()[1] if tcp is not None else 0)
        loop = asyncio.get_running_loop()
        try:
            _, proto = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=udp)
        except BaseException:
            udp.close()
            if tcp is not None:
                tcp.close()
            raise
        self._proto = proto
        if tcp is None:
            return
        try:
            self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp)
        except BaseException:
            tcp.close()
            self.close()
            raise

    def _bind_in_netns(self) -> tuple[socket.socket, socket.socket | None]:
        """On a thread inside the namespace: sockets on kernel-picked ports and the redirect to
        them, or, without a redirect (or if it fails), sockets on port 53 itself."""
        if self._redirect is not None:
            udp = _bind(socket.SOCK_DGRAM, 0)
            try:
                tcp = _bind(socket.SOCK_STREAM, 0)
            except BaseException:
                udp.close()
                raise
            try:
                self._redirect.install(udp.getsockname()[1], tcp.getsockname()[1])
                return udp, tcp
            except (OSError, errors.DockyardError) as e:
                udp.close()
                tcp.close()
                log.warning("embedded DNS in %s: no redirect (%s); binding port 53", self._ns_path, e)
        udp = _bind(socket.SOCK_DGRAM, 53)
        try:
            return udp, _bind(socket.SOCK_STREAM, 53)
        except OSError as e:
            # UDP carries nearly all queries: serve it even if the TCP port is taken.
            log.warning("embedded DNS in %s: no TCP (%s)", self._ns_path, e)
            return udp, None
        except BaseException:
            udp.close()
            raise

    def close(self) -> None:
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()
        self._proto = None
        if self._tcp is not None:
            self._tcp.close()
        self._tcp = None
        # Server.close leaves accepted connections open (before 3.13): close them here.
        for w in list(self._writers):
            w.close()
        for t in list(self._tasks):
            t.cancel()

    # --- UDP ----------------------------------------------------------------------------

    def handle(self, data: bytes, addr: tuple[str, int], proto: _Protocol) -> None:
        try:
            query = dns.message.from_wire(data)
        except Exception:
            return
        reply = answer(query, self._lookup)
        if reply is not None:
            if proto.transport is not None:
                proto.transport.sendto(udp_wire(reply, query), addr)
            return
        self._spawn(self._forward_udp(query, addr, proto))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        t = asyncio.ensure_future(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _forward_udp(self, query: dns.message.Message, addr: tuple[str, int], proto: _Protocol) -> None:
        reply = await self._forward(query, tcp=False)
        if proto.transport is not None:
            proto.transport.sendto(udp_wire(reply, query), addr)

    # --- TCP ----------------------------------------------------------------------------

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE)
                    (size,) = struct.unpack("!H", head)
                    data = await asyncio.wait_for(reader.readexactly(size), TCP_IDLE)
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    return
                try:
                    query = dns.message.from_wire(data)
                except Exception:
                    return  # not DNS: nothing sensible to answer on this stream
                reply = answer(query, self._lookup) or await self._forward(query, tcp=True)
                writer.write(frame(tcp_wire(reply)))
                await writer.drain()
        except ConnectionError:
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    # --- upstreams ----------------------------------------------------------------------

    async def _forward(self, query: dns.message.Message, tcp: bool) -> dns.message.Message:
        for server in self._upstreams:
            with contextlib.suppress(Exception):
                if tcp:
                    return await dns.asyncquery.tcp(query, server, timeout=_FORWARD_TIMEOUT)
                # A truncated upstream answer goes back truncated: the client retries over TCP.
                return await dns.asyncquery.udp(query, server, timeout=_FORWARD_TIMEOUT)
        reply = dns.message.make_response(query)
        reply.set_rcode(dns.rcode.SERVFAIL)
        return reply
