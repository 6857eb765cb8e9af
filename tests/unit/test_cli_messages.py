"""Streamed JSON messages as the CLI prints them, plain and on a terminal."""

from __future__ import annotations

import io

import pytest

from dockyard import errors
from dockyard.cli.messages import format_message, show_messages

PULL = [
    {"status": "Pulling from library/busybox", "id": "latest"},
    {"status": "Pulling fs layer", "id": "a1b2"},
    {"status": "Downloading", "progressDetail": {"current": 512, "total": 2048}, "progress": "[=> ]", "id": "a1b2"},
    {"status": "Pull complete", "progressDetail": {}, "id": "a1b2"},
    {"status": "Digest: sha256:abc"},
    {"stream": "Loaded image: busybox:latest\n"},
]


def test_plain_output_skips_per_chunk_progress() -> None:
    out = io.StringIO()
    assert show_messages(PULL, out, tty=False) == PULL
    assert out.getvalue().splitlines() == [
        "latest: Pulling from library/busybox",
        "a1b2: Pulling fs layer",
        "a1b2: Pull complete",
        "Digest: sha256:abc",
        "Loaded image: busybox:latest",
    ]


def test_terminal_output_shows_final_state_per_layer() -> None:
    out = io.StringIO()
    show_messages(PULL, out, tty=True)
    text = out.getvalue()
    assert "a1b2: Pull complete" in text
    assert "Digest: sha256:abc" in text and "Loaded image: busybox:latest" in text
    assert "\x1b[" in text  # drawn with terminal control sequences


@pytest.mark.parametrize("tty", [False, True])
def test_error_message_raises_its_category(tty: bool) -> None:
    msgs = [{"status": "working"}, {"error": "no such repo", "errorDetail": {"code": 404, "message": "no such repo"}}]
    with pytest.raises(errors.NotFound, match="no such repo"):
        show_messages(msgs, io.StringIO(), tty=tty)
    with pytest.raises(errors.Internal):
        show_messages([{"error": "boom"}], io.StringIO(), tty=tty)


def test_quiet_prints_nothing_but_still_checks() -> None:
    out = io.StringIO()
    show_messages(PULL, out, quiet=True, tty=True)
    assert out.getvalue() == ""
    assert format_message({"aux": {"ID": "x"}}) is None
