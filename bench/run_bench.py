#!/usr/bin/env python3
"""Median latency of ``run --rm busybox true`` through the docker CLI and through
``dockyard`` against a scratch dockyardd, beside ``crun run`` of an equivalent
bundle when crun is installed; plus dockyardd's idle RSS and an idle shim's RSS.

Targets (issue #2, this 2-core VM): docker CLI -> dockyardd <= 150 ms median;
dockyardd idle RSS <= 60 MB; an idle shim <= 15 MB.

Usage: sudo python3 bench/run_bench.py [-n RUNS] [--runtime NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from benchkit import busybox_daemon, report


def timed(cmd: list[str], env: dict[str, str], n: int) -> list[float]:
    subprocess.run(cmd, env=env, check=True, capture_output=True)  # warm-up
    out = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        out.append(time.perf_counter() - t)
    return out


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def crun_bundle(tmp: str) -> str:
    bundle = os.path.join(tmp, "bundle")
    rootfs = os.path.join(bundle, "rootfs", "bin")
    os.makedirs(rootfs)
    shutil.copy("/bin/busybox", os.path.join(rootfs, "busybox"))
    os.symlink("busybox", os.path.join(rootfs, "true"))
    subprocess.run(["crun", "spec"], cwd=bundle, check=True)
    with open(os.path.join(bundle, "config.json")) as f:
        spec = json.load(f)
    spec["process"]["args"] = ["/bin/true"]
    spec["process"]["terminal"] = False
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(spec, f)
    return bundle


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--runtime", default="", help="daemon default runtime (dockyard-runtime, runc, crun)")
    args = ap.parse_args()
    with busybox_daemon(args.runtime) as d:
        env = d.env()
        print(f"runtime: {args.runtime or 'dockyard-runtime'}; {args.n} runs each after a warm-up")
        if shutil.which("docker"):
            report(
                "docker run --rm busybox true -> dockyardd",
                timed(["docker", "run", "--rm", "busybox", "true"], env, args.n),
            )
        report("dockyard run --rm busybox true", timed(["dockyard", "run", "--rm", "busybox", "true"], env, args.n))
        for tool in ("crun", "runc"):
            if not shutil.which(tool) or not shutil.which("crun"):
                continue
            with tempfile.TemporaryDirectory() as tmp:
                bundle = crun_bundle(tmp)
                try:
                    xs = timed([tool, "run", "--bundle", bundle, f"bench-{tool}"], dict(os.environ), args.n)
                except subprocess.CalledProcessError as e:
                    why = (e.stderr or b"").decode(errors="replace").strip().splitlines()[-1:] or ["failed"]
                    print(f"{tool + ' run':<44} cannot run on this host: {why[0]}")
                    continue
                report(f"{tool} run (same busybox, no daemon)", xs)
        time.sleep(1)
        assert d.proc is not None
        print(f"{'dockyardd idle RSS':<44} {rss_mb(d.proc.pid):7.1f} MB")
        r = subprocess.run(["docker", "run", "-d", "busybox", "sleep", "60"], env=env, capture_output=True, text=True)
        cid = r.stdout.strip()
        time.sleep(0.5)
        with open(os.path.join(d.exec_root, "containers", cid, "shim", "shim.pid")) as f:
            print(f"{'idle shim RSS':<44} {rss_mb(int(f.read().strip())):7.1f} MB")
        subprocess.run(["docker", "rm", "-f", cid], env=env, capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
