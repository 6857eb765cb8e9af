"""A fake OCI runtime with runc's command line, for testing the shim without root.

It runs ``process.args`` of the bundle's config.json directly on the host (no
namespaces, no rootfs): ``create`` forks a child that waits on a fifo until
``start``, ``exec --detach`` forks and execs at once, ``kill`` signals, ``delete``
forgets. Errors go to the ``--log`` file as runc's JSON records.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import sys
import time
from typing import Any


def fail(log: str, message: str) -> int:
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps({"level": "error", "msg": message}) + "\n")
    else:
        print(message, file=sys.stderr)
    return 1


def take(args: list[str], name: str, default: str = "") -> str:
    if name in args:
        i = args.index(name)
        value = args[i + 1]
        del args[i : i + 2]
        return value
    return default


def flag(args: list[str], name: str) -> bool:
    if name in args:
        args.remove(name)
        return True
    return False


def spawn(process: dict[str, Any], console: str, fifo: str) -> int:
    argv = [str(a) for a in process["args"]]
    env = dict(e.split("=", 1) for e in process.get("env", []))
    master = slave = -1
    if console:
        master, slave = os.openpty()
    pid = os.fork()
    if pid == 0:
        try:
            if slave >= 0:
                os.setsid()
                for fd in (0, 1, 2):
                    os.dup2(slave, fd)
                import fcntl
                import termios

                fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            if fifo:
                with open(fifo, "rb") as f:  # blocks until ``start`` opens it for writing
                    f.read(1)
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    if master >= 0:
        os.close(slave)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(console)
            socket.send_fds(s, [b"pty"], [master])
        os.close(master)
    return pid


def main(argv: list[str]) -> int:
    args = list(argv)
    root = take(args, "--root", "/tmp/fake-runtime")
    log = take(args, "--log")
    take(args, "--log-format")
    command, args = args[0], args[1:]
    if command in ("create", "exec"):
        bundle = take(args, "--bundle")
        pid_file = take(args, "--pid-file")
        console = take(args, "--console-socket")
        process_file = take(args, "--process")
        flag(args, "--detach")
        cid = args[0]
        state = os.path.join(root, cid)
        if process_file:
            with open(process_file, encoding="utf-8") as f:
                process = json.load(f)
        else:
            with open(os.path.join(bundle, "config.json"), encoding="utf-8") as f:
                process = json.load(f)["process"]
        exe = str(process["args"][0])
        if shutil.which(exe, path=dict(e.split("=", 1) for e in process.get("env", [])).get("PATH")) is None:
            return fail(log, f'exec: "{exe}": executable file not found in $PATH')
        fifo = ""
        if command == "create":
            os.makedirs(state)
            fifo = os.path.join(state, "fifo")
            os.mkfifo(fifo)
        pid = spawn(process, console, fifo)
        if command == "create":
            with open(os.path.join(state, "pid"), "w") as f:
                f.write(str(pid))
        with open(pid_file, "w") as f:
            f.write(str(pid))
        return 0
    all_processes = flag(args, "--all")
    force = flag(args, "--force")
    cid = args[0]
    state = os.path.join(root, cid)
    try:
        with open(os.path.join(state, "pid")) as f:
            pid = int(f.read())
    except FileNotFoundError:
        return fail(log, f"container {cid} does not exist")
    if command == "start":
        deadline = time.monotonic() + 5
        while True:  # the child may not have opened its end yet
            try:
                fd = os.open(os.path.join(state, "fifo"), os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as e:
                if e.errno != errno.ENXIO or time.monotonic() > deadline:
                    return fail(log, f"cannot start {cid}: {e}")
                time.sleep(0.005)
        os.write(fd, b"1")
        os.close(fd)
        return 0
    if command == "kill":
        del all_processes
        try:
            os.kill(pid, int(args[1]))
        except ProcessLookupError:
            return fail(log, "container not running")
        return 0
    if command == "delete":
        if force:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(state, ignore_errors=True)
        return 0
    return fail(log, f"unknown command {command}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
