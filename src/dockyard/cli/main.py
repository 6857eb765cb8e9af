"""``dockyard``: the command-line client of the Engine API that dockyardd serves."""

from __future__ import annotations

import os
import sys

import click

from dockyard import __version__, errors
from dockyard.cli.context import UNREACHABLE_HINT, CLIContext, resolve_host
from dockyard.cli.lazy import LazyGroup
from dockyard.client import APIError, DaemonUnreachable, parse_host

__all__ = ["COMMANDS", "cli", "main"]

_C = "dockyard.cli."
# Top-level command -> where it lives; imported on use only (keeps `dockyard run` quick to start).
COMMANDS = {
    **{n: f"{_C}run_command:{n}" for n in ("run", "create")},
    **{n: f"{_C}containers:{n}" for n in ("start", "stop", "kill", "rm", "ps", "logs", "wait")},
    "inspect": f"{_C}containers:inspect",
    "container": f"{_C}containers:container",
    **{
        n: f"{_C}container_ops:{n}"
        for n in ("pause", "unpause", "restart", "rename", "update", "top", "port", "diff", "export", "commit")
    },
    "exec": f"{_C}exec_command:exec_",
    "cp": f"{_C}cp:cp",
    "stats": f"{_C}stats:stats",
    **{n: f"{_C}images:{n}" for n in ("images", "rmi", "tag", "load", "save", "image")},
    "import": f"{_C}images:import_",
    "build": f"{_C}build:build",
    **{n: f"{_C}distribution:{n}" for n in ("pull", "push", "login", "logout")},
    "network": f"{_C}networks:network",
    "volume": f"{_C}volumes:volume",
    "version": f"{_C}system:version",
    "info": f"{_C}system:info",
    "events": f"{_C}system_ops:events",
    "system": f"{_C}system_ops:system",
    "registry": f"{_C}registry:registry",
}


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-H", "--host", "host", metavar="HOST", help="Daemon socket to connect to (env DOCKYARD_HOST).")
@click.version_option(__version__, "-v", "--version", prog_name="dockyard", message="dockyard version %(version)s")
@click.pass_context
def cli(ctx: click.Context, host: str | None) -> None:
    """A Docker-compatible container engine, written in Python."""
    ctx.obj = CLIContext(
        parse_host(resolve_host(host, os.environ)), autostart=os.environ.get("DOCKYARD_AUTOSTART") == "1"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns (and, as a console script, exits with) docker's exit codes."""
    try:
        return _run(argv)
    except BrokenPipeError:
        # The reader went away (`dockyard ps | head`): stop quietly, as docker does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130


def _run(argv: list[str] | None) -> int:
    try:
        rv = cli.main(args=argv, prog_name="dockyard", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        # `dockyard` or `dockyard image` alone: the help, as docker prints it, is not an error.
        print(exc.ctx.get_help() if exc.ctx else exc.format_message())
        return 0
    except click.exceptions.NoSuchOption as exc:
        _usage_error(exc)
        return 125
    except click.UsageError as exc:
        _usage_error(exc)
        return 1 if isinstance(exc, click.MissingParameter | click.BadArgumentUsage) else 125
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.Abort:
        print(file=sys.stderr)
        return 130
    except DaemonUnreachable as exc:
        print(f"{exc.message}\n{UNREACHABLE_HINT}", file=sys.stderr)
        return 1
    except APIError as exc:
        print(f"Error response from daemon: {exc.message}", file=sys.stderr)
        return 1
    except errors.DockyardError as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        return 1
    return int(rv) if isinstance(rv, int) else 0


def _usage_error(exc: click.UsageError) -> None:
    cmd = exc.ctx.command_path if exc.ctx else "dockyard"
    print(f"{exc.format_message()}\nSee '{cmd} --help'.", file=sys.stderr)
