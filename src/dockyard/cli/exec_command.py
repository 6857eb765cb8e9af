"""``dockyard exec``: run a command in a running container (create, hijacked start, inspect)."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import click

from dockyard import errors
from dockyard.cli.attach import pump
from dockyard.cli.context import client_from
from dockyard.cli.flagvalues import parse_env
from dockyard.cli.terminal import on_resize, raw_mode, terminal_size
from dockyard.client import Client

__all__ = ["commands", "exec_body"]


def exec_body(
    command: tuple[str, ...],
    *,
    interactive: bool,
    tty: bool,
    detach: bool,
    env: list[str],
    workdir: str | None,
    user: str | None,
    privileged: bool,
) -> dict[str, Any]:
    """The ``POST /containers/{id}/exec`` body (pure)."""
    return {
        "Cmd": list(command),
        "AttachStdin": interactive and not detach,
        "AttachStdout": not detach,
        "AttachStderr": not detach,
        "Tty": tty,
        "Env": env,
        "WorkingDir": workdir or "",
        "User": user or "",
        "Privileged": privileged,
    }


def _resize(client: Client, exec_id: str, fd: int) -> None:
    size = terminal_size(fd)
    if size:
        with contextlib.suppress(errors.DockyardError, OSError):
            client.exec_resize(exec_id, *size)


@click.command("exec", context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run command in the background.")
@click.option("-e", "--env", multiple=True, help="Set environment variables.")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached.")
@click.option("--privileged", is_flag=True, help="Give extended privileges to the command.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY.")
@click.option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>]).")
@click.option("-w", "--workdir", help="Working directory inside the container.")
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def exec_(
    ctx: click.Context,
    detach: bool,
    env: tuple[str, ...],
    interactive: bool,
    privileged: bool,
    tty: bool,
    user: str | None,
    workdir: str | None,
    container: str,
    command: tuple[str, ...],
) -> int:
    """Execute a command in a running container."""
    if tty and interactive and not detach and not sys.stdin.isatty():
        print("the input device is not a TTY", file=sys.stderr)
        return 1
    client = client_from(ctx)
    body = exec_body(
        command,
        interactive=interactive,
        tty=tty,
        detach=detach,
        env=parse_env(env, os.environ),
        workdir=workdir,
        user=user,
        privileged=privileged,
    )
    exec_id = client.exec_create(container, body)
    if detach:
        client.exec_start_detached(exec_id)
        return 0
    stdin_fd = sys.stdin.fileno() if interactive else None
    term_fd = stdin_fd if stdin_fd is not None and os.isatty(stdin_fd) else None
    with client.exec_start(exec_id, tty=tty) as stream:
        raw = raw_mode(term_fd) if tty and term_fd is not None else contextlib.nullcontext()
        resize = on_resize(lambda: _resize(client, exec_id, term_fd or 0)) if tty else contextlib.nullcontext()
        with raw, resize:
            if tty and term_fd is not None:
                _resize(client, exec_id, term_fd)
            pump(stream, tty=tty, stdout=sys.stdout.buffer, stderr=sys.stderr.buffer, stdin_fd=stdin_fd)
    code = client.exec_inspect(exec_id).get("ExitCode")
    return int(code) if isinstance(code, int) else 0


def commands() -> list[click.Command]:
    return [exec_]
