"""Health checks run by the daemon: State.Health, ``(healthy)`` in ps, health_status events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.engine.timefmt import now_rfc3339
from dockyard.tasks.api import ExecSpec, Task

__all__ = ["HealthConfig", "HealthMonitor", "health_config", "health_suffix"]

log = logging.getLogger("dockyard.engine.health")

NS = 1_000_000_000
DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 3
MAX_LOG_ENTRIES = 5
MAX_OUTPUT = 4096


@dataclass(frozen=True)
class HealthConfig:
    argv: tuple[str, ...]
    interval: float
    timeout: float
    retries: int
    start_period: float
    start_interval: float


def health_config(config: Mapping[str, Any]) -> HealthConfig | None:
    """The container's healthcheck (from inspect's Config), or None when there is none."""
    hc = config.get("Healthcheck")
    if not isinstance(hc, Mapping):
        return None
    test = list(hc.get("Test") or [])
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD":
        argv = tuple(str(x) for x in test[1:])
    elif test[0] == "CMD-SHELL":
        argv = ("/bin/sh", "-c", " ".join(str(x) for x in test[1:]))
    else:
        argv = tuple(str(x) for x in test)
    if not argv:
        return None

    def secs(key: str, default: float) -> float:
        v = hc.get(key) or 0
        return float(v) / NS if v else default

    return HealthConfig(
        argv=argv,
        interval=secs("Interval", DEFAULT_INTERVAL),
        timeout=secs("Timeout", DEFAULT_TIMEOUT),
        retries=int(hc.get("Retries") or DEFAULT_RETRIES),
        start_period=secs("StartPeriod", 0.0),
        start_interval=secs("StartInterval", 5.0),
    )


def health_suffix(health: Mapping[str, Any] | None) -> str:
    """What ``docker ps`` appends to ``Up ...``."""
    if not health:
        return ""
    status = health.get("Status")
    if status == "starting":
        return " (health: starting)"
    if status in ("healthy", "unhealthy"):
        return f" ({status})"
    return ""


def next_health(
    health: Mapping[str, Any] | None,
    exit_code: int,
    output: str,
    start: str,
    end: str,
    retries: int,
    in_start_period: bool,
) -> dict[str, Any]:
    """The new State.Health after one probe (pure)."""
    h = dict(health or {"Status": "starting", "FailingStreak": 0, "Log": []})
    entry = {"Start": start, "End": end, "ExitCode": exit_code, "Output": output[:MAX_OUTPUT]}
    h["Log"] = [*list(h.get("Log") or []), entry][-MAX_LOG_ENTRIES:]
    if exit_code == 0:
        h["Status"] = "healthy"
        h["FailingStreak"] = 0
    elif not in_start_period:
        h["FailingStreak"] = int(h.get("FailingStreak") or 0) + 1
        if h["FailingStreak"] >= retries:
            h["Status"] = "unhealthy"
    return h


class HealthMonitor:
    """Probes one running container until cancelled."""

    def __init__(
        self,
        cfg: HealthConfig,
        task: Task,
        bundle: str,
        get_health: Callable[[], Mapping[str, Any] | None],
        set_health: Callable[[dict[str, Any], str | None], Awaitable[None]],
    ) -> None:
        self._cfg = cfg
        self._task = task
        self._bundle = bundle
        self._get = get_health
        self._set = set_health

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await self._set({"Status": "starting", "FailingStreak": 0, "Log": []}, None)
        while True:
            in_start = loop.time() - started < self._cfg.start_period
            await asyncio.sleep(self._cfg.start_interval if in_start and self._cfg.start_period else self._cfg.interval)
            in_start = loop.time() - started < self._cfg.start_period
            start = now_rfc3339()
            code, output = await self._probe()
            before = self._get()
            after = next_health(before, code, output, start, now_rfc3339(), self._cfg.retries, in_start)
            changed = (before or {}).get("Status") != after["Status"]
            await self._set(after, after["Status"] if changed and after["Status"] != "starting" else None)

    async def _probe(self) -> tuple[int, str]:
        try:
            with open(os.path.join(self._bundle, "config.json")) as f:
                process = dict(json.load(f)["process"])
        except (OSError, ValueError, KeyError) as e:
            return -1, f"cannot read the container's process spec: {e}"
        process["args"] = list(self._cfg.argv)
        process["terminal"] = False
        exec_id = "health-" + uuid.uuid4().hex
        try:
            proc = await self._task.exec(ExecSpec(exec_id, process, open_stdin=False))  # type: ignore[attr-defined]
            stream = await proc.attach(stdin=False, stdout=True, stderr=True)
            await proc.start()
        except Exception as e:
            return -1, str(e)
        out = b""

        async def collect() -> None:
            nonlocal out
            while (item := await stream.read()) is not None:
                if len(out) < MAX_OUTPUT:
                    out += item[1]

        try:
            async with asyncio.timeout(self._cfg.timeout):
                await collect()
                status = await proc.wait()
            code = status.code
        except TimeoutError:
            with contextlib.suppress(Exception):
                await proc.kill(9)
            code = -1
            out += f"Health check exceeded timeout ({self._cfg.timeout:g}s)".encode()
        finally:
            with contextlib.suppress(Exception):
                await stream.close()
            with contextlib.suppress(Exception):
                await proc.delete()
        return code, out.decode("utf-8", "replace")
