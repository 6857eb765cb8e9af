"""Reading json-file logs: complete lines only, rotation order, following, removal."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from dockyard.engine.logs import LogReader, parse_line, read_log_entries


def line(text: str, stream: str = "stdout") -> bytes:
    obj = {"log": text + "\n", "stream": stream, "time": "2024-01-02T03:04:05.000000001Z"}
    return json.dumps(obj).encode() + b"\n"


def test_snapshot_skips_partial_line(tmp_path: Path) -> None:
    p = tmp_path / "c-json.log"
    p.write_bytes(line("a") + line("b", "stderr") + b'{"log":"par')
    assert [(e.stream, e.data) for e in read_log_entries(str(p))] == [("stdout", b"a\n"), ("stderr", b"b\n")]


def test_rotated_files_come_first(tmp_path: Path) -> None:
    p = tmp_path / "c-json.log"
    (tmp_path / "c-json.log.2").write_bytes(line("1"))
    (tmp_path / "c-json.log.1").write_bytes(line("2"))
    p.write_bytes(line("3"))
    assert [e.data for e in read_log_entries(str(p))] == [b"1\n", b"2\n", b"3\n"]


def _follow(reader: LogReader, stop_after: int) -> list[bytes]:
    done = {"v": False}

    async def collect() -> list[bytes]:
        out = []
        async for e in reader.follow(lambda: done["v"], poll=0.01):
            out.append(e.data)
            if len(out) == stop_after:
                done["v"] = True
        return out

    return asyncio.run(asyncio.wait_for(collect(), 10))


def test_follow_continues_exactly_after_snapshot(tmp_path: Path) -> None:
    p = tmp_path / "c-json.log"
    p.write_bytes(line("a") + b'{"log":"b')
    reader = LogReader(str(p))
    try:
        assert [e.data for e in reader.snapshot()] == [b"a\n"]
        with open(p, "ab") as f:
            f.write(b'\\n","stream":"stdout","time":"2024-01-02T03:04:05Z"}\n' + line("c"))
        assert _follow(reader, 2) == [b"b\n", b"c\n"]
    finally:
        reader.close()


def test_follow_across_rotation(tmp_path: Path) -> None:
    p = tmp_path / "c-json.log"
    p.write_bytes(line("a"))
    reader = LogReader(str(p))
    try:
        reader.snapshot()
        with open(p, "ab") as f:
            f.write(line("b"))
        os.rename(p, str(p) + ".1")
        p.write_bytes(line("c"))
        assert _follow(reader, 2) == [b"b\n", b"c\n"]
    finally:
        reader.close()


def test_reader_opened_before_removal_still_reads(tmp_path: Path) -> None:
    p = tmp_path / "c-json.log"
    p.write_bytes(line("kept"))
    reader = LogReader(str(p))
    try:
        os.unlink(p)  # the container was removed right after the request
        assert [e.data for e in reader.snapshot()] == [b"kept\n"]
    finally:
        reader.close()


def test_garbage_lines_are_ignored() -> None:
    assert parse_line(b"not json") is None
    assert parse_line(b'{"nolog": 1}') is None
