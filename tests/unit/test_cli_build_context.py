"""The context tar the CLI sends (honouring .dockerignore), stdin forms and the build stream follower."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import IO

import pytest

from dockyard import errors
from dockyard.cli.build import build_params
from dockyard.cli.build_context import context_from_dir, dockerfile_only_context, is_archive
from dockyard.cli.build_progress import BuildState


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


def _names(tar: IO[bytes]) -> list[str]:
    with tar, tarfile.open(fileobj=tar) as tf:
        return sorted(tf.getnames())


def test_context_walks_into_an_excluded_dir_only_for_an_exception_naming_it(tmp_path: Path) -> None:
    for rel in ("Dockerfile", "a/keep", "a/drop", "b/keep", "b/sub/keep"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    # as docker: ``!*/keep`` re-includes a/keep by meaning, but no exception names ``a``, so ``a`` is not walked;
    # ``!b/sub`` opens ``b``, and then ``!*/keep`` takes b/keep too
    (tmp_path / ".dockerignore").write_text("a\nb\n!b/sub\n!*/keep\n")
    tar, _ = context_from_dir(str(tmp_path), "Dockerfile")
    assert _names(tar) == [".dockerignore", "Dockerfile", "b/keep", "b/sub", "b/sub/keep"]


def test_context_refuses_a_malformed_dockerignore(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / ".dockerignore").write_text("ok\n[abc\n")
    with pytest.raises(errors.InvalidArgument, match="syntax error in pattern"):
        context_from_dir(str(tmp_path), "Dockerfile")


def test_stdin_forms() -> None:
    data = dockerfile_only_context(b"FROM busybox\n")
    assert is_archive(data[:512]) and not is_archive(b"FROM busybox\n")
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        f = tf.extractfile("Dockerfile")
        assert f is not None and f.read() == b"FROM busybox\n"


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
