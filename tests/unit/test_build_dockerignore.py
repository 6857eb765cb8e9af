"""The daemon applies ``.dockerignore`` to an uploaded context (the rules are ``dockyard.dockerignore``'s)."""

from __future__ import annotations

import os

import pytest

from dockyard import errors
from dockyard.build.context import apply_dockerignore, apply_ignore
from dockyard.dockerignore import IgnoreMatcher


def _tree(root: str, *rels: str) -> None:
    for rel in rels:
        os.makedirs(os.path.dirname(os.path.join(root, rel)) or root, exist_ok=True)
        with open(os.path.join(root, rel), "w") as f:
            f.write(rel)


def _files(root: str) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files)


def test_apply_ignore_keeps_exceptions(tmp_path: os.PathLike[str]) -> None:
    root = str(tmp_path)
    _tree(root, "keep.txt", "logs/a.log", "logs/keep.log", "docs/x.md", ".dockerignore")
    apply_ignore(root, IgnoreMatcher.from_text("logs\n!logs/keep.log\ndocs\n.dockerignore\n"))
    assert _files(root) == ["keep.txt", "logs/keep.log"]  # .dockerignore names itself, so it goes too


def test_apply_dockerignore_reads_the_context_file(tmp_path: os.PathLike[str]) -> None:
    root = str(tmp_path)
    _tree(root, "Dockerfile", "a/b/c.log", "a/keep.log", "src/x.py", "src/y.pyc")
    with open(os.path.join(root, ".dockerignore"), "w") as f:
        f.write("# build junk\n**/*.log\n!a/keep.log\n**/*.pyc\n")
    apply_dockerignore(root)
    assert _files(root) == [".dockerignore", "Dockerfile", "a/keep.log", "src/x.py"]


def test_apply_dockerignore_refuses_a_malformed_pattern(tmp_path: os.PathLike[str]) -> None:
    root = str(tmp_path)
    _tree(root, "Dockerfile", "[x")
    with open(os.path.join(root, ".dockerignore"), "w") as f:
        f.write("[x\n")
    with pytest.raises(errors.InvalidArgument, match="syntax error in pattern"):
        apply_dockerignore(root)
    assert _files(root) == [".dockerignore", "Dockerfile", "[x"]
