"""Detach keys: parsing Docker's syntax and spotting the sequence in client input."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.engine.detach_keys import DetachScanner, parse_detach_keys


def test_parse() -> None:
    assert parse_detach_keys("") == b"\x10\x11"
    assert parse_detach_keys("ctrl-a,x") == b"\x01x"
    assert parse_detach_keys("ctrl-@,ctrl-[,ctrl-_") == b"\x00\x1b\x1f"
    for bad in ("ctrl-1", "ctrl-", "ab"):
        with pytest.raises(errors.InvalidArgument):
            parse_detach_keys(bad)


def test_plain_input_passes() -> None:
    s = DetachScanner(b"\x10\x11")
    assert s.feed(b"hello") == (b"hello", False)


def test_sequence_detaches_and_is_not_forwarded() -> None:
    s = DetachScanner(b"\x10\x11")
    assert s.feed(b"ab\x10\x11cd") == (b"ab", True)


def test_sequence_split_across_reads() -> None:
    s = DetachScanner(b"\x10\x11")
    assert s.feed(b"x\x10") == (b"x", False)
    assert s.feed(b"\x11") == (b"", True)


def test_partial_sequence_is_released() -> None:
    s = DetachScanner(b"\x10\x11")
    assert s.feed(b"\x10") == (b"", False)
    assert s.feed(b"y") == (b"\x10y", False)
    assert s.feed(b"\x10\x10\x11") == (b"\x10", True)


def test_no_keys_never_detaches() -> None:
    assert DetachScanner(b"").feed(b"\x10\x11") == (b"\x10\x11", False)
