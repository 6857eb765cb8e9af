"""``dockyard network``: create, ls, inspect, connect, disconnect, rm, prune."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click

from dockyard import errors
from dockyard.cli.arguments import each, parse_filters
from dockyard.cli.context import client_from
from dockyard.cli.flagvalues import parse_key_values, parse_labels
from dockyard.cli.humanize import short_id
from dockyard.cli.inspecting import print_inspected
from dockyard.cli.listing import render_rows
from dockyard.cli.prompts import confirm, prune_report

__all__ = ["commands", "network_create_body", "network_row"]

NETWORK_HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}
_DEFAULT = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"


def network_create_body(
    name: str,
    *,
    driver: str,
    subnets: Sequence[str] = (),
    gateways: Sequence[str] = (),
    ip_ranges: Sequence[str] = (),
    internal: bool = False,
    attachable: bool = False,
    ipv6: bool = False,
    labels: Mapping[str, str] | None = None,
    options: Mapping[str, str] | None = None,
    ipam_driver: str = "default",
) -> dict[str, Any]:
    """The ``POST /networks/create`` body; gateways and ranges pair with subnets in order, as docker does."""
    if len(gateways) > len(subnets) or len(ip_ranges) > len(subnets):
        raise errors.InvalidArgument("every ip-range or gateway must have a corresponding subnet")
    config: list[dict[str, str]] = []
    for i, subnet in enumerate(subnets):
        entry = {"Subnet": subnet}
        if i < len(gateways):
            entry["Gateway"] = gateways[i]
        if i < len(ip_ranges):
            entry["IPRange"] = ip_ranges[i]
        config.append(entry)
    return {
        "Name": name,
        "CheckDuplicate": True,
        "Driver": driver,
        "Internal": internal,
        "Attachable": attachable,
        "EnableIPv6": ipv6,
        "IPAM": {"Driver": ipam_driver, "Config": config, "Options": {}},
        "Options": dict(options or {}),
        "Labels": dict(labels or {}),
    }


def network_row(n: Mapping[str, Any], *, no_trunc: bool = False) -> dict[str, str]:
    labels = n.get("Labels") or {}
    return {
        "ID": short_id(str(n.get("Id", "")), no_trunc=no_trunc),
        "Name": str(n.get("Name", "")),
        "Driver": str(n.get("Driver", "")),
        "Scope": str(n.get("Scope", "local")),
        "IPv6": "true" if n.get("EnableIPv6") else "false",
        "Internal": "true" if n.get("Internal") else "false",
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "CreatedAt": str(n.get("Created", "")),
    }


@click.group()
def network() -> None:
    """Manage networks."""


@network.command()
@click.option("-d", "--driver", default="bridge", help='Driver to manage the Network (default "bridge").')
@click.option("--subnet", multiple=True, help="Subnet in CIDR format that represents a network segment.")
@click.option("--gateway", multiple=True, help="IPv4 or IPv6 Gateway for the master subnet.")
@click.option("--ip-range", multiple=True, help="Allocate container ip from a sub-range.")
@click.option("--internal", is_flag=True, help="Restrict external access to the network.")
@click.option("--attachable", is_flag=True, help="Enable manual container attachment.")
@click.option("--ipv6", is_flag=True, help="Enable IPv6 networking.")
@click.option("--ipam-driver", default="default", help="IP Address Management Driver.")
@click.option("--label", multiple=True, help="Set metadata on a network.")
@click.option("-o", "--opt", multiple=True, help="Set driver specific options.")
@click.argument("name")
@click.pass_context
def create(
    ctx: click.Context,
    driver: str,
    subnet: tuple[str, ...],
    gateway: tuple[str, ...],
    ip_range: tuple[str, ...],
    internal: bool,
    attachable: bool,
    ipv6: bool,
    ipam_driver: str,
    label: tuple[str, ...],
    opt: tuple[str, ...],
    name: str,
) -> int:
    """Create a network."""
    body = network_create_body(
        name,
        driver=driver,
        subnets=subnet,
        gateways=gateway,
        ip_ranges=ip_range,
        internal=internal,
        attachable=attachable,
        ipv6=ipv6,
        labels=parse_labels(label),
        options=parse_key_values(opt, what="option"),
        ipam_driver=ipam_driver,
    )
    created = client_from(ctx).create_network(body)
    if created.get("Warning"):
        print(f"WARNING: {created['Warning']}", file=sys.stderr)
    click.echo(created.get("Id", ""))
    return 0


@network.command("ls")
@click.option("-f", "--filter", "filters", multiple=True, help="Provide filter values (e.g. 'driver=bridge').")
@click.option("--format", "fmt", help="Format output: 'table', 'table TEMPLATE', 'json' or a Go template.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output.")
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs.")
@click.pass_context
def ls(ctx: click.Context, filters: tuple[str, ...], fmt: str | None, no_trunc: bool, quiet: bool) -> int:
    """List networks."""
    listed = sorted(client_from(ctx).networks(parse_filters(filters)), key=lambda n: str(n.get("Name", "")))
    rows = [network_row(n, no_trunc=no_trunc) for n in listed]
    text = render_rows(rows, "{{.ID}}" if quiet else fmt, _DEFAULT, NETWORK_HEADERS)
    if text is not None:
        click.echo(text)
    return 0


@network.command()
@click.option("-f", "--format", "fmt", help="Format output using a custom template.")
@click.option("-v", "--verbose", is_flag=True, help="Verbose output for diagnostics.")
@click.argument("networks", nargs=-1, required=True)
@click.pass_context
def inspect(ctx: click.Context, fmt: str | None, verbose: bool, networks: tuple[str, ...]) -> int:
    """Display detailed information on one or more networks."""
    client = client_from(ctx)
    return print_inspected(networks, lambda ref: client.inspect_network(ref, verbose=verbose), fmt, "network")


@network.command()
@click.option("--alias", multiple=True, help="Add network-scoped alias for the container.")
@click.option("--ip", help="IPv4 address (e.g., 172.30.100.104).")
@click.option("--ip6", help="IPv6 address (e.g., 2001:db8::33).")
@click.option("--link", multiple=True, help="Add link to another container.")
@click.argument("network_", metavar="NETWORK")
@click.argument("container")
@click.pass_context
def connect(
    ctx: click.Context,
    alias: tuple[str, ...],
    ip: str | None,
    ip6: str | None,
    link: tuple[str, ...],
    network_: str,
    container: str,
) -> int:
    """Connect a container to a network."""
    endpoint: dict[str, Any] = {}
    if alias:
        endpoint["Aliases"] = list(alias)
    if link:
        endpoint["Links"] = list(link)
    ipam = {k: v for k, v in (("IPv4Address", ip), ("IPv6Address", ip6)) if v}
    if ipam:
        endpoint["IPAMConfig"] = ipam
    client_from(ctx).connect_network(network_, container, endpoint)
    return 0


@network.command()
@click.option("-f", "--force", is_flag=True, help="Force the container to disconnect from a network.")
@click.argument("network_", metavar="NETWORK")
@click.argument("container")
@click.pass_context
def disconnect(ctx: click.Context, force: bool, network_: str, container: str) -> int:
    """Disconnect a container from a network."""
    client_from(ctx).disconnect_network(network_, container, force=force)
    return 0


@network.command("rm")
@click.option("-f", "--force", is_flag=True, help="Do not error if the network does not exist.")
@click.argument("networks", nargs=-1, required=True)
@click.pass_context
def rm(ctx: click.Context, force: bool, networks: tuple[str, ...]) -> int:
    """Remove one or more networks."""
    client = client_from(ctx)

    def remove(ref: str) -> None:
        try:
            client.remove_network(ref)
        except errors.NotFound:
            if not force:
                raise

    return each(networks, remove)


@network.command()
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, help='Provide filter values (e.g. "until=<timestamp>").')
@click.pass_context
def prune(ctx: click.Context, force: bool, filters: tuple[str, ...]) -> int:
    """Remove all unused networks."""
    if not force and not confirm("WARNING! This will remove all custom networks not used by at least one container."):
        return 0
    result = client_from(ctx).prune_networks(parse_filters(filters))
    text = prune_report([("Deleted Networks", result.get("NetworksDeleted") or [])], None)
    if text:
        click.echo(text.rstrip("\n"))
    return 0


network.add_command(rm, "remove")
network.add_command(ls, "list")


def commands() -> list[click.Command]:
    return [network]
