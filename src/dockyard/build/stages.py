"""A parsed Dockerfile as build stages: global ARGs, each stage's base, name and dependencies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dockyard.build.dockerfile import Dockerfile, DockerfileParseError, Instruction, expand_word, split_raw_words

__all__ = ["Stage", "StagePlan", "meta_arg_values", "plan_stages", "stage_index"]


@dataclass(frozen=True)
class Stage:
    index: int
    name: str  # lower-cased ``AS`` name, or ""
    base: str  # the FROM argument with global ARGs expanded
    platform: str
    from_inst: Instruction
    body: tuple[Instruction, ...]


@dataclass(frozen=True)
class StagePlan:
    meta_args: tuple[Instruction, ...]  # ARGs before the first FROM
    stages: tuple[Stage, ...]
    target: int  # index of the stage whose result is the image
    needed: tuple[int, ...]  # stages the target depends on (itself included), in file order

    def deps(self, stage: Stage) -> list[int]:
        return _deps(stage, self.stages)


def stage_index(ref: str, stages: Sequence[Stage], before: int) -> int | None:
    """The stage ``ref`` (a name or a number) names among the stages before ``before``."""
    if ref.isdigit():
        n = int(ref)
        return n if n < before else None
    low = ref.lower()
    for s in stages[:before]:
        if s.name and s.name == low:
            return s.index
    return None


def _deps(stage: Stage, stages: Sequence[Stage]) -> list[int]:
    out: list[int] = []
    base = stage_index(stage.base, stages, stage.index) if not stage.base.isdigit() else None
    if base is not None:
        out.append(base)
    for inst in stage.body:
        src = inst.flag("from") if inst.cmd in ("COPY", "ADD") else None
        if src:
            idx = stage_index(src, stages, stage.index)
            if idx is not None and idx not in out:
                out.append(idx)
    return out


def meta_arg_values(meta_args: Sequence[Instruction], build_args: Mapping[str, str | None]) -> dict[str, str]:
    """Values of the ARGs declared before the first FROM (defaults overridden by ``--build-arg``)."""
    env: dict[str, str] = {}
    for inst in meta_args:
        for word in split_raw_words(inst.text):
            name, eq, default = word.partition("=")
            value = build_args.get(name)
            if value is not None:
                env[name] = value
            elif eq:
                env[name] = expand_word(default, env)
    return env


def plan_stages(df: Dockerfile, target: str, build_args: Mapping[str, str | None]) -> StagePlan:
    """Group instructions by stage; refuses a Dockerfile without FROM or an unknown target."""
    meta: list[Instruction] = []
    i = 0
    insts = df.instructions
    while i < len(insts) and insts[i].cmd == "ARG":
        meta.append(insts[i])
        i += 1
    if i >= len(insts):
        raise DockerfileParseError("Dockerfile parse error: no build stage in current context")
    if insts[i].cmd != "FROM":
        first = insts[i]
        raise DockerfileParseError(
            f"Dockerfile parse error line {first.line}: {first.cmd} before FROM: no build stage in current context"
        )
    env = meta_arg_values(meta, build_args)
    stages: list[Stage] = []
    while i < len(insts):
        frm = insts[i]
        words = split_raw_words(frm.text, df.escape)
        if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
            raise DockerfileParseError(
                f"Dockerfile parse error line {frm.line}: FROM requires either one or three arguments"
            )
        base = expand_word(words[0], env, df.escape)
        if not base:
            raise DockerfileParseError(
                f"Dockerfile parse error line {frm.line}: base name ({words[0]}) should not be blank"
            )
        name = words[2].lower() if len(words) == 3 else ""
        i += 1
        body: list[Instruction] = []
        while i < len(insts) and insts[i].cmd != "FROM":
            body.append(insts[i])
            i += 1
        stages.append(Stage(len(stages), name, base, expand_word(frm.flag("platform") or "", env), frm, tuple(body)))
    if target:
        found = [s.index for s in stages if s.name == target.lower()]
        if not found:
            raise DockerfileParseError(f"failed to reach build target {target} in Dockerfile")
        tgt = found[0]
    else:
        tgt = len(stages) - 1
    needed: set[int] = set()
    todo = [tgt]
    while todo:
        n = todo.pop()
        if n in needed:
            continue
        needed.add(n)
        todo.extend(_deps(stages[n], stages))
    return StagePlan(tuple(meta), tuple(stages), tgt, tuple(sorted(needed)))
