"""The ``run`` flow as the docker CLI does it: create (pull if missing), attach, wait, start."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO, TextIO

from dockyard import errors
from dockyard.cli.arguments import split_repo_tag
from dockyard.cli.attach import pump
from dockyard.cli.messages import show_messages
from dockyard.cli.runconfig import RunOptions
from dockyard.cli.terminal import on_resize, raw_mode, terminal_size
from dockyard.client import APIError, Client
from dockyard.client.auth import AuthConfig

__all__ = ["DAEMON_ERROR", "attach_and_wait", "create_container", "run_container"]

DAEMON_ERROR = 125  # docker's exit code when the container never ran
_WAIT_HEAD_TIMEOUT = 2.0
_PROXIED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def _with_latest(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last or "@" in image else image + ":latest"


def create_container(
    client: Client,
    body: dict[str, Any],
    name: str | None,
    image: str,
    stderr: TextIO,
    *,
    pull: str = "missing",
    platform: str | None = None,
) -> dict[str, Any]:
    """Create; when the image is missing say so, try to pull it (``--pull``), and create again."""
    if pull == "always":
        _pull(client, image, platform, stderr)
    try:
        return client.create_container(body, name, platform=platform)
    except errors.NotFound:
        if pull == "never":
            raise
        stderr.write(f"Unable to find image '{_with_latest(image)}' locally\n")
        stderr.flush()
    _pull(client, image, platform, stderr)
    return client.create_container(body, name, platform=platform)


def _pull(client: Client, image: str, platform: str | None, stderr: TextIO) -> None:
    # Like the docker CLI: the tag as its own parameter, and the login stored for the image's registry.
    repo, tag = split_repo_tag(image)
    if "@" in repo:
        repo, _, tag = repo.partition("@")
    show_messages(client.pull(repo, tag or "latest", platform=platform, auth=_stored_auth(image)), stderr)


def _stored_auth(image: str) -> AuthConfig | None:
    # Only when a pull is needed: reading config.json (maybe a helper) stays off the fast path.
    from dockyard.cli.credentials import stored_auth

    return stored_auth(image)


def _report(exc: errors.DockyardError, stderr: TextIO, command: str) -> int:
    prefix = "Error response from daemon: " if isinstance(exc, APIError) else ""
    stderr.write(f"dockyard: {prefix}{exc.message}\n\nRun 'dockyard {command} --help' for more information\n")
    stderr.flush()
    return DAEMON_ERROR


@contextlib.contextmanager
def _signal_proxy(client: Client, cid: str) -> Iterator[None]:
    """Forward signals sent to the CLI to the container (docker's --sig-proxy)."""

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(errors.DockyardError, OSError):
            client.kill(cid, signal.Signals(signum).name)

    previous = {s: signal.signal(s, forward) for s in _PROXIED_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _resize(client: Client, cid: str, fd: int) -> None:
    size = terminal_size(fd)
    if size:
        with contextlib.suppress(errors.DockyardError, OSError):
            client.resize(cid, *size)


def attach_and_wait(
    client: Client,
    cid: str,
    *,
    tty: bool,
    interactive: bool,
    condition: str,
    stdout: BinaryIO,
    stderr: BinaryIO,
    stdin_fd: int | None,
    start: bool = True,
) -> int:
    """Attach and wait before starting (nothing of the output or the exit can be missed)."""
    stream = client.attach(cid, stdin=interactive)
    with stream:
        waiter = client.wait_later(cid, condition)
        waiter.read_in_background(_WAIT_HEAD_TIMEOUT)
        term_fd = stdin_fd if stdin_fd is not None and os.isatty(stdin_fd) else None
        raw = raw_mode(term_fd) if tty and interactive and term_fd is not None else contextlib.nullcontext()
        resize = on_resize(lambda: _resize(client, cid, term_fd or 0)) if tty else contextlib.nullcontext()
        # With a TTY, ^C is a byte for the container; without one, signals are forwarded from before start.
        proxy = _signal_proxy(client, cid) if not tty else contextlib.nullcontext()
        with raw, resize, proxy:
            if start:
                client.start(cid)
            if tty and term_fd is not None:
                _resize(client, cid, term_fd)
            pump(stream, tty=tty, stdout=stdout, stderr=stderr, stdin_fd=stdin_fd if interactive else None)
    result = waiter.json() or {}
    err = result.get("Error") or {}
    if isinstance(err, dict) and err.get("Message"):
        raise errors.Internal(str(err["Message"]))
    return int(result.get("StatusCode", 0))


def run_container(client: Client, opts: RunOptions, body: dict[str, Any], name: str | None) -> int:
    """``dockyard run``: the container's exit code, or 125 when the daemon refused."""
    try:
        created = create_container(
            client, body, name, opts.image, sys.stderr, pull=opts.host.pull, platform=opts.host.platform
        )
    except errors.DockyardError as exc:
        if isinstance(exc, errors.Unavailable) and not isinstance(exc, APIError):
            raise
        return _report(exc, sys.stderr, "run")
    for warning in created.get("Warnings") or []:
        print(f"WARNING: {warning}", file=sys.stderr)
    cid = str(created["Id"])
    try:
        if opts.detach:
            client.start(cid)
            print(cid, flush=True)
            return 0
        return attach_and_wait(
            client,
            cid,
            tty=opts.tty,
            interactive=opts.interactive,
            condition="removed" if opts.rm else "next-exit",
            stdout=sys.stdout.buffer,
            stderr=sys.stderr.buffer,
            stdin_fd=sys.stdin.fileno() if opts.interactive else None,
        )
    except errors.DockyardError as exc:
        return _report(exc, sys.stderr, "run")
