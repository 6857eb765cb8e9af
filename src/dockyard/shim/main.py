"""``dockyard-shim``: entry point of the per-container shim.

Started by the daemon as a lean interpreter (``python -S -I -c <bootstrap>``),
it detaches (second fork, new session), listens on ``<state_dir>/shim.sock``,
writes its pid file and signals readiness on the ``--ready-fd`` pipe; only then
does it import the rest of the shim (``server``), become a child subreaper and
read ``spec.json``. Requests that arrive meanwhile wait in the listen backlog.
``cleanup --state-dir D`` removes what a dead shim left.

Only ``os``, ``sys`` and ``_socket`` are imported before readiness: ``socket``,
``json`` and ``signal`` pull in ``enum`` and ``re``, which would double the start-up time.
"""

from __future__ import annotations

import os
import sys

from dockyard.shim.paths import PID_FILE, SHIM_LOG, SOCKET_NAME

__all__ = ["BOOTSTRAP", "main"]

# Run with ``python -S -I -c BOOTSTRAP <dir holding the dockyard package> <args...>``.
BOOTSTRAP = (
    "import sys;sys.path.insert(0,sys.argv[1]);from dockyard.shim.main import main;raise SystemExit(main(sys.argv[2:]))"
)

USAGE = (
    "usage: dockyard-shim [serve] --state-dir DIR [--ready-fd N] [--linger SECONDS] [--no-fork]\n"
    "       dockyard-shim spare   (then the arguments above on stdin, NUL-separated, one line)\n"
    "       dockyard-shim cleanup --state-dir DIR"
)


def _parse(argv: list[str]) -> tuple[str, dict[str, str]]:
    command = "serve"
    if argv and not argv[0].startswith("-"):
        command, argv = argv[0], argv[1:]
    opts: dict[str, str] = {}
    it = iter(argv)
    for arg in it:
        if arg == "--no-fork":
            opts["no-fork"] = "1"
        elif arg in ("--state-dir", "--ready-fd", "--linger"):
            value = next(it, None)
            if value is None:
                raise ValueError(f"{arg} needs a value")
            opts[arg[2:]] = value
        else:
            raise ValueError(f"unknown argument {arg!r}")
    if command not in ("serve", "cleanup"):
        raise ValueError(f"unknown command {command!r}")
    if "state-dir" not in opts:
        raise ValueError("missing --state-dir")
    return command, opts


def spare() -> int:
    """A warm shim kept ready by the daemon: imports done, it waits for its command line.

    The daemon writes one line of NUL-separated arguments to stdin when a container
    starts, sparing that start an interpreter launch and the imports. EOF (the daemon
    went away) ends the spare.
    """
    import dockyard.runtime.cli
    import dockyard.shim.server  # noqa: F401

    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(0, 4096)
        if not chunk:
            return 0
        line += chunk
    args = [a for a in line[:-1].decode().split("\0") if a]
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    if "--state-dir" in args[:-1]:
        # A launched shim gets its log as stderr from the daemon; a spare opens it itself.
        state_dir = args[args.index("--state-dir") + 1]
        log = os.open(os.path.join(state_dir, SHIM_LOG), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(log, 2)
        os.close(log)
    return main(args)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["spare"]:
        return spare()
    try:
        command, opts = _parse(argv)
        ready_fd = int(opts.get("ready-fd", "-1"))
        linger = float(opts.get("linger", "-1"))
    except ValueError as e:
        print(f"dockyard-shim: {e}\n{USAGE}", file=sys.stderr)
        return 2
    state_dir = os.path.abspath(opts["state-dir"])
    if command == "cleanup":
        from dockyard.shim.cleanup import cleanup

        return cleanup(state_dir)
    if "no-fork" not in opts and os.fork() != 0:
        os._exit(0)  # the daemon reaps this intermediate at once; the shim is reparented
    try:
        os.setsid()
    except OSError:
        pass  # already a session leader
    try:
        listener_fd = _listen(state_dir)
    except OSError as e:
        _ready(ready_fd, f"error: {e}")
        return 1
    _ready(ready_fd, "ok")
    from dockyard.shim.server import serve

    return serve(state_dir, listener_fd, linger)


def _listen(state_dir: str) -> int:
    """Bind ``shim.sock`` and write the pid file; returns the listening socket's fd."""
    import _socket

    os.chdir(state_dir)  # bound by a relative name: state paths may exceed sun_path's 108 bytes
    try:
        os.unlink(SOCKET_NAME)
    except FileNotFoundError:
        pass
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.bind(SOCKET_NAME)
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    tmp = PID_FILE + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(str(os.getpid()))
    os.replace(tmp, PID_FILE)
    return int(sock.detach())


def _ready(fd: int, message: str) -> None:
    if fd < 0:
        return
    try:
        os.write(fd, message.encode())
        os.close(fd)
    except OSError:
        pass
