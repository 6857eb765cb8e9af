"""Docker's progress strings, checked against lines a real dockerd produced (reference samples)."""

from __future__ import annotations

import pytest

from dockyard.distribution import progress as pm


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0B"), (999, "999B"), (229376, "229.4kB"), (20973968, "20.97MB"), (1986242, "1.986MB"), (2150400, "2.15MB")],
)
def test_human_size(n: int, text: str) -> None:
    assert pm.human_size(n) == text


def test_progress_bar_matches_dockerd_pull_line() -> None:
    # from dockerd-api-samples/pull-stream.jsonl
    assert pm.progress_bar(229376, 20973968) == "[>" + " " * 50 + "]  229.4kB/20.97MB"
    assert pm.progress_bar(20973968, 20973968) == "[" + "=" * 50 + ">]  20.97MB/20.97MB"


def test_progress_bar_when_current_exceeds_total_matches_dockerd_push_line() -> None:
    assert pm.progress_bar(2150400, 1986242) == "[" + "=" * 50 + ">]   2.15MB"


def test_progress_bar_half_and_unknown_total() -> None:
    bar = pm.progress_bar(50, 100)
    assert bar.startswith("[" + "=" * 25 + ">" + " " * 25 + "]")
    assert pm.progress_bar(1500, 0) == "   1.5kB"
    assert pm.progress_bar(0, 0) == ""


def test_message_shapes() -> None:
    assert pm.layer_status("Pull complete", "abc") == {"status": "Pull complete", "progressDetail": {}, "id": "abc"}
    msg = pm.progress("Downloading", "abc", 5, 10)
    assert msg["progressDetail"] == {"current": 5, "total": 10}
    assert msg["id"] == "abc"
    assert pm.error_message("boom") == {"errorDetail": {"message": "boom"}, "error": "boom"}
    assert pm.short_id("sha256:" + "ab" * 32) == "ab" * 6
