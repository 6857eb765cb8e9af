"""Printing inspected objects as ``inspect`` commands do: a JSON array, or a template per object."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from typing import Any

import click

from dockyard import errors
from dockyard.cli.templates import parse_template
from dockyard.client import DaemonUnreachable

__all__ = ["print_inspected"]


def print_inspected(refs: Iterable[str], fetch: Callable[[str], dict[str, Any]], fmt: str | None, kind: str) -> int:
    """Inspect each ref; missing ones reported as ``Error: No such <kind>``; 1 if any was missing."""
    template = parse_template(fmt) if fmt and fmt != "json" else None
    found: list[dict[str, Any]] = []
    rc = 0
    for ref in refs:
        try:
            found.append(fetch(ref))
        except DaemonUnreachable:
            raise
        except errors.NotFound:
            print(f"Error: No such {kind}: {ref}", file=sys.stderr)
            rc = 1
    if template is not None:
        for obj in found:
            click.echo(template.render(obj))
    elif fmt == "json":
        for obj in found:
            click.echo(json.dumps(obj, ensure_ascii=False))
    else:
        click.echo(json.dumps(found, indent=4, ensure_ascii=False))
    return rc
