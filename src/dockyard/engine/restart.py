"""Docker's restart policies as a pure decision, with its back-off."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_DELAY", "MAX_DELAY", "RestartDecision", "next_delay", "should_restart", "should_restart_at_boot"]

DEFAULT_DELAY = 0.1  # seconds; doubles after each restart
MAX_DELAY = 60.0
RESET_AFTER = 10.0  # a container that ran this long starts the back-off over


@dataclass(frozen=True)
class RestartDecision:
    restart: bool
    delay: float


def next_delay(previous: float, ran_for: float) -> float:
    if ran_for >= RESET_AFTER or previous <= 0:
        return DEFAULT_DELAY
    return min(previous * 2, MAX_DELAY)


def should_restart(
    policy: Mapping[str, Any] | None,
    exit_code: int,
    restart_count: int,
    manually_stopped: bool,
    previous_delay: float,
    ran_for: float,
) -> RestartDecision:
    """Whether a container that just exited is started again, and after how long.

    ``always`` restarts whatever the exit code; ``unless-stopped`` too unless the
    user stopped it; ``on-failure[:N]`` on a non-zero code, at most N times (0 =
    no limit). A manual stop cancels any policy while the daemon runs (the caller
    passes ``manually_stopped`` for that; at daemon start only unless-stopped
    honours it, as in Docker).
    """
    name = str((policy or {}).get("Name") or "no")
    max_retry = int((policy or {}).get("MaximumRetryCount") or 0)
    delay = next_delay(previous_delay, ran_for)
    if name == "always" or name == "unless-stopped":
        restart = not manually_stopped
    elif name == "on-failure":
        restart = exit_code != 0 and not manually_stopped and (max_retry == 0 or restart_count < max_retry)
    else:
        restart = False
    return RestartDecision(restart, delay)


def should_restart_at_boot(
    policy: Mapping[str, Any] | None, exit_code: int, restart_count: int, manually_stopped: bool
) -> bool:
    """At daemon start (Docker's restore): ``always`` comes back even after a manual
    stop, ``unless-stopped`` only if it wasn't stopped by the user."""
    name = str((policy or {}).get("Name") or "no")
    max_retry = int((policy or {}).get("MaximumRetryCount") or 0)
    if name == "always":
        return True
    if name == "unless-stopped":
        return not manually_stopped
    if name == "on-failure":
        return exit_code != 0 and (max_retry == 0 or restart_count < max_retry)
    return False
