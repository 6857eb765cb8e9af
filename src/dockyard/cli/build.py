"""``dockyard build``: send a context to the classic builder and show its progress."""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from collections.abc import Iterable
from typing import IO, Any

import click

from dockyard import errors
from dockyard.cli.build_context import context_from_dir, dockerfile_only_context, is_archive
from dockyard.cli.build_progress import BuildState
from dockyard.cli.context import client_from
from dockyard.cli.flagvalues import parse_extra_host, parse_labels, parse_size
from dockyard.cli.messages import raise_for_error

__all__ = ["build_params", "commands"]

_OUTPUT_LINES = 8


def build_params(
    *,
    tags: Iterable[str] = (),
    dockerfile: str | None = None,
    build_args: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    target: str | None = None,
    no_cache: bool = False,
    pull: bool = False,
    quiet: bool = False,
    rm: bool = True,
    force_rm: bool = False,
    cache_from: Iterable[str] = (),
    platform: str | None = None,
    network: str | None = None,
    extra_hosts: Iterable[str] = (),
    shm_size: int | None = None,
    memory: int | None = None,
    remote: str | None = None,
) -> list[tuple[str, str]]:
    """The ``POST /build`` query (pure)."""
    q: list[tuple[str, str]] = [("t", t) for t in tags]
    for key, value in (
        ("dockerfile", dockerfile),
        ("target", target),
        ("platform", platform),
        ("networkmode", network),
        ("remote", remote),
    ):
        if value:
            q.append((key, value))
    if build_args:
        q.append(("buildargs", json.dumps(build_args)))
    if labels:
        q.append(("labels", json.dumps(labels)))
    if cache_from:
        q.append(("cachefrom", json.dumps(list(cache_from))))
    hosts = [parse_extra_host(h) for h in extra_hosts]
    if hosts:
        q.append(("extrahosts", ",".join(hosts)))
    for key, flag in (("nocache", no_cache), ("pull", pull), ("q", quiet), ("forcerm", force_rm)):
        if flag:
            q.append((key, "1"))
    q.append(("rm", "1" if rm else "0"))
    if shm_size is not None:
        q.append(("shmsize", str(shm_size)))
    if memory is not None:
        q.append(("memory", str(memory)))
    return q


def _build_args(items: Iterable[str]) -> dict[str, str]:
    """``--build-arg K=V``; a bare ``K`` takes the local value, as docker does (and is dropped if unset)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if sep:
            out[key] = value
        elif key in os.environ:
            out[key] = os.environ[key]
    return out


def _show_plain(messages: Iterable[Any], quiet: bool) -> BuildState:
    state = BuildState()
    for msg in messages:
        state.feed(msg)
        raise_for_error(msg)
        text = msg.get("stream") if isinstance(msg, dict) else None
        if isinstance(text, str) and not quiet:
            sys.stdout.write(text)
            sys.stdout.flush()
    state.close()
    return state


def _show_live(messages: Iterable[Any]) -> BuildState:
    from rich.console import Console, Group
    from rich.live import Live
    from rich.text import Text

    state = BuildState()
    console = Console(file=sys.stdout, highlight=False)
    printed = 0

    def current_view() -> Group:
        step = state.current
        if step is None or step.finished is not None:
            return Group()
        head = Text(f"[{step.number}/{step.total}] {step.instruction}", style="bold")
        head.append(f"  {step.elapsed(time.monotonic()):.1f}s {step.status}", style="cyan")
        tail = [Text("  " + line, style="dim") for line in step.output[-_OUTPUT_LINES:]]
        return Group(head, *tail)

    with Live(current_view(), console=console, refresh_per_second=8, transient=True) as live:
        for msg in messages:
            state.feed(msg)
            # Steps that finished are printed once, above the live part.
            while printed < len(state.steps) and state.steps[printed].finished is not None:
                step = state.steps[printed]
                line = Text(f"[{step.number}/{step.total}] {step.instruction}")
                line.append(f"  {step.elapsed(0):.1f}s", style="cyan")
                if step.cached:
                    line.append(" CACHED", style="green")
                live.console.print(line)
                if not step.cached:
                    for out in step.output:
                        live.console.print(Text("  " + out, style="dim"))
                printed += 1
            live.update(current_view())
            raise_for_error(msg)
        state.close()
    for step in state.steps[printed:]:
        console.print(Text(f"[{step.number}/{step.total}] {step.instruction}  {step.elapsed(0):.1f}s"))
    return state


def _open_context(
    context: str, file: str | None, stdin: IO[bytes]
) -> tuple[IO[bytes] | bytes | None, str | None, str | None]:
    """(tar body, dockerfile param, remote param) for the context argument and ``-f``."""
    if context == "-":
        if file == "-":
            raise errors.InvalidArgument("invalid argument: can't use stdin for both build context and dockerfile")
        data = stdin.read()
        if is_archive(data[:512]):
            return data, file, None
        return dockerfile_only_context(data), None, None
    if context.startswith(("http://", "https://", "git://", "git@", "github.com/")):
        return None, file, context
    if not os.path.isdir(context):
        raise errors.InvalidArgument(f'unable to prepare context: path "{context}" not found')
    extra: dict[str, bytes] = {}
    name = "Dockerfile"
    if file == "-":
        name = f".dockerfile.{secrets.token_hex(10)}"
        extra[name] = stdin.read()
    elif file is not None:
        path = os.path.abspath(file)
        root = os.path.abspath(context)
        if os.path.commonpath([path, root]) == root:
            name = os.path.relpath(path, root)
        else:  # outside the context: docker sends it inside under a random name
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError as exc:
                raise errors.InvalidArgument(f"unable to prepare context: {exc.strerror}: {file}") from None
            name = f".dockerfile.{secrets.token_hex(10)}"
            extra[name] = data
    if not extra and not os.path.exists(os.path.join(context, name)):
        raise errors.InvalidArgument(
            f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
            f"lstat {os.path.join(os.path.abspath(context), name)}: no such file or directory"
        )
    tar, _ = context_from_dir(context, name, extra=extra)
    return tar, name, None


@click.command()
@click.option("-t", "--tag", "tags", multiple=True, help="Name and optionally a tag in the 'name:tag' format.")
@click.option("-f", "--file", "file", help="Name of the Dockerfile (default: 'PATH/Dockerfile'; - for stdin).")
@click.option("--build-arg", multiple=True, help="Set build-time variables.")
@click.option("--label", multiple=True, help="Set metadata for an image.")
@click.option("--target", help="Set the target build stage to build.")
@click.option("--no-cache", is_flag=True, help="Do not use cache when building the image.")
@click.option("--pull", is_flag=True, help="Always attempt to pull a newer version of the image.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the build output and print image ID on success.")
@click.option("--rm/--no-rm", "rm", default=True, help="Remove intermediate containers after a successful build.")
@click.option("--force-rm", is_flag=True, help="Always remove intermediate containers.")
@click.option("--cache-from", multiple=True, help="Images to consider as cache sources.")
@click.option("--platform", help="Set platform if server is multi-platform capable.")
@click.option("--network", help="Set the networking mode for the RUN instructions during build.")
@click.option("--add-host", multiple=True, help="Add a custom host-to-IP mapping (host:ip).")
@click.option("--shm-size", help="Size of /dev/shm.")
@click.option("-m", "--memory", help="Memory limit.")
@click.option("--iidfile", type=click.Path(dir_okay=False), help="Write the image ID to the file.")
@click.option(
    "--progress", type=click.Choice(["auto", "plain", "tty"]), default="auto", help="Type of progress output."
)
@click.argument("context")
@click.pass_context
def build(
    ctx: click.Context,
    tags: tuple[str, ...],
    file: str | None,
    build_arg: tuple[str, ...],
    label: tuple[str, ...],
    target: str | None,
    no_cache: bool,
    pull: bool,
    quiet: bool,
    rm: bool,
    force_rm: bool,
    cache_from: tuple[str, ...],
    platform: str | None,
    network: str | None,
    add_host: tuple[str, ...],
    shm_size: str | None,
    memory: str | None,
    iidfile: str | None,
    progress: str,
    context: str,
) -> int:
    """Build an image from a Dockerfile."""
    body, dockerfile, remote = _open_context(context, file, sys.stdin.buffer)
    params = build_params(
        tags=tags,
        dockerfile=dockerfile,
        build_args=_build_args(build_arg),
        labels=parse_labels(label),
        target=target,
        no_cache=no_cache,
        pull=pull,
        quiet=quiet,
        rm=rm,
        force_rm=force_rm,
        cache_from=cache_from,
        platform=platform,
        network=network,
        extra_hosts=add_host,
        shm_size=parse_size(shm_size, flag="shm-size") if shm_size else None,
        memory=parse_size(memory, flag="memory") if memory else None,
        remote=remote,
    )
    messages = client_from(ctx).build(body if body is not None else b"", params)
    try:
        live = not quiet and progress != "plain" and (progress == "tty" or sys.stdout.isatty())
        state = _show_live(messages) if live else _show_plain(messages, quiet)
    finally:
        if body is not None and not isinstance(body, bytes):
            body.close()
    if state.error:
        raise errors.Internal(state.error)
    if quiet and state.image_id:
        click.echo(state.image_id)
    if iidfile and state.image_id:
        with open(iidfile, "w") as f:
            f.write(state.image_id)
    return 0


def commands() -> list[click.Command]:
    return [build]
