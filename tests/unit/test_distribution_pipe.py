"""The bounded pipe between a layer download and its extractor thread."""

from __future__ import annotations

import threading

import pytest

from dockyard.images.pull_store import ChunkPipe, PipeAbandoned


def test_bytes_arrive_in_order_and_eof_after_finish() -> None:
    pipe = ChunkPipe(limit=10)
    data = bytes(range(256)) * 40

    def produce() -> None:
        for i in range(0, len(data), 7):
            pipe.feed(data[i : i + 7])
        pipe.finish()

    t = threading.Thread(target=produce)
    t.start()
    out = bytearray()
    while chunk := pipe.read(5):
        out += chunk
    t.join(10)
    assert bytes(out) == data


def test_producer_blocks_at_the_limit_until_the_reader_catches_up() -> None:
    pipe = ChunkPipe(limit=4)
    pipe.feed(b"abcd")
    fed = threading.Event()

    def feed_more() -> None:
        pipe.feed(b"efgh")
        fed.set()

    t = threading.Thread(target=feed_more)
    t.start()
    assert not fed.wait(0.2)  # blocked: 4 bytes wait unread
    assert pipe.read(4) == b"abcd"
    assert fed.wait(10)
    t.join(10)


def test_abandon_unblocks_the_producer_and_fail_stops_the_reader() -> None:
    pipe = ChunkPipe(limit=1)
    pipe.feed(b"x")
    t = threading.Thread(target=pipe.feed, args=(b"y",))
    t.start()
    pipe.abandon()
    t.join(10)
    assert not t.is_alive()

    pipe2 = ChunkPipe()
    pipe2.feed(b"data")
    pipe2.restart()
    with pytest.raises(PipeAbandoned):
        pipe2.read(4)
