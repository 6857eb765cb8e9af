"""Shim start latency (spawn to ready) and idle shim RSS.

Run as root: ``python bench/shim_bench.py [-n 20]``. Each shim is started the
way ``ShimTaskManager`` starts it, with a spec that is never created, then
deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time

from dockyard.tasks.api import TaskSpec
from dockyard.tasks.shim_client import ShimTask, ShimTaskManager, _write_spec, spec_to_json


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def bench(n: int) -> None:
    manager = ShimTaskManager()
    latencies: list[float] = []
    first_reply: list[float] = []
    rss: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            state_dir = os.path.join(tmp, f"s{i}")
            spec = TaskSpec(f"bench{i}", os.path.join(tmp, "bundle"), state_dir)
            _write_spec(state_dir, spec_to_json(spec))
            t0 = time.perf_counter()
            await manager._spawn(spec.container_id, state_dir)
            latencies.append((time.perf_counter() - t0) * 1000)
            task = ShimTask(spec.container_id, state_dir)
            await task.state()  # the first reply needs the rest of the shim imported and the spec read
            first_reply.append((time.perf_counter() - t0) * 1000)
            with open(os.path.join(state_dir, "shim.pid"), encoding="ascii") as f:
                rss.append(rss_kib(int(f.read())))
            await task.delete()
    latencies.sort()
    print(
        f"shim start to ready: median {statistics.median(latencies):.1f} ms, "
        f"p90 {latencies[int(len(latencies) * 0.9) - 1]:.1f} ms, min {latencies[0]:.1f} ms (n={n})"
    )
    print(f"shim start to first reply: median {statistics.median(first_reply):.1f} ms")
    print(f"idle shim RSS: median {statistics.median(rss) / 1024:.1f} MiB, max {max(rss) / 1024:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=20)
    asyncio.run(bench(parser.parse_args().n))


if __name__ == "__main__":
    main()
