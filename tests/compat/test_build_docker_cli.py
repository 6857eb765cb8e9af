"""The classic builder through the real docker CLI (``DOCKER_BUILDKIT=0``): the Dockerfile corpus, each result run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

pytestmark = [pytest.mark.compat, pytest.mark.root]

CORPUS = os.path.join(os.path.dirname(__file__), "dockerfiles")


def docker(env: dict[str, str], *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        ["docker", *args], env={**env, "DOCKER_BUILDKIT": "0"}, input=input, capture_output=True, timeout=180
    )
    return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(), r.stderr.decode())


def build(env: dict[str, str], case: str, tag: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return docker(env, "build", "-t", tag, *extra, os.path.join(CORPUS, case))


def run_output(env: dict[str, str], image: str, *cmd: str) -> str:
    r = docker(env, "run", "--rm", image, *cmd)
    assert r.returncode == 0, r.stderr
    return str(r.stdout)


def inspect(env: dict[str, str], image: str) -> dict[str, object]:
    r = docker(env, "image", "inspect", image)
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)[0]
    assert isinstance(obj, dict)
    return obj


@pytest.fixture
def images(docker_cli: dict[str, str]) -> Iterator[list[str]]:
    """Tags a test builds; removed afterwards."""
    made: list[str] = []
    yield made
    for tag in made:
        docker(docker_cli, "rmi", "-f", tag)


def test_multistage_copy_from_and_unneeded_stage_skipped(docker_cli: dict[str, str], images: list[str]) -> None:
    images.append("bt-multi:1")
    r = build(docker_cli, "multistage", "bt-multi:1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Successfully tagged bt-multi:1" in r.stdout
    assert "RUN exit 1" not in r.stdout  # the stage the target does not need never ran
    assert run_output(docker_cli, "bt-multi:1") == "tool-output\nSOME DATA\nsome data\n"


def test_args_and_env_expansion(docker_cli: dict[str, str], images: list[str]) -> None:
    images.append("bt-args:1")
    r = build(docker_cli, "args_env", "bt-args:1", "--build-arg", "VERSION=2.5", "--build-arg", "FLAVOR=spicy")
    assert r.returncode == 0, r.stdout + r.stderr
    arch = json.loads(docker(docker_cli, "version", "-f", "{{json .Server.Arch}}").stdout)
    lines = run_output(docker_cli, "bt-args:1").splitlines()
    assert lines == [
        "hello spicy",
        "/opt/app/v2.5",
        "fallback",
        "has-flavor",
        f"run sees 2.5 spicy {arch}",
        "/opt/app",
        "v=unset",  # build args are not in the image's environment
    ]
    cfg = inspect(docker_cli, "bt-args:1")["Config"]
    assert isinstance(cfg, dict)
    assert cfg["Labels"] == {"version": "2.5", "flavor": "spicy"}
    history = docker(docker_cli, "history", "--no-trunc", "--format", "{{.CreatedBy}}", "bt-args:1").stdout
    assert "|3 FLAVOR=spicy TARGETARCH=" in history  # RUN records the ARGs it saw
    # the same build args hit the cache; a changed one re-runs the RUN that sees it
    again = build(docker_cli, "args_env", "bt-args:1", "--build-arg", "VERSION=2.5", "--build-arg", "FLAVOR=spicy")
    assert again.returncode == 0 and "Running in" not in again.stdout
    other = build(docker_cli, "args_env", "bt-args:1", "--build-arg", "VERSION=3.0", "--build-arg", "FLAVOR=spicy")
    assert other.returncode == 0 and other.stdout.count("Running in") == 1
    assert "run sees 3.0 spicy" in run_output(docker_cli, "bt-args:1")


def test_unused_build_arg_warns(docker_cli: dict[str, str], images: list[str]) -> None:
    images.append("bt-args:2")
    r = build(docker_cli, "args_env", "bt-args:2", "--build-arg", "NOBODY_USES_ME=1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[Warning] One or more build-args [NOBODY_USES_ME] were not consumed" in r.stdout + r.stderr


def test_heredocs(docker_cli: dict[str, str], images: list[str]) -> None:
    images.append("bt-heredoc:1")
    r = build(docker_cli, "heredocs", "bt-heredoc:1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert run_output(docker_cli, "bt-heredoc:1") == (
        "script ran for heredoc\nfirst heredoc\nsecond (tabs stripped)\ncopied heredoc\nnot expanded ${NAME}\n"
    )


def test_dockerignore(docker_cli: dict[str, str], images: list[str]) -> None:
    images.append("bt-ignore:1")
    r = build(docker_cli, "dockerignore", "bt-ignore:1")
    assert r.returncode == 0, r.stdout + r.stderr
    files = run_output(docker_cli, "bt-ignore:1").split()
    assert files == ["./.dockerignore", "./Dockerfile", "./file.txt", "./keep.log", "./sub/ok.txt"]


def test_onbuild_triggers_run_in_child(docker_cli: dict[str, str], images: list[str]) -> None:
    images.extend(["onbuild-parent:test", "bt-onbuild-child:1"])
    r = build(docker_cli, "onbuild_parent", "onbuild-parent:test")
    assert r.returncode == 0, r.stdout + r.stderr
    parent_cfg = inspect(docker_cli, "onbuild-parent:test")["Config"]
    assert isinstance(parent_cfg, dict)
    assert parent_cfg["OnBuild"] == ["COPY trigger.txt /trigger/", 'RUN echo "trigger ran" > /trigger/ran.txt']
    r = build(docker_cli, "onbuild_child", "bt-onbuild-child:1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "# Executing 2 build triggers" in r.stdout
    assert run_output(docker_cli, "bt-onbuild-child:1") == "from the child context\ntrigger ran\n"
    child_cfg = inspect(docker_cli, "bt-onbuild-child:1")["Config"]
    assert isinstance(child_cfg, dict)
    assert not child_cfg.get("OnBuild")


def test_user_workdir_shell_chown_chmod(docker_cli: dict[str, str], images: list[str]) -> None:
    images.append("bt-user:1")
    r = build(docker_cli, "user_workdir_shell", "bt-user:1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert run_output(docker_cli, "bt-user:1").splitlines() == [
        "/work/dir",
        "1234",
        "shell /bin/sh",
        "builder 640",
        "/work/dir/sub",
    ]


def test_metadata_instructions(docker_cli: dict[str, str], images: list[str]) -> None:
    images.append("bt-meta:1")
    r = build(docker_cli, "metadata", "bt-meta:1", "--label", "from-cli=yes")
    assert r.returncode == 0, r.stdout + r.stderr
    img = inspect(docker_cli, "bt-meta:1")
    cfg = img["Config"]
    assert isinstance(cfg, dict)
    assert img["Author"] == "someone@example.com"
    assert cfg["Labels"] == {"a": "b", "c d": "e f", "from-cli": "yes"}
    assert set(cfg["ExposedPorts"]) == {"80/tcp", "443/udp", "8000/tcp", "8001/tcp"}
    assert set(cfg["Volumes"]) == {"/data", "/logs"}
    assert cfg["StopSignal"] == "SIGINT"
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000, "Timeout": 2_000_000_000,
                                  "Retries": 4}  # fmt: skip
    assert cfg["Entrypoint"] == ["echo", "entry"] and cfg["Cmd"] == ["default-arg"]
    assert run_output(docker_cli, "bt-meta:1") == "entry default-arg\n"


def test_add_extracts_local_archives(docker_cli: dict[str, str], images: list[str]) -> None:
    images.append("bt-add:1")
    r = build(docker_cli, "add_archive", "bt-add:1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert run_output(docker_cli, "bt-add:1") == "from archive\nplain\n"


def test_cache_hits_and_a_changed_file_reruns_only_what_follows(docker_cli: dict[str, str], images: list[str]) -> None:
    images.append("bt-cache:1")
    with tempfile.TemporaryDirectory() as tmp:
        ctx = os.path.join(tmp, "ctx")
        shutil.copytree(os.path.join(CORPUS, "cache_steps"), ctx)
        first = build(docker_cli, ctx, "bt-cache:1")
        assert first.returncode == 0, first.stdout + first.stderr
        id1 = inspect(docker_cli, "bt-cache:1")["Id"]
        again = build(docker_cli, ctx, "bt-cache:1")
        assert again.returncode == 0, again.stdout + again.stderr
        assert again.stdout.count("Using cache") == 5
        assert "Running in" not in again.stdout
        assert inspect(docker_cli, "bt-cache:1")["Id"] == id1
        with open(os.path.join(ctx, "second.txt"), "w") as f:
            f.write("changed\n")
        changed = build(docker_cli, ctx, "bt-cache:1")
        assert changed.returncode == 0, changed.stdout + changed.stderr
        steps = changed.stdout.split("Step ")[1:]
        cached = [s.split(" :", 1)[0] for s in steps if "Using cache" in s]
        assert cached == ["2/6", "3/6"]
        assert changed.stdout.count("Running in") == 1  # only the RUN after the changed COPY
        assert run_output(docker_cli, "bt-cache:1") == "first\nchanged\n"
        nocache = build(docker_cli, ctx, "bt-cache:1", "--no-cache")
        assert nocache.returncode == 0 and "Using cache" not in nocache.stdout


def test_same_inputs_give_same_layers(docker_cli: dict[str, str], images: list[str]) -> None:
    images.extend(["bt-layers:1", "bt-layers:2"])
    assert build(docker_cli, "add_archive", "bt-layers:1").returncode == 0
    assert build(docker_cli, "add_archive", "bt-layers:2", "--no-cache").returncode == 0
    a = inspect(docker_cli, "bt-layers:1")["RootFS"]
    b = inspect(docker_cli, "bt-layers:2")["RootFS"]
    assert a == b


def test_parse_error_names_the_line_and_runs_nothing(docker_cli: dict[str, str]) -> None:
    before = docker(docker_cli, "ps", "-aq").stdout
    r = build(docker_cli, "parse_error", "bt-parse:1")
    assert r.returncode != 0
    assert "line 3: unknown instruction: NOTANINSTRUCTION" in r.stderr
    assert "Step" not in r.stdout
    assert docker(docker_cli, "ps", "-aq").stdout == before
    assert docker(docker_cli, "image", "inspect", "bt-parse:1").returncode != 0


def test_failing_run_reports_exit_code_and_line(docker_cli: dict[str, str]) -> None:
    images_before = docker(docker_cli, "images", "-aq").stdout
    r = build(docker_cli, "run_failure", "bt-fail:1", "--force-rm")
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "before-failure" in out
    assert "returned a non-zero code: 3" in out and "line 3" in out
    assert "echo never" not in out
    assert docker(docker_cli, "ps", "-aq").stdout.strip() == ""  # --force-rm removed the container
    assert docker(docker_cli, "images", "-aq").stdout == images_before  # no intermediate images left


def test_dockerfile_from_stdin_and_target(docker_cli: dict[str, str], images: list[str]) -> None:
    images.append("bt-stdin:1")
    text = (
        b"FROM busybox AS first\nRUN echo one > /f\n"
        b"FROM first AS second\nRUN echo two >> /f\n"
        b"FROM busybox\nRUN exit 9\n"
    )
    with tempfile.TemporaryDirectory() as ctx:
        r = docker(docker_cli, "build", "-t", "bt-stdin:1", "--target", "second", "-f", "-", ctx, input=text)
        assert r.returncode == 0, r.stdout + r.stderr
    assert run_output(docker_cli, "bt-stdin:1", "cat", "/f") == "one\ntwo\n"


def test_quiet_prints_only_the_id(docker_cli: dict[str, str], images: list[str]) -> None:
    images.append("bt-quiet:1")
    r = build(docker_cli, "metadata", "bt-quiet:1", "-q")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == inspect(docker_cli, "bt-quiet:1")["Id"]


def test_cache_from_an_image_after_the_cache_is_pruned(
    docker_cli: dict[str, str], images: list[str], clean_daemon: object
) -> None:
    images.extend(["bt-cachefrom:1", "bt-cachefrom:2"])
    first = build(docker_cli, "cache_steps", "bt-cachefrom:1")
    assert first.returncode == 0, first.stdout + first.stderr
    id1 = inspect(docker_cli, "bt-cachefrom:1")["Id"]
    pruned = docker(docker_cli, "builder", "prune", "-f")
    assert pruned.returncode == 0, pruned.stderr
    without = build(docker_cli, "cache_steps", "bt-cachefrom:2")
    assert "Using cache" not in without.stdout  # the cache really is empty
    assert build(docker_cli, "cache_steps", "bt-cachefrom:2", "--no-cache").returncode == 0
    docker(docker_cli, "builder", "prune", "-f")
    again = build(docker_cli, "cache_steps", "bt-cachefrom:2", "--cache-from", "bt-cachefrom:1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("Using cache") == 5 and "Running in" not in again.stdout
    assert inspect(docker_cli, "bt-cachefrom:2")["Id"] == id1


def test_from_an_image_only_in_a_registry_is_pulled(docker_cli: dict[str, str], tmp_path: os.PathLike[str]) -> None:
    from dockyard.registry import RegistryConfig, RunningRegistry

    with RunningRegistry(RegistryConfig(root=os.path.join(str(tmp_path), "reg"), access_log=False)) as reg:
        ref = f"127.0.0.1:{reg.port}/bt/base:1"
        assert docker(docker_cli, "tag", "busybox", ref).returncode == 0
        pushed = docker(docker_cli, "push", ref)
        assert pushed.returncode == 0, pushed.stderr
        assert docker(docker_cli, "rmi", ref).returncode == 0
        with tempfile.TemporaryDirectory() as ctx:
            with open(os.path.join(ctx, "Dockerfile"), "w") as f:
                f.write(f"FROM {ref}\nRUN echo pulled > /p\n")
            try:
                r = docker(docker_cli, "build", "-t", "bt-pulled:1", ctx)
                assert r.returncode == 0, r.stdout + r.stderr
                assert run_output(docker_cli, "bt-pulled:1", "cat", "/p") == "pulled\n"
                again = docker(docker_cli, "build", "--pull", "-t", "bt-pulled:1", ctx)
                assert again.returncode == 0, again.stdout + again.stderr
            finally:
                docker(docker_cli, "rmi", "-f", "bt-pulled:1", ref)
