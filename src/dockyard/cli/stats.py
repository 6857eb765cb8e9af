"""``dockyard stats``: a live table of containers' resource usage (or one sample with --no-stream)."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import click

from dockyard import errors
from dockyard.cli.context import client_from
from dockyard.cli.humanize import human_size
from dockyard.cli.listing import render_rows
from dockyard.client import Client

__all__ = ["STATS_HEADERS", "binary_size", "commands", "stats_row"]

STATS_HEADERS = {
    "Container": "CONTAINER",
    "ID": "CONTAINER ID",
    "Name": "NAME",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}
_DEFAULT = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
_REFRESH = 1.0


def binary_size(size: float) -> str:
    """Go's ``units.BytesSize``: binary units, 4 significant digits ("1.944GiB")."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    i = 0
    while size >= 1024 and i < len(units) - 1:
        size /= 1024.0
        i += 1
    return f"{size:.4g}{units[i]}"


def _cpu_percent(s: Mapping[str, Any]) -> float:
    cpu, pre = s.get("cpu_stats") or {}, s.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get("total_usage", 0)
    sys_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    if cpu_delta > 0 and sys_delta > 0:
        return float(cpu_delta / sys_delta * online * 100.0)
    return 0.0


def _memory(s: Mapping[str, Any]) -> tuple[float, float]:
    mem = s.get("memory_stats") or {}
    usage = float(mem.get("usage") or 0)
    detail = mem.get("stats") or {}
    # docker subtracts the page cache that could be reclaimed (v1: total_inactive_file, v2: inactive_file).
    for key in ("total_inactive_file", "inactive_file"):
        if key in detail and detail[key] < usage:
            usage -= detail[key]
            break
    return usage, float(mem.get("limit") or 0)


def _io(s: Mapping[str, Any]) -> tuple[int, int, int, int]:
    rx = tx = 0
    for net in (s.get("networks") or {}).values():
        rx += int(net.get("rx_bytes") or 0)
        tx += int(net.get("tx_bytes") or 0)
    rd = wr = 0
    for entry in (s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = str(entry.get("op", "")).lower()
        if op == "read":
            rd += int(entry.get("value") or 0)
        elif op == "write":
            wr += int(entry.get("value") or 0)
    return rx, tx, rd, wr


def stats_row(ref: str, sample: Mapping[str, Any], *, no_trunc: bool = False) -> dict[str, str]:
    """One row of ``stats`` from a stats sample (Docker's JSON shape), as the docker CLI computes it."""
    usage, limit = _memory(sample)
    rx, tx, rd, wr = _io(sample)
    ident = str(sample.get("id", ""))
    return {
        "Container": ref,
        "ID": ident if no_trunc else ident[:12],
        "Name": str(sample.get("name", "")).lstrip("/") or "--",
        "CPUPerc": f"{_cpu_percent(sample):.2f}%",
        "MemUsage": f"{binary_size(usage)} / {binary_size(limit)}",
        "MemPerc": f"{(usage / limit * 100.0) if limit else 0.0:.2f}%",
        "NetIO": f"{human_size(rx)} / {human_size(tx)}",
        "BlockIO": f"{human_size(rd)} / {human_size(wr)}",
        "PIDs": str((sample.get("pids_stats") or {}).get("current") or 0),
    }


class _Watcher:
    """One stats stream per container, read in threads; the latest row of each kept for the display."""

    def __init__(self, client: Client, refs: list[str], no_trunc: bool) -> None:
        self.client = client
        self.rows: dict[str, dict[str, str]] = {}
        self.order: list[str] = []
        self.lock = threading.Lock()
        self.no_trunc = no_trunc
        for ref in refs:
            self.add(ref)

    def add(self, ref: str) -> None:
        with self.lock:
            if ref in self.order:
                return
            self.order.append(ref)
        threading.Thread(target=self._follow, args=(ref,), daemon=True).start()

    def _follow(self, ref: str) -> None:
        try:
            for sample in self.client.stats(ref, stream=True):
                with self.lock:
                    self.rows[ref] = stats_row(ref, sample, no_trunc=self.no_trunc)
        except errors.DockyardError:
            pass  # gone meanwhile: it just leaves the table
        with self.lock:
            self.rows.pop(ref, None)  # the container stopped: off the table, as docker does
            self.order.remove(ref)

    def snapshot(self) -> list[dict[str, str]]:
        with self.lock:
            return [self.rows[r] for r in self.order if r in self.rows]


def _render(rows: list[dict[str, str]], fmt: str | None) -> str:
    return render_rows(rows, fmt, _DEFAULT, STATS_HEADERS) or ""


def _live(watcher: _Watcher, fmt: str | None, discover: Callable[[], list[str]] | None) -> None:
    """Redraw every second; with ``discover``, containers that start meanwhile join the table."""

    def tick() -> str:
        if discover is not None:
            with contextlib.suppress(errors.DockyardError):
                for ref in discover():
                    watcher.add(ref)
        return _render(watcher.snapshot(), fmt)

    if not sys.stdout.isatty():
        while True:
            time.sleep(_REFRESH)
            sys.stdout.write("\033[2J\033[H" + tick() + "\n")
            sys.stdout.flush()
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    with Live(Text(""), console=Console(highlight=False), auto_refresh=False) as live:
        while True:
            live.update(Text(tick()), refresh=True)
            time.sleep(_REFRESH)


@click.command()
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default shows just running).")
@click.option("--format", "fmt", help="Format output: 'table', 'table TEMPLATE', 'json' or a Go template.")
@click.option("--no-stream", is_flag=True, help="Disable streaming stats and only pull the first result.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output.")
@click.argument("containers", nargs=-1)
@click.pass_context
def stats(
    ctx: click.Context, all_: bool, fmt: str | None, no_stream: bool, no_trunc: bool, containers: tuple[str, ...]
) -> int:
    """Display a live stream of container(s) resource usage statistics."""
    client = client_from(ctx)
    refs = list(containers) or [str(c["Id"]) for c in client.containers(all=all_)]
    if no_stream:
        rows: list[dict[str, str]] = []
        rc = 0
        for ref in refs:
            try:
                sample = next(iter(client.stats(ref, stream=False)), {})
            except errors.NotFound as exc:
                print(f"Error response from daemon: {exc.message}", file=sys.stderr)
                rc = 1
                continue
            rows.append(stats_row(ref, sample, no_trunc=no_trunc))
        text = _render(rows, fmt)
        if text:
            click.echo(text)
        return rc
    for ref in containers:
        client.inspect_container(ref)  # a missing container is an error before the table starts

    def discover() -> list[str]:
        return [str(c["Id"]) for c in client.containers(all=all_)]

    _live(_Watcher(client, refs, no_trunc), fmt, None if containers else discover)
    return 0


def commands() -> list[click.Command]:
    return [stats]
