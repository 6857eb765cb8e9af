"""Docker's .dockerignore rules, the build stream follower, and the context tar."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard import errors
from dockyard.cli.build import build_params
from dockyard.cli.build_context import (
    IgnoreRules,
    context_from_dir,
    dockerfile_only_context,
    is_archive,
    parse_dockerignore,
)
from dockyard.cli.build_progress import BuildState


def _rules(text: str) -> IgnoreRules:
    return IgnoreRules(parse_dockerignore(text))


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        ("*.md", "README.md", True),
        ("*.md", "docs/README.md", False),  # * stays within one component
        ("**/*.md", "docs/a/README.md", True),
        ("**/*.md", "README.md", True),  # **/ also matches zero directories
        ("docs", "docs/a/b.txt", True),  # a directory excludes its content
        ("docs\n!docs/keep.txt", "docs/keep.txt", False),
        ("docs\n!docs/keep.txt", "docs/other.txt", True),
        ("!keep.txt\n*.txt", "keep.txt", True),  # the last matching pattern wins
        ("/build/../out", "out/x", True),  # cleaned, leading slash ignored
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("[a-c]x", "bx", True),
        ("[!a-c]x", "bx", False),
        ("# comment\n\n   ", "comment", False),
        ("dir/**", "dir/x/y", True),
    ],
)
def test_dockerignore_examples(patterns: str, path: str, excluded: bool) -> None:
    assert _rules(patterns).excluded(path) is excluded


_names = st.text(alphabet="abcxyz.", min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))


@given(st.lists(_names, min_size=1, max_size=4))
def test_literal_path_pattern_excludes_exactly_it_and_below(parts: list[str]) -> None:
    path = "/".join(parts)
    rules = _rules(path)
    assert rules.excluded(path)
    assert rules.excluded(path + "/child")
    assert not rules.excluded(path + "x")
    assert not _rules(path + "\n!" + path).excluded(path)


@given(st.lists(_names, min_size=1, max_size=4))
def test_double_star_matches_at_any_depth(parts: list[str]) -> None:
    name = parts[-1]
    assert _rules("**/" + name).excluded("/".join(parts))


def test_context_tar_keeps_dockerfile_and_skips_excluded(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "key").write_text("k")
    (tmp_path / "secret" / "public").write_text("p")
    (tmp_path / ".dockerignore").write_text("secret\n!secret/public\nDockerfile\n.dockerignore\n")
    tar, count = context_from_dir(str(tmp_path), "Dockerfile", extra={".dockerfile.x": b"FROM busybox\n"})
    with tar, tarfile.open(fileobj=tar) as tf:
        members = {m.name: m for m in tf.getmembers()}
    assert sorted(members) == [".dockerfile.x", ".dockerignore", "Dockerfile", "a.txt", "secret/public"]
    assert count == 4 and all(m.uid == 0 and m.uname == "" for m in members.values())


def test_stdin_forms() -> None:
    data = dockerfile_only_context(b"FROM busybox\n")
    assert is_archive(data[:512]) and not is_archive(b"FROM busybox\n")
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        f = tf.extractfile("Dockerfile")
        assert f is not None and f.read() == b"FROM busybox\n"
    with pytest.raises(errors.InvalidArgument):
        parse_dockerignore("[abc\n")


def test_build_state_follows_classic_stream() -> None:
    t = iter(float(i) for i in range(100))
    state = BuildState(clock=lambda: next(t))
    for msg in [
        {"stream": "Step 1/3 : FROM busybox"},
        {"stream": "\n"},
        {"stream": " ---> 587071b166a9\n"},
        {"stream": "Step 2/3 : RUN echo building"},
        {"stream": "\n"},
        {"stream": " ---> Running in 19078300e0b0\n"},
        {"stream": "building\nmore\n"},
        {"stream": "Removing intermediate container 19078300e0b0\n"},
        {"stream": " ---> 9222b4d30aa5\n"},
        {"stream": "Step 3/3 : LABEL a=b\n"},
        {"stream": " ---> Using cache\n"},
        {"stream": " ---> 28392434bb8d\n"},
        {"aux": {"ID": "sha256:28392434bb8d"}},
        {"stream": "Successfully built 28392434bb8d\n"},
        {"stream": "Successfully tagged sample-build:1\n"},
    ]:
        state.feed(msg)
    state.close()
    assert [(s.number, s.instruction, s.status) for s in state.steps] == [
        (1, "FROM busybox", "DONE"),
        (2, "RUN echo building", "DONE"),
        (3, "LABEL a=b", "CACHED"),
    ]
    assert state.steps[1].output == ["building", "more"] and state.steps[1].elapsed(0) > 0
    assert (state.image_id, state.tagged, state.error) == ("sha256:28392434bb8d", ["sample-build:1"], "")
    state.feed({"error": "boom", "errorDetail": {"message": "boom"}})
    assert state.error == "boom"


def test_build_params() -> None:
    q = build_params(
        tags=["a", "b"], dockerfile="D", build_args={"K": "V"}, no_cache=True, rm=False, extra_hosts=["h=1.2.3.4"]
    )
    assert q == [
        ("t", "a"),
        ("t", "b"),
        ("dockerfile", "D"),
        ("buildargs", '{"K": "V"}'),
        ("extrahosts", "h:1.2.3.4"),
        ("nocache", "1"),
        ("rm", "0"),
    ]
