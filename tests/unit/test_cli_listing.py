"""ps/images rows and the human strings in them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.cli.humanize import api_timestamp, ellipsis, human_duration, human_size, parse_go_duration, short_id
from dockyard.cli.listing import CONTAINER_HEADERS, container_row, format_ports, image_rows, render_rows

SAMPLES = Path("/work/shared/reference/dockerd-api-samples")


@pytest.mark.parametrize(
    ("secs", "text"),
    [(0.2, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"),
     (600, "10 minutes"), (3600, "About an hour"), (7200, "2 hours"), (3 * 86400, "3 days"),
     (15 * 86400, "2 weeks"), (90 * 86400, "3 months"), (800 * 86400, "2 years")],
)  # fmt: skip
def test_human_duration(secs: float, text: str) -> None:
    assert human_duration(secs) == text


@pytest.mark.parametrize(("n", "text"), [(0, "0B"), (999, "999B"), (1986242, "1.99MB"), (350291364, "350MB")])
def test_human_size(n: int, text: str) -> None:
    assert human_size(n) == text


def test_ids_and_ellipsis() -> None:
    assert short_id("sha256:587071b166a9f9d1ac4440597f3d1b8b") == "587071b166a9"
    assert short_id("sha256:5870", no_trunc=True) == "sha256:5870"
    assert ellipsis("sh -c 'echo out; echo err >&2; exit 3'", 20) == "sh -c 'echo out; ec…"


def test_time_values() -> None:
    assert parse_go_duration("1h30m") == 5400
    assert parse_go_duration("soon") is None
    assert api_timestamp("10m", now=1000) == "400"
    assert api_timestamp("1795817020") == "1795817020"
    assert api_timestamp("2026-11-27T22:03:40Z") == "1795817020"


def test_ports() -> None:
    ports = [{"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 18081, "Type": "tcp"}, {"PrivatePort": 53,
             "Type": "udp"}, {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}]  # fmt: skip
    assert format_ports(ports) == "127.0.0.1:18081->80/tcp, 53/udp, [::]:8080->80/tcp"


def _sample(name: str) -> list[dict[str, object]]:
    if not (SAMPLES / name).exists():
        pytest.skip("reference samples not present")
    return list(json.loads((SAMPLES / name).read_text()))


def test_container_row_from_real_dockerd_list() -> None:
    exited, web = _sample("containers-list.json")
    row = container_row(exited, now=float(exited["Created"]) + 5)  # type: ignore[arg-type]
    assert row["ID"] == "568c6d8001e2"
    assert row["Names"] == "sample-exited"
    assert row["Command"] == '"sh -c \'echo out; ec…"'
    assert row["RunningFor"] == "5 seconds ago"
    assert row["Size"] == "0B (virtual 1.99MB)"
    row = container_row(web, no_trunc=True)
    assert row["Ports"] == "127.0.0.1:18081->80/tcp"
    assert row["Labels"] == "app=demo"
    assert row["Networks"] == "samplenet"
    assert row["Command"] == '"httpd -f -p 80 -h /etc"'
    assert len(row["ID"]) == 64


def test_image_rows_from_real_dockerd_list() -> None:
    imgs = _sample("images-list.json")
    rows = [r for img in imgs for r in image_rows(img)]  # type: ignore[arg-type]
    alpine = [r for r in rows if r["Repository"] == "alpine"]
    assert [r["Tag"] for r in alpine] == ["3.10", "latest"]
    assert alpine[0]["ID"] == "bd0a0e391331"
    pushed = next(r for r in rows if r["Repository"] == "127.0.0.1:34049/bb")
    assert pushed["Digest"].startswith("sha256:670503a1")
    assert next(r for r in rows if r["Tag"] == "latest" and r["Repository"] == "busybox")["Size"] == "1.99MB"


def test_untagged_image_is_none_none() -> None:
    (row,) = image_rows({"Id": "sha256:" + "ab" * 32, "RepoTags": None, "Created": 1, "Size": 5})
    assert (row["Repository"], row["Tag"]) == ("<none>", "<none>")


def test_render_modes() -> None:
    rows = [{"ID": "a", "Names": "x"}, {"ID": "b", "Names": "y"}]
    assert render_rows(rows, "{{.ID}}", "", CONTAINER_HEADERS) == "a\nb"
    assert [json.loads(line) for line in (render_rows(rows, "json", "", {}) or "").splitlines()] == rows
    assert render_rows(rows, "table {{.Names}}", "", CONTAINER_HEADERS) == "NAMES\nx\ny"
    assert render_rows([], "{{.ID}}", "", {}) is None
    assert render_rows([], None, "table {{.ID}}", CONTAINER_HEADERS) == "CONTAINER ID"
