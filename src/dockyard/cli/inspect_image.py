"""``image inspect``."""

from __future__ import annotations

import click

from dockyard.cli.context import client_from
from dockyard.cli.inspecting import print_inspected

__all__ = ["inspect"]


@click.command()
@click.option("-f", "--format", "fmt", help="Format output using a custom template.")
@click.argument("images", nargs=-1, required=True)
@click.pass_context
def inspect(ctx: click.Context, fmt: str | None, images: tuple[str, ...]) -> int:
    """Display detailed information on one or more images."""
    return print_inspected(images, client_from(ctx).inspect_image, fmt, "image")
