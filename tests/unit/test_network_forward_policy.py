"""Forwarding under a FORWARD policy of DROP (pure parts): the forward rules' order in both
backends, the nftables backend's iptables guard, and which scripts the service hands the plumber."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.engine.networks import NetworkOptions, NetworkService
from dockyard.network import iptables as ipt
from dockyard.network.ipam import AddressPool, NetworkStore
from dockyard.network.nftrules import BridgeRules, forward_rules, render_table
from dockyard.testing.fakenet import FakePlumber

LAYOUT = ipt.ChainLayout("DY-dyt0")
OPEN = BridgeRules("dyt0", "10.1.0.0/24", internal=False, masquerade=True)
OTHER = BridgeRules("dyt1", "10.1.1.0/24", internal=False, masquerade=True)
INTERNAL = BridgeRules("dyt2", "10.1.2.0/24", internal=True, masquerade=True)
BRIDGES = [OPEN, OTHER, INTERNAL]


def _index(rules: list[str], *parts: str) -> int:
    hits = [i for i, r in enumerate(rules) if all(p in r for p in parts)]
    assert len(hits) == 1, (parts, rules)
    return hits[0]


def test_nft_forward_order_internal_then_dnat_and_replies_then_isolation() -> None:
    rules = forward_rules(BRIDGES)
    internal_out = _index(rules, 'iifname "dyt2" oifname != "dyt2" drop')
    dnat_in = _index(rules, 'oifname "dyt1" ct status dnat accept')
    replies = _index(rules, 'oifname "dyt0" ct state established,related accept')
    isolation = _index(rules, 'iifname "dyt0" oifname "dyt1" drop')
    # Published ports and replies cross networks (Docker), but never into or out of an internal one.
    assert internal_out < dnat_in < isolation and replies < isolation
    assert rules[-1].endswith("drop")  # nothing is accepted past isolation: our table only filters
    assert "\n".join(f"    {r}" for r in rules) in render_table("t", BRIDGES, [])


def test_iptables_forward_chain_accepts_what_bridges_send_after_the_drops() -> None:
    rules = ipt.forward_rules(LAYOUT, BRIDGES)
    assert all(r.startswith("-A DY-dyt0-FWD ") for r in rules)
    internal_in = _index(rules, "! -i dyt2 -o dyt2 -j DROP")
    dnat = _index(rules, "-o dyt0 -m conntrack --ctstate DNAT -j ACCEPT")
    replies = _index(rules, "-o dyt0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    isolation = _index(rules, "-i dyt1 -o dyt0 -j DROP")
    out_open = _index(rules, "-A DY-dyt0-FWD -i dyt0 -j ACCEPT")
    # An internal network only talks within itself.
    out_internal = _index(rules, "-i dyt2 -o dyt2 -j ACCEPT")
    assert not any(r.endswith("-i dyt2 -j ACCEPT") for r in rules)
    assert internal_in < dnat and replies < isolation < out_open and isolation < out_internal
    assert ipt.forward_rules(LAYOUT, []) == []


def test_guard_script_holds_only_the_forward_chain_and_parses() -> None:
    script = ipt.render_guard(LAYOUT, BRIDGES)
    assert ipt.is_script(script) and not ipt.is_script(render_table("t", BRIDGES, []))
    assert ipt.parse_script(script) == ("guard", LAYOUT)
    lines = script.splitlines()
    assert lines[1:3] == ["*filter", ":DY-dyt0-FWD - [0:0]"] and lines[-1] == "COMMIT"
    assert lines[3:-1] == ipt.forward_rules(LAYOUT, BRIDGES)
    # Restored, it brings the jump from FORWARD and nothing in nat.
    restore = ipt.render_restore(script, "*filter\n:FORWARD DROP [0:0]\nCOMMIT\n")
    assert "-I FORWARD 1 -j DY-dyt0-FWD" in restore and "*nat" not in restore


@pytest.mark.parametrize(
    ("saved", "policy"),
    [
        ("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [12:345]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n", "DROP"),
        ("*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n", "ACCEPT"),
        ("*nat\n:FORWARD DROP [0:0]\nCOMMIT\n*filter\n:INPUT DROP [0:0]\nCOMMIT\n", ""),  # not filter's
        ("", ""),  # iptables-nft with no tables at all
    ],
)
def test_forward_policy_reads_the_filter_table(saved: str, policy: str) -> None:
    assert ipt.forward_policy(saved) == policy


class _Firewall(ipt.IptablesFirewall):
    """The real decision logic over a canned ``iptables-save`` and a record of what gets loaded."""

    def __init__(self, saved: str) -> None:
        super().__init__()
        self._save = self._restore = "/bin/true"
        self.saved = saved
        self.loaded: list[str] = []

    def _saved(self) -> str:
        return self.saved

    def _load(self, text: str) -> None:
        self.loaded.append(text)


def test_guard_loads_under_drop_and_cleans_up_otherwise() -> None:
    guard = ipt.render_guard(LAYOUT, BRIDGES)
    fw = _Firewall("*filter\n:FORWARD DROP [0:0]\nCOMMIT\n")
    fw.apply(guard)
    assert len(fw.loaded) == 1 and "-I FORWARD 1 -j DY-dyt0-FWD" in fw.loaded[0]
    # Policy back to ACCEPT with our chain still there: it goes.
    fw = _Firewall(
        "*filter\n:FORWARD ACCEPT [0:0]\n:DY-dyt0-FWD - [0:0]\n-A FORWARD -j DY-dyt0-FWD\n"
        "-A DY-dyt0-FWD -i dyt0 -j ACCEPT\nCOMMIT\n"
    )
    fw.apply(guard)
    assert ipt.render_cleanup(LAYOUT, fw.saved) in fw.loaded and "-X DY-dyt0-FWD" in fw.loaded[0]
    # DROP and our chain already as it should be (the periodic check's usual finding): no reload.
    in_place = "*filter\n:FORWARD DROP [0:0]\n:DY-dyt0-FWD - [0:0]\n-A FORWARD -j DY-dyt0-FWD\n"
    in_place += "".join(r + "\n" for r in ipt.forward_rules(LAYOUT, BRIDGES)) + "COMMIT\n"
    assert ipt.guard_in_place(guard, in_place)
    fw = _Firewall(in_place)
    fw.apply(guard)
    assert fw.loaded == []
    # One rule missing (or the jump): reloaded.
    fw = _Firewall(in_place.replace("-A DY-dyt0-FWD -i dyt0 -j ACCEPT\n", ""))
    fw.apply(guard)
    assert len(fw.loaded) == 1
    assert not ipt.guard_in_place(guard, in_place.replace("-A FORWARD -j DY-dyt0-FWD\n", ""))
    # ACCEPT and nothing of ours: nothing loaded, no table created.
    fw = _Firewall("")
    fw.apply(guard)
    assert fw.loaded == []


def test_guard_without_iptables_is_a_no_op_but_rules_need_it() -> None:
    fw = ipt.IptablesFirewall()
    fw._save = fw._restore = None
    fw.apply(ipt.render_guard(LAYOUT, BRIDGES))
    with pytest.raises(errors.Unavailable):
        fw.apply(ipt.render_rules(LAYOUT, BRIDGES, []))


@dataclass
class RecordingPlumber(FakePlumber):
    applied: list[str] = field(default_factory=list)
    fail_iptables: bool = False

    def apply_rules(self, script: str) -> None:
        if self.fail_iptables and ipt.is_script(script):
            raise errors.Internal("iptables-restore failed")
        self.applied.append(script)
        super().apply_rules(script)


def _service(tmp_path: Path, plumber: RecordingPlumber, firewall: str, interval: float = 30) -> NetworkService:
    opts = NetworkOptions(
        exec_root=str(tmp_path / "exec"),
        bridge="dyunit0",
        bip="10.77.0.1/24",
        pools=(AddressPool("10.78.0.0/16", 24),),
        firewall=firewall,
        guard_interval=interval,
    )
    s = NetworkService(NetworkStore(str(tmp_path / "net.db")), plumber, opts)
    asyncio.run(s.setup())
    return s


def test_nftables_service_loads_the_guard_then_its_table(tmp_path: Path) -> None:
    plumber = RecordingPlumber()
    s = _service(tmp_path, plumber, "nftables")
    asyncio.run(s.create({"Name": "fwnet"}))
    guard, table = plumber.applied[-2:]
    assert ipt.parse_script(guard) == ("guard", ipt.ChainLayout("DY-dyunit0"))
    assert "-A DY-dyunit0-FWD -i dyunit0 -j ACCEPT" in guard
    assert table.startswith("table ip dockyard_dyunit0 {}")


def test_iptables_service_loads_one_script_with_the_accepts(tmp_path: Path) -> None:
    plumber = RecordingPlumber()
    s = _service(tmp_path, plumber, "iptables")
    asyncio.run(s.create({"Name": "fwnet"}))
    (last,) = plumber.applied[-1:]
    assert ipt.parse_script(last)[0] == "apply" and "-A DY-dyunit0-FWD -i dyunit0 -j ACCEPT" in last
    assert not any(ipt.parse_script(x)[0] == "guard" for x in plumber.applied)


def test_a_failing_guard_does_not_keep_the_nft_table_out(tmp_path: Path) -> None:
    plumber = RecordingPlumber(fail_iptables=True)
    s = _service(tmp_path, plumber, "nftables")
    asyncio.run(s.create({"Name": "fwnet"}))
    assert plumber.applied and all(not ipt.is_script(x) for x in plumber.applied)
    assert "dockyard_dyunit0" in plumber.rules


class _NoContainers:
    def get(self, ref: str) -> object:
        raise errors.NotFound(ref)

    def all(self) -> list[object]:
        return []

    def update_record(self, rec: object) -> None:
        pass


@pytest.mark.parametrize(("firewall", "interval"), [("nftables", 0.02), ("nftables", 0), ("iptables", 0.02)])
def test_the_forward_policy_is_rechecked_periodically_with_nftables(
    tmp_path: Path, firewall: str, interval: float
) -> None:
    plumber = RecordingPlumber()
    s = _service(tmp_path, plumber, firewall, interval)
    s.bind_containers(_NoContainers())  # type: ignore[arg-type]
    expected = firewall == "nftables" and interval > 0

    async def scenario() -> int:
        await s.reconcile()
        at_start = sum(ipt.is_script(x) and ipt.parse_script(x)[0] == "guard" for x in plumber.applied)
        # Generous when checks are expected (a loaded machine); a short look when they aren't.
        deadline = asyncio.get_running_loop().time() + (10 if expected else 0.3)
        guards = at_start
        while asyncio.get_running_loop().time() < deadline and guards < at_start + 3:
            await asyncio.sleep(0.02)
            guards = sum(ipt.is_script(x) and ipt.parse_script(x)[0] == "guard" for x in plumber.applied)
        await s.shutdown()
        after = len(plumber.applied)
        await asyncio.sleep(max(interval, 0.02) * 3)
        assert len(plumber.applied) == after  # shutdown stops the checks
        return guards - at_start

    rechecks = asyncio.run(scenario())
    assert (rechecks >= 3) == expected
