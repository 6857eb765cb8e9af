"""``dockyard registry serve|gc``: the registry server's own entry points, behind the CLI."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import click

__all__ = ["commands"]

_PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


def _delegate(name: str, argv: tuple[str, ...]) -> int:
    # Imported only when used: the registry server pulls in aiohttp and its own config.
    module = importlib.import_module("dockyard.registry.main")
    entry: Callable[[list[str]], int | None] = getattr(module, name)
    return int(entry(list(argv)) or 0)


@click.group()
def registry() -> None:
    """Run or maintain an OCI registry server."""


@registry.command(context_settings=_PASS_THROUGH)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def serve(argv: tuple[str, ...]) -> int:
    """Serve an OCI distribution registry (flags: see `dockyard registry serve --help`)."""
    return _delegate("serve_main", argv)


@registry.command(context_settings=_PASS_THROUGH)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def gc(argv: tuple[str, ...]) -> int:
    """Garbage-collect unreferenced blobs of a registry's storage."""
    return _delegate("gc_main", argv)


def commands() -> list[click.Command]:
    return [registry]
