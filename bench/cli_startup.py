#!/usr/bin/env python3
"""Start-up cost of the ``dockyard`` CLI beside the ``docker`` CLI, for the same requests to one dockyardd.

Each simple command (``ps``, ``version``, ``images``) is run by both CLIs in turn, after a
warm-up, against a scratch dockyardd this script starts; it prints the median (min, max) wall
and CPU time of each, their ratio, the bare interpreter's start-up (the floor for any Python
CLI) and, from ``python -X importtime``, where ``dockyard ps`` spends its import time.

The dockyard CLI is run as its console script runs it (``from dockyard.cli.main import main``)
by this interpreter, with a private bytecode cache as an installed package has; pass
``--no-bytecode-cache`` to see an environment that compiles every module on every run
(``PYTHONDONTWRITEBYTECODE`` with an editable install).

Usage: sudo python3 bench/cli_startup.py [-n RUNS] [--no-bytecode-cache]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from dockyard.testing.daemon import DaemonProcess

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "src"))

COMMANDS = (("ps",), ("version",), ("images",))
_ENTRY = "import sys; from dockyard.cli.main import main; sys.exit(main())"


def run_once(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + sys) seconds of one run of ``cmd``, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.decode(errors='replace')[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def timed_pair(a: list[str], b: list[str] | None, env: dict[str, str], n: int) -> tuple[list[float], ...]:
    """``n`` runs of ``a`` and ``b`` in turn (A B A B ...) after one warm-up each: a drifting machine hits both."""
    run_once(a, env)
    if b:
        run_once(b, env)
    aw, ac, bw, bc = [], [], [], []
    for _ in range(n):
        w, c = run_once(a, env)
        aw.append(w)
        ac.append(c)
        if b:
            w, c = run_once(b, env)
            bw.append(w)
            bc.append(c)
    return aw, ac, bw, bc


def fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1000:6.1f} ms ({min(xs) * 1000:5.1f}-{max(xs) * 1000:5.1f})"


def import_breakdown(cmd: list[str], env: dict[str, str], top: int) -> list[tuple[int, str]]:
    """The largest imports below the top level of ``cmd`` (cumulative microseconds, indented name)."""
    r = subprocess.run([*cmd[:1], "-X", "importtime", *cmd[1:]], env=env, capture_output=True, text=True, timeout=60)
    rows = []
    for line in r.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue  # the header line
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        if depth <= 2:
            rows.append((int(parts[1]), name[1:]))
    return sorted(rows, reverse=True)[:top]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=15, help="counted runs of each command")
    ap.add_argument("--no-bytecode-cache", action="store_true", help="compile every module on every run")
    args = ap.parse_args()

    cache = tempfile.mkdtemp(prefix="dockyard-cli-pyc-")
    d = DaemonProcess()
    try:
        pythonpath = os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)
        d.start(env={"PYTHONPATH": pythonpath})
        env = {**d.env(), "PYTHONPATH": pythonpath}
        if args.no_bytecode_cache:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            env.pop("PYTHONPYCACHEPREFIX", None)
        else:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = cache
        docker = shutil.which("docker")
        py = [sys.executable]
        print(
            f"{args.n} runs each after a warm-up; {sys.executable} (Python {sys.version.split()[0]}); "
            f"bytecode cache {'off' if args.no_bytecode_cache else 'on'}; docker CLI: {docker or 'not installed'}"
        )
        floor_w, floor_c, _, _ = timed_pair([*py, "-c", "pass"], None, env, args.n)
        print(f"{'python -c pass (the floor)':<26} wall {fmt(floor_w)}   cpu {fmt(floor_c)}")
        for words in COMMANDS:
            mine = [*py, "-c", _ENTRY, *words]
            theirs = [docker, *words] if docker else None
            aw, ac, bw, bc = timed_pair(mine, theirs, env, args.n)
            label = "dockyard " + " ".join(words)
            print(f"{label:<26} wall {fmt(aw)}   cpu {fmt(ac)}")
            if theirs:
                ratio = statistics.median(aw) / statistics.median(bw)
                label = "docker " + " ".join(words)
                print(f"{label:<26} wall {fmt(bw)}   cpu {fmt(bc)}   dockyard/docker wall x{ratio:.2f}")
        print("\nwhere `dockyard ps` spends its import time (cumulative, top-level and two levels below):")
        for cum, name in import_breakdown([*py, "-c", _ENTRY, "ps"], env, 20):
            print(f"  {cum / 1000:7.1f} ms  {name}")
    finally:
        d.destroy()
        shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
