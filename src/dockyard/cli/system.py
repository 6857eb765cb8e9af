"""System commands: version and info."""

from __future__ import annotations

import json
import platform
import sys
from typing import Any

import click

from dockyard import API_VERSION, __version__
from dockyard.cli.context import client_from
from dockyard.cli.humanize import human_size
from dockyard.cli.templates import parse_template
from dockyard.client import DaemonUnreachable

__all__ = ["commands", "format_info", "format_version"]


def _client_section() -> dict[str, Any]:
    return {
        "Version": __version__,
        "ApiVersion": API_VERSION,
        "PythonVersion": platform.python_version(),
        "Os": sys.platform,
        "Arch": platform.machine(),
    }


def format_version(client: dict[str, Any], server: dict[str, Any] | None) -> str:
    """The ``version`` text: a Client block, then a Server block when the daemon answered."""
    lines = [
        "Client:",
        f" Version:           {client['Version']}",
        f" API version:       {client['ApiVersion']}",
        f" Python version:    {client['PythonVersion']}",
        f" OS/Arch:           {client['Os']}/{client['Arch']}",
    ]
    if server is not None:
        lines += ["", f"Server: {(server.get('Platform') or {}).get('Name') or 'dockyard'}"]
        for comp in server.get("Components") or []:
            details = comp.get("Details") or {}
            lines.append(f" {comp.get('Name')}:")
            lines.append(f"  Version:          {comp.get('Version')}")
            if "ApiVersion" in details:
                lines.append(
                    f"  API version:      {details['ApiVersion']} (minimum version {details.get('MinAPIVersion')})"
                )
            for key, label in (("GitCommit", "Git commit"), ("BuildTime", "Built"), ("Experimental", "Experimental")):
                if details.get(key):
                    lines.append(f"  {label + ':':<18}{details[key]}")
            if "Os" in details:
                lines.append(f"  OS/Arch:          {details['Os']}/{details.get('Arch')}")
        if not server.get("Components"):
            lines += [
                f"  Version:          {server.get('Version')}",
                f"  API version:      {server.get('ApiVersion')} (minimum version {server.get('MinAPIVersion')})",
                f"  OS/Arch:          {server.get('Os')}/{server.get('Arch')}",
            ]
    return "\n".join(lines)


@click.command()
@click.option("-f", "--format", "fmt", help="Format output using a custom template ('json' or a Go template).")
@click.pass_context
def version(ctx: click.Context, fmt: str | None) -> int:
    """Show the dockyard version information."""
    client = _client_section()
    try:
        server: dict[str, Any] | None = client_from(ctx).version()
    except DaemonUnreachable:
        server = None
        if fmt is None:
            click.echo(format_version(client, None))
        raise
    data = {"Client": client, "Server": server}
    if fmt == "json":
        click.echo(json.dumps(data))
    elif fmt:
        click.echo(parse_template(fmt).render(data))
    else:
        click.echo(format_version(client, server))
    return 0


def format_info(info: dict[str, Any]) -> str:
    """The ``info`` text for the fields dockyard users look at."""
    fields = [
        ("Containers", info.get("Containers")),
        (" Running", info.get("ContainersRunning")),
        (" Paused", info.get("ContainersPaused")),
        (" Stopped", info.get("ContainersStopped")),
        ("Images", info.get("Images")),
        ("Server Version", info.get("ServerVersion")),
        ("Storage Driver", info.get("Driver")),
        ("Logging Driver", info.get("LoggingDriver")),
        ("Cgroup Driver", info.get("CgroupDriver")),
        ("Cgroup Version", info.get("CgroupVersion")),
        ("Runtimes", " ".join(sorted(info.get("Runtimes") or {})) or None),
        ("Default Runtime", info.get("DefaultRuntime")),
        ("Kernel Version", info.get("KernelVersion")),
        ("Operating System", info.get("OperatingSystem")),
        ("OSType", info.get("OSType")),
        ("Architecture", info.get("Architecture")),
        ("CPUs", info.get("NCPU")),
        ("Total Memory", human_size(info["MemTotal"]) if info.get("MemTotal") else None),
        ("Name", info.get("Name")),
        ("ID", info.get("ID")),
        ("Docker Root Dir", info.get("DockerRootDir")),
    ]
    lines = ["Server:"] + [f" {k}: {v}" for k, v in fields if v is not None and v != ""]
    for warning in info.get("Warnings") or []:
        lines.append(f"WARNING: {warning}")
    return "\n".join(lines)


@click.command()
@click.option("-f", "--format", "fmt", help="Format output using a custom template ('json' or a Go template).")
@click.pass_context
def info(ctx: click.Context, fmt: str | None) -> int:
    """Display system-wide information."""
    data = client_from(ctx).info()
    if fmt == "json":
        click.echo(json.dumps(data))
    elif fmt:
        click.echo(parse_template(fmt).render(data))
    else:
        click.echo(format_info(data))
    return 0


def commands() -> list[click.Command]:
    return [version, info]
