"""What the latency benchmarks share: a private dockyardd with busybox, and one line per figure."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from contextlib import contextmanager

from dockyard.testing.daemon import DaemonProcess

__all__ = ["busybox_daemon", "report"]


@contextmanager
def busybox_daemon(runtime: str = "") -> Iterator[DaemonProcess]:
    """A dockyardd of the benchmark's own (``runtime``: its default runtime) with busybox; destroyed after."""
    d = DaemonProcess(extra_args=("--default-runtime", runtime) if runtime else ())
    try:
        d.start()
        d.request("POST", "/dockyard/images/bootstrap?kind=busybox&tag=busybox:latest", timeout=120)
        yield d
    finally:
        d.destroy()


def report(name: str, xs: list[float]) -> None:
    """Median, min and max of ``xs`` (seconds) in milliseconds."""
    med, lo, hi = (statistics.median(xs) * 1000, min(xs) * 1000, max(xs) * 1000)
    print(f"{name:<44} median {med:7.1f} ms   min {lo:7.1f}   max {hi:7.1f}")
