"""The iptables firewall backend through the real docker CLI: a private dockyardd with
``"firewall-backend": "iptables"`` publishes ports (127.0.0.1 and the bridge address),
isolates networks, closes internal ones, and leaves no chain or jump once it is gone.
Traffic goes only to 127.0.0.0/8 and to the bridges this daemon makes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from dockyard.network.iptables import chain_prefix
from dockyard.testing.daemon import DaemonProcess

from .published_ports import assert_published_ports_answer, run_two_port_server

pytestmark = [pytest.mark.compat, pytest.mark.root, pytest.mark.timeout(240)]


def _iptables_save() -> str:
    return subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout


def _ours(prefix: str) -> list[str]:
    """Every saved line that declares, fills or jumps to one of our chains."""
    return [line for line in _iptables_save().splitlines() if f"{prefix}-" in line]


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


class Ipt:
    def __init__(self, d: DaemonProcess) -> None:
        self.d = d
        with open(os.path.join(d.root, "daemon.json")) as f:
            self.cfg = json.load(f)
        self.prefix = chain_prefix(self.cfg["bridge"])

    def docker(self, *args: str, check: bool = True, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(["docker", *args], env=self.d.env(), capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed: {r.stderr}\n{self.d.read_log()[-2000:]}")
        return r

    def ip_of(self, name: str, network: str) -> str:
        fmt = '{{(index .NetworkSettings.Networks "' + network + '").IPAddress}}'
        return self.docker("inspect", "-f", fmt, name).stdout.strip()

    def bridge_of(self, network: str) -> str:
        out = self.docker("network", "inspect", "-f", "{{json .Options}}", network).stdout
        name = json.loads(out).get("com.docker.network.bridge.name")
        if name:
            return str(name)
        nid = self.docker("network", "inspect", "-f", "{{.Id}}", network).stdout.strip()
        return f"dy-{nid[:12]}"


@pytest.fixture(scope="module")
def ipt_daemon() -> Iterator[Ipt]:
    if not os.path.exists("/bin/busybox"):
        pytest.skip("needs busybox-static")
    if shutil.which("iptables-save") is None or shutil.which("iptables-restore") is None:
        pytest.skip("needs iptables-save and iptables-restore")
    tables_before = _host_tables()
    d = DaemonProcess(config={"firewall-backend": "iptables"})
    ipt: Ipt | None = None
    try:
        d.start()
        ipt = Ipt(d)
        status, body = d.request("POST", "/dockyard/images/bootstrap?kind=busybox&tag=busybox:latest", timeout=120)
        assert status == 200, body
        yield ipt
        # Containers and networks gone while the daemon runs: our chains stay, empty of DNATs.
        d.remove_all_containers()
        assert not [line for line in _ours(ipt.prefix) if "-j DNAT" in line]
    finally:
        d.destroy()
        # iptables-nft creates the host's standard tables on first use: remove the ones this
        # module made, if nothing else put rules in them meanwhile.
        for family, name in _host_tables() - tables_before:
            if not _has_rules(family, name):
                subprocess.run(["nft", "delete", "table", family, name], capture_output=True, check=False)
    if ipt is not None:
        # The daemon leaves its rules for live restore; destroy() (cleanup_networks) removes them.
        assert _ours(ipt.prefix) == []


def _host_tables() -> set[tuple[str, str]]:
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return {(parts[1], parts[2]) for parts in (line.split() for line in out.splitlines()) if len(parts) == 3}


def _has_rules(family: str, name: str) -> bool:
    out = subprocess.run(["nft", "-j", "list", "table", family, name], capture_output=True, text=True).stdout
    try:
        return any("rule" in item for item in json.loads(out).get("nftables", []))
    except ValueError:
        return True


@pytest.fixture
def ipt(ipt_daemon: Ipt) -> Iterator[Ipt]:
    yield ipt_daemon
    ipt_daemon.d.remove_all_containers()
    with contextlib.suppress(Exception):
        status, nets = ipt_daemon.d.request("GET", "/networks?filters=%7B%22type%22%3A%5B%22custom%22%5D%7D")
        for x in nets if status == 200 else ():
            ipt_daemon.d.request("DELETE", f"/networks/{x['Id']}")


def test_daemon_uses_iptables_not_nft(ipt: Ipt) -> None:
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert f"dockyard_{ipt.cfg['bridge']}" not in tables
    saved = _ours(ipt.prefix)
    assert f"-A POSTROUTING -j {ipt.prefix}-POST" in saved
    assert f"-A FORWARD -j {ipt.prefix}-FWD" in saved
    assert f"-A OUTPUT -m addrtype --dst-type LOCAL -j {ipt.prefix}-PUB" in saved
    subnet = ipt.cfg["bip"].rsplit(".", 1)[0] + ".0/24"
    assert f"-A {ipt.prefix}-POST -s {subnet} ! -o {ipt.cfg['bridge']} -j MASQUERADE" in saved


def test_published_port_answers_on_loopback_and_bridge_address(ipt: Ipt) -> None:
    name = _name("pub")
    p1, p2 = run_two_port_server(ipt.docker, name)
    addr = ipt.ip_of(name, "bridge")
    saved = _ours(ipt.prefix)
    assert any(f"--dport {p1} -j DNAT --to-destination {addr}:8000" in line for line in saved)
    # the bridge address from another container goes through the DNAT in PREROUTING
    assert_published_ports_answer(ipt.docker, ipt.cfg["bip"].split("/")[0], p1, p2)
    ipt.docker("rm", "-f", name)
    assert not any(f"--to-destination {addr}:" in line for line in _ours(ipt.prefix))


def test_networks_are_isolated_and_internal_is_closed(ipt: Ipt) -> None:
    n1, n2, n3 = _name("iso"), _name("iso"), _name("int")
    ipt.docker("network", "create", n1)
    ipt.docker("network", "create", n2)
    ipt.docker("network", "create", "--internal", n3)
    b1, b2, b3 = ipt.bridge_of(n1), ipt.bridge_of(n2), ipt.bridge_of(n3)
    saved = _ours(ipt.prefix)
    fwd = f"-A {ipt.prefix}-FWD"
    assert f"{fwd} -i {b1} -o {b2} -j DROP" in saved and f"{fwd} -i {b2} -o {b1} -j DROP" in saved
    assert f"{fwd} -i {b3} ! -o {b3} -j DROP" in saved and f"{fwd} ! -i {b3} -o {b3} -j DROP" in saved
    assert not any(f"! -o {b3} -j MASQUERADE" in line for line in saved)
    a = _name("a")
    ipt.docker(
        "run", "-d", "--name", a, "--network", n1, "busybox", "sh", "-c", "while true; do echo hi | nc -l -p 7001; done"
    )
    ip = ipt.ip_of(a, n1)
    same = ipt.docker(
        "run",
        "--rm",
        "--network",
        n1,
        "busybox",
        "sh",
        "-c",
        f"for i in $(seq 30); do nc {ip} 7001 </dev/null && exit 0; sleep 0.2; done; exit 1",
    )
    assert "hi" in same.stdout
    # n2's container has a route to n1 through the host: only the FWD chain stops it.
    other = ipt.docker("run", "--rm", "--network", n2, "busybox", "nc", "-w", "2", ip, "7001", check=False)
    assert "hi" not in other.stdout
    internal = ipt.docker("run", "--rm", "--network", n3, "busybox", "ip", "route", check=False)
    assert "default" not in internal.stdout
    ipt.docker("rm", "-f", a)
    for n in (n1, n2, n3):
        ipt.docker("network", "rm", n)
    assert not any(b in line for line in _ours(ipt.prefix) for b in (b1, b2, b3))


def test_restart_keeps_one_set_of_jumps_and_switching_backend_clears_the_other() -> None:
    if not os.path.exists("/bin/busybox"):
        pytest.skip("needs busybox-static")
    d = DaemonProcess(config={"firewall-backend": "iptables"})
    try:
        d.start()
        ipt = Ipt(d)
        status, body = d.request("POST", "/dockyard/images/bootstrap?kind=busybox&tag=busybox:latest", timeout=120)
        assert status == 200, body
        name = _name("pub")
        ipt.docker("run", "-d", "--name", name, "-p", "127.0.0.1::8000", "busybox", "sleep", "600")
        before = _ours(ipt.prefix)
        d.stop()
        d.start()  # reconciles: reapplies the same rules (the container lives on)
        assert _ours(ipt.prefix) == before
        assert sum(line.startswith("-A FORWARD ") for line in before) == 1
        # The next start with nftables drops the iptables chains and loads its own table.
        with open(os.path.join(d.root, "daemon.json")) as f:
            cfg = json.load(f)
        with open(os.path.join(d.root, "daemon.json"), "w") as f:
            json.dump({**cfg, "firewall-backend": "nftables"}, f)
        d.stop()
        d.start()
        assert _ours(ipt.prefix) == []
        table = f"dockyard_{cfg['bridge']}"
        rules = subprocess.run(["nft", "list", "table", "ip", table], capture_output=True, text=True).stdout
        assert "dnat to" in rules
    finally:
        d.destroy()
