"""The embedded DNS server's sizing rules (pure): UDP truncation at 512 bytes or the EDNS
payload, TCP framing, and that answers too big for UDP go whole over TCP; the redirect rules
that steer 127.0.0.11:53 (UDP and TCP) to the server's ports."""

from __future__ import annotations

import struct

import dns.flags
import dns.message
import pytest

from dockyard.network import dns_redirect
from dockyard.network.dns import TCP_MAX, UDP_MIN, answer, frame, tcp_wire, udp_limit, udp_wire
from dockyard.network.dns_redirect import choose_dns_redirect, iptables_script, nft_script


def _many(n: int) -> list[str]:
    return [f"10.{i // 250}.{i % 250}.{i % 7 + 1}" for i in range(n)]


def _lookup(n: int):  # type: ignore[no-untyped-def]
    return lambda name: _many(n) if name == "big" else None


def test_udp_limit_is_512_without_edns_and_the_payload_with_it() -> None:
    assert udp_limit(dns.message.make_query("big", "A")) == UDP_MIN == 512
    assert udp_limit(dns.message.make_query("big", "A", use_edns=0, payload=1232)) == 1232
    # A client announcing less than 512 still gets 512 (RFC 6891), never more than a message can be.
    assert udp_limit(dns.message.make_query("big", "A", use_edns=0, payload=100)) == 512
    assert udp_limit(dns.message.make_query("big", "A", use_edns=0, payload=65535)) == TCP_MAX


def test_small_answers_go_whole_over_udp() -> None:
    q = dns.message.make_query("big", "A")
    reply = answer(q, _lookup(3))
    assert reply is not None
    got = dns.message.from_wire(udp_wire(reply, q))
    assert not got.flags & dns.flags.TC
    assert sorted(r.address for r in got.answer[0]) == sorted(_many(3))


@pytest.mark.parametrize("payload", [None, 1232])
def test_big_answers_are_truncated_over_udp_and_whole_over_tcp(payload: int | None) -> None:
    q = dns.message.make_query("big", "A") if payload is None else dns.message.make_query("big", "A", payload=payload)
    reply = answer(q, _lookup(200))  # 200 A records: ~3.2 kB
    assert reply is not None
    wire = udp_wire(reply, q)
    assert len(wire) <= udp_limit(q)
    got = dns.message.from_wire(wire)
    assert got.flags & dns.flags.TC and got.id == q.id
    assert not got.answer  # no partial RRset: the client must ask again over TCP
    whole = dns.message.from_wire(tcp_wire(reply))
    assert not whole.flags & dns.flags.TC
    assert sorted(r.address for r in whole.answer[0]) == sorted(set(_many(200)))


def test_an_answer_fitting_the_edns_payload_is_not_truncated() -> None:
    q = dns.message.make_query("big", "A", use_edns=0, payload=4096)
    reply = answer(q, _lookup(100))  # ~1.6 kB: over 512, under 4096
    assert reply is not None
    wire = udp_wire(reply, q)
    assert 512 < len(wire) <= 4096
    assert len(dns.message.from_wire(wire).answer[0]) == len(set(_many(100)))


def test_frame_prefixes_the_length_in_network_order() -> None:
    wire = dns.message.make_query("big", "A").to_wire()
    framed = frame(wire)
    assert struct.unpack("!H", framed[:2])[0] == len(wire) and framed[2:] == wire
    assert frame(b"x" * 300)[:2] == b"\x01\x2c"


def test_nft_redirect_replaces_its_table_and_covers_both_protocols() -> None:
    script = nft_script(40001, 40002)
    lines = [line.strip() for line in script.splitlines()]
    # Declared, deleted and recreated: a daemon restart's new ports replace the old ones atomically.
    assert lines[:3] == ["table ip dockyard_dns {}", "delete table ip dockyard_dns", "table ip dockyard_dns {"]
    assert "type nat hook output priority -100; policy accept;" in lines
    assert "ip daddr 127.0.0.11 udp dport 53 dnat to 127.0.0.11:40001" in lines
    assert "ip daddr 127.0.0.11 tcp dport 53 dnat to 127.0.0.11:40002" in lines


def test_iptables_redirect_refills_its_chain_and_adds_the_jump_once() -> None:
    first = iptables_script(40001, 40002, with_jump=True).splitlines()
    assert first[:2] == ["*nat", ":DOCKYARD-DNS - [0:0]"] and first[-1] == "COMMIT"
    assert (
        "-A DOCKYARD-DNS -d 127.0.0.11/32 -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.11:40001" in first
    )
    assert (
        "-A DOCKYARD-DNS -d 127.0.0.11/32 -p tcp -m tcp --dport 53 -j DNAT --to-destination 127.0.0.11:40002" in first
    )
    assert "-I OUTPUT 1 -d 127.0.0.11/32 -j DOCKYARD-DNS" in first
    again = iptables_script(40003, 40004, with_jump=False)
    assert "OUTPUT" not in again and "127.0.0.11:40003" in again


def test_no_redirect_without_the_backends_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dockyard.network.dns_redirect.shutil.which", lambda name: None)
    assert choose_dns_redirect("nftables") is None and choose_dns_redirect("iptables") is None
    monkeypatch.setattr("dockyard.network.dns_redirect.shutil.which", lambda name: f"/usr/sbin/{name}")
    assert isinstance(choose_dns_redirect("nftables"), dns_redirect.NftDnsRedirect)
    assert isinstance(choose_dns_redirect("iptables"), dns_redirect.IptablesDnsRedirect)
