"""Docker's json-file log as the shim writes it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from dockyard.shim.jsonlog import MAX_LINE, JsonFileLog, encode_record, format_time

NS = 1_704_164_645_123_456_789  # 2024-01-02T03:04:05.123456789Z


def records(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_time_is_rfc3339_with_nanoseconds() -> None:
    assert format_time(NS) == "2024-01-02T03:04:05.123456789Z"
    assert format_time(1_704_164_645_000_000_001) == "2024-01-02T03:04:05.000000001Z"


def test_record_shape() -> None:
    line = encode_record("stdout", b"hi\n", NS)
    assert line.endswith(b"\n")
    assert json.loads(line) == {"log": "hi\n", "stream": "stdout", "time": "2024-01-02T03:04:05.123456789Z"}
    assert json.loads(encode_record("stderr", b"\xff\n", NS))["log"] == "\ufffd\n"


def test_lines_are_assembled_across_chunks(tmp_path: Path) -> None:
    log = JsonFileLog(str(tmp_path / "log"), clock=lambda: NS)
    log.write("stdout", b"a")
    log.write("stderr", b"e1\ne")
    log.write("stdout", b"b\nc\nd")
    assert [(r["stream"], r["log"]) for r in records(tmp_path / "log")] == [
        ("stderr", "e1\n"),
        ("stdout", "ab\n"),
        ("stdout", "c\n"),
    ]
    log.close()  # the partial last lines are written when the streams end
    assert sorted((r["stream"], r["log"]) for r in records(tmp_path / "log")[3:]) == [("stderr", "e"), ("stdout", "d")]


def test_long_lines_split_at_16k(tmp_path: Path) -> None:
    log = JsonFileLog(str(tmp_path / "log"), clock=lambda: NS)
    log.write("stdout", b"x" * (2 * MAX_LINE + 10) + b"\n")
    log.close()
    assert [len(r["log"]) for r in records(tmp_path / "log")] == [MAX_LINE, MAX_LINE, 11]


def test_rotation_keeps_max_files(tmp_path: Path) -> None:
    path = tmp_path / "log"
    log = JsonFileLog(str(path), max_size=200, max_files=3, clock=lambda: NS)
    for i in range(20):
        log.write("stdout", f"line {i:02d}\n".encode())
    log.close()
    names = sorted(os.listdir(tmp_path))
    assert names == ["log", "log.1", "log.2"]
    newest_first = [records(tmp_path / n) for n in ("log", "log.1", "log.2")]
    lines = [r["log"] for recs in reversed(newest_first) for r in recs]
    assert lines == [f"line {i:02d}\n" for i in range(20 - len(lines), 20)], "no gaps, oldest dropped"
    assert all(os.path.getsize(tmp_path / n) < 200 + 100 for n in names)


def test_rotation_with_one_file_truncates(tmp_path: Path) -> None:
    path = tmp_path / "log"
    log = JsonFileLog(str(path), max_size=100, max_files=1, clock=lambda: NS)
    for i in range(10):
        log.write("stdout", f"{i}\n".encode())
    log.close()
    assert os.listdir(tmp_path) == ["log"]
    assert records(path)[-1]["log"] == "9\n"
    assert len(records(path)) < 10


def test_reopen_appends(tmp_path: Path) -> None:
    path = tmp_path / "log"
    for word in (b"one\n", b"two\n"):
        log = JsonFileLog(str(path), clock=lambda: NS)
        log.write("stdout", word)
        log.close()
    assert [r["log"] for r in records(path)] == ["one\n", "two\n"]
