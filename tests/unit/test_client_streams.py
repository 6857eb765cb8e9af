"""Stream decoding: Docker's 8-byte stdio frames and concatenated JSON messages."""

from __future__ import annotations

import io
import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.client import FrameDecoder, JSONStreamDecoder, ProtocolError, encode_frame, iter_frames
from dockyard.client.streams import iter_json_messages

frames = st.lists(st.tuples(st.sampled_from([1, 2]), st.binary(max_size=300)), max_size=8)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def test_header_layout_matches_docker() -> None:
    # byte 0 the stream, three zero bytes, then the big-endian length
    assert encode_frame(2, b"err\n") == b"\x02\x00\x00\x00\x00\x00\x00\x04err\n"


@given(frames, st.lists(st.integers(min_value=0), max_size=10))
def test_decoder_reassembles_frames_across_any_chunking(items: list[tuple[int, bytes]], cuts: list[int]) -> None:
    wire = b"".join(encode_frame(s, d) for s, d in items)
    dec = FrameDecoder()
    out = [f for chunk in _chunks(wire, cuts) for f in dec.feed(chunk)]
    assert out == items
    assert dec.pending == 0


def test_truncated_stream_is_an_error() -> None:
    wire = encode_frame(1, b"hello")[:-2]
    with pytest.raises(ProtocolError):
        list(iter_frames(io.BytesIO(wire).read))


def test_unknown_stream_id_is_an_error() -> None:
    with pytest.raises(ProtocolError):
        FrameDecoder().feed(b"\x07\x00\x00\x00\x00\x00\x00\x01x")


def test_sample_log_from_real_dockerd_decodes() -> None:
    ts = b"2026-11-27T22:03:40.321254616Z "
    wire = encode_frame(1, ts + b"out\n") + encode_frame(2, ts + b"err\n")
    assert [(s, d[len(ts) :]) for s, d in iter_frames(io.BytesIO(wire).read)] == [(1, b"out\n"), (2, b"err\n")]


messages = st.lists(
    st.dictionaries(st.sampled_from(["status", "id", "stream", "error"]), st.text(max_size=20), max_size=3),
    max_size=6,
)


@given(messages, st.lists(st.integers(min_value=0), max_size=10), st.sampled_from(["\r\n", "\n", ""]))
def test_json_messages_across_any_chunking(msgs: list[dict[str, str]], cuts: list[int], sep: str) -> None:
    wire = "".join(json.dumps(m, ensure_ascii=False) + sep for m in msgs).encode()
    dec = JSONStreamDecoder()
    out = [m for chunk in _chunks(wire, cuts) for m in dec.feed(chunk)]
    dec.close()
    assert out == msgs


def test_json_stream_cut_inside_a_value_is_an_error() -> None:
    with pytest.raises(ProtocolError):
        list(iter_json_messages(io.BytesIO(b'{"status":"a"}\n{"stat').read))
