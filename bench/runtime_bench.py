"""Median `run` latency of dockyard-runtime vs runc and crun on the same busybox bundle.

Also times dockyard's create+start through ``dockyard.runtime.cli.main`` called in a
forked child, the way dockyard-shim uses it (no interpreter start-up).

    sudo python bench/runtime_bench.py [-n 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dockyard.runtime.defaultspec import default_spec

SRC = str(Path(__file__).resolve().parent.parent / "src")
RUNTIMES = {
    "dockyard-runtime": [sys.executable, "-m", "dockyard.runtime.cli"],
    # No site-packages at all: the runtime must not need them (the source tree goes on sys.path by hand).
    "dockyard-runtime (python -S -I)": [
        sys.executable,
        "-S",
        "-I",
        "-c",
        f"import sys; sys.path.insert(0, {SRC!r}); from dockyard.runtime.cli import main; sys.exit(main())",
    ],
    "runc": ["/usr/sbin/runc"],
    "crun": ["/usr/bin/crun"],
}


def make_bundle(base: Path) -> Path:
    rootfs = base / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    for d in ("proc", "sys", "dev", "tmp"):
        (rootfs / d).mkdir()
    shutil.copy("/bin/busybox", rootfs / "bin" / "busybox")
    (rootfs / "bin" / "true").symlink_to("busybox")
    (base / "config.json").write_text(json.dumps(default_spec(["/bin/true"], rootfs=str(rootfs))))
    return base


def time_cli(argv: list[str], bundle: Path, root: Path, n: int) -> tuple[float, str]:
    samples = []
    for i in range(n):
        cid = f"bench{os.getpid()}-{i}"
        t = time.perf_counter()
        res = subprocess.run(
            [*argv, "--root", str(root), "run", "--bundle", str(bundle), cid],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        samples.append(time.perf_counter() - t)
        subprocess.run([*argv, "--root", str(root), "delete", "--force", cid], capture_output=True)
        if res.returncode != 0:
            return float("nan"), res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit {res.returncode}"
    return statistics.median(samples), ""


def time_in_process(bundle: Path, root: Path, n: int) -> float:
    """create+start via main() in a forked child, then wait for the container like the shim does."""
    from dockyard.runtime import cli

    samples = []
    for i in range(n):
        cid = f"inproc{os.getpid()}-{i}"
        t = time.perf_counter()
        child = os.fork()
        if child == 0:
            code = cli.main(["--root", str(root), "create", "--bundle", str(bundle), cid])
            if code == 0:
                code = cli.main(["--root", str(root), "start", cid])
            os._exit(code)
        _, status = os.waitpid(child, 0)
        samples.append(time.perf_counter() - t)
        cli.main(["--root", str(root), "delete", "--force", cid])
        if os.waitstatus_to_exitcode(status) != 0:
            return float("nan")
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="runs per runtime")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        bundle = make_bundle(Path(tmp) / "bundle")
        print(f"median `run` latency over {args.n} runs of /bin/true in a busybox bundle")
        for name, argv in RUNTIMES.items():
            if not os.path.exists(argv[0]):
                print(f"  {name:34} not installed")
                continue
            median, problem = time_cli(argv, bundle, Path(tmp) / name.replace(" ", "_"), args.n)
            print(f"  {name:34} {median * 1000:8.1f} ms" + (f"  (failed: {problem})" if problem else ""))
        inproc = time_in_process(bundle, Path(tmp) / "inproc", args.n)
        print(f"  {'dockyard create+start in-process':34} {inproc * 1000:8.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
