"""``.dockerignore`` matching: Docker's wildcards, ``**``, parent directories and ``!`` exceptions."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.build.context import apply_ignore
from dockyard.build.ignore import IgnoreMatcher


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        ("*.log", "a.log", True),
        ("*.log", "dir/a.log", False),
        ("**/*.log", "dir/sub/a.log", True),
        ("**/*.log", "a.log", True),
        ("dir", "dir/sub/file", True),
        ("/dir/", "dir/file", True),
        ("d?r", "dir", True),
        ("d?r", "dr", False),
        ("[a-c]x", "bx", True),
        ("[a-c]x", "dx", False),
        ("*.md\n!README.md", "README.md", False),
        ("*.md\n!README.md", "other.md", True),
        ("!README.md\n*.md", "README.md", True),  # the last matching pattern wins
        ("# comment\n\n  secret.txt  ", "secret.txt", True),
        ("a/**/b", "a/x/y/b", True),
        ("a/**/b", "a/b", True),
        ("./build", "build/out", True),
    ],
)
def test_patterns(patterns: str, path: str, excluded: bool) -> None:
    assert IgnoreMatcher.from_text(patterns).excluded(path) is excluded


def test_apply_ignore_keeps_exceptions(tmp_path: os.PathLike[str]) -> None:
    root = str(tmp_path)
    for rel in ("keep.txt", "logs/a.log", "logs/keep.log", "docs/x.md", ".dockerignore"):
        os.makedirs(os.path.dirname(os.path.join(root, rel)) or root, exist_ok=True)
        with open(os.path.join(root, rel), "w") as f:
            f.write(rel)
    apply_ignore(root, IgnoreMatcher.from_text("logs\n!logs/keep.log\ndocs\n.dockerignore\n"))
    left = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files)
    assert left == ["keep.txt", "logs/keep.log"]  # .dockerignore names itself, so it goes too


_SEG = st.from_regex(r"[a-z]{1,5}", fullmatch=True)


@given(st.lists(_SEG, min_size=1, max_size=4), st.lists(_SEG, min_size=0, max_size=3))
def test_a_directory_pattern_excludes_everything_below(prefix: list[str], rest: list[str]) -> None:
    m = IgnoreMatcher.from_text("/".join(prefix))
    assert m.excluded("/".join(prefix + rest))


@given(st.lists(_SEG, min_size=1, max_size=4))
def test_exception_after_exclusion_reincludes(path: list[str]) -> None:
    p = "/".join(path)
    assert not IgnoreMatcher.from_text(f"**\n!{p}").excluded(p)
    assert IgnoreMatcher.from_text(f"!{p}\n**").excluded(p)


@given(st.lists(_SEG, min_size=1, max_size=4))
def test_double_star_matches_any_depth(path: list[str]) -> None:
    assert IgnoreMatcher.from_text("**/" + path[-1]).excluded("/".join(path))
