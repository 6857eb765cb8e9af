"""``dockyard-runtime``: runc's command line. ``main(argv)`` is safe to call in-process (in a forked child).

Deliberately lean (no argparse, click or dataclasses): the shim calls it for every container.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import NamedTuple

from dockyard.errors import DockyardError, InvalidArgument
from dockyard.runtime import container as c
from dockyard.runtime.log import RuntimeLog
from dockyard.runtime.signals import parse_signal
from dockyard.runtime.spec import Process, Resources, User, load_process, load_spec, parse_resources
from dockyard.runtime.state import load_state

__all__ = ["DEFAULT_ROOT", "main"]

DEFAULT_ROOT = "/run/dockyard/runtime"

# option -> takes a value?  (aliases map to the canonical long name)
_GLOBAL = {"--root": True, "--log": True, "--log-format": True, "--debug": False, "--systemd-cgroup": False,
           "--rootless": True, "--criu": True}  # fmt: skip
_COMMAND_OPTS: dict[str, dict[str, bool]] = {
    "create": {"--bundle": True, "--pid-file": True, "--console-socket": True, "--no-pivot": False,
               "--no-new-keyring": False, "--preserve-fds": True},
    "run": {"--bundle": True, "--pid-file": True, "--console-socket": True, "--no-pivot": False,
            "--no-new-keyring": False, "--preserve-fds": True, "--detach": False, "--keep": False},
    "start": {},
    "state": {},
    "kill": {"--all": False},
    "delete": {"--force": False},
    "exec": {"--process": True, "--console-socket": True, "--pid-file": True, "--detach": False, "--tty": False,
             "--cwd": True, "--env": True, "--user": True, "--preserve-fds": True, "--no-new-privs": False},
    "pause": {},
    "resume": {},
    "ps": {"--format": True},
    "list": {"--format": True, "--quiet": False},
    "features": {},
    "update": {"--resources": True, "--memory": True, "--memory-swap": True, "--pids-limit": True,
               "--cpu-shares": True, "--cpu-period": True, "--cpu-quota": True, "--cpuset-cpus": True,
               "--cpuset-mems": True},
}  # fmt: skip
_SHORT = {"-b": "--bundle", "-a": "--all", "-f": "--force", "-d": "--detach", "-p": "--process", "-t": "--tty",
          "-e": "--env", "-u": "--user", "-q": "--quiet"}  # fmt: skip

_USAGE = """usage: dockyard-runtime [--root DIR] [--log FILE] [--log-format text|json] COMMAND [OPTIONS] ID
commands: create start state kill delete run exec pause resume ps list update features"""


class Parsed(NamedTuple):
    opts: dict[str, list[str]]
    args: list[str]


def _parse(argv: list[str], spec: dict[str, bool], stop_at_positional: bool) -> tuple[Parsed, list[str]]:
    opts: dict[str, list[str]] = {}
    args: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            args += argv[i + 1 :]
            return Parsed(opts, args), []
        if a.startswith("-") and len(a) > 1:
            name, eq, value = a.partition("=")
            name = _SHORT.get(name, name)
            if name.startswith("-") and not name.startswith("--"):
                name = "-" + name  # runc accepts -root as well as --root
            if name not in spec:
                raise InvalidArgument(f"unknown option {a.split('=')[0]}")
            if spec[name]:
                if not eq:
                    i += 1
                    if i >= len(argv):
                        raise InvalidArgument(f"option {name} needs a value")
                    value = argv[i]
                opts.setdefault(name, []).append(value)
            else:
                opts.setdefault(name, []).append("true" if not eq else value)
        else:
            if stop_at_positional:
                return Parsed(opts, args), argv[i:]
            args.append(a)
        i += 1
    return Parsed(opts, args), []


def _one(p: Parsed, name: str, default: str = "") -> str:
    return p.opts.get(name, [default])[-1]


def _flag(p: Parsed, name: str) -> bool:
    return _one(p, name, "false") not in ("false", "0")


def _need_id(p: Parsed, extra: int = 0) -> str:
    if not 1 <= len(p.args) <= 1 + extra:
        raise InvalidArgument("expected a container id")
    return p.args[0]


def _print(obj: object) -> None:
    os.write(1, (json.dumps(obj, indent=2) + "\n").encode())


def _exec_process(root: str, p: Parsed, cid: str) -> Process:
    if p.opts.get("--process"):
        return load_process(_one(p, "--process"))
    if len(p.args) < 2:
        raise InvalidArgument("exec needs --process or a command")
    _, st = load_state(root, cid)
    base = load_spec(st.bundle).process or Process(args=("sh",))
    user = base.user
    if p.opts.get("--user"):
        uid, _, gid = _one(p, "--user").partition(":")
        user = User(int(uid), int(gid or 0))
    return base._replace(
        args=tuple(p.args[1:]),
        env=base.env + tuple(p.opts.get("--env", [])),
        cwd=_one(p, "--cwd", base.cwd),
        terminal=_flag(p, "--tty"),
        user=user,
        no_new_privileges=base.no_new_privileges or _flag(p, "--no-new-privs"),
    )


_FORWARDED = ("SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGWINCH")


def _hold_signals() -> set[int]:
    import signal

    return signal.pthread_sigmask(signal.SIG_BLOCK, [getattr(signal, n) for n in _FORWARDED])


def _release_signals(previous: set[int]) -> None:
    import signal

    signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _wait_forwarding_signals(pid: int, held: set[int]) -> int:
    """Wait for a foreground process, passing on the signals we get, like runc run/exec.

    ``held`` is the mask from :func:`_hold_signals`; signals that arrived meanwhile are forwarded too.
    """
    import signal

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    saved = {}
    for name in _FORWARDED:
        sig = getattr(signal, name)
        saved[sig] = signal.signal(sig, forward)
    _release_signals(held)
    try:
        return c.wait_exit_code(pid)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _update_resources(p: Parsed) -> Resources:
    """``--resources FILE`` (or ``-`` for stdin) as runc takes it, then the single-value flags on top."""
    doc: dict[str, dict[str, object]] = {}
    source = _one(p, "--resources")
    if source:
        with open(0 if source == "-" else source, "rb", closefd=source != "-") as f:
            loaded = json.load(f)
        if not isinstance(loaded, dict):
            raise InvalidArgument("--resources must hold a JSON object")
        doc = loaded
    for flag, (section, key) in _UPDATE_FLAGS.items():
        if p.opts.get(flag):
            doc.setdefault(section, {})[key] = _size(_one(p, flag)) if section == "memory" else _one(p, flag)
    for section, key in (("cpu", "shares"), ("cpu", "period"), ("cpu", "quota"), ("pids", "limit")):
        value = doc.get(section, {}).get(key)
        if isinstance(value, str):
            doc[section][key] = int(value)
    return parse_resources(doc)


_UPDATE_FLAGS = {
    "--memory": ("memory", "limit"),
    "--memory-swap": ("memory", "swap"),
    "--pids-limit": ("pids", "limit"),
    "--cpu-shares": ("cpu", "shares"),
    "--cpu-period": ("cpu", "period"),
    "--cpu-quota": ("cpu", "quota"),
    "--cpuset-cpus": ("cpu", "cpus"),
    "--cpuset-mems": ("cpu", "mems"),
}


def _size(text: str) -> int:
    """``"64m"`` -> bytes (runc/docker units: b k m g, powers of 1024); ``-1`` is unlimited."""
    t = text.strip().lower()
    units = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    if t and t[-1] in units:
        return int(t[:-1]) * units[t[-1]]
    return int(t)


def _run(argv: list[str], warn: Callable[[str], None]) -> int:
    g, rest = _parse(argv, _GLOBAL, stop_at_positional=True)
    if not rest or rest[0] in ("-h", "--help", "help"):
        os.write(1, (_USAGE + "\n").encode())
        return 0 if rest else 1
    command, rest = rest[0], rest[1:]
    if command not in _COMMAND_OPTS:
        raise InvalidArgument(f"unknown command {command!r}")
    root = _one(g, "--root", DEFAULT_ROOT)
    p, _ = _parse(rest, _COMMAND_OPTS[command], stop_at_positional=command == "exec")
    if command == "exec" and _:
        p = Parsed(p.opts, p.args + _)
        # options after the id belong to the command, as runc does not allow them there
    if command in ("create", "run"):
        cid = _need_id(p)
        opts = c.CreateOptions(
            bundle=_one(p, "--bundle", "."),
            pid_file=_one(p, "--pid-file"),
            console_socket=_one(p, "--console-socket"),
            preserve_fds=int(_one(p, "--preserve-fds", "0")),
            no_pivot=_flag(p, "--no-pivot"),
            foreground=command == "run" and not _flag(p, "--detach"),
            systemd_cgroup=_flag(g, "--systemd-cgroup"),
        )
        pid = c.create(root, cid, opts, warn)
        if command == "create":
            return 0
        if _flag(p, "--detach"):
            c.start(root, cid, warn)
            return 0
        # Hold signals from the moment the process runs until the forwarding handlers are in place.
        held = _hold_signals()
        try:
            c.start(root, cid, warn)
        except BaseException:
            _release_signals(held)
            raise
        code = _wait_forwarding_signals(pid, held)
        if not _flag(p, "--keep"):
            c.delete(root, cid, force=True, warn=warn)
        return code
    if command == "start":
        c.start(root, _need_id(p), warn)
    elif command == "state":
        _print(c.state(root, _need_id(p)))
    elif command == "kill":
        cid = _need_id(p, extra=1)
        sig = parse_signal(p.args[1]) if len(p.args) > 1 else 15
        c.kill(root, cid, sig, _flag(p, "--all"))
    elif command == "delete":
        c.delete(root, _need_id(p), _flag(p, "--force"), warn)
    elif command == "pause":
        c.pause(root, _need_id(p))
    elif command == "resume":
        c.resume(root, _need_id(p))
    elif command == "ps":
        pids = c.ps(root, _need_id(p))
        if _one(p, "--format", "table") == "json":
            _print(pids)
        else:
            os.write(1, ("PID\n" + "".join(f"{pid}\n" for pid in pids)).encode())
    elif command == "list":
        items = c.list_containers(root)
        if _flag(p, "--quiet"):
            os.write(1, "".join(i["id"] + "\n" for i in items).encode())
        elif _one(p, "--format", "table") == "json":
            _print(items)
        else:
            lines = ["ID\tPID\tSTATUS\tBUNDLE\tCREATED"]
            lines += [f"{i['id']}\t{i['pid']}\t{i['status']}\t{i['bundle']}\t{i['created']}" for i in items]
            os.write(1, ("\n".join(lines) + "\n").encode())
    elif command == "update":
        c.update(root, _need_id(p), _update_resources(p))
    elif command == "features":
        from dockyard.runtime.features import features

        _print(features())
    elif command == "exec":
        if not p.args:
            raise InvalidArgument("expected a container id")
        cid = p.args[0]
        proc = _exec_process(root, p, cid)
        detach = _flag(p, "--detach")
        held = set() if detach else _hold_signals()
        try:
            pid = c.exec_process(
                root,
                cid,
                proc,
                console_socket=_one(p, "--console-socket"),
                pid_file=_one(p, "--pid-file"),
                preserve_fds=int(_one(p, "--preserve-fds", "0")),
            )
        except BaseException:
            if not detach:
                _release_signals(held)
            raise
        if detach:
            return 0
        return _wait_forwarding_signals(pid, held)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one runtime command; returns the exit status (never calls sys.exit)."""
    args = sys.argv[1:] if argv is None else list(argv)
    log = RuntimeLog()
    try:
        g, _ = _parse(args, _GLOBAL, stop_at_positional=True)
        log = RuntimeLog(_one(g, "--log"), _one(g, "--log-format", "text"))
        return _run(args, log.warning)
    except DockyardError as e:
        log.error(e.message)
    except OSError as e:
        log.error(str(e))
    except (ValueError, KeyError) as e:
        log.error(f"invalid argument: {e}")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
