"""Runs a planned Dockerfile: stages (independent ones concurrently), steps, the cache, the stream.

The executor decides *what* each step does and whether the cache answers it; the
``Worker`` (the engine) does the running and storing.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import json
import os
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from dockyard import errors
from dockyard.build.api import BuildOptions, ImageState, Worker
from dockyard.build.api import Output as OutputFn
from dockyard.build.cache import BuildCache, CacheEntry, cache_key
from dockyard.build.copying import CopyPlan, hash_sources, resolve_sources, stage_copy
from dockyard.build.dockerfile import (
    Dockerfile,
    DockerfileParseError,
    Instruction,
    expand_word,
    expand_words,
    parse_instruction_line,
    split_raw_words,
)
from dockyard.build.instructions import (
    DEFAULT_SHELL,
    PROXY_ARGS,
    apply_metadata,
    command_argv,
    env_map,
    run_created_by,
)
from dockyard.build.stages import Stage, StagePlan, meta_arg_values, stage_index
from dockyard.oci.image import Descriptor, canonical_json, host_platform

__all__ = ["BuildFailed", "Executor", "scratch_state"]

FromSource = Callable[[dict[str, Any], Descriptor | None, str], ImageState | None]
_STAGE: contextvars.ContextVar[int] = contextvars.ContextVar("dockyard_build_stage", default=-1)
_DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class BuildFailed(errors.InvalidArgument):
    """A step failed; the message says which Dockerfile line and instruction."""


def _now() -> str:
    t = datetime.now(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}000Z"


def _short(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


def scratch_state() -> ImageState:
    plat = host_platform()
    cfg: dict[str, Any] = {
        "architecture": plat.architecture,
        "os": "linux",
        "config": {"Env": [_DEFAULT_PATH]},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [],
    }
    if plat.variant:
        cfg["variant"] = plat.variant
    return ImageState(canonical_json(cfg), ())


def _platform_args(platform: str) -> dict[str, str]:
    host = host_platform()
    os_, _, rest = (platform or f"linux/{host.architecture}").partition("/")
    arch, _, variant = rest.partition("/")
    arch = arch or host.architecture
    build = f"linux/{host.architecture}" + (f"/{host.variant}" if host.variant else "")
    target = f"{os_}/{arch}" + (f"/{variant}" if variant else "")
    return {
        "BUILDPLATFORM": build, "BUILDOS": "linux", "BUILDARCH": host.architecture, "BUILDVARIANT": host.variant,
        "TARGETPLATFORM": target, "TARGETOS": os_, "TARGETARCH": arch, "TARGETVARIANT": variant,
    }  # fmt: skip


class _StageRun:
    """The mutable state of one stage while its steps run."""

    def __init__(self, stage: Stage, state: ImageState) -> None:
        self.stage = stage
        self.state = state
        self.args: dict[str, str] = {}
        self.cmd_set = False

    @property
    def cfg(self) -> dict[str, Any]:
        obj: dict[str, Any] = json.loads(self.state.config)
        return obj

    def env(self) -> dict[str, str]:
        """What ``$var`` sees: the stage's ARGs, overridden by ENV."""
        c = self.cfg.get("config") or {}
        return {**self.args, **env_map(c.get("Env"))}


class Executor:
    def __init__(
        self,
        *,
        worker: Worker,
        cache: BuildCache,
        context_dir: str,
        dockerfile: Dockerfile,
        plan: StagePlan,
        options: BuildOptions,
        output: OutputFn,
    ) -> None:
        self.w = worker
        self.cache = cache
        self.ctx = context_dir
        self.df = dockerfile
        self.plan = plan
        self.opts = options
        self._sink = output
        # stages run concurrently but their output is shown in file order, one stage after another
        self._order = list(plan.needed)
        self._buffers: dict[int, list[dict[str, Any]]] = {i: [] for i in plan.needed}
        self._done: set[int] = set()
        self._results: dict[int, asyncio.Future[ImageState]] = {}
        self._consumed: set[str] = set()
        self._sources: list[ImageState] | None = None
        self._meta_env = meta_arg_values(plan.meta_args, options.build_args)
        self._platform_args = _platform_args(options.platform)
        self._numbers: dict[tuple[int, int], int] = {}
        n = len(plan.meta_args)
        for idx in plan.needed:
            st = plan.stages[idx]
            n += 1
            self._numbers[(idx, -1)] = n
            for j in range(len(st.body)):
                n += 1
                self._numbers[(idx, j)] = n
        self._total = n

    async def _out(self, msg: dict[str, Any]) -> None:
        idx = _STAGE.get()
        if idx < 0 or not self._order or idx == self._order[0]:
            await self._sink(msg)
        else:
            self._buffers[idx].append(msg)

    async def _stage_done(self, idx: int) -> None:
        self._done.add(idx)
        while self._order and self._order[0] in self._done:
            self._order.pop(0)
            if self._order:
                for msg in self._buffers.pop(self._order[0], []):
                    await self._sink(msg)

    async def emit(self, text: str) -> None:
        if not self.opts.quiet:
            await self._out({"stream": text})

    async def _step(self, number: int, original: str) -> None:
        await self.emit(f"Step {number}/{self._total} : {original}")
        await self.emit("\n")

    # --- the whole build ---------------------------------------------------------------

    async def run(self) -> ImageState:
        """Run every needed stage; returns the target stage's final state (labels applied)."""
        for i, inst in enumerate(self.plan.meta_args):
            await self._step(i + 1, inst.original)
            for word in split_raw_words(inst.text, self.df.escape):
                self._consumed.add(word.partition("=")[0])
        loop = asyncio.get_running_loop()
        for idx in self.plan.needed:
            self._results[idx] = loop.create_future()
        try:
            async with asyncio.TaskGroup() as tg:
                for idx in self.plan.needed:
                    tg.create_task(self._run_stage(self.plan.stages[idx]))
        except BaseExceptionGroup as group:
            raise _first_error(group) from None
        final = self._results[self.plan.target].result()
        if self.opts.labels:
            final = await self._labels(final)
        unused = sorted(k for k in self.opts.build_args if k not in self._consumed and k not in PROXY_ARGS)
        if unused:
            await self.emit(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        return final

    async def _labels(self, state: ImageState) -> ImageState:
        labels = dict(self.opts.labels)
        key = cache_key(state.id, "LABEL(build)", labels)

        def change(c: dict[str, Any]) -> str:
            merged = dict(c.get("Labels") or {})
            merged.update(labels)
            c["Labels"] = merged
            return "/bin/sh -c #(nop)  LABEL " + " ".join(f"{k}={v}" for k, v in sorted(labels.items()))

        return await self._cached(key, state, lambda: self._metadata_state(state, change))

    async def _run_stage(self, stage: Stage) -> None:
        _STAGE.set(stage.index)
        fut = self._results[stage.index]
        try:
            st = await self._from(stage)
            for j, inst in enumerate(stage.body):
                await self._step(self._numbers[(stage.index, j)], inst.original)
                await self._dispatch(st, inst)
                await self.emit(f" ---> {_short(st.state.id)}\n")
            fut.set_result(st.state)
            await self._stage_done(stage.index)
        except BaseException as exc:
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # mark retrieved: the TaskGroup reports it
            raise

    async def _from(self, stage: Stage) -> _StageRun:
        await self._step(self._numbers[(stage.index, -1)], stage.from_inst.original)
        ref = stage.base
        dep = stage_index(ref, self.plan.stages, stage.index)
        if ref.lower() == "scratch":
            state = scratch_state()
        elif dep is not None and not ref.isdigit():
            state = await self._results[dep]
        else:
            try:
                state = await self.w.base(ref, self.opts.pull, stage.platform or self.opts.platform)
            except errors.DockyardError as exc:
                raise self._fail(stage.from_inst, exc.message) from None
        await self.emit(f" ---> {_short(state.id)}\n")
        run = _StageRun(stage, state)
        triggers = list((run.cfg.get("config") or {}).get("OnBuild") or [])
        if triggers:
            await self.emit(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) != 1 else ''}\n")
            for text in triggers:
                word, _, rest = text.strip().partition(" ")
                inst = parse_instruction_line(word, rest.strip(), stage.from_inst.line, self.df.escape)
                inst = Instruction(inst.cmd, inst.args, inst.json_form, inst.flags, text, stage.from_inst.line)
                await self._dispatch(run, inst)
            await self.emit(f" ---> {_short(run.state.id)}\n")

            def clear(c: dict[str, Any]) -> str:
                c["OnBuild"] = None
                return ""

            run.state = self._metadata_state(run.state, clear, history=False)
        return run

    def _fail(self, inst: Instruction, message: str) -> BuildFailed:
        return BuildFailed(f"{message} (Dockerfile line {inst.line}: {inst.cmd})")

    # --- steps ---------------------------------------------------------------------------

    async def _dispatch(self, st: _StageRun, inst: Instruction) -> None:
        try:
            if inst.cmd == "ARG":
                self._arg(st, inst)
            elif inst.cmd == "RUN":
                await self._run(st, inst)
            elif inst.cmd in ("COPY", "ADD"):
                await self._copy(st, inst)
            else:
                await self._metadata(st, inst)
        except (BuildFailed, DockerfileParseError):
            raise
        except errors.DockyardError as exc:
            raise self._fail(inst, exc.message) from None
        except OSError as exc:
            raise self._fail(inst, str(exc)) from None

    def _arg(self, st: _StageRun, inst: Instruction) -> None:
        for word in split_raw_words(inst.text, self.df.escape):
            name, eq, default = word.partition("=")
            self._consumed.add(name)
            given = self.opts.build_args.get(name)
            if given is not None:
                st.args[name] = given
            elif eq:
                st.args[name] = expand_word(default, st.env(), self.df.escape)
            elif name in self._meta_env:
                st.args[name] = self._meta_env[name]
            elif name in self._platform_args:
                st.args[name] = self._platform_args[name]

    async def _metadata(self, st: _StageRun, inst: Instruction) -> None:
        env = st.env()
        key = cache_key(st.state.id, inst.original, {"args": st.args})

        def change(c: dict[str, Any]) -> str:
            new, created_by = apply_metadata(inst, c, env, self.df.escape)
            if inst.cmd == "ENTRYPOINT" and st.cmd_set:
                new["Cmd"] = c.get("Cmd")
            c.clear()
            c.update(new)
            return created_by

        if inst.cmd == "CMD":
            st.cmd_set = True
        author = expand_word(inst.text, env, self.df.escape) if inst.cmd == "MAINTAINER" else None
        parent = st.state
        _, created_by = apply_metadata(inst, (json.loads(parent.config).get("config") or {}), env, self.df.escape)

        def from_source(entry: dict[str, Any], layer: Descriptor | None, diff_id: str) -> ImageState | None:
            return self._metadata_state(parent, change, author=author, entry=entry) if layer is None else None

        st.state = await self._cached(
            key, parent, lambda: self._metadata_state(parent, change, author=author), created_by, from_source
        )

    def _metadata_state(
        self,
        state: ImageState,
        change: Any,
        history: bool = True,
        author: str | None = None,
        entry: dict[str, Any] | None = None,
    ) -> ImageState:
        cfg: dict[str, Any] = json.loads(state.config)
        if author is not None:
            cfg["author"] = author
        section = dict(cfg.get("config") or {})
        created_by = change(section)
        cfg["config"] = section
        if history:
            now = _now()
            item = entry or {"created": now, "created_by": created_by, "empty_layer": True}
            cfg["created"] = item.get("created", now)
            cfg["history"] = [*(cfg.get("history") or []), item]
        return ImageState(canonical_json(cfg), state.layers)

    def _layer_state(
        self,
        state: ImageState,
        layer: Descriptor,
        diff_id: str,
        created_by: str,
        entry: dict[str, Any] | None = None,
    ) -> ImageState:
        cfg: dict[str, Any] = json.loads(state.config)
        now = _now()
        item = entry or {"created": now, "created_by": created_by}
        cfg["created"] = item.get("created", now)
        rootfs = dict(cfg.get("rootfs") or {"type": "layers"})
        rootfs["diff_ids"] = [*(rootfs.get("diff_ids") or []), diff_id]
        cfg["rootfs"] = rootfs
        cfg["history"] = [*(cfg.get("history") or []), item]
        return ImageState(canonical_json(cfg), (*state.layers, layer))

    async def _cached(
        self,
        key: str,
        parent: ImageState,
        make: Any,
        created_by: str = "",
        from_source: FromSource | None = None,
    ) -> ImageState:
        if not self.opts.nocache:
            hit = self.cache.get(key, lambda d: self.w.has_blob(Descriptor("", d, 0)))
            if hit is not None:
                await self.emit(" ---> Using cache\n")
                return ImageState(hit.config, hit.layers)
            if from_source is not None and self.opts.cache_from:
                found = await self._from_cache_images(parent, created_by, from_source)
                if found is not None:
                    await self.emit(" ---> Using cache\n")
                    self.cache.put(key, CacheEntry(found.config, found.layers))
                    return found
        result = make()
        if asyncio.iscoroutine(result):
            result = await result
        assert isinstance(result, ImageState)
        self.cache.put(key, CacheEntry(result.config, result.layers))
        return result

    async def _cache_sources(self) -> list[ImageState]:
        if self._sources is None:
            self._sources = []
            for ref in self.opts.cache_from:
                try:
                    self._sources.append(await self.w.base(ref, False, ""))
                except errors.DockyardError:
                    continue  # Docker ignores --cache-from images it cannot find
        return self._sources

    async def _from_cache_images(
        self, parent: ImageState, created_by: str, from_source: FromSource
    ) -> ImageState | None:
        """A ``cachefrom`` image whose history continues ``parent`` with this very step."""
        p = json.loads(parent.config)
        p_hist = list(p.get("history") or [])
        p_diffs = list((p.get("rootfs") or {}).get("diff_ids") or [])
        for src in await self._cache_sources():
            s = json.loads(src.config)
            s_hist = list(s.get("history") or [])
            s_diffs = list((s.get("rootfs") or {}).get("diff_ids") or [])
            if len(s_hist) <= len(p_hist) or s_hist[: len(p_hist)] != p_hist or s_diffs[: len(p_diffs)] != p_diffs:
                continue
            entry = dict(s_hist[len(p_hist)])
            if entry.get("created_by", "") != created_by:
                continue
            if entry.get("empty_layer"):
                found = from_source(entry, None, "")
            else:
                n = len(p_diffs)
                if n >= len(s_diffs) or n >= len(src.layers) or not self.w.has_blob(src.layers[n]):
                    continue
                found = from_source(entry, src.layers[n], str(s_diffs[n]))
            if found is not None:
                return found
        return None

    # --- RUN -------------------------------------------------------------------------------

    def _run_args(self, st: _StageRun) -> tuple[dict[str, str], dict[str, str]]:
        """(args RUN sees and history records, proxy args it sees but history leaves out)."""
        env_keys = set(env_map((st.cfg.get("config") or {}).get("Env")))
        visible = {k: v for k, v in st.args.items() if k not in env_keys}
        proxies = {
            k: v for k, v in self.opts.build_args.items() if k in PROXY_ARGS and v is not None and k not in visible
        }
        return visible, {k: str(v) for k, v in proxies.items()}

    async def _run(self, st: _StageRun, inst: Instruction) -> None:
        for name, _value in inst.flags:
            raise self._fail(inst, f"the --{name} option requires BuildKit")
        section = st.cfg.get("config") or {}
        shell = list(section.get("Shell") or DEFAULT_SHELL)
        if inst.heredocs and not inst.json_form:
            script = inst.text
            if all(h.name in script for h in inst.heredocs) and _only_heredocs(script):
                argv = [*shell, "".join(h.content for h in inst.heredocs)]
            else:
                body = "".join(f"{h.content}{h.name}\n" for h in inst.heredocs)
                argv = [*shell, f"{script}\n{body}"]
        else:
            argv = command_argv(inst, shell)
        if not argv:
            raise self._fail(inst, "RUN requires at least one argument")
        visible, proxies = self._run_args(st)
        created_by = run_created_by(argv, visible)
        key = cache_key(st.state.id, inst.original, {"argv": argv, "args": visible, "proxies": proxies})
        env = list(section.get("Env") or []) + [f"{k}={v}" for k, v in {**visible, **proxies}.items()]
        parent = st.state

        async def make() -> ImageState:
            config = {"Cmd": argv, "Env": env, "Entrypoint": [""], "WorkingDir": section.get("WorkingDir") or "",
                      "User": section.get("User") or ""}  # fmt: skip
            res = await self.w.run(parent, config, self._out if not self.opts.quiet else _discard)
            if res.exit_code != 0 or res.layer is None:
                shown = json.dumps(argv) if inst.json_form else " ".join(argv)
                raise self._fail(inst, f"The command '{shown}' returned a non-zero code: {res.exit_code}")
            return self._layer_state(parent, res.layer, res.diff_id, created_by)

        def from_source(entry: dict[str, Any], layer: Descriptor | None, diff_id: str) -> ImageState | None:
            return self._layer_state(parent, layer, diff_id, created_by, entry) if layer is not None else None

        st.state = await self._cached(key, st.state, make, created_by, from_source)

    # --- COPY / ADD ----------------------------------------------------------------------------

    async def _copy(self, st: _StageRun, inst: Instruction) -> None:
        env = st.env()
        esc = self.df.escape
        words = [expand_word(a, env, esc) for a in inst.args] if inst.json_form else expand_words(inst.text, env, esc)
        if len(words) < 2:
            raise self._fail(inst, f"{inst.cmd} requires at least two arguments")
        srcs, dest = words[:-1], words[-1]
        section = st.cfg.get("config") or {}
        workdir = str(section.get("WorkingDir") or "/")
        dest_is_dir = dest.endswith("/") or len(srcs) > 1 or dest in (".", "")
        if not dest.startswith("/"):
            dest = workdir.rstrip("/") + "/" + dest
        dest = os.path.normpath(dest)
        for name, _value in inst.flags:
            if name not in ("from", "chown", "chmod", "link"):
                raise self._fail(inst, f"unknown flag: {name}")
        src_from = inst.flag("from")
        chmod_text = inst.flag("chmod")
        chmod = None
        if chmod_text:
            try:
                chmod = int(chmod_text, 8)
            except ValueError:
                raise self._fail(inst, f"invalid chmod parameter: {chmod_text}") from None
        inline = {h.name: _heredoc_text(h.content, h.expand, env, esc) for h in inst.heredocs}
        srcs = [s[2:] if s.startswith("<<") and s.lstrip("<-") in inline else s for s in srcs]
        srcs = [s.lstrip("<-") if s.lstrip("<-") in inline else s for s in srcs]
        chown_text = expand_word(inst.flag("chown") or "", env, esc)
        async with self.w.staging_dir() as tmp:
            src_state: ImageState | None = None
            src_root = self.ctx
            if src_from:
                ref = expand_word(src_from, env, esc)
                idx = stage_index(ref, self.plan.stages, st.stage.index)
                src_state = await self._results[idx] if idx is not None else await self.w.base(ref, False, "")
            elif inst.cmd == "ADD":
                src_root, srcs = await asyncio.to_thread(_fetch_urls, srcs, self.ctx, tmp)
            await self._copy_into(
                st, inst, src_state, src_root, srcs, dest, dest_is_dir, chown_text, chmod, inline, tmp
            )

    async def _copy_into(
        self, st: _StageRun, inst: Instruction, src_state: ImageState | None, src_root: str, srcs: list[str],
        dest: str, dest_is_dir: bool, chown_text: str, chmod: int | None, inline: Mapping[str, str], tmp: str,
    ) -> None:  # fmt: skip
        """One COPY/ADD. The cache is asked first: a hit needs no mount at all."""
        parent = st.state
        from_stage = src_state is not None
        extract = inst.cmd == "ADD" and not from_stage
        if src_state is not None:
            # a state's ID pins its whole filesystem, so it stands in for the sources' contents
            blob = json.dumps([src_state.id, srcs, sorted(inline.items())]).encode()
            digest = hashlib.sha256(blob).hexdigest()
            n_sources = len(srcs)
        else:
            rels = await asyncio.to_thread(resolve_sources, src_root, srcs, inline)
            probe = CopyPlan(tuple(rels), dest, src_root, dest_is_dir, inline=dict(inline))
            digest = await asyncio.to_thread(hash_sources, probe)
            n_sources = len(rels)
        key = cache_key(
            parent.id, inst.cmd, {"sources": digest, "dest": dest, "dir": dest_is_dir, "chown": chown_text,
                                  "chmod": chmod, "add": extract, "from": from_stage}
        )  # fmt: skip
        kind = "dir" if n_sources == 1 and not inline else "multi"
        created_by = f"/bin/sh -c #(nop) {inst.cmd} {kind}:{digest} in {dest} "

        async def make() -> ImageState:
            staging = os.path.join(tmp, "layer")
            os.mkdir(staging)
            async with contextlib.AsyncExitStack() as stack:
                lower = await stack.enter_async_context(self.w.rootfs(parent))
                root = src_root
                if src_state is not None:
                    root = await stack.enter_async_context(self.w.rootfs(src_state))
                chown = await asyncio.to_thread(_parse_chown, chown_text, lower) if chown_text else None
                rels = await asyncio.to_thread(resolve_sources, root, srcs, inline)
                plan = CopyPlan(
                    tuple(rels), dest, root, dest_is_dir or len(rels) > 1, chown, chmod,
                    keep_owner=from_stage, extract_archives=extract, inline=dict(inline),
                    view_ids=self.w.rootfs_ids,
                )  # fmt: skip
                await asyncio.to_thread(stage_copy, plan, staging, lower)
            desc, diff_id = await self.w.store_layer(staging)
            return self._layer_state(parent, desc, diff_id, created_by)

        def from_source(entry: dict[str, Any], layer: Descriptor | None, diff_id: str) -> ImageState | None:
            return self._layer_state(parent, layer, diff_id, created_by, entry) if layer is not None else None

        st.state = await self._cached(key, parent, make, created_by, from_source)


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error that failed the build (not the cancellations it caused in sibling stages)."""
    leaves: list[BaseException] = []

    def walk(e: BaseException) -> None:
        if isinstance(e, BaseExceptionGroup):
            for sub in e.exceptions:
                walk(sub)
        else:
            leaves.append(e)

    walk(group)
    real = [e for e in leaves if not isinstance(e, asyncio.CancelledError)]
    return (real or leaves)[0]


async def _discard(_msg: dict[str, Any]) -> None:
    return None


def _only_heredocs(script: str) -> bool:
    import re

    return re.fullmatch(r"\s*(\d*<<-?(['\"]?)[A-Za-z_][A-Za-z0-9_.-]*\2\s*)+", script) is not None


def _heredoc_text(content: str, expand: bool, env: Mapping[str, str], escape: str) -> str:
    if not expand:
        return content
    out = []
    for line in content.split("\n"):
        # only variables are expanded in a heredoc body: quotes are kept as written
        out.append(
            expand_word(line.replace("'", "\0s").replace('"', "\0d"), env, escape)
            .replace("\0s", "'")
            .replace("\0d", '"')
        )
    return "\n".join(out)


def _fetch_urls(srcs: list[str], ctx: str, tmp: str) -> tuple[str, list[str]]:
    """ADD's remote sources: download each URL into a scratch copy of the sources."""
    if not any(s.startswith(("http://", "https://")) for s in srcs):
        return ctx, srcs
    root = os.path.join(tmp, "src")
    os.mkdir(root)
    out: list[str] = []
    for s in srcs:
        if s.startswith(("http://", "https://")):
            name = os.path.basename(urllib.parse.urlparse(s).path) or "index.html"
            with urllib.request.urlopen(s, timeout=60) as resp, open(os.path.join(root, name), "wb") as f:
                while chunk := resp.read(1 << 20):
                    f.write(chunk)
            os.chmod(os.path.join(root, name), 0o600)
            out.append(name)
        else:
            local = os.path.join(ctx, s)
            if os.path.lexists(local):
                os.symlink(os.path.abspath(local), os.path.join(root, os.path.basename(s)))
            out.append(os.path.basename(s))
    return root, out


def _lookup(path: str, name: str, field: int) -> int | None:
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) > field and parts[0] == name:
                    return int(parts[field])
    except (OSError, ValueError):
        return None
    return None


def _parse_chown(spec: str, root: str | None) -> tuple[int, int]:
    """``user[:group]`` by number or by name in the image's /etc/passwd and /etc/group."""
    user, _, group = spec.partition(":")
    passwd = os.path.join(root, "etc/passwd") if root else ""
    groups = os.path.join(root, "etc/group") if root else ""
    if user.isdigit():
        uid = int(user)
    else:
        found = _lookup(passwd, user, 2) if passwd else None
        if found is None:
            raise errors.InvalidArgument(
                f"unable to convert uid/gid chown string to host mapping: no such user: {user}"
            )
        uid = found
    if not group:
        gid = uid if user.isdigit() else (_lookup(passwd, user, 3) or 0)
    elif group.isdigit():
        gid = int(group)
    else:
        g = _lookup(groups, group, 2) if groups else None
        if g is None:
            raise errors.InvalidArgument(
                f"unable to convert uid/gid chown string to host mapping: no such group: {group}"
            )
        gid = g
    return uid, gid
