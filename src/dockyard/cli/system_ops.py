"""``system df``, ``system prune``, ``events``, ``image prune`` and the ``system`` group."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import click

from dockyard.cli.arguments import parse_filters
from dockyard.cli.context import client_from
from dockyard.cli.humanize import api_timestamp, human_size, short_id, time_ago
from dockyard.cli.prompts import confirm, prune_report
from dockyard.cli.system import info
from dockyard.cli.templates import parse_template, tabulate
from dockyard.client import Client

__all__ = ["commands", "df_summary", "format_event", "image_prune_lines"]


def _pct(part: int, whole: int) -> str:
    return f" ({part * 100 // whole}%)" if whole > 0 else " (0%)"


def df_summary(data: Mapping[str, Any]) -> list[dict[str, str]]:
    """The four rows of ``system df``: type, total, active, size, reclaimable."""
    images = data.get("Images") or []
    containers = data.get("Containers") or []
    volumes = data.get("Volumes") or []
    cache = data.get("BuildCache") or []
    img_size = int(data.get("LayersSize") or sum(int(i.get("Size") or 0) for i in images))
    img_active = [i for i in images if int(i.get("Containers") or 0) > 0]
    used = sum(int(i.get("Size") or 0) - max(int(i.get("SharedSize") or 0), 0) for i in img_active)
    img_reclaim = max(img_size - used, 0)
    ctr_size = sum(int(c.get("SizeRw") or 0) for c in containers)
    ctr_active = [c for c in containers if c.get("State") in ("running", "paused", "restarting")]
    ctr_reclaim = sum(int(c.get("SizeRw") or 0) for c in containers if c not in ctr_active)

    def vsize(v: Mapping[str, Any]) -> int:
        return max(int((v.get("UsageData") or {}).get("Size") or 0), 0)

    def vrefs(v: Mapping[str, Any]) -> int:
        return int((v.get("UsageData") or {}).get("RefCount") or 0)

    vol_size = sum(vsize(v) for v in volumes)
    vol_reclaim = sum(vsize(v) for v in volumes if vrefs(v) == 0)
    cache_size = sum(int(b.get("Size") or 0) for b in cache)
    cache_reclaim = sum(int(b.get("Size") or 0) for b in cache if not b.get("InUse") and not b.get("Shared"))
    return [
        {
            "Type": "Images",
            "TotalCount": str(len(images)),
            "Active": str(len(img_active)),
            "Size": human_size(img_size),
            "Reclaimable": human_size(img_reclaim) + _pct(img_reclaim, img_size),
        },
        {
            "Type": "Containers",
            "TotalCount": str(len(containers)),
            "Active": str(len(ctr_active)),
            "Size": human_size(ctr_size),
            "Reclaimable": human_size(ctr_reclaim) + _pct(ctr_reclaim, ctr_size),
        },
        {
            "Type": "Local Volumes",
            "TotalCount": str(len(volumes)),
            "Active": str(sum(1 for v in volumes if vrefs(v) > 0)),
            "Size": human_size(vol_size),
            "Reclaimable": human_size(vol_reclaim) + _pct(vol_reclaim, vol_size),
        },
        {
            "Type": "Build Cache",
            "TotalCount": str(len(cache)),
            "Active": str(sum(1 for b in cache if b.get("InUse"))),
            "Size": human_size(cache_size),
            "Reclaimable": human_size(cache_reclaim),
        },
    ]


def _df_verbose(data: Mapping[str, Any]) -> str:
    now = time.time()
    out = ["Images space usage:", ""]
    rows = ["REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS"]
    for img in data.get("Images") or []:
        size, shared = int(img.get("Size") or 0), max(int(img.get("SharedSize") or 0), 0)
        for ref in img.get("RepoTags") or ["<none>:<none>"]:
            repo, _, tag = str(ref).rpartition(":")
            rows.append(
                "\t".join(
                    [
                        repo,
                        tag,
                        short_id(str(img.get("Id", ""))),
                        time_ago(float(img.get("Created") or 0), now),
                        human_size(size),
                        human_size(shared),
                        human_size(size - shared),
                        str(max(int(img.get("Containers") or 0), 0)),
                    ]
                )
            )
    out += [tabulate(rows), "", "Containers space usage:", ""]
    rows = ["CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES"]
    for c in data.get("Containers") or []:
        vols = sum(1 for m in c.get("Mounts") or [] if m.get("Type") == "volume")
        rows.append(
            "\t".join(
                [
                    short_id(str(c.get("Id", ""))),
                    str(c.get("Image", "")),
                    json.dumps(str(c.get("Command", ""))),
                    str(vols),
                    human_size(int(c.get("SizeRw") or 0)),
                    time_ago(float(c.get("Created") or 0), now),
                    str(c.get("Status", "")),
                    ",".join(str(n).lstrip("/") for n in c.get("Names") or []),
                ]
            )
        )
    out += [tabulate(rows), "", "Local Volumes space usage:", ""]
    rows = ["VOLUME NAME\tLINKS\tSIZE"]
    for v in data.get("Volumes") or []:
        usage = v.get("UsageData") or {}
        size = int(usage.get("Size") or 0)
        rows.append(f"{v.get('Name')}\t{usage.get('RefCount', 0)}\t{human_size(size) if size >= 0 else 'N/A'}")
    out += [
        tabulate(rows),
        "",
        "Build cache usage: " + human_size(sum(int(b.get("Size") or 0) for b in data.get("BuildCache") or [])),
    ]
    return "\n".join(out)


@click.command()
@click.option("--format", "fmt", help="Format output using a custom template.")
@click.option("-v", "--verbose", is_flag=True, help="Show detailed information on space usage.")
@click.pass_context
def df(ctx: click.Context, fmt: str | None, verbose: bool) -> int:
    """Show dockyard disk usage."""
    data = client_from(ctx).df()
    if verbose:
        click.echo(_df_verbose(data))
        return 0
    rows = df_summary(data)
    if fmt == "json":
        click.echo("\n".join(json.dumps(r) for r in rows))
    elif fmt and not fmt.startswith("table"):
        tmpl = parse_template(fmt)
        click.echo("\n".join(tmpl.render(r) for r in rows))
    else:
        lines = ["TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE"]
        lines += ["\t".join([r["Type"], r["TotalCount"], r["Active"], r["Size"], r["Reclaimable"]]) for r in rows]
        click.echo(tabulate(lines))
    return 0


def image_prune_lines(deleted: Sequence[Mapping[str, str]]) -> list[str]:
    out: list[str] = []
    for item in deleted:
        for key, value in item.items():
            out.append(f"{key.lower()}: {value}")
    return out


def _prune_images(client: Client, all_: bool, filters: dict[str, list[str]]) -> tuple[list[str], int]:
    flt = {**filters, "dangling": ["false" if all_ else "true"]}
    result = client.prune_images(flt)
    return image_prune_lines(result.get("ImagesDeleted") or []), int(result.get("SpaceReclaimed") or 0)


@click.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused images, not just dangling ones.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, help='Provide filter values (e.g. "until=<timestamp>").')
@click.pass_context
def image_prune(ctx: click.Context, all_: bool, force: bool, filters: tuple[str, ...]) -> int:
    """Remove unused images."""
    warning = (
        "WARNING! This will remove all images without at least one container associated to them."
        if all_
        else "WARNING! This will remove all dangling images."
    )
    if not force and not confirm(warning):
        return 0
    lines, space = _prune_images(client_from(ctx), all_, parse_filters(filters))
    click.echo(prune_report([("Deleted Images", lines)], space))
    return 0


@click.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused images not just dangling ones.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--volumes", is_flag=True, help="Prune anonymous volumes.")
@click.option("--filter", "filters", multiple=True, help='Provide filter values (e.g. "label=<key>=<value>").')
@click.pass_context
def system_prune(ctx: click.Context, all_: bool, force: bool, volumes: bool, filters: tuple[str, ...]) -> int:
    """Remove unused data."""
    items = ["all stopped containers", "all networks not used by at least one container"]
    if volumes:
        items.append("all anonymous volumes not used by at least one container")
    items += (
        ["all images without at least one container associated to them", "all build cache"]
        if all_
        else ["all dangling images", "unused build cache"]
    )
    warning = "WARNING! This will remove:\n" + "".join(f"  - {i}\n" for i in items)
    if not force and not confirm(warning):
        return 0
    client = client_from(ctx)
    flt = parse_filters(filters)
    containers = client.prune_containers(flt)
    space = int(containers.get("SpaceReclaimed") or 0)
    sections: list[tuple[str, list[str]]] = [("Deleted Containers", list(containers.get("ContainersDeleted") or []))]
    if volumes:
        vols = client.prune_volumes({k: v for k, v in flt.items() if k != "until"})
        space += int(vols.get("SpaceReclaimed") or 0)
        sections.append(("Deleted Volumes", list(vols.get("VolumesDeleted") or [])))
    sections.append(("Deleted Networks", list(client.prune_networks(flt).get("NetworksDeleted") or [])))
    lines, img_space = _prune_images(client, all_, flt)
    space += img_space
    sections.append(("Deleted Images", lines))
    cache = client.prune_build_cache(all=all_, filters=flt)
    space += int(cache.get("SpaceReclaimed") or 0)
    sections.append(("Deleted build cache objects", list(cache.get("CachesDeleted") or [])))
    click.echo(prune_report(sections, space))
    return 0


def _event_time(msg: Mapping[str, Any]) -> str:
    nano = int(msg.get("timeNano") or int(msg.get("time") or 0) * 1_000_000_000)
    secs, frac = divmod(nano, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(secs)) + f".{frac:09d}" + _tz(secs)


def _tz(secs: int) -> str:
    z = time.strftime("%z", time.localtime(secs))
    return "Z" if z in ("+0000", "-0000") else f"{z[:3]}:{z[3:]}"


def format_event(msg: Mapping[str, Any]) -> str:
    """``2026-11-27T23:03:21.123456789Z container start <id> (image=busybox, name=x)``."""
    actor = msg.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    text = f"{_event_time(msg)} {msg.get('Type', '')} {msg.get('Action', '')} {actor.get('ID', '')}"
    if attrs:
        text += " (" + ", ".join(f"{k}={v}" for k, v in sorted(attrs.items())) + ")"
    return text


@click.command()
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided.")
@click.option("--format", "fmt", help="Format output using a custom template ('json' or a Go template).")
@click.option("--since", help="Show all events created since timestamp.")
@click.option("--until", help="Stream events until this timestamp.")
@click.pass_context
def events(ctx: click.Context, filters: tuple[str, ...], fmt: str | None, since: str | None, until: str | None) -> int:
    """Get real time events from the server."""
    template = parse_template(fmt) if fmt and fmt != "json" else None
    stream = client_from(ctx).events(
        since=api_timestamp(since) if since else None,
        until=api_timestamp(until) if until else None,
        filters=parse_filters(filters),
    )
    for msg in stream:
        if fmt == "json":
            click.echo(json.dumps(msg, ensure_ascii=False))
        elif template is not None:
            click.echo(template.render(msg))
        else:
            click.echo(format_event(msg))
    return 0


@click.group()
def system() -> None:
    """Manage dockyard."""


for _cmd in (df, events, info):
    system.add_command(_cmd)
system.add_command(system_prune)


def commands() -> list[click.Command]:
    return [events, system]
