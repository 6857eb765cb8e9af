"""The executor against a fake worker: concurrent independent stages, skipped stages, output order, cache, errors."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import pytest

from dockyard.build.api import BuildOptions, ImageState, Output, RunResult
from dockyard.build.cache import BuildCache
from dockyard.build.dockerfile import parse_dockerfile
from dockyard.build.executor import BuildFailed, Executor, scratch_state
from dockyard.build.stages import plan_stages
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest
from dockyard.oci.image import Descriptor, canonical_json


class FakeWorker:
    """Runs nothing: a RUN's "layer" is the digest of its command; ``gates`` make RUNs wait on each other."""

    rootfs_ids = None

    def __init__(self, gates: Mapping[str, tuple[str, str]] | None = None) -> None:
        self.runs: list[list[str]] = []
        self.events: dict[str, asyncio.Event] = {}
        self.gates = dict(gates or {})  # command -> (event to set, event to wait for)

    def _event(self, name: str) -> asyncio.Event:
        return self.events.setdefault(name, asyncio.Event())

    async def base(self, ref: str, pull: bool, platform: str) -> ImageState:
        cfg = json.loads(scratch_state().config)
        cfg["config"]["Cmd"] = ["sh"]
        cfg["history"] = [{"created_by": f"base {ref}"}]
        return ImageState(canonical_json(cfg), ())

    async def run(self, state: ImageState, config: Mapping[str, Any], output: Output) -> RunResult:
        argv = list(config["Cmd"])
        self.runs.append(argv)
        script = argv[-1]
        if script in self.gates:
            mine, other = self.gates[script]
            self._event(mine).set()
            await asyncio.wait_for(self._event(other).wait(), 10)  # deadlocks unless both run at once
        await output({"stream": f"ran {script}\n"})
        if script.startswith("exit"):
            return RunResult(int(script.split()[1]), None)
        d = Digest("sha256", hashlib.sha256(script.encode()).hexdigest())
        return RunResult(0, Descriptor(mt.OCI_LAYER, d, 1), str(d))

    @contextlib.asynccontextmanager
    async def rootfs(self, state: ImageState) -> AsyncIterator[str]:
        yield "/nonexistent"

    async def store_layer(self, directory: str) -> tuple[Descriptor, str]:
        raise AssertionError("not used")

    def has_blob(self, desc: Descriptor) -> bool:
        return True

    async def register(self, state: ImageState, tags: Sequence[str]) -> str:
        return state.id

    @contextlib.asynccontextmanager
    async def staging_dir(self) -> AsyncIterator[str]:
        with tempfile.TemporaryDirectory() as tmp:
            yield tmp


def _build(
    text: str, worker: FakeWorker, cache: BuildCache, sink: list[dict[str, Any]] | None = None, **opts: Any
) -> tuple[ImageState, list[dict[str, Any]]]:
    options = BuildOptions(**opts)
    df = parse_dockerfile(text)
    plan = plan_stages(df, options.target, options.build_args)
    out: list[dict[str, Any]] = sink if sink is not None else []

    async def collect(msg: dict[str, Any]) -> None:
        out.append(msg)

    ex = Executor(worker=worker, cache=cache, context_dir="/nonexistent", dockerfile=df, plan=plan,
                  options=options, output=collect)  # fmt: skip
    state = asyncio.run(asyncio.wait_for(ex.run(), 30))
    return state, out


@pytest.fixture
def cache(tmp_path: os.PathLike[str]) -> Iterator[BuildCache]:
    c = BuildCache(os.path.join(str(tmp_path), "cache.db"))
    yield c
    c.close()


TWO_STAGES = """\
FROM base AS one
RUN first
FROM base AS two
RUN second
FROM base AS unused
RUN exit 5
FROM base
RUN final
"""


def test_stages_the_target_does_not_need_never_run(cache: BuildCache) -> None:
    w = FakeWorker()
    _build(TWO_STAGES + "FROM base AS target\nRUN t\n", w, cache, target="target")
    assert [r[-1] for r in w.runs] == ["t"]
    w = FakeWorker()
    _build(TWO_STAGES.replace("FROM base\nRUN final", "FROM two\nRUN final"), w, cache)
    assert [r[-1] for r in w.runs] == ["second", "final"]


def test_independent_stages_run_concurrently(cache: BuildCache) -> None:
    # "first" and "second" each wait for the other to have started: sequential stages would time out
    text = "FROM base AS one\nRUN first\nFROM base AS two\nRUN second\nFROM base AS unused\nRUN exit 5\n"
    text += "FROM base\nCOPY --from=one /a /a\nCOPY --from=two /b /b\n"
    w = FakeWorker({"first": ("a", "b"), "second": ("b", "a")})
    with pytest.raises(BuildFailed, match="line 8: COPY"):
        _build(text, w, cache)  # the fake has no files to copy; both stages ran before that
    assert sorted(r[-1] for r in w.runs) == ["first", "second"]


def test_output_is_in_file_order_and_steps_are_numbered(cache: BuildCache) -> None:
    w = FakeWorker({"first": ("a", "b"), "second": ("b", "a")})
    text = "FROM base AS one\nRUN first\nFROM base AS two\nRUN second\nFROM base\nCOPY --from=one /a /a\n"
    text += "COPY --from=two /b /b\n"
    out: list[dict[str, Any]] = []
    with pytest.raises(BuildFailed):
        _build(text, w, cache, sink=out)
    streams = [m["stream"] for m in out if "stream" in m]
    steps = [x for x in streams if x.startswith("Step ")]
    assert steps[:5] == ["Step 1/7 : FROM base AS one", "Step 2/7 : RUN first", "Step 3/7 : FROM base AS two",
                         "Step 4/7 : RUN second", "Step 5/7 : FROM base"]  # fmt: skip
    assert streams.index("ran first\n") < streams.index("Step 3/7 : FROM base AS two") < streams.index("ran second\n")


def test_cache_hits_skip_runs_and_args_invalidate(cache: BuildCache) -> None:
    text = "FROM base\nARG V=1\nRUN echo $V\nENV X=y\n"
    w = FakeWorker()
    s1, _ = _build(text, w, cache)
    s2, out = _build(text, w, cache)
    assert len(w.runs) == 1 and s1.id == s2.id
    assert sum(1 for m in out if m.get("stream") == " ---> Using cache\n") == 2
    _build(text, w, cache, build_args={"V": "2"})
    assert len(w.runs) == 2  # the RUN sees V, so a new value is a cache miss
    _build(text, w, cache, nocache=True)
    assert len(w.runs) == 3


def test_run_failure_names_line_and_stops(cache: BuildCache) -> None:
    w = FakeWorker()
    with pytest.raises(BuildFailed, match=r"returned a non-zero code: 3 \(Dockerfile line 3: RUN\)"):
        _build("FROM base\nRUN ok\nRUN exit 3\nRUN never\n", w, cache)
    assert [r[-1] for r in w.runs] == ["ok", "exit 3"]


def test_onbuild_triggers_run_after_from(cache: BuildCache) -> None:
    class OnBuildWorker(FakeWorker):
        async def base(self, ref: str, pull: bool, platform: str) -> ImageState:
            st = await super().base(ref, pull, platform)
            cfg = json.loads(st.config)
            cfg["config"]["OnBuild"] = ["RUN triggered"]
            return ImageState(canonical_json(cfg), ())

    w = OnBuildWorker()
    state, out = _build("FROM parent\nRUN mine\n", w, cache)
    assert [r[-1] for r in w.runs] == ["triggered", "mine"]
    assert {"stream": "# Executing 1 build trigger\n"} in out
    assert json.loads(state.config)["config"]["OnBuild"] is None


def test_run_sees_build_args_but_the_image_does_not(cache: BuildCache) -> None:
    class EnvWorker(FakeWorker):
        seen: list[str] = []

        async def run(self, state: ImageState, config: Mapping[str, Any], output: Output) -> RunResult:
            self.seen.extend(config["Env"])
            return await super().run(state, config, output)

    w = EnvWorker()
    state, _ = _build("ARG G=global\nFROM base\nARG G\nARG L=local\nENV E=$L\nRUN x\n", w, cache)
    assert "G=global" in w.seen and "L=local" in w.seen and "E=local" in w.seen
    env = json.loads(state.config)["config"]["Env"]
    assert "E=local" in env and not any(e.startswith(("G=", "L=")) for e in env)
    history = json.loads(state.config)["history"]
    assert history[-1]["created_by"] == "|2 G=global L=local /bin/sh -c x"


def test_buildkit_only_flags_are_refused_with_the_line(cache: BuildCache) -> None:
    with pytest.raises(BuildFailed, match=r"--mount option requires BuildKit \(Dockerfile line 2: RUN\)"):
        _build("FROM base\nRUN --mount=type=cache,target=/c true\n", FakeWorker(), cache)
    with pytest.raises(BuildFailed, match=r"unknown flag: parents \(Dockerfile line 2: COPY\)"):
        _build("FROM base\nCOPY --parents a /b\n", FakeWorker(), cache)
