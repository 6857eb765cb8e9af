#!/usr/bin/env python3
"""End-to-end push and pull of a >= 300 MB, 6-layer image through dockyardd and a registry on 127.0.0.1.

The bench makes the image itself (files of mixed compressibility, about 360 MB unpacked), loads it
into a scratch dockyardd with uncompressed layers (as a build leaves them), and times:

* push: ``POST /images/{name}/push`` until the stream ends (layers gzip-compressed, uploaded, manifest put);
* pull: ``POST /images/create?fromImage=`` into a second, empty dockyardd until the stream ends
  (layers downloaded, verified, extracted and the image registered).

Targets (issue #5, this 2-core VM): pull <= 3.5 s, push <= 5 s. For reference a real dockerd pulls
such an image in ~7.8 s and pushes it in ~9.3 s; podman pulls it in ~6.4 s.

The registry is Debian's ``docker-registry`` (CNCF distribution) when installed, else dockyard's own.

Usage: sudo python3 bench/pull_push_bench.py [--layers 6] [--layer-mb 60] [--registry dockyard|distribution]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from dockyard.testing.daemon import DaemonProcess, UnixHTTPConnection


def make_layer(path: str, seed: int, size_mb: int) -> str:
    """A tar of many files: a third random bytes (incompressible), the rest repetitive text."""
    rng = random.Random(seed)
    target = size_mb * 1_000_000
    h = hashlib.sha256()
    written = 0
    with open(path, "wb") as raw:

        class Tee(io.RawIOBase):
            def writable(self) -> bool:
                return True

            def write(self, b: Any) -> int:
                raw.write(b)
                h.update(b)
                return len(b)

        with tarfile.open(fileobj=Tee(), mode="w|", format=tarfile.PAX_FORMAT) as tar:
            i = 0
            while written < target:
                size = rng.choice([4_000, 40_000, 400_000, 2_000_000])
                if i % 3 == 0:
                    data = rng.randbytes(size)
                else:
                    words = [rng.choice(["alpha", "beta", "gamma", "delta", "lib", "usr", "share"]) for _ in range(64)]
                    line = (" ".join(words) + "\n").encode()
                    data = (line * (size // len(line) + 1))[:size]
                info = tarfile.TarInfo(f"layer{seed}/dir{i % 50}/file{i}")
                info.size = size
                info.mode = 0o644
                info.mtime = 1700000000
                tar.addfile(info, io.BytesIO(data))
                written += size
                i += 1
    return "sha256:" + h.hexdigest()


def make_archive(workdir: str, ref: str, layers: int, layer_mb: int) -> tuple[str, int]:
    """A ``docker save`` tar with uncompressed layers; returns its path and the unpacked bytes."""
    names, diff_ids, total = [], [], 0
    for n in range(layers):
        p = os.path.join(workdir, f"layer{n}.tar")
        diff_ids.append(make_layer(p, n, layer_mb))
        names.append(p)
        total += os.path.getsize(p)
    config = json.dumps(
        {
            "architecture": "amd64" if os.uname().machine == "x86_64" else "arm64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    cfg_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = [{"Config": cfg_name, "RepoTags": [ref], "Layers": [f"{i}/layer.tar" for i in range(layers)]}]
    out = os.path.join(workdir, "image.tar")
    with tarfile.open(out, "w") as tar:
        for name, data in ((cfg_name, config), ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for i, p in enumerate(names):
            tar.add(p, arcname=f"{i}/layer.tar")
            os.unlink(p)
    return out, total


def stream(d: DaemonProcess, method: str, path: str, body_path: str | None = None) -> list[dict[str, Any]]:
    conn = UnixHTTPConnection(d.socket, timeout=600)
    try:
        if body_path:
            with open(body_path, "rb") as f:
                conn.request(method, path, body=f, headers={"Content-Type": "application/x-tar"})
        else:
            conn.request(method, path)
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        raise SystemExit(f"{method} {path}: {resp.status} {raw[:500]!r}")
    msgs = [json.loads(line) for line in raw.splitlines() if line.strip()]
    for m in msgs:
        if "error" in m:
            raise SystemExit(f"{method} {path}: {m['error']}")
    return msgs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_registry(kind: str, root: str) -> tuple[str, Any]:
    if kind == "distribution":
        port = free_port()
        conf = {
            "version": 0.1,
            "log": {"level": "error"},
            "storage": {"filesystem": {"rootdirectory": os.path.join(root, "reg")}},
            "http": {"addr": f"127.0.0.1:{port}"},
        }
        path = os.path.join(root, "registry.yml")
        with open(path, "w") as f:
            json.dump(conf, f)
        proc = subprocess.Popen(
            ["docker-registry", "serve", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return f"127.0.0.1:{port}", proc
            except OSError:
                time.sleep(0.05)
        proc.kill()
        raise SystemExit("docker-registry did not start")
    from dockyard.registry import RegistryConfig, RunningRegistry

    reg = RunningRegistry(RegistryConfig(root=os.path.join(root, "reg"), access_log=False)).start()
    return f"127.0.0.1:{reg.port}", reg


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--layer-mb", type=int, default=60)
    default_kind = "distribution" if shutil.which("docker-registry") else "dockyard"
    ap.add_argument("--registry", choices=["dockyard", "distribution"], default=default_kind)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="dockyard-pullbench-")
    pusher = DaemonProcess()
    puller = DaemonProcess()
    host, reg = start_registry(args.registry, work)
    try:
        ref = f"{host}/bench:1"
        t0 = time.monotonic()
        archive, unpacked = make_archive(work, ref, args.layers, args.layer_mb)
        print(f"image: {args.layers} layers, {unpacked / 1e6:.0f} MB unpacked (made in {time.monotonic() - t0:.1f} s)")
        pusher.start()
        puller.start()
        stream(pusher, "POST", "/images/load?quiet=1", archive)
        os.unlink(archive)

        t0 = time.monotonic()
        msgs = stream(pusher, "POST", f"/images/{host}/bench/push?tag=1")
        push_s = time.monotonic() - t0
        size = next(m["aux"]["Size"] for m in msgs if "aux" in m)
        del size

        t0 = time.monotonic()
        msgs = stream(puller, "POST", f"/images/create?fromImage={host}/bench&tag=1")
        pull_s = time.monotonic() - t0
        assert msgs[-1]["status"].startswith("Status: Downloaded newer image"), msgs[-1]
        status, info = puller.request("GET", f"/images/{host}/bench:1/json")
        assert status == 200, info

        print(f"registry: {args.registry} on {host}")
        print(f"push: {push_s:.2f} s   (target <= 5 s; dockerd ~9.3 s)")
        print(f"pull: {pull_s:.2f} s   (target <= 3.5 s; dockerd ~7.8 s, podman ~6.4 s)")
    finally:
        pusher.destroy()
        puller.destroy()
        if isinstance(reg, subprocess.Popen):
            reg.kill()
            reg.wait(10)
        else:
            reg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
