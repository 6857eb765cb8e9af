"""The flags ``run`` and ``create`` share, and their conversion to RunOptions."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from dockyard import errors
from dockyard.cli.flagvalues import parse_env, parse_env_file, parse_labels
from dockyard.cli.runconfig import RunOptions, create_body
from dockyard.cli.runflags import HOST_OPTIONS, host_flags_from, resolve_security_opts

__all__ = ["body_from", "create_options", "options_from"]

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS: list[Callable[[F], F]] = [
    click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached."),
    click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY."),
    click.option("--rm", is_flag=True, help="Automatically remove the container when it exits."),
    click.option("--name", help="Assign a name to the container."),
    click.option("-e", "--env", multiple=True, help="Set environment variables."),
    click.option("--env-file", multiple=True, type=click.Path(dir_okay=False), help="Read in a file of env vars."),
    click.option("-w", "--workdir", help="Working directory inside the container."),
    click.option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])."),
    click.option("--entrypoint", help="Overwrite the default ENTRYPOINT of the image."),
    click.option("--hostname", help="Container host name."),
    click.option("-l", "--label", multiple=True, help="Set meta data on a container."),
    click.option("--runtime", help="Runtime to use for this container."),
    click.option("-v", "--volume", multiple=True, help="Bind mount a volume."),
    click.option("-p", "--publish", multiple=True, help="Publish a container's port(s) to the host."),
    click.option("--network", "--net", "network", help="Connect a container to a network."),
    *HOST_OPTIONS,
    click.argument("image"),
    click.argument("command", nargs=-1, type=click.UNPROCESSED),
]


def create_options(fn: F) -> F:
    for opt in reversed(_OPTIONS):
        fn = opt(fn)
    return fn


def options_from(kw: dict[str, Any], *, detach: bool) -> RunOptions:
    return RunOptions(
        image=kw["image"],
        command=tuple(kw["command"]),
        detach=detach,
        interactive=kw["interactive"],
        tty=kw["tty"],
        rm=kw["rm"],
        env=tuple(kw["env"]),
        workdir=kw["workdir"],
        user=kw["user"],
        entrypoint=kw["entrypoint"],
        hostname=kw["hostname"],
        labels=parse_labels(kw["label"]),
        runtime=kw["runtime"],
        volumes=tuple(kw["volume"]),
        publish=tuple(kw["publish"]),
        network=kw["network"],
        host=host_flags_from(kw),
    )


def body_from(opts: RunOptions, env_files: tuple[str, ...]) -> dict[str, Any]:
    """Resolve env files (the only I/O) and build the create body."""
    env: list[str] = []
    for path in env_files:
        try:
            env += parse_env_file(Path(path).read_text(), os.environ)
        except OSError as exc:
            raise errors.InvalidArgument(f"open {path}: {exc.strerror}") from None
    env += parse_env(opts.env, os.environ)
    security = resolve_security_opts(opts.host.security_opt, lambda path: Path(path).read_text())
    return create_body(opts, env, security)
