"""``run`` and ``create``: the create flags turned into a create body, then the container made (and run)."""

from __future__ import annotations

import sys
from typing import Any

import click

from dockyard import errors
from dockyard.cli.container_options import body_from, create_options, options_from
from dockyard.cli.context import client_from
from dockyard.cli.run import DAEMON_ERROR, create_container, run_container

__all__ = ["commands", "create", "run"]


@click.command(context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Run container in background and print container ID.")
@create_options
@click.pass_context
def run(ctx: click.Context, /, detach: bool, **kw: Any) -> int:
    """Create and run a new container from an image."""
    opts = options_from(kw, detach=detach)
    if opts.tty and opts.interactive and not detach and not sys.stdin.isatty():
        print("the input device is not a TTY", file=sys.stderr)
        return 1
    try:
        body = body_from(opts, tuple(kw["env_file"]))
    except errors.InvalidArgument as exc:
        print(f"dockyard: {exc.message}\n\nRun 'dockyard run --help' for more information", file=sys.stderr)
        return DAEMON_ERROR
    return run_container(client_from(ctx), opts, body, kw["name"])


@click.command(context_settings={"allow_interspersed_args": False})
@create_options
@click.pass_context
def create(ctx: click.Context, /, **kw: Any) -> int:
    """Create a new container."""
    opts = options_from(kw, detach=True)
    body = body_from(opts, tuple(kw["env_file"]))
    body.update(AttachStdout=False, AttachStderr=False)
    created = create_container(
        client_from(ctx), body, kw["name"], opts.image, sys.stderr, pull=opts.host.pull, platform=opts.host.platform
    )
    for warning in created.get("Warnings") or []:
        print(f"WARNING: {warning}", file=sys.stderr)
    print(created["Id"])
    return 0


def commands() -> list[click.Command]:
    return [run, create]
