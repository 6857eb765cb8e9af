"""Pure build pieces: stage planning, metadata instructions, durations, history text, the cache table."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.build.cache import BuildCache, CacheEntry, cache_key
from dockyard.build.dockerfile import DockerfileParseError, parse_dockerfile
from dockyard.build.instructions import apply_metadata, parse_duration, run_created_by
from dockyard.build.stages import plan_stages
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest
from dockyard.oci.image import Descriptor


def _inst(text: str):  # type: ignore[no-untyped-def]
    return parse_dockerfile("FROM a\n" + text + "\n").instructions[1]


def test_plan_skips_stages_the_target_does_not_need() -> None:
    df = parse_dockerfile(
        "ARG BASE=busybox\nFROM $BASE AS a\nFROM busybox AS b\nRUN x\n"
        "FROM a AS c\nCOPY --from=b /x /y\nFROM scratch AS d\n"
    )
    plan = plan_stages(df, "c", {})
    assert [s.name for s in plan.stages] == ["a", "b", "c", "d"]
    assert plan.stages[0].base == "busybox"
    assert plan.target == 2 and plan.needed == (0, 1, 2)
    assert plan_stages(df, "", {}).needed == (3,)
    assert plan_stages(df, "", {"BASE": "alpine"}).stages[0].base == "alpine"


def test_plan_errors() -> None:
    with pytest.raises(DockerfileParseError, match="line 1"):
        plan_stages(parse_dockerfile("RUN x\nFROM a\n"), "", {})
    with pytest.raises(DockerfileParseError, match="target nope"):
        plan_stages(parse_dockerfile("FROM a\n"), "nope", {})
    with pytest.raises(DockerfileParseError):
        plan_stages(parse_dockerfile("ARG X=1\n"), "", {})


def test_env_label_and_legacy_forms() -> None:
    cfg, by = apply_metadata(_inst('ENV A=1 B="two words" C=$A'), {"Env": ["A=0"]}, {"A": "0"}, "\\")
    assert cfg["Env"] == ["A=1", "B=two words", "C=0"]  # one ENV line sees the values from before it
    assert by == "/bin/sh -c #(nop) ENV A=1 B=two words C=0"
    cfg, _ = apply_metadata(_inst("ENV LEGACY value with spaces"), {}, {}, "\\")
    assert cfg["Env"] == ["LEGACY=value with spaces"]
    cfg, _ = apply_metadata(_inst('LABEL "a b"=c d=e'), {"Labels": {"old": "1"}}, {}, "\\")
    assert cfg["Labels"] == {"old": "1", "a b": "c", "d": "e"}


def test_cmd_entrypoint_shell_and_workdir() -> None:
    cfg, _ = apply_metadata(_inst('SHELL ["/bin/bash", "-c"]'), {}, {}, "\\")
    cfg, _ = apply_metadata(_inst("CMD echo hi"), cfg, {}, "\\")
    assert cfg["Cmd"] == ["/bin/bash", "-c", "echo hi"]
    cfg, _ = apply_metadata(_inst('ENTRYPOINT ["run"]'), cfg, {}, "\\")
    assert cfg["Entrypoint"] == ["run"] and cfg["Cmd"] is None
    cfg, _ = apply_metadata(_inst("WORKDIR /a"), cfg, {}, "\\")
    cfg, _ = apply_metadata(_inst("WORKDIR b/../c"), cfg, {}, "\\")
    assert cfg["WorkingDir"] == "/a/c"
    with pytest.raises(DockerfileParseError):
        apply_metadata(_inst("SHELL /bin/sh"), cfg, {}, "\\")


def test_expose_volume_healthcheck_onbuild() -> None:
    cfg, _ = apply_metadata(_inst("EXPOSE 80 53/udp 7000-7001"), {}, {}, "\\")
    assert set(cfg["ExposedPorts"]) == {"80/tcp", "53/udp", "7000/tcp", "7001/tcp"}
    cfg, _ = apply_metadata(_inst("VOLUME /a /b"), cfg, {}, "\\")
    assert set(cfg["Volumes"]) == {"/a", "/b"}
    cfg, _ = apply_metadata(_inst('HEALTHCHECK --interval=1m30s --retries=2 CMD ["check", "x"]'), cfg, {}, "\\")
    assert cfg["Healthcheck"] == {"Test": ["CMD", "check", "x"], "Interval": 90_000_000_000, "Retries": 2}
    cfg, _ = apply_metadata(_inst("HEALTHCHECK NONE"), cfg, {}, "\\")
    assert cfg["Healthcheck"] == {"Test": ["NONE"]}
    cfg, _ = apply_metadata(_inst("ONBUILD run echo hi"), cfg, {}, "\\")
    assert cfg["OnBuild"] == ["RUN echo hi"]
    with pytest.raises(DockerfileParseError):
        apply_metadata(_inst("ONBUILD FROM x"), cfg, {}, "\\")


@given(st.integers(0, 10_000), st.sampled_from(["ns", "us", "ms", "s", "m", "h"]))
def test_parse_duration(n: int, unit: str) -> None:
    scale = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}[unit]
    assert parse_duration(f"{n}{unit}", -1) == n * scale
    assert parse_duration("", 7) == 7


def test_run_created_by() -> None:
    assert run_created_by(["/bin/sh", "-c", "echo hi"], {}) == "/bin/sh -c echo hi"
    assert run_created_by(["/bin/sh", "-c", "x"], {"B": "2", "A": "1"}) == "|2 A=1 B=2 /bin/sh -c x"


@given(st.text(max_size=20), st.text(max_size=20), st.dictionaries(st.text(max_size=5), st.text(max_size=5)))
def test_cache_key_is_stable_and_input_sensitive(parent: str, inst: str, inputs: dict[str, str]) -> None:
    k = cache_key(parent, inst, inputs)
    assert k == cache_key(parent, inst, dict(reversed(list(inputs.items()))))
    assert k != cache_key(parent + "x", inst, inputs)
    assert k != cache_key(parent, inst, {**inputs, "extra": "1"}) or "extra" in inputs


def test_cache_persists_and_drops_entries_with_missing_blobs(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(str(tmp_path), "cache.db")
    layer = Descriptor(mt.OCI_LAYER, Digest.parse("sha256:" + "a" * 64), 10)
    c = BuildCache(path)
    c.put("k", CacheEntry(b"{}", (layer,)))
    c.close()
    c = BuildCache(path)
    hit = c.get("k", lambda d: True)
    assert hit is not None and hit.config == b"{}" and hit.layers == (layer,)
    assert c.get("k", lambda d: False) is None
    assert c.get("k", lambda d: True) is None  # the stale entry was dropped
    c.close()
