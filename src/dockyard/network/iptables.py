"""dockyard's firewall rules for ``iptables``: the fallback where ``nft`` is missing.

The same rules as :mod:`dockyard.network.nftrules`, in chains of dockyard's own
(``<prefix>-PUB``/``-POST`` in nat, ``<prefix>-FWD`` in filter) jumped to from the
built-in chains. Each change is one ``iptables-restore --noflush`` transaction: a
chain declared in the input is flushed and refilled, every other chain (the host's
own rules) stays as it is. The jumps are inserted only when ``iptables-save`` shows
them missing, so reapplying never duplicates them.

With the nftables backend the FORWARD chain alone is kept here too, while the host's
FORWARD policy is DROP (:func:`render_guard`).

The generators are pure; :class:`IptablesFirewall` runs the two binaries.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard import errors
from dockyard.network.nftrules import BridgeRules, Publish

__all__ = [
    "ChainLayout",
    "IptablesFirewall",
    "chain_prefix",
    "forward_policy",
    "forward_rules",
    "guard_in_place",
    "is_script",
    "parse_script",
    "render_cleanup",
    "render_delete",
    "render_guard",
    "render_restore",
    "render_rules",
]

_HEADER = "# dockyard-iptables"


def chain_prefix(bridge: str) -> str:
    """Our chains' prefix for the daemon whose default bridge is ``bridge`` (≤ 28-char chain names)."""
    return "DOCKYARD" if bridge == "dockyard0" else f"DY-{bridge}"


@dataclass(frozen=True)
class ChainLayout:
    """Where our chains live and the jumps into them from the built-in chains."""

    prefix: str

    @property
    def publish(self) -> str:
        return f"{self.prefix}-PUB"

    @property
    def postrouting(self) -> str:
        return f"{self.prefix}-POST"

    @property
    def forward(self) -> str:
        return f"{self.prefix}-FWD"

    def chains(self) -> dict[str, tuple[str, ...]]:
        return {"nat": (self.publish, self.postrouting), "filter": (self.forward,)}

    def jumps(self) -> dict[str, tuple[tuple[str, str], ...]]:
        """table -> (built-in chain, rule spec), as ``iptables-save`` prints them."""
        local = f"-m addrtype --dst-type LOCAL -j {self.publish}"
        return {
            "nat": (("PREROUTING", local), ("OUTPUT", local), ("POSTROUTING", f"-j {self.postrouting}")),
            "filter": (("FORWARD", f"-j {self.forward}"),),
        }


def _rules(layout: ChainLayout, bridges: Sequence[BridgeRules], publishes: Sequence[Publish]) -> dict[str, list[str]]:
    nat: list[str] = []
    for p in publishes:
        match = f"-d {p.host_ip}/32 " if p.host_ip not in ("", "0.0.0.0") else ""
        nat.append(
            f"-A {layout.publish} {match}-p {p.proto} -m {p.proto} --dport {p.host_port} "
            f"-j DNAT --to-destination {p.address}:{p.container_port}"
        )
    post = layout.postrouting
    for b in bridges:
        # Published on 127.0.0.1: the DNATed packet leaves with a loopback source (route_localnet).
        nat.append(f"-A {post} -s 127.0.0.0/8 -o {b.bridge} -j MASQUERADE")
        # Hairpin: a container reaching a port published on its own bridge through a host address.
        nat.append(f"-A {post} -s {b.subnet} -o {b.bridge} -m conntrack --ctstate DNAT -j MASQUERADE")
        if b.masquerade and not b.internal:
            nat.append(f"-A {post} -s {b.subnet} ! -o {b.bridge} -j MASQUERADE")
    return {"nat": nat, "filter": forward_rules(layout, bridges)}


def forward_rules(layout: ChainLayout, bridges: Sequence[BridgeRules]) -> list[str]:
    """Our FORWARD chain: nftrules' order (internal networks closed, replies and published ports
    pass, networks isolated from each other), then what a bridge may send is accepted, so the
    bridges keep working under a FORWARD policy of DROP (Docker's DOCKER-FORWARD does the same)."""
    fwd = layout.forward
    out: list[str] = []
    for b in bridges:
        if b.internal:
            out.append(f"-A {fwd} -i {b.bridge} ! -o {b.bridge} -j DROP")
            out.append(f"-A {fwd} ! -i {b.bridge} -o {b.bridge} -j DROP")
    for b in bridges:
        out.append(f"-A {fwd} -o {b.bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
        out.append(f"-A {fwd} -o {b.bridge} -m conntrack --ctstate DNAT -j ACCEPT")
    names = [b.bridge for b in bridges]
    for b in bridges:
        out.extend(f"-A {fwd} -i {b.bridge} -o {other} -j DROP" for other in names if other != b.bridge)
    for b in bridges:
        # Left after the drops above: within the bridge, and (unless internal) out of the host.
        out.append(
            f"-A {fwd} -i {b.bridge} -o {b.bridge} -j ACCEPT" if b.internal else f"-A {fwd} -i {b.bridge} -j ACCEPT"
        )
    return out


def render_rules(layout: ChainLayout, bridges: Sequence[BridgeRules], publishes: Sequence[Publish]) -> str:
    """The desired state: a header naming the layout, then per table our chains and their rules.

    Deterministic (the service compares it with what it last applied); the jumps, which
    depend on the kernel's current state, are added by :func:`render_restore`."""
    rules = _rules(layout, bridges, publishes)
    out = [f"{_HEADER} apply {layout.prefix}"]
    for table, chains in layout.chains().items():
        out.append(f"*{table}")
        out.extend(f":{c} - [0:0]" for c in chains)
        out.extend(rules[table])
        out.append("COMMIT")
    return "\n".join(out) + "\n"


def render_guard(layout: ChainLayout, bridges: Sequence[BridgeRules]) -> str:
    """For the nftables backend: our FORWARD chain in iptables' filter table, to be loaded only
    while iptables' FORWARD policy is DROP (see :meth:`IptablesFirewall.apply`).

    A drop in any base chain is final, and iptables (also iptables-nft) has a base chain of its
    own at the forward hook: no accept in our nftables table can undo its policy. Docker, Docker's
    installer, ufw and firewalld set that policy, so dockyard accepts its bridges' traffic there."""
    head = [f"{_HEADER} guard {layout.prefix}", "*filter", f":{layout.forward} - [0:0]"]
    return "\n".join([*head, *forward_rules(layout, bridges), "COMMIT"]) + "\n"


def forward_policy(saved: str) -> str:
    """The filter table's FORWARD policy in ``iptables-save`` output ("" when there's no such chain)."""
    table = ""
    for line in saved.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif table == "filter" and line.startswith(":FORWARD "):
            return line.split()[1]
    return ""


def guard_in_place(script: str, saved: str) -> bool:
    """Whether ``saved`` already has :func:`render_guard`'s chain, rule for rule, and the jump to it."""
    _, layout = parse_script(script)
    filt = _saved_rules(saved).get("filter", [])
    want = [line for line in script.splitlines() if line.startswith("-A ")]
    have = [line for line in filt if line.startswith(f"-A {layout.forward} ")]
    return have == want and f"-A FORWARD -j {layout.forward}" in filt


def render_delete(layout: ChainLayout) -> str:
    """A script asking to remove our chains and jumps (what's there is known only when applied)."""
    return f"{_HEADER} delete {layout.prefix}\n"


def is_script(script: str) -> bool:
    """Whether ``script`` is one of this module's (and not an nftables script)."""
    return script.startswith(_HEADER + " ")


def parse_script(script: str) -> tuple[str, ChainLayout]:
    """``(action, layout)`` from a script made by :func:`render_rules`, :func:`render_guard` or
    :func:`render_delete`."""
    first = script.split("\n", 1)[0]
    parts = first.split()
    if len(parts) != 4 or " ".join(parts[:2]) != _HEADER or parts[2] not in ("apply", "delete", "guard"):
        raise errors.InvalidArgument("not a dockyard iptables script")
    return parts[2], ChainLayout(parts[3])


def _saved_rules(saved: str) -> dict[str, list[str]]:
    """table -> its ``-A`` lines in ``iptables-save`` output."""
    out: dict[str, list[str]] = {}
    table = ""
    for line in saved.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
            out.setdefault(table, [])
        elif line.startswith("-A ") and table:
            out[table].append(line.strip())
    return out


def _saved_chains(saved: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    table = ""
    for line in saved.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
            out.setdefault(table, set())
        elif line.startswith(":") and table:
            out[table].add(line[1:].split()[0])
    return out


def render_restore(rules_script: str, saved: str) -> str:
    """``iptables-restore --noflush`` input: :func:`render_rules`' chains plus the jumps
    ``saved`` (current ``iptables-save`` output) lacks, inserted first in their chains."""
    _, layout = parse_script(rules_script)
    have = _saved_rules(saved)
    jumps = layout.jumps()
    out: list[str] = []
    table = ""
    for line in rules_script.splitlines()[1:]:
        if line.startswith("*"):
            table = line[1:]
        elif line == "COMMIT":
            present = set(have.get(table, ()))
            out.extend(
                f"-I {chain} 1 {spec}" for chain, spec in jumps.get(table, ()) if f"-A {chain} {spec}" not in present
            )
        out.append(line)
    return "\n".join(out) + "\n"


def render_cleanup(layout: ChainLayout, saved: str) -> str:
    """``iptables-restore --noflush`` input removing every rule that jumps to one of our chains,
    then the chains; "" when there's nothing of ours in ``saved``."""
    have = _saved_rules(saved)
    chains_of = _saved_chains(saved)
    out = []
    for table, ours in layout.chains().items():
        present = [c for c in ours if c in chains_of.get(table, set())]
        targets = {f"-j {c}" for c in ours}
        jumps = [r for r in have.get(table, ()) if any(r.endswith(t) for t in targets) and r.split()[1] not in ours]
        if not present and not jumps:
            continue
        out.append(f"*{table}")
        out.extend("-D" + r[2:] for r in jumps)
        out.extend(f"-F {c}" for c in present)
        out.extend(f"-X {c}" for c in present)
        out.append("COMMIT")
    return "\n".join(out) + "\n" if out else ""


class IptablesFirewall:
    """Applies the scripts above with ``iptables-save`` / ``iptables-restore --noflush``."""

    def __init__(self) -> None:
        self._save = shutil.which("iptables-save")
        self._restore = shutil.which("iptables-restore")

    @property
    def available(self) -> bool:
        return self._save is not None and self._restore is not None

    def _saved(self) -> str:
        if self._save is None:
            raise errors.Unavailable("iptables-save is not installed")
        proc = subprocess.run([self._save], capture_output=True, check=False)
        if proc.returncode != 0:
            raise errors.Internal(f"iptables-save failed: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout.decode(errors="replace")

    def _load(self, text: str) -> None:
        if self._restore is None:
            raise errors.Unavailable("iptables-restore is not installed")
        cmd = [self._restore, "--noflush", "--wait"]
        proc = subprocess.run(cmd, input=text.encode(), capture_output=True, check=False)
        if proc.returncode != 0:
            raise errors.Internal(f"iptables-restore failed: {proc.stderr.decode(errors='replace').strip()}")

    def apply(self, script: str) -> None:
        """Run a :func:`render_rules`, :func:`render_guard` or :func:`render_delete` script.

        A guard is loaded while the FORWARD policy is DROP and removed otherwise; without
        iptables there is no such policy, and nothing to do."""
        action, layout = parse_script(script)
        if not self.available:
            if action == "guard":
                return
            raise errors.Unavailable("iptables is not installed: published ports and masquerading need it")
        if action == "delete":
            self.remove(layout)
            return
        saved = self._saved()
        if action == "guard" and forward_policy(saved) != "DROP":
            text = render_cleanup(layout, saved)
            if text:
                self._load(text)
            return
        if action == "guard" and guard_in_place(script, saved):
            return  # the periodic check mostly finds this: no reload
        self._load(render_restore(script, saved))

    def remove(self, layout: ChainLayout) -> None:
        text = render_cleanup(layout, self._saved())
        if text:
            self._load(text)
