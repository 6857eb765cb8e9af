"""What every command shares: the daemon address and a client for it."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from dockyard.client import Client, DaemonUnreachable, Host
from dockyard.client.transport import DEFAULT_HOST

if TYPE_CHECKING:
    import http.client

__all__ = ["UNREACHABLE_HINT", "AutostartClient", "CLIContext", "client_from", "resolve_host"]

UNREACHABLE_HINT = (
    "Start the daemon with `sudo dockyardd &` (or `dockyardd` as root), "
    "or set DOCKYARD_AUTOSTART=1 to let dockyard start it."
)
_AUTOSTART_WAIT = 15.0


def resolve_host(flag: str | None, environ: dict[str, str] | os._Environ[str]) -> str:
    """``-H`` wins over ``DOCKYARD_HOST``, which wins over the default socket."""
    return flag or environ.get("DOCKYARD_HOST") or DEFAULT_HOST


class AutostartClient(Client):
    """A client that, when nothing answers, starts ``dockyardd`` once and retries."""

    _started = False

    def _connect(self) -> http.client.HTTPConnection:
        try:
            return super()._connect()
        except DaemonUnreachable:
            if self._started or self.host.scheme != "unix":
                raise
            self._started = True
            self._start_daemon()
            return super()._connect()

    def _start_daemon(self) -> None:
        # imported here: every command loads this module, few ever start a daemon
        import shutil
        import subprocess

        exe = shutil.which("dockyardd") or "dockyardd"
        print(
            f"dockyard: no daemon at {self.host}; starting `{exe} --host {self.host}` in the background",
            file=sys.stderr,
        )
        try:
            subprocess.Popen(
                [exe, "--host", str(self.host)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # outlives this command
            )
        except OSError as exc:
            raise DaemonUnreachable(f"could not start dockyardd: {exc}", str(self.host)) from None
        deadline = time.monotonic() + _AUTOSTART_WAIT
        while time.monotonic() < deadline:
            try:
                super()._connect().close()
                return
            except DaemonUnreachable:
                time.sleep(0.1)
        raise DaemonUnreachable(
            f"dockyardd did not answer at {self.host} within {_AUTOSTART_WAIT:.0f}s", str(self.host)
        )


@dataclass
class CLIContext:
    host: Host
    autostart: bool = False
    _client: Client | None = field(default=None, repr=False)

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = AutostartClient(self.host) if self.autostart else Client(self.host)
        return self._client


def client_from(ctx: click.Context) -> Client:
    obj = ctx.find_object(CLIContext)
    assert obj is not None, "commands run under the dockyard group"
    return obj.client
