"""TarStream: a tar written by a worker thread, read on the event loop, always cleaned up."""

from __future__ import annotations

import asyncio
import io
import tarfile
import threading
from pathlib import Path

import pytest

from dockyard.engine.container_fs import TarStream


def _produce_tree(root: Path):  # type: ignore[no-untyped-def]
    def produce(out: TarStream) -> None:
        with tarfile.open(fileobj=out, mode="w|") as tar:  # type: ignore[call-overload]
            tar.add(str(root), arcname="tree")

    return produce


def test_stream_yields_the_whole_tar_and_cleans_up(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * (1 << 20))  # several chunks
    (tmp_path / "b").write_text("b")
    cleaned = threading.Event()

    async def main() -> bytes:
        stream = TarStream(_produce_tree(tmp_path), cleaned.set)
        try:
            data = b"".join([c async for c in stream.chunks()])
            assert cleaned.is_set()  # released before the reader saw the end
            return data
        finally:
            await stream.aclose()

    data = asyncio.run(main())
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        assert sorted(names) == ["tree", "tree/a", "tree/b"]
        member = tar.extractfile("tree/a")
        assert member is not None and member.read() == b"x" * (1 << 20)
    assert cleaned.is_set()


def test_close_without_reading_runs_cleanup() -> None:
    cleaned = threading.Event()

    async def main() -> None:
        stream = TarStream(lambda out: None, cleaned.set)
        await stream.aclose()

    asyncio.run(main())
    assert cleaned.is_set()


def test_reader_leaving_early_stops_the_writer() -> None:
    cleaned = threading.Event()

    def endless(out: TarStream) -> None:
        while True:
            out.write(b"z" * 65536)

    async def main() -> None:
        stream = TarStream(endless, cleaned.set)
        async for _ in stream.chunks():
            break
        await asyncio.wait_for(stream.aclose(), 30)

    asyncio.run(main())
    assert cleaned.is_set()


def test_writer_error_reaches_the_reader() -> None:
    def failing(out: TarStream) -> None:
        out.write(b"partial")
        raise OSError("disk on fire")

    async def main() -> None:
        stream = TarStream(failing, lambda: None)
        try:
            with pytest.raises(OSError, match="disk on fire"):
                async for _ in stream.chunks():
                    pass
        finally:
            await stream.aclose()

    asyncio.run(main())
