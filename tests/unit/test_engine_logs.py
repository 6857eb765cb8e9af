"""Reading json-file logs: complete lines only, rotation order, the follow offset."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from dockyard.engine.logs import follow_log, parse_line, read_log_snapshot


def line(text: str, stream: str = "stdout") -> bytes:
    obj = {"log": text + "\n", "stream": stream, "time": "2024-01-02T03:04:05.000000001Z"}
    return json.dumps(obj).encode() + b"\n"


def test_snapshot_skips_partial_line_and_reports_offset(tmp_path: Path) -> None:
    p = tmp_path / "c-json.log"
    p.write_bytes(line("a") + line("b", "stderr") + b'{"log":"par')
    entries, offset = read_log_snapshot(str(p))
    assert [(e.stream, e.data) for e in entries] == [("stdout", b"a\n"), ("stderr", b"b\n")]
    assert offset == len(line("a") + line("b", "stderr"))


def test_rotated_files_come_first(tmp_path: Path) -> None:
    p = tmp_path / "c-json.log"
    (tmp_path / "c-json.log.2").write_bytes(line("1"))
    (tmp_path / "c-json.log.1").write_bytes(line("2"))
    p.write_bytes(line("3"))
    entries, offset = read_log_snapshot(str(p))
    assert [e.data for e in entries] == [b"1\n", b"2\n", b"3\n"]
    assert offset == len(line("3"))


def test_follow_continues_exactly_after_snapshot(tmp_path: Path) -> None:
    p = tmp_path / "c-json.log"
    p.write_bytes(line("a") + b'{"log":"b')
    _, offset = read_log_snapshot(str(p))
    with open(p, "ab") as f:
        f.write(b'\\n","stream":"stdout","time":"2024-01-02T03:04:05Z"}\n' + line("c"))
    done = {"v": False}

    async def collect() -> list[bytes]:
        out = []
        async for e in follow_log(str(p), offset, lambda: done["v"], poll=0.01):
            out.append(e.data)
            if len(out) == 2:
                done["v"] = True
        return out

    assert asyncio.run(asyncio.wait_for(collect(), 10)) == [b"b\n", b"c\n"]


def test_garbage_lines_are_ignored() -> None:
    assert parse_line(b"not json") is None
    assert parse_line(b'{"nolog": 1}') is None
