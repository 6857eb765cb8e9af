"""dockyard's firewall rules for ``iptables``: the fallback where ``nft`` is missing.

The same rules as :mod:`dockyard.network.nftrules`, in chains of dockyard's own
(``<prefix>-PUB``/``-POST`` in nat, ``<prefix>-FWD`` in filter) jumped to from the
built-in chains. Each change is one ``iptables-restore --noflush`` transaction: a
chain declared in the input is flushed and refilled, every other chain (the host's
own rules) stays as it is. The jumps are inserted only when ``iptables-save`` shows
them missing, so reapplying never duplicates them.

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
    "parse_script",
    "render_cleanup",
    "render_delete",
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
    filt: list[str] = []
    names = [b.bridge for b in bridges]
    post = layout.postrouting
    for b in bridges:
        # Published on 127.0.0.1: the DNATed packet leaves with a loopback source (route_localnet).
        nat.append(f"-A {post} -s 127.0.0.0/8 -o {b.bridge} -j MASQUERADE")
        # Hairpin: a container reaching a port published by a neighbour on the same bridge.
        nat.append(f"-A {post} -s {b.subnet} -o {b.bridge} -m conntrack --ctstate DNAT -j MASQUERADE")
        if b.masquerade and not b.internal:
            nat.append(f"-A {post} -s {b.subnet} ! -o {b.bridge} -j MASQUERADE")
        if b.internal:
            filt.append(f"-A {layout.forward} -i {b.bridge} ! -o {b.bridge} -j DROP")
            filt.append(f"-A {layout.forward} ! -i {b.bridge} -o {b.bridge} -j DROP")
        filt.extend(f"-A {layout.forward} -i {b.bridge} -o {other} -j DROP" for other in names if other != b.bridge)
    return {"nat": nat, "filter": filt}


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


def render_delete(layout: ChainLayout) -> str:
    """A script asking to remove our chains and jumps (what's there is known only when applied)."""
    return f"{_HEADER} delete {layout.prefix}\n"


def parse_script(script: str) -> tuple[str, ChainLayout]:
    """``(action, layout)`` from a script made by :func:`render_rules` or :func:`render_delete`."""
    first = script.split("\n", 1)[0]
    parts = first.split()
    if len(parts) != 4 or " ".join(parts[:2]) != _HEADER or parts[2] not in ("apply", "delete"):
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
        """Run a :func:`render_rules` or :func:`render_delete` script."""
        if not self.available:
            raise errors.Unavailable("iptables is not installed: published ports and masquerading need it")
        action, layout = parse_script(script)
        if action == "delete":
            self.remove(layout)
        else:
            self._load(render_restore(script, self._saved()))

    def remove(self, layout: ChainLayout) -> None:
        text = render_cleanup(layout, self._saved())
        if text:
            self._load(text)
