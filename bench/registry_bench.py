"""Push/pull throughput of blobs against dockyard's registry on 127.0.0.1.

Starts ``python -m dockyard.registry serve`` in its own process (or uses ``--url``)
and drives it with the plain ``requests`` client over the distribution API:
single-POST pushes, chunked pushes (POST + PATCH... + PUT) and full GETs.

    python bench/registry_bench.py [--size-mb 64] [--count 4] [--chunk-mb 8] [--parallel 1] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import requests


@contextmanager
def local_registry() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="registry-bench-") as root:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dockyard.registry",
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--root",
                root,
                "--no-access-log",
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stderr is not None
            for _ in range(50):
                m = re.search(r"listening on (\S+)", proc.stderr.readline())
                if m:
                    yield m.group(1)
                    break
            else:
                raise RuntimeError("registry did not start")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def push_single(s: requests.Session, url: str, repo: str, data: bytes, digest: str, chunk: int) -> None:
    r = s.post(f"{url}/v2/{repo}/blobs/uploads/", params={"digest": digest}, data=data, timeout=300)
    r.raise_for_status()


def push_chunked(s: requests.Session, url: str, repo: str, data: bytes, digest: str, chunk: int) -> None:
    loc = s.post(f"{url}/v2/{repo}/blobs/uploads/", timeout=60).headers["Location"]
    for off in range(0, len(data), chunk):
        part = data[off : off + chunk]
        r = s.patch(url + loc, data=part, headers={"Content-Range": f"{off}-{off + len(part) - 1}"}, timeout=300)
        r.raise_for_status()
        loc = r.headers["Location"]
    s.put(url + loc, params={"digest": digest}, timeout=300).raise_for_status()


def pull(s: requests.Session, url: str, repo: str, data: bytes, digest: str, chunk: int) -> None:
    h = hashlib.sha256()
    with s.get(f"{url}/v2/{repo}/blobs/{digest}", stream=True, timeout=300) as r:
        r.raise_for_status()
        for block in r.iter_content(1 << 20):
            h.update(block)
    assert "sha256:" + h.hexdigest() == digest


Op = Callable[[requests.Session, str, str, bytes, str, int], None]


def measure(url: str, op: Op, repo: str, blobs: list[tuple[bytes, str]], chunk: int, parallel: int) -> float:
    """MB/s over all blobs."""

    def one(item: tuple[bytes, str]) -> None:
        with requests.Session() as s:
            op(s, url, repo, item[0], item[1], chunk)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(one, blobs))
    elapsed = time.perf_counter() - start
    return sum(len(b) for b, _ in blobs) / elapsed / 1e6


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", help="an already running registry (default: start one)")
    p.add_argument("--size-mb", type=float, default=32)
    p.add_argument("--count", type=int, default=4)
    p.add_argument("--chunk-mb", type=float, default=8)
    p.add_argument("--parallel", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    size, chunk = int(args.size_mb * 1e6), int(args.chunk_mb * 1e6)

    def fresh() -> list[tuple[bytes, str]]:
        out = []
        for _ in range(args.count):
            data = os.urandom(size)
            out.append((data, "sha256:" + hashlib.sha256(data).hexdigest()))
        return out

    @contextmanager
    def target() -> Iterator[str]:
        if args.url:
            yield args.url.rstrip("/")
        else:
            with local_registry() as url:
                yield url

    results: dict[str, float] = {}
    with target() as url:
        single = fresh()
        results["push single-POST MB/s"] = measure(url, push_single, "bench/single", single, chunk, args.parallel)
        results["push chunked MB/s"] = measure(url, push_chunked, "bench/chunked", fresh(), chunk, args.parallel)
        results["pull MB/s"] = measure(url, pull, "bench/single", single, chunk, args.parallel)
    params = {"size_mb": args.size_mb, "count": args.count, "chunk_mb": args.chunk_mb, "parallel": args.parallel}
    if args.json:
        print(json.dumps({**params, **{k: round(v, 1) for k, v in results.items()}}))
    else:
        print(f"{args.count} blobs x {args.size_mb} MB, chunks {args.chunk_mb} MB, {args.parallel} in parallel")
        for k, v in results.items():
            print(f"  {k:<24} {v:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
