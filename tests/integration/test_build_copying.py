"""COPY/ADD staging on real files: sources, globs, ownership, modes, existing directories, archives, hashing."""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.build.copying import CopyPlan, hash_sources, resolve_in_root, resolve_sources, stage_copy

pytestmark = pytest.mark.root


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root to set ownership")
    ctx, lower, staging = tmp_path / "ctx", tmp_path / "lower", tmp_path / "staging"
    for d in (ctx / "dir" / "sub", lower / "tmp", lower / "app", staging):
        d.mkdir(parents=True)
    (ctx / "a.txt").write_text("a")
    (ctx / ".hidden").write_text("h")
    (ctx / "dir" / "b.txt").write_text("b")
    (ctx / "dir" / "sub" / "c.txt").write_text("c")
    os.chmod(lower / "tmp", 0o1777)
    os.chown(lower / "app", 1000, 1000)
    return {"ctx": ctx, "lower": lower, "staging": staging}


def _plan(t: dict[str, Path], sources: list[str], dest: str, **kw: object) -> CopyPlan:
    rels = resolve_sources(str(t["ctx"]), sources)
    return CopyPlan(tuple(rels), dest, str(t["ctx"]), dest.endswith("/") or len(rels) > 1, **kw)  # type: ignore[arg-type]


def test_globs_match_dotfiles_and_missing_sources_fail(tree: dict[str, Path]) -> None:
    assert resolve_sources(str(tree["ctx"]), ["*"]) == [".hidden", "a.txt", "dir"]
    assert resolve_sources(str(tree["ctx"]), ["dir/*.txt"]) == ["dir/b.txt"]
    with pytest.raises(errors.NotFound, match="nope"):
        resolve_sources(str(tree["ctx"]), ["nope*"])
    with pytest.raises(errors.InvalidArgument):
        resolve_sources(str(tree["ctx"]), ["../escape"])


def test_directory_contents_owner_and_mode(tree: dict[str, Path]) -> None:
    plan = _plan(tree, ["dir"], "/opt/x/", chown=(5, 6), chmod=0o640)
    stage_copy(plan, str(tree["staging"]), str(tree["lower"]))
    out = tree["staging"] / "opt" / "x"
    assert sorted(p.name for p in out.iterdir()) == ["b.txt", "sub"]
    st_b = os.stat(out / "b.txt")
    assert (st_b.st_uid, st_b.st_gid, stat.S_IMODE(st_b.st_mode)) == (5, 6, 0o640)
    assert (out / "sub" / "c.txt").read_text() == "c"
    assert stat.S_IMODE(os.stat(tree["staging"] / "opt").st_mode) == 0o755


def test_existing_parents_keep_the_image_metadata(tree: dict[str, Path]) -> None:
    stage_copy(_plan(tree, ["a.txt"], "/tmp/"), str(tree["staging"]), str(tree["lower"]))
    assert stat.S_IMODE(os.stat(tree["staging"] / "tmp").st_mode) == 0o1777
    staging2 = tree["staging"].parent / "s2"
    staging2.mkdir()
    stage_copy(_plan(tree, ["a.txt"], "/app"), str(staging2), str(tree["lower"]))
    # /app is a directory in the image: the file goes inside it, and /app keeps its owner
    assert (staging2 / "app" / "a.txt").read_text() == "a"
    assert os.stat(staging2 / "app").st_uid == 1000


def test_add_extracts_archives_and_inline_files(tree: dict[str, Path]) -> None:
    inner = tree["ctx"] / "pkg.tar"
    with tarfile.open(inner, "w") as tar:
        tar.add(tree["ctx"] / "dir", arcname="pkg")
    rels = resolve_sources(str(tree["ctx"]), ["pkg.tar", "NOTE"], {"NOTE": "hello\n"})
    plan = CopyPlan(tuple(rels), "/x/", str(tree["ctx"]), True, extract_archives=True, inline={"NOTE": "hello\n"})
    stage_copy(plan, str(tree["staging"]), str(tree["lower"]))
    assert (tree["staging"] / "x" / "pkg" / "sub" / "c.txt").read_text() == "c"
    assert (tree["staging"] / "x" / "NOTE").read_text() == "hello\n"


def test_hash_follows_content_and_mode(tree: dict[str, Path]) -> None:
    plan = _plan(tree, ["dir"], "/d/")
    h1 = hash_sources(plan)
    assert hash_sources(plan) == h1
    os.utime(tree["ctx"] / "dir" / "b.txt", (1, 1))
    assert hash_sources(plan) == h1  # times alone do not invalidate the cache
    (tree["ctx"] / "dir" / "b.txt").write_text("B")
    h2 = hash_sources(plan)
    assert h2 != h1
    os.chmod(tree["ctx"] / "dir" / "b.txt", 0o600)
    assert hash_sources(plan) != h2


def test_resolve_in_root_never_leaves_the_root(tree: dict[str, Path]) -> None:
    lower = tree["lower"]
    os.symlink("/etc", lower / "abs")
    os.symlink("../../..", lower / "app" / "up")
    assert resolve_in_root(str(lower), "/abs/passwd") == os.path.join(str(lower), "etc/passwd")
    assert resolve_in_root(str(lower), "/app/up/tmp") == os.path.join(str(lower), "tmp")
