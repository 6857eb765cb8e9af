#!/usr/bin/env python3
"""Network numbers against a scratch dockyardd (its own bridge and subnet):

- TCP throughput container -> container over the default bridge (busybox dd | nc),
- TCP throughput host -> a published port on 127.0.0.1, next to plain host loopback,
- the extra ``run --rm busybox true`` latency of the default bridge over ``--network none``
  (target: <= 30 ms median on this 2-core VM).

Traffic stays on 127.0.0.1 and the bridge/containers this script creates.

Usage: sudo python3 bench/network_bench.py [-n RUNS] [--mb MEGABYTES]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from dockyard.testing.daemon import DaemonProcess


def docker(env: dict[str, str], *args: str) -> str:
    return subprocess.run(["docker", *args], env=env, check=True, capture_output=True, text=True, timeout=120).stdout


def run_latencies(env: dict[str, str], n: int) -> dict[str, list[float]]:
    """``run --rm busybox true`` per network mode, interleaved so load on the machine hits both alike."""
    out: dict[str, list[float]] = {"none": [], "bridge": []}
    for mode in out:
        subprocess.run(["docker", "run", "--rm", "--network", mode, "busybox", "true"], env=env, check=True)
    for _ in range(n):
        for mode, times in out.items():
            t = time.perf_counter()
            subprocess.run(
                ["docker", "run", "--rm", "--network", mode, "busybox", "true"],
                env=env,
                check=True,
                capture_output=True,
            )
            times.append(time.perf_counter() - t)
    return out


def send_all(host: str, port: int, total: int) -> float:
    """Seconds to push ``total`` bytes and see the receiver close."""
    chunk = b"\0" * (1 << 16)
    deadline = time.monotonic() + 30
    while True:
        try:
            s = socket.create_connection((host, port), timeout=30)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    with s:
        t = time.perf_counter()
        sent = 0
        while sent < total:
            s.sendall(chunk)
            sent += len(chunk)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
        return time.perf_counter() - t


def loopback_rate(total: int) -> float:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def sink() -> None:
        conn, _ = srv.accept()
        with conn:
            while conn.recv(1 << 16):
                pass

    th = threading.Thread(target=sink, daemon=True)
    th.start()
    secs = send_all("127.0.0.1", port, total)
    th.join(30)
    srv.close()
    return total / secs / 1e6


def published_rate(env: dict[str, str], total: int) -> float:
    cid = docker(env, "run", "-d", "-p", "127.0.0.1::5001", "busybox", "sh", "-c", "nc -l -p 5001 > /dev/null").strip()
    try:
        ports = json.loads(docker(env, "inspect", "-f", "{{json .NetworkSettings.Ports}}", cid))
        port = int(ports["5001/tcp"][0]["HostPort"])
        time.sleep(0.3)  # let nc listen; a refused connect is retried anyway
        return total / send_all("127.0.0.1", port, total) / 1e6
    finally:
        subprocess.run(["docker", "rm", "-f", cid], env=env, capture_output=True)


def container_rate(env: dict[str, str], mb: int) -> float:
    """A server container streams ``mb`` MiB to a client container; timed from the host as the
    client's ``run --rm`` minus an empty ``run --rm`` (busybox has no sub-second clock to time it inside)."""
    # busybox nc quits at EOF on its stdin, so serve the bytes with httpd and fetch them with wget.
    script = f"mkdir /tmp/www; head -c {mb << 20} /dev/zero > /tmp/www/f; echo ready; httpd -f -p 5001 -h /tmp/www"
    cid = docker(env, "run", "-d", "busybox", "sh", "-c", script).strip()
    try:
        ip = docker(env, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", cid).strip()
        deadline = time.monotonic() + 60
        while "ready" not in docker(env, "logs", cid):
            if time.monotonic() > deadline:
                raise RuntimeError("the server container did not get ready")
            time.sleep(0.2)
        base = statistics.median(timed_run(env, ["true"]) for _ in range(3))
        got = 0
        spent = []
        for _ in range(3):
            t = time.perf_counter()
            out = docker(env, "run", "--rm", "busybox", "sh", "-c", f"wget -q -O - http://{ip}:5001/f | wc -c")
            spent.append(time.perf_counter() - t - base)
            got = int(out.strip() or 0)
        if got != mb << 20:
            raise RuntimeError(f"the client received {got} bytes, expected {mb << 20}")
        return got / max(statistics.median(spent), 1e-6) / 1e6
    finally:
        subprocess.run(["docker", "rm", "-f", cid], env=env, capture_output=True)


def timed_run(env: dict[str, str], cmd: list[str]) -> float:
    t = time.perf_counter()
    docker(env, "run", "--rm", "busybox", *cmd)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=15)
    ap.add_argument("--mb", type=int, default=256)
    args = ap.parse_args()
    d = DaemonProcess()
    try:
        d.start()
        status, body = d.request("POST", "/dockyard/images/bootstrap?kind=busybox&tag=busybox:latest", timeout=120)
        assert status == 200, body
        env = d.env()
        total = args.mb << 20
        loop = loopback_rate(total)
        pub = published_rate(env, total)
        c2c = container_rate(env, args.mb)
        lat = run_latencies(env, args.n)
        none, bridge = lat["none"], lat["bridge"]
        extra_ms = (statistics.median(bridge) - statistics.median(none)) * 1000
        print(f"host loopback                 : {loop:8.0f} MB/s")
        print(f"host -> published 127.0.0.1   : {pub:8.0f} MB/s")
        print(f"container -> container bridge : {c2c:8.0f} MB/s")
        print(f"run --rm --network none       : {statistics.median(none) * 1000:8.1f} ms median")
        print(f"run --rm --network bridge     : {statistics.median(bridge) * 1000:8.1f} ms median")
        print(f"bridge overhead               : {extra_ms:8.1f} ms (target <= 30 ms)")
    finally:
        d.destroy()


if __name__ == "__main__":
    main()
