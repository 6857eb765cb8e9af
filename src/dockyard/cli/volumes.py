"""``dockyard volume``: create, ls, inspect, rm, prune."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import click

from dockyard import errors
from dockyard.cli.arguments import each, parse_filters
from dockyard.cli.context import client_from
from dockyard.cli.flagvalues import parse_key_values, parse_labels
from dockyard.cli.inspecting import print_inspected
from dockyard.cli.listing import render_rows
from dockyard.cli.prompts import confirm, prune_report

__all__ = ["commands", "volume_row"]

VOLUME_HEADERS = {
    "Name": "VOLUME NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "Mountpoint": "MOUNTPOINT",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}
_DEFAULT = "table {{.Driver}}\t{{.Name}}"


def volume_row(v: Mapping[str, Any]) -> dict[str, str]:
    labels = v.get("Labels") or {}
    return {
        "Name": str(v.get("Name", "")),
        "Driver": str(v.get("Driver", "")),
        "Scope": str(v.get("Scope", "local")),
        "Mountpoint": str(v.get("Mountpoint", "")),
        "Labels": ",".join(f"{k}={val}" for k, val in sorted(labels.items())),
        "CreatedAt": str(v.get("CreatedAt", "")),
    }


@click.group()
def volume() -> None:
    """Manage volumes."""


@volume.command()
@click.option("-d", "--driver", default="local", help='Specify volume driver name (default "local").')
@click.option("--label", multiple=True, help="Set metadata for a volume.")
@click.option("-o", "--opt", multiple=True, help="Set driver specific options.")
@click.option("--name", "name_opt", hidden=True)
@click.argument("name", required=False)
@click.pass_context
def create(
    ctx: click.Context,
    driver: str,
    label: tuple[str, ...],
    opt: tuple[str, ...],
    name_opt: str | None,
    name: str | None,
) -> int:
    """Create a volume."""
    if name and name_opt and name != name_opt:
        raise errors.InvalidArgument("conflicting options: either specify --name or provide positional arg, not both")
    body = {
        "Name": name or name_opt or "",
        "Driver": driver,
        "DriverOpts": parse_key_values(opt, what="option"),
        "Labels": parse_labels(label),
    }
    click.echo(client_from(ctx).create_volume(body).get("Name", ""))
    return 0


@volume.command("ls")
@click.option("-f", "--filter", "filters", multiple=True, help="Provide filter values (e.g. 'dangling=true').")
@click.option("--format", "fmt", help="Format output: 'table', 'table TEMPLATE', 'json' or a Go template.")
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names.")
@click.pass_context
def ls(ctx: click.Context, filters: tuple[str, ...], fmt: str | None, quiet: bool) -> int:
    """List volumes."""
    result = client_from(ctx).volumes(parse_filters(filters))
    for warning in result.get("Warnings") or []:
        print(f"WARNING: {warning}", file=sys.stderr)
    listed = sorted(result.get("Volumes") or [], key=lambda v: str(v.get("Name", "")))
    text = render_rows([volume_row(v) for v in listed], "{{.Name}}" if quiet else fmt, _DEFAULT, VOLUME_HEADERS)
    if text is not None:
        click.echo(text)
    return 0


@volume.command()
@click.option("-f", "--format", "fmt", help="Format output using a custom template.")
@click.argument("volumes", nargs=-1, required=True)
@click.pass_context
def inspect(ctx: click.Context, fmt: str | None, volumes: tuple[str, ...]) -> int:
    """Display detailed information on one or more volumes."""
    return print_inspected(volumes, client_from(ctx).inspect_volume, fmt, "volume")


@volume.command("rm")
@click.option("-f", "--force", is_flag=True, help="Force the removal of one or more volumes.")
@click.argument("volumes", nargs=-1, required=True)
@click.pass_context
def rm(ctx: click.Context, force: bool, volumes: tuple[str, ...]) -> int:
    """Remove one or more volumes."""
    client = client_from(ctx)
    return each(volumes, lambda v: client.remove_volume(v, force=force))


@volume.command()
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused volumes, not just anonymous ones.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, help='Provide filter values (e.g. "label=<label>").')
@click.pass_context
def prune(ctx: click.Context, all_: bool, force: bool, filters: tuple[str, ...]) -> int:
    """Remove unused local volumes."""
    warning = (
        "WARNING! This will remove all local volumes not used by at least one container."
        if all_
        else "WARNING! This will remove anonymous local volumes not used by at least one container."
    )
    if not force and not confirm(warning):
        return 0
    flt = parse_filters(filters)
    if all_:
        flt.setdefault("all", []).append("true")
    result = client_from(ctx).prune_volumes(flt)
    click.echo(
        prune_report([("Deleted Volumes", result.get("VolumesDeleted") or [])], result.get("SpaceReclaimed") or 0)
    )
    return 0


volume.add_command(rm, "remove")
volume.add_command(ls, "list")


def commands() -> list[click.Command]:
    return [volume]
