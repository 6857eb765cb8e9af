"""Container commands beyond run: pause, unpause, restart, rename, update, top, port, diff,
export, commit and ``container prune``."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click

from dockyard import errors
from dockyard.cli.archive_output import refuse_terminal, write_archive
from dockyard.cli.arguments import each, parse_filters, split_repo_tag
from dockyard.cli.context import client_from
from dockyard.cli.flagvalues import parse_cpus, parse_restart, parse_size
from dockyard.cli.prompts import confirm, prune_report
from dockyard.cli.templates import tabulate

__all__ = ["commands", "format_changes", "format_port_lines", "update_body"]

_CHANGE_KINDS = {0: "C", 1: "A", 2: "D"}


@click.command()
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def pause(ctx: click.Context, containers: tuple[str, ...]) -> int:
    """Pause all processes within one or more containers."""
    return each(containers, client_from(ctx).pause)


@click.command()
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def unpause(ctx: click.Context, containers: tuple[str, ...]) -> int:
    """Unpause all processes within one or more containers."""
    return each(containers, client_from(ctx).unpause)


@click.command()
@click.option("-s", "--signal", "sig", help="Signal to send to the container.")
@click.option("-t", "--time", "--timeout", "timeout", type=int, help="Seconds to wait before killing the container.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def restart(ctx: click.Context, sig: str | None, timeout: int | None, containers: tuple[str, ...]) -> int:
    """Restart one or more containers."""
    client = client_from(ctx)
    return each(containers, lambda c: client.restart(c, timeout, sig))


@click.command()
@click.argument("container_", metavar="CONTAINER")
@click.argument("new_name")
@click.pass_context
def rename(ctx: click.Context, container_: str, new_name: str) -> int:
    """Rename a container."""
    if not new_name.strip():
        raise errors.InvalidArgument("Error: Neither old nor new names may be empty")
    client_from(ctx).rename(container_, new_name)
    return 0


def update_body(kw: Mapping[str, Any]) -> dict[str, Any]:
    """The ``POST /containers/{id}/update`` body from ``update``'s flags (pure)."""
    body: dict[str, Any] = {}
    for key, flag, name in (
        ("Memory", "memory", "memory"),
        ("MemorySwap", "memory_swap", "memory-swap"),
        ("MemoryReservation", "memory_reservation", "memory-reservation"),
    ):
        if kw.get(flag) is not None:
            body[key] = parse_size(kw[flag], flag=name)
    if kw.get("cpus") is not None:
        body["NanoCpus"] = parse_cpus(kw["cpus"])
    for key, flag in (
        ("CpuShares", "cpu_shares"),
        ("CpuPeriod", "cpu_period"),
        ("CpuQuota", "cpu_quota"),
        ("CpusetCpus", "cpuset_cpus"),
        ("CpusetMems", "cpuset_mems"),
        ("PidsLimit", "pids_limit"),
        ("BlkioWeight", "blkio_weight"),
    ):
        if kw.get(flag) is not None:
            body[key] = kw[flag]
    if kw.get("restart") is not None:
        body["RestartPolicy"] = parse_restart(kw["restart"])
    if not body:
        raise errors.InvalidArgument("you must provide one or more flags when using this command")
    return body


@click.command()
@click.option("--restart", help="Restart policy to apply when a container exits.")
@click.option("-m", "--memory", help="Memory limit.")
@click.option("--memory-swap", help="Swap limit equal to memory plus swap: -1 to enable unlimited swap.")
@click.option("--memory-reservation", help="Memory soft limit.")
@click.option("--cpus", help="Number of CPUs.")
@click.option("-c", "--cpu-shares", type=int, help="CPU shares (relative weight).")
@click.option("--cpu-period", type=int, help="Limit CPU CFS (Completely Fair Scheduler) period.")
@click.option("--cpu-quota", type=int, help="Limit CPU CFS (Completely Fair Scheduler) quota.")
@click.option("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1).")
@click.option("--cpuset-mems", help="MEMs in which to allow execution (0-3, 0,1).")
@click.option("--pids-limit", type=int, help="Tune container pids limit (set -1 for unlimited).")
@click.option("--blkio-weight", type=int, help="Block IO (relative weight), between 10 and 1000, or 0 to disable.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def update(ctx: click.Context, /, containers: tuple[str, ...], **kw: Any) -> int:
    """Update configuration of one or more containers."""
    body = update_body(kw)
    client = client_from(ctx)

    def apply(ref: str) -> None:
        for warning in client.update_container(ref, body).get("Warnings") or []:
            print(f"WARNING: {warning}", file=sys.stderr)

    return each(containers, apply)


@click.command()
@click.argument("container_", metavar="CONTAINER")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def top(ctx: click.Context, container_: str, ps_args: tuple[str, ...]) -> int:
    """Display the running processes of a container."""
    result = client_from(ctx).top(container_, " ".join(ps_args) or None)
    titles = [str(t) for t in result.get("Titles") or []]
    rows = ["\t".join(titles)] + ["\t".join(str(x) for x in p) for p in result.get("Processes") or []]
    click.echo(tabulate(rows, minwidth=20, padding=3))
    return 0


def format_port_lines(ports: Mapping[str, Any] | None, wanted: str | None) -> list[str]:
    """``80/tcp -> 0.0.0.0:8080`` lines (or bare ``HOST:PORT`` when asking for one port)."""
    if wanted is not None and "/" not in wanted:
        wanted += "/tcp"
    out: list[str] = []

    def key(p: str) -> tuple[int, str]:
        num, _, proto = p.partition("/")
        return (int(num) if num.isdigit() else 0, proto)

    for port in sorted(ports or {}, key=key):
        if wanted is not None and port != wanted:
            continue
        for binding in (ports or {}).get(port) or []:
            ip = str(binding.get("HostIp") or "0.0.0.0")
            host = f"[{ip}]" if ":" in ip else ip
            addr = f"{host}:{binding.get('HostPort')}"
            out.append(addr if wanted is not None else f"{port} -> {addr}")
    return out


@click.command()
@click.argument("container_", metavar="CONTAINER")
@click.argument("private_port", required=False)
@click.pass_context
def port(ctx: click.Context, container_: str, private_port: str | None) -> int:
    """List port mappings or a specific mapping for the container."""
    info = client_from(ctx).inspect_container(container_)
    lines = format_port_lines((info.get("NetworkSettings") or {}).get("Ports"), private_port)
    if private_port is not None and not lines:
        p = private_port if "/" in private_port else private_port + "/tcp"
        print(f"Error: No public port '{p}' published for {container_}", file=sys.stderr)
        return 1
    if lines:
        click.echo("\n".join(lines))
    return 0


def format_changes(changes: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(f"{_CHANGE_KINDS.get(int(c.get('Kind', 0)), '?')} {c.get('Path')}" for c in changes)


@click.command()
@click.argument("container_", metavar="CONTAINER")
@click.pass_context
def diff(ctx: click.Context, container_: str) -> int:
    """Inspect changes to files or directories on a container's filesystem."""
    changes = client_from(ctx).changes(container_)
    if changes:
        click.echo(format_changes(changes))
    return 0


@click.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file, instead of STDOUT.")
@click.argument("container_", metavar="CONTAINER")
@click.pass_context
def export(ctx: click.Context, output: str | None, container_: str) -> int:
    """Export a container's filesystem as a tar archive."""
    refuse_terminal(output)
    write_archive(client_from(ctx).export(container_), output)
    return 0


class _GoBoolCommand(click.Command):
    """Accepts Go's ``--flag=false`` spelling for boolean flags, as the docker CLI does."""

    go_bools = {"--pause": "pause", "-p": "pause"}

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        out: list[str] = []
        for arg in args:
            name, sep, value = arg.partition("=")
            if sep and name in self.go_bools and value.lower() in ("true", "false", "1", "0"):
                arg = f"--{self.go_bools[name]}" if value.lower() in ("true", "1") else f"--no-{self.go_bools[name]}"
            out.append(arg)
        return super().parse_args(ctx, out)


@click.command(cls=_GoBoolCommand)
@click.option("-a", "--author", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").')
@click.option("-c", "--change", "changes", multiple=True, help="Apply Dockerfile instruction to the created image.")
@click.option("-m", "--message", help="Commit message.")
@click.option("--pause/--no-pause", "-p", "pause_", default=True, help="Pause container during commit.")
@click.argument("container_", metavar="CONTAINER")
@click.argument("reference", required=False)
@click.pass_context
def commit(
    ctx: click.Context,
    author: str | None,
    changes: tuple[str, ...],
    message: str | None,
    pause_: bool,
    container_: str,
    reference: str | None,
) -> int:
    """Create a new image from a container's changes."""
    repo, tag = split_repo_tag(reference) if reference else (None, None)
    result = client_from(ctx).commit(
        container_, repo=repo, tag=tag, author=author, comment=message, changes=changes, pause=pause_
    )
    click.echo(result.get("Id", ""))
    return 0


@click.command()
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, help='Provide filter values (e.g. "until=<timestamp>").')
@click.pass_context
def prune(ctx: click.Context, force: bool, filters: tuple[str, ...]) -> int:
    """Remove all stopped containers."""
    if not force and not confirm("WARNING! This will remove all stopped containers."):
        return 0
    result = client_from(ctx).prune_containers(parse_filters(filters))
    click.echo(
        prune_report([("Deleted Containers", result.get("ContainersDeleted") or [])], result.get("SpaceReclaimed") or 0)
    )
    return 0


def commands() -> list[click.Command]:
    return [pause, unpause, restart, rename, update, top, port, diff, export, commit]
