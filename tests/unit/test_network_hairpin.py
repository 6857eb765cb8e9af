"""Hairpin NAT in the generated rules (pure): traffic from a bridge's subnet DNATed back into the
same bridge is masqueraded (so the reply returns through the NAT), in both backends, and DNATed
traffic passes the isolation between networks (published ports are for every network)."""

from __future__ import annotations

from dockyard.network import iptables as ipt
from dockyard.network.nftrules import BridgeRules, Publish, forward_rules, render_table

BRIDGES = [BridgeRules("hp0", "10.5.0.0/24", False, True), BridgeRules("hp1", "10.5.1.0/24", False, False)]
PUBLISH = [Publish("tcp", "", 8080, "10.5.0.2", 80)]


def _chain(script: str, name: str) -> list[str]:
    lines = script.splitlines()
    start = lines.index(f"  chain {name} {{")
    return [line.strip() for line in lines[start + 1 : lines.index("  }", start)]]


def test_nft_masquerades_hairpin_traffic_on_every_bridge() -> None:
    post = _chain(render_table("t", BRIDGES, PUBLISH), "postrouting")
    for b in BRIDGES:
        # Also where masquerading out of the host is off: hairpin is within the bridge.
        assert f'oifname "{b.bridge}" ip saddr {b.subnet} ct status dnat masquerade' in post
    # Any local address, the gateways included, is a way in.
    assert _chain(render_table("t", BRIDGES, PUBLISH), "prerouting")[-1] == "fib daddr type local jump publish"


def test_iptables_masquerades_hairpin_traffic_on_every_bridge() -> None:
    script = ipt.render_rules(ipt.ChainLayout("DY-hp0"), BRIDGES, PUBLISH)
    for b in BRIDGES:
        assert f"-A DY-hp0-POST -s {b.subnet} -o {b.bridge} -m conntrack --ctstate DNAT -j MASQUERADE" in script
    assert "-I PREROUTING 1 -m addrtype --dst-type LOCAL -j DY-hp0-PUB" in ipt.render_restore(script, "")


def test_published_ports_cross_network_isolation() -> None:
    rules = forward_rules(BRIDGES)
    dnat = rules.index('oifname "hp0" ct status dnat accept')
    drop = rules.index('iifname "hp1" oifname "hp0" drop')
    assert dnat < drop
    iprules = ipt.forward_rules(ipt.ChainLayout("DY-hp0"), BRIDGES)
    assert iprules.index("-A DY-hp0-FWD -o hp0 -m conntrack --ctstate DNAT -j ACCEPT") < iprules.index(
        "-A DY-hp0-FWD -i hp1 -o hp0 -j DROP"
    )
