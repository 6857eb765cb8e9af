"""Pure parts of restart policies and health checks."""

from __future__ import annotations

from dockyard.engine.health import health_config, health_suffix, next_health
from dockyard.engine.restart import DEFAULT_DELAY, MAX_DELAY, next_delay, should_restart, should_restart_at_boot


def test_policies() -> None:
    assert not should_restart({"Name": "no"}, 1, 0, False, 0, 1).restart
    assert should_restart({"Name": "always"}, 0, 5, False, 0, 1).restart
    assert not should_restart({"Name": "always"}, 0, 5, True, 0, 1).restart
    assert should_restart({"Name": "unless-stopped"}, 0, 0, False, 0, 1).restart
    assert not should_restart({"Name": "on-failure"}, 0, 0, False, 0, 1).restart
    assert should_restart({"Name": "on-failure", "MaximumRetryCount": 2}, 3, 1, False, 0, 1).restart
    assert not should_restart({"Name": "on-failure", "MaximumRetryCount": 2}, 3, 2, False, 0, 1).restart
    assert should_restart({"Name": "on-failure", "MaximumRetryCount": 0}, 3, 99, False, 0, 1).restart


def test_backoff_doubles_caps_and_resets() -> None:
    d = next_delay(0, 0)
    assert d == DEFAULT_DELAY
    for _ in range(20):
        d = next_delay(d, 0.5)
    assert d == MAX_DELAY
    assert next_delay(d, 11) == DEFAULT_DELAY


def test_boot_policy_differs_for_manual_stops() -> None:
    assert should_restart_at_boot({"Name": "always"}, 0, 0, True)
    assert not should_restart_at_boot({"Name": "unless-stopped"}, 0, 0, True)
    assert should_restart_at_boot({"Name": "unless-stopped"}, 0, 0, False)
    assert not should_restart_at_boot({"Name": "no"}, 1, 0, False)
    assert not should_restart_at_boot({"Name": "on-failure"}, 0, 0, False)


def test_health_config_forms() -> None:
    assert health_config({}) is None
    assert health_config({"Healthcheck": {"Test": ["NONE"]}}) is None
    cfg = health_config({"Healthcheck": {"Test": ["CMD-SHELL", "exit 1"], "Interval": 2_000_000_000, "Retries": 2}})
    assert cfg is not None
    assert cfg.argv == ("/bin/sh", "-c", "exit 1")
    assert cfg.interval == 2.0 and cfg.retries == 2 and cfg.timeout == 30.0
    cfg = health_config({"Healthcheck": {"Test": ["CMD", "true", "x"]}})
    assert cfg is not None and cfg.argv == ("true", "x")


def test_health_transitions() -> None:
    h = next_health(None, 1, "bad", "s", "e", 2, in_start_period=False)
    assert h["Status"] == "starting" and h["FailingStreak"] == 1
    h = next_health(h, 1, "bad", "s", "e", 2, in_start_period=False)
    assert h["Status"] == "unhealthy"
    h = next_health(h, 0, "ok", "s", "e", 2, in_start_period=False)
    assert h["Status"] == "healthy" and h["FailingStreak"] == 0
    for _ in range(10):
        h = next_health(h, 0, "ok", "s", "e", 2, in_start_period=False)
    assert len(h["Log"]) == 5
    assert next_health(None, 1, "", "s", "e", 1, in_start_period=True)["FailingStreak"] == 0
    assert health_suffix(h) == " (healthy)"
    assert health_suffix({"Status": "starting"}) == " (health: starting)"
    assert health_suffix(None) == ""
