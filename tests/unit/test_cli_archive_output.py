"""``save``/``export``/``cp -`` output: the whole stream or, for a file, nothing under the real name."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.cli.archive_output import refuse_terminal, write_archive


class _Body:
    def __init__(self, data: bytes, fail_after: int | None = None) -> None:
        self._data = io.BytesIO(data)
        self._fail_after = fail_after
        self.closed = False

    def read1(self, n: int = -1, /) -> bytes:
        if self._fail_after is not None and self._data.tell() >= self._fail_after:
            raise ConnectionResetError("daemon went away")
        return self._data.read1(min(n, 3))

    def close(self) -> None:
        self.closed = True


def test_writes_the_whole_stream_to_the_file(tmp_path: Path) -> None:
    body, out = _Body(b"0123456789"), tmp_path / "a.tar"
    assert write_archive(body, str(out)) == 10
    assert out.read_bytes() == b"0123456789" and body.closed
    assert [p.name for p in tmp_path.iterdir()] == ["a.tar"]


def test_a_broken_stream_leaves_neither_the_file_nor_a_temporary(tmp_path: Path) -> None:
    (tmp_path / "a.tar").write_bytes(b"old")
    body = _Body(b"0123456789", fail_after=6)
    with pytest.raises(ConnectionResetError):
        write_archive(body, str(tmp_path / "a.tar"))
    assert body.closed
    assert [(p.name, p.read_bytes()) for p in tmp_path.iterdir()] == [("a.tar", b"old")]


def test_stdout(capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    assert write_archive(_Body(b"tar bytes"), None) == 9
    assert capfdbinary.readouterr().out == b"tar bytes"


def test_refuses_a_terminal_only_without_an_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    with pytest.raises(errors.InvalidArgument, match="cowardly"):
        refuse_terminal(None)
    refuse_terminal("out.tar")
