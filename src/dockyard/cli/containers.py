"""Container commands: start, stop, kill, rm, ps, logs, wait, inspect and the ``container`` group.

``run`` and ``create`` (and their many flags) are in ``run_command``, loaded only when used.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from dockyard import errors
from dockyard.cli.arguments import each, parse_filters
from dockyard.cli.context import client_from
from dockyard.cli.humanize import api_timestamp
from dockyard.cli.lazy import LazyGroup
from dockyard.cli.listing import CONTAINER_HEADERS, container_row, render_rows
from dockyard.cli.templates import parse_template
from dockyard.client import Client, DaemonUnreachable

__all__ = ["commands", "container", "inspect", "kill", "logs", "ps", "rm", "start", "stop", "wait"]

_PS_DEFAULT = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
_PS_SIZE = _PS_DEFAULT.replace("\t{{.Names}}", "\t{{.Names}}\t{{.Size}}")


@click.command()
@click.option("-a", "--attach", is_flag=True, help="Attach STDOUT/STDERR and forward signals.")
@click.option("-i", "--interactive", is_flag=True, help="Attach container's STDIN.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def start(ctx: click.Context, attach: bool, interactive: bool, containers: tuple[str, ...]) -> int:
    """Start one or more stopped containers."""
    client = client_from(ctx)
    if not (attach or interactive):
        return each(containers, client.start)
    if len(containers) > 1:
        raise errors.InvalidArgument("you cannot start and attach multiple containers at once")
    from dockyard.cli.run import attach_and_wait  # the attach machinery only when attaching

    info = client.inspect_container(containers[0])
    tty = bool((info.get("Config") or {}).get("Tty"))
    return attach_and_wait(
        client,
        str(info["Id"]),
        tty=tty,
        interactive=interactive,
        condition="next-exit",
        stdout=sys.stdout.buffer,
        stderr=sys.stderr.buffer,
        stdin_fd=sys.stdin.fileno() if interactive else None,
    )


@click.command()
@click.option("-t", "--time", "--timeout", "timeout", type=int, help="Seconds to wait before killing the container.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def stop(ctx: click.Context, timeout: int | None, containers: tuple[str, ...]) -> int:
    """Stop one or more running containers."""
    client = client_from(ctx)
    return each(containers, lambda c: client.stop(c, timeout))


@click.command()
@click.option("-s", "--signal", "sig", help="Signal to send to the container.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def kill(ctx: click.Context, sig: str | None, containers: tuple[str, ...]) -> int:
    """Kill one or more running containers."""
    client = client_from(ctx)
    return each(containers, lambda c: client.kill(c, sig))


@click.command()
@click.option("-f", "--force", is_flag=True, help="Force the removal of a running container (uses SIGKILL).")
@click.option("-v", "--volumes", is_flag=True, help="Remove anonymous volumes associated with the container.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def rm(ctx: click.Context, force: bool, volumes: bool, containers: tuple[str, ...]) -> int:
    """Remove one or more containers."""
    client = client_from(ctx)
    return each(containers, lambda c: client.remove_container(c, force=force, volumes=volumes))


@click.command()
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default shows just running).")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided.")
@click.option("--format", "fmt", help="Format output: 'table', 'table TEMPLATE', 'json' or a Go template.")
@click.option("-n", "--last", type=int, default=-1, help="Show n last created containers (includes all states).")
@click.option("-l", "--latest", is_flag=True, help="Show the latest created container (includes all states).")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs.")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes.")
@click.pass_context
def ps(
    ctx: click.Context,
    all_: bool,
    filters: tuple[str, ...],
    fmt: str | None,
    last: int,
    latest: bool,
    no_trunc: bool,
    quiet: bool,
    size: bool,
) -> int:
    """List containers."""
    limit = 1 if latest else (last if last > 0 else None)
    listed = client_from(ctx).containers(
        all=all_ or limit is not None, limit=limit, size=size, filters=parse_filters(filters)
    )
    rows = [container_row(c, no_trunc=no_trunc) for c in listed]
    if quiet:
        fmt = "{{.ID}}"
    text = render_rows(rows, fmt, _PS_SIZE if size else _PS_DEFAULT, CONTAINER_HEADERS)
    if text is not None:
        click.echo(text)
    return 0


@click.command()
@click.option("-f", "--follow", is_flag=True, help="Follow log output.")
@click.option("-n", "--tail", default="all", help='Number of lines to show from the end of the logs (default "all").')
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
@click.option("--since", help="Show logs since timestamp or relative (e.g. 42m for 42 minutes).")
@click.option("--until", help="Show logs before a timestamp or relative (e.g. 42m for 42 minutes).")
@click.option("--details", is_flag=True, hidden=True)
@click.argument("container")
@click.pass_context
def logs(
    ctx: click.Context,
    follow: bool,
    tail: str,
    timestamps: bool,
    since: str | None,
    until: str | None,
    details: bool,
    container: str,
) -> int:
    """Fetch the logs of a container."""
    client = client_from(ctx)
    info = client.inspect_container(container)
    tty = bool((info.get("Config") or {}).get("Tty"))
    out, err = sys.stdout.buffer, sys.stderr.buffer
    for stream, data in client.logs(
        str(info["Id"]),
        tty=tty,
        follow=follow,
        tail=tail,
        timestamps=timestamps,
        since=api_timestamp(since) if since else None,
        until=api_timestamp(until) if until else None,
    ):
        target = err if stream == 2 else out
        target.write(data)
        target.flush()
    return 0


@click.command()
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def wait(ctx: click.Context, containers: tuple[str, ...]) -> int:
    """Block until one or more containers stop, then print their exit codes."""
    client = client_from(ctx)
    return each(containers, lambda c: print(client.wait(c).get("StatusCode", 0), flush=True), echo=False)


def _inspect_one(client: Client, ref: str, kind: str | None) -> dict[str, Any]:
    if kind in (None, "container"):
        try:
            return client.inspect_container(ref)
        except errors.NotFound:
            if kind == "container":
                raise
    if kind in (None, "image"):
        try:
            return client.inspect_image(ref)
        except errors.NotFound:
            if kind == "image":
                raise
    for other, fetch in (("network", client.inspect_network), ("volume", client.inspect_volume)):
        if kind in (None, other):
            try:
                return fetch(ref)
            except errors.NotFound:
                if kind == other:
                    raise
    raise errors.NotFound(f"No such object: {ref}")


@click.command()
@click.option("-f", "--format", "fmt", help="Format output using a custom template ('json' or a Go template).")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes if the type is container.")
@click.option(
    "--type",
    "kind",
    type=click.Choice(["container", "image", "network", "volume"]),
    help="Only inspect objects of this type.",
)
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def inspect(ctx: click.Context, fmt: str | None, size: bool, kind: str | None, names: tuple[str, ...]) -> int:
    """Return low-level information on dockyard objects."""
    client = client_from(ctx)
    template = parse_template(fmt) if fmt and fmt != "json" else None
    found: list[dict[str, Any]] = []
    rc = 0
    for ref in names:
        try:
            found.append(_inspect_one(client, ref, kind))
        except DaemonUnreachable:
            raise
        except errors.NotFound:
            print(f"Error: No such {kind or 'object'}: {ref}", file=sys.stderr)
            rc = 1
    if template is None:
        if fmt == "json":
            for obj in found:
                click.echo(json.dumps(obj, ensure_ascii=False))
        else:
            click.echo(json.dumps(found, indent=4, ensure_ascii=False))
    else:
        for obj in found:
            click.echo(template.render(obj))
    return rc


_OPS = "dockyard.cli.container_ops:"
_CONTAINER_LAZY = {
    "run": "dockyard.cli.run_command:run",
    "create": "dockyard.cli.run_command:create",
    **{n: _OPS + n for n in ("pause", "unpause", "restart", "rename", "update", "top", "port", "diff", "export")},
    "commit": _OPS + "commit",
    "prune": _OPS + "prune",
    "exec": "dockyard.cli.exec_command:exec_",
    "cp": "dockyard.cli.cp:cp",
    "stats": "dockyard.cli.stats:stats",
}


@click.group(cls=LazyGroup, lazy=_CONTAINER_LAZY)
def container() -> None:
    """Manage containers."""


for _cmd in (start, stop, kill, rm, logs, wait, inspect):
    container.add_command(_cmd)
for _alias in ("ls", "ps", "list"):
    container.add_command(ps, _alias)


def commands() -> list[click.Command]:
    return [start, stop, kill, rm, ps, logs, wait, inspect, container]
