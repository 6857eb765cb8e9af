"""Applying layer tars safely, and making them back from a directory."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest
import zstandard

from dockyard import errors
from dockyard.archive import apply_layer, clean_name, detect, write_layer

Entry = tuple[str, bytes, dict[str, object]]


def make_tar(*entries: tarfile.TarInfo | tuple[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            if isinstance(e, tarfile.TarInfo):
                tar.addfile(e)
            else:
                name, data = e
                ti = tarfile.TarInfo(name)
                ti.size, ti.mode, ti.mtime = len(data), 0o644, 1_600_000_000
                tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def info(name: str, kind: bytes, *, link: str = "", mode: int = 0o755) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mode, ti.mtime = kind, link, mode, 1_600_000_000
    return ti


def test_clean_name() -> None:
    assert clean_name("./a//b/") == "a/b"
    assert clean_name("/abs/x") == "abs/x"
    assert clean_name("a/../b") == "b"
    assert clean_name("./") == ""
    for bad in ("../x", "a/../../x", "/../etc/passwd"):
        with pytest.raises(errors.UnsafePath):
            clean_name(bad)


def test_detect() -> None:
    assert detect(gzip.compress(b"x")) == "gzip"
    assert detect(zstandard.ZstdCompressor().compress(b"x")) == "zstd"
    assert detect(make_tar(("a", b"1"))) == ""
    with pytest.raises(errors.InvalidArgument):
        detect(b"BZh91AY")


@pytest.mark.parametrize("compress", ["none", "gzip", "zstd"])
def test_apply_plain_and_compressed_with_diff_id(tmp_path: Path, compress: str) -> None:
    raw = make_tar(
        info("dir", tarfile.DIRTYPE), ("dir/file", b"content"), info("dir/link", tarfile.SYMTYPE, link="file")
    )
    blob = {"none": raw, "gzip": gzip.compress(raw), "zstd": zstandard.ZstdCompressor().compress(raw)}[compress]
    root = tmp_path / "root"
    root.mkdir()
    res = apply_layer(io.BytesIO(blob), str(root), whiteouts="remove")
    assert str(res.diff_id) == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert res.size == len(raw)
    assert (root / "dir/file").read_bytes() == b"content"
    assert os.readlink(root / "dir/link") == "file"
    assert int((root / "dir/file").stat().st_mtime) == 1_600_000_000
    assert stat.S_IMODE((root / "dir").stat().st_mode) == 0o755


def _only(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(
    "entries",
    [
        [("../escape", b"x")],
        [("a/../../escape", b"x")],
        [info("etc", tarfile.SYMTYPE, link="@OUT@"), ("etc/evil", b"x")],
        [info("up", tarfile.SYMTYPE, link="../.."), ("up/evil", b"x")],
        [info("hl", tarfile.LNKTYPE, link="../outside")],
        [info("hl", tarfile.LNKTYPE, link="/etc/passwd")],
        [info("d", tarfile.SYMTYPE, link="@OUT@"), info("d/.wh.victim", tarfile.REGTYPE)],
    ],
    ids=[
        "dotdot",
        "nested-dotdot",
        "abs-symlink-parent",
        "rel-symlink-parent",
        "hardlink-up",
        "hardlink-abs",
        "wh-via-link",
    ],
)
def test_escaping_entries_are_refused(tmp_path: Path, entries: list[tarfile.TarInfo | tuple[str, bytes]]) -> None:
    # Symlinks point at a directory of this test (standing in for /etc) so a regression cannot harm the host.
    root = tmp_path / "layer"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.write_text("keep")
    out_dir = tmp_path / "outdir"
    out_dir.mkdir()
    (out_dir / "victim").write_text("keep")
    for e in entries:
        if isinstance(e, tarfile.TarInfo) and e.linkname == "@OUT@":
            e.linkname = str(out_dir)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(errors.UnsafePath):
        apply_layer(io.BytesIO(make_tar(*entries)), str(root), whiteouts="remove")
    assert sorted(os.listdir(tmp_path)) == before
    assert outside.read_text() == "keep"
    assert sorted(os.listdir(out_dir)) == ["victim"]
    assert not (tmp_path / "escape").exists()


def test_absolute_names_are_rerooted(tmp_path: Path) -> None:
    root = tmp_path / "layer"
    root.mkdir()
    apply_layer(io.BytesIO(make_tar(("/abs/file", b"x"))), str(root), whiteouts="remove")
    assert (root / "abs/file").read_bytes() == b"x"


def test_remove_style_whiteouts(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "keep").mkdir(parents=True)
    (root / "gone.txt").write_text("x")
    (root / "opq").mkdir()
    (root / "opq/old").write_text("lower")
    (root / "keep/stay").write_text("y")
    layer = make_tar(
        info(".wh.gone.txt", tarfile.REGTYPE, mode=0o644),
        info("opq", tarfile.DIRTYPE),
        ("opq/new", b"upper"),
        info("opq/.wh..wh..opq", tarfile.REGTYPE, mode=0o644),
    )
    apply_layer(io.BytesIO(layer), str(root), whiteouts="remove")
    assert not (root / "gone.txt").exists()
    assert sorted(os.listdir(root / "opq")) == ["new"]
    assert (root / "keep/stay").read_text() == "y"


def test_hardlinks_and_replacements(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "was_dir").mkdir()
    (root / "was_dir/child").write_text("c")
    layer = make_tar(("a", b"data"), info("b", tarfile.LNKTYPE, link="a"), ("was_dir", b"now a file"))
    apply_layer(io.BytesIO(layer), str(root), whiteouts="remove")
    assert os.stat(root / "a").st_ino == os.stat(root / "b").st_ino
    assert (root / "was_dir").read_bytes() == b"now a file"


def test_truncated_and_garbage_layers_are_invalid(tmp_path: Path) -> None:
    raw = make_tar(("big", os.urandom(100_000)))
    for blob in (raw[:50_000], gzip.compress(raw)[:20_000], b"\x1f\x8b" + b"garbage" * 100):
        root = tmp_path / f"r{len(blob)}"
        root.mkdir()
        with pytest.raises(errors.InvalidArgument):
            apply_layer(io.BytesIO(blob), str(root), whiteouts="remove")


def _tree(root: Path) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p), int(st.st_mtime))
        elif p.is_dir():
            out[rel] = ("dir", stat.S_IMODE(st.st_mode), int(st.st_mtime))
        else:
            out[rel] = ("file", stat.S_IMODE(st.st_mode), p.read_bytes(), st.st_nlink, int(st.st_mtime))
    return out


def test_diff_round_trip_and_determinism(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "usr/bin").mkdir(parents=True)
    (src / "usr/bin/tool").write_bytes(b"#!/bin/sh\necho hi\n")
    os.chmod(src / "usr/bin/tool", 0o4755)
    os.link(src / "usr/bin/tool", src / "usr/bin/alias")
    os.symlink("usr/bin/tool", src / "tool")
    (src / "empty").mkdir(mode=0o700)
    for p in [*src.rglob("*"), src]:
        os.utime(p, (1_500_000_000, 1_500_000_000), follow_symlinks=False)
    out1, out2 = io.BytesIO(), io.BytesIO()
    r1 = write_layer(str(src), out1)
    r2 = write_layer(str(src), out2)
    assert out1.getvalue() == out2.getvalue()
    assert r1.diff_id == r2.diff_id
    assert str(r1.diff_id) == "sha256:" + hashlib.sha256(out1.getvalue()).hexdigest()
    dst = tmp_path / "dst"
    dst.mkdir()
    applied = apply_layer(io.BytesIO(out1.getvalue()), str(dst), whiteouts="remove")
    assert applied.diff_id == r1.diff_id
    assert _tree(dst) == _tree(src)
    with tarfile.open(fileobj=io.BytesIO(out1.getvalue())) as tar:
        names = tar.getnames()
        assert names == sorted(names, key=lambda n: n.split("/"))
        assert tar.getmember("usr/bin/tool").islnk() or tar.getmember("usr/bin/alias").islnk()
        assert all(m.uname == "" and m.gname == "" for m in tar.getmembers())


def test_write_layer_forced_mtime(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    a, b = io.BytesIO(), io.BytesIO()
    write_layer(str(src), a, mtime=0)
    os.utime(src / "f", (1, 12345))
    write_layer(str(src), b, mtime=0)
    assert a.getvalue() == b.getvalue()
