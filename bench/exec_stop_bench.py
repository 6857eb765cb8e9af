#!/usr/bin/env python3
"""Median latency of ``docker exec c true`` against a running container and of
``docker stop`` on a container that exits on SIGTERM, through the docker CLI
against a scratch dockyardd.

Targets (issue #3, this 2-core VM): exec <= 60 ms median (a real dockerd takes
about 90 ms here); stop <= 150 ms median.

Usage: sudo python3 bench/exec_stop_bench.py [-n RUNS] [--runtime NAME]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from benchkit import busybox_daemon, report

# exits at once on SIGTERM (busybox sh runs the trap between the short sleeps)
TERM_EXITS = "trap 'exit 0' TERM; while true; do sleep 0.05; done"


def docker(env: dict[str, str], *args: str) -> str:
    return subprocess.run(["docker", *args], env=env, check=True, capture_output=True, text=True).stdout.strip()


def time_exec(env: dict[str, str], n: int) -> list[float]:
    docker(env, "run", "-d", "--name", "bench-exec", "busybox", "sleep", "1000")
    docker(env, "exec", "bench-exec", "true")  # warm-up
    out = []
    for _ in range(n):
        t = time.perf_counter()
        docker(env, "exec", "bench-exec", "true")
        out.append(time.perf_counter() - t)
    docker(env, "rm", "-f", "bench-exec")
    return out


def time_stop(env: dict[str, str], n: int) -> list[float]:
    out = []
    for i in range(n + 1):
        name = f"bench-stop-{i}"
        docker(env, "run", "-d", "--name", name, "busybox", "sh", "-c", TERM_EXITS)
        time.sleep(0.2)  # let the shell install its trap
        t = time.perf_counter()
        docker(env, "stop", name)
        if i:  # the first is the warm-up
            out.append(time.perf_counter() - t)
        docker(env, "rm", name)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--runtime", default="", help="daemon default runtime (dockyard-runtime, runc, crun)")
    args = ap.parse_args()
    with busybox_daemon(args.runtime) as d:
        env = d.env()
        print(f"runtime: {args.runtime or 'dockyard-runtime'}; {args.n} runs each after a warm-up")
        report("docker exec c true -> dockyardd", time_exec(env, args.n))
        report("docker stop (exits on SIGTERM) -> dockyardd", time_stop(env, args.n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
