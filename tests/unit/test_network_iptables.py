"""The iptables fallback's pure rule generation: our chains, the jumps into them, their removal."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.daemon.config import config_from_mapping
from dockyard.network import iptables as ipt
from dockyard.network.nftrules import BridgeRules, Publish
from dockyard.network.plumbing import choose_firewall

LAYOUT = ipt.ChainLayout("DY-dyt0")
BRIDGES = [
    BridgeRules("dyt0", "10.1.0.0/24", internal=False, masquerade=True),
    BridgeRules("dyt1", "10.1.1.0/24", internal=False, masquerade=False),
    BridgeRules("dyt2", "10.1.2.0/24", internal=True, masquerade=True),
]
PUBLISHES = [
    Publish("tcp", "127.0.0.1", 8080, "10.1.0.2", 80),
    Publish("udp", "", 5353, "10.1.0.3", 53),
]


def _table(script: str, name: str) -> list[str]:
    lines = script.splitlines()
    start = lines.index(f"*{name}")
    return lines[start + 1 : lines.index("COMMIT", start)]


def test_chain_prefix_fits_iptables_limits() -> None:
    assert ipt.chain_prefix("dockyard0") == "DOCKYARD"
    longest = ipt.ChainLayout(ipt.chain_prefix("b" * 15))
    assert all(len(c) <= 28 for cs in longest.chains().values() for c in cs)


def test_publishes_become_dnat_rules() -> None:
    nat = _table(ipt.render_rules(LAYOUT, BRIDGES, PUBLISHES), "nat")
    assert "-A DY-dyt0-PUB -d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.1.0.2:80" in nat
    # No host address: any local address.
    assert "-A DY-dyt0-PUB -p udp -m udp --dport 5353 -j DNAT --to-destination 10.1.0.3:53" in nat


def test_masquerade_follows_ip_masq_and_internal() -> None:
    nat = _table(ipt.render_rules(LAYOUT, BRIDGES, PUBLISHES), "nat")
    assert "-A DY-dyt0-POST -s 10.1.0.0/24 ! -o dyt0 -j MASQUERADE" in nat
    assert not any("10.1.1.0/24 ! -o" in r for r in nat)  # masquerade switched off
    assert not any("10.1.2.0/24 ! -o" in r for r in nat)  # internal: never out
    # 127.0.0.1-published traffic (route_localnet) and hairpin are masqueraded on every bridge.
    for b in BRIDGES:
        assert f"-A DY-dyt0-POST -s 127.0.0.0/8 -o {b.bridge} -j MASQUERADE" in nat
        assert f"-A DY-dyt0-POST -s {b.subnet} -o {b.bridge} -m conntrack --ctstate DNAT -j MASQUERADE" in nat


def test_filter_isolates_networks_and_closes_internal_ones() -> None:
    filt = _table(ipt.render_rules(LAYOUT, BRIDGES, PUBLISHES), "filter")
    for a in BRIDGES:
        for b in BRIDGES:
            rule = f"-A DY-dyt0-FWD -i {a.bridge} -o {b.bridge} -j DROP"
            assert (rule in filt) == (a != b)
    assert "-A DY-dyt0-FWD -i dyt2 ! -o dyt2 -j DROP" in filt
    assert "-A DY-dyt0-FWD ! -i dyt2 -o dyt2 -j DROP" in filt
    assert not any("! -o dyt0" in r or "! -i dyt0" in r for r in filt)


def test_rules_declare_only_our_chains() -> None:
    script = ipt.render_rules(LAYOUT, BRIDGES, PUBLISHES)
    declared = [line for line in script.splitlines() if line.startswith(":")]
    assert declared == [":DY-dyt0-PUB - [0:0]", ":DY-dyt0-POST - [0:0]", ":DY-dyt0-FWD - [0:0]"]
    appended = {line.split()[1] for line in script.splitlines() if line.startswith("-A")}
    assert appended <= {"DY-dyt0-PUB", "DY-dyt0-POST", "DY-dyt0-FWD"}


def test_restore_adds_missing_jumps_once() -> None:
    script = ipt.render_rules(LAYOUT, BRIDGES, PUBLISHES)
    fresh = ipt.render_restore(script, "")
    inserted = [line for line in fresh.splitlines() if line.startswith("-I")]
    assert inserted == [
        "-I PREROUTING 1 -m addrtype --dst-type LOCAL -j DY-dyt0-PUB",
        "-I OUTPUT 1 -m addrtype --dst-type LOCAL -j DY-dyt0-PUB",
        "-I POSTROUTING 1 -j DY-dyt0-POST",
        "-I FORWARD 1 -j DY-dyt0-FWD",
    ]
    assert _table(fresh, "filter")[-1] == "-I FORWARD 1 -j DY-dyt0-FWD"
    saved = (
        "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m addrtype --dst-type LOCAL -j DY-dyt0-PUB\n"
        "-A OUTPUT -m addrtype --dst-type LOCAL -j DY-dyt0-PUB\n-A POSTROUTING -j DY-dyt0-POST\nCOMMIT\n"
        "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -j DOCKER-USER\nCOMMIT\n"
    )
    again = ipt.render_restore(script, saved)
    assert [line for line in again.splitlines() if line.startswith("-I")] == ["-I FORWARD 1 -j DY-dyt0-FWD"]
    assert "# dockyard" not in again


def test_cleanup_removes_jumps_then_chains_and_nothing_else() -> None:
    saved = (
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:DY-dyt0-FWD - [0:0]\n:DY-other-FWD - [0:0]\n"
        "-A FORWARD -j DY-other-FWD\n-A FORWARD -j DY-dyt0-FWD\n-A DY-dyt0-FWD -i dyt0 -o dyt1 -j DROP\nCOMMIT\n"
        "*nat\n:PREROUTING ACCEPT [0:0]\n:DY-dyt0-PUB - [0:0]\n:DY-dyt0-POST - [0:0]\n"
        "-A PREROUTING -m addrtype --dst-type LOCAL -j DY-dyt0-PUB\n-A POSTROUTING -j DY-dyt0-POST\nCOMMIT\n"
    )
    out = ipt.render_cleanup(LAYOUT, saved)
    assert _table(out, "filter") == ["-D FORWARD -j DY-dyt0-FWD", "-F DY-dyt0-FWD", "-X DY-dyt0-FWD"]
    assert _table(out, "nat") == [
        "-D PREROUTING -m addrtype --dst-type LOCAL -j DY-dyt0-PUB",
        "-D POSTROUTING -j DY-dyt0-POST",
        "-F DY-dyt0-PUB",
        "-F DY-dyt0-POST",
        "-X DY-dyt0-PUB",
        "-X DY-dyt0-POST",
    ]
    assert "DY-other" not in out
    assert ipt.render_cleanup(ipt.ChainLayout("DY-gone"), saved) == ""


def test_scripts_name_their_action_and_layout() -> None:
    assert ipt.parse_script(ipt.render_rules(LAYOUT, [], [])) == ("apply", LAYOUT)
    assert ipt.parse_script(ipt.render_delete(LAYOUT)) == ("delete", LAYOUT)
    with pytest.raises(errors.InvalidArgument):
        ipt.parse_script("table ip dockyard {}\n")


def test_daemon_config_firewall_backend() -> None:
    assert config_from_mapping({}).firewall_backend == "auto"
    assert config_from_mapping({"firewall-backend": "iptables"}).firewall_backend == "iptables"
    with pytest.raises(errors.InvalidArgument):
        config_from_mapping({"firewall-backend": "pf"})


def test_choose_firewall_honours_explicit_backends() -> None:
    assert choose_firewall("iptables") == "iptables"
    assert choose_firewall("nftables") == "nftables"
    assert choose_firewall("auto") in ("nftables", "iptables")
    with pytest.raises(errors.InvalidArgument):
        choose_firewall("ipfw")
