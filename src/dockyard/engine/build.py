"""The build use case: a Dockerfile and a context tar in, an image and a JSON message stream out.

``Builder.prepare`` spools and unpacks the context and parses the Dockerfile (errors here
become HTTP errors); ``Builder.run`` executes it and yields Docker's build stream messages.
``EngineWorker`` runs the executor's steps with the engine's containers and image store.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import struct
import tempfile
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dockyard import errors
from dockyard.archive.diff import write_layer
from dockyard.build.api import BuildOptions, ImageState, Output, RunResult
from dockyard.build.cache import BuildCache
from dockyard.build.context import apply_dockerignore, extract_context, read_dockerfile
from dockyard.build.dockerfile import parse_dockerfile
from dockyard.build.executor import Executor
from dockyard.build.stages import StagePlan, plan_stages
from dockyard.content.local import LocalStore
from dockyard.engine.container_fs import layer_dirs
from dockyard.engine.containers import AttachOptions
from dockyard.engine.fs_changes import runtime_stubs
from dockyard.idmaps import IdMaps
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest
from dockyard.oci.image import Descriptor, Manifest
from dockyard.oci.reference import parse_reference

__all__ = ["Builder", "EngineWorker", "PreparedBuild"]

_VIEW_PREFIX = "extract-build-"  # the image service sweeps ``extract-*`` snapshots at start-up


class _OutputConn:
    """A ClientConn for ``ContainerService.attach`` that turns the multiplexed frames into stream messages."""

    def __init__(self, output: Output) -> None:
        self._out = output
        self._buf = b""
        self._closed = False
        self.stdin = asyncio.StreamReader()
        self.stdin.feed_eof()

    async def write(self, data: bytes) -> None:
        self._buf += data
        while len(self._buf) >= 8:
            (size,) = struct.unpack(">I", self._buf[4:8])
            if len(self._buf) < 8 + size:
                break
            payload, self._buf = self._buf[8 : 8 + size], self._buf[8 + size :]
            await self._out({"stream": payload.decode("utf-8", "replace")})

    def close(self) -> None:
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed


class EngineWorker:
    """The executor's ``Worker`` over one engine, for one build."""

    def __init__(self, builder: Builder, options: BuildOptions, output: Output) -> None:
        self._b = builder
        self._engine = builder.engine
        self._images = builder.engine.images
        self._opts = options
        self._out = output
        self.temp_images: list[str] = []
        self.rootfs_ids: IdMaps | None = builder.engine.snapshots.ids

    # --- images ----------------------------------------------------------------------

    async def base(self, ref: str, pull: bool, platform: str) -> ImageState:
        images = self._images
        if pull or not images.exists(ref):
            dist = getattr(self._engine, "distribution", None)
            if dist is not None:
                try:
                    await dist.pull(ref, platform=platform)
                except errors.DockyardError:
                    if not images.exists(ref):
                        raise
        rec = images.resolve(ref)
        config = images.content.read(Digest.parse(rec.id))
        manifest = Manifest.from_json(images.content.read(Digest.parse(rec.manifest_digest)))
        return ImageState(config, tuple(manifest.layers))

    def has_blob(self, desc: Descriptor) -> bool:
        """Whether the layer blob is stored; a copy kept by the build cache is put back if needed."""
        content: LocalStore = self._images.content
        if content.exists(desc.digest):
            return True
        kept = self._b.blobs.path(desc.digest)
        if not os.path.exists(kept):
            return False
        with contextlib.suppress(FileExistsError):
            os.link(kept, content.path(desc.digest))
        return True

    async def _ensure_image(self, state: ImageState) -> str:
        for layer in state.layers:
            if not self.has_blob(layer):
                raise errors.NotFound(f"layer {layer.digest} of the build state is missing")
        if self._images.exists(state.id):
            self._b.hold(state.id, owned=False)
        else:
            await self._images.add_image(state.config, state.layers)
            self._b.hold(state.id, owned=True)
        self.temp_images.append(state.id)
        return state.id

    async def register(self, state: ImageState, tags: Sequence[str]) -> str:
        for layer in state.layers:
            if not self.has_blob(layer):
                raise errors.NotFound(f"layer {layer.digest} of the image is missing")
        image_id: str = await self._images.add_image(state.config, state.layers, list(tags))
        self._b.keep(image_id)
        return image_id

    async def store_layer(self, directory: str) -> tuple[Descriptor, str]:
        """A staging directory (COPY, ADD) as a layer blob."""
        return await asyncio.to_thread(self._store_layer, directory, None)

    async def _container_layer(self, cid: str) -> tuple[Descriptor, str]:
        """A RUN step's changes as a layer blob, without the runtime's mountpoint stubs (as Docker's)."""
        snaps = self._engine.snapshots

        def store() -> tuple[Descriptor, str]:
            with layer_dirs(snaps, cid) as dirs:
                return self._store_layer(dirs.upper, snaps.ids, runtime_stubs(dirs.upper, dirs.lowers))

        return await asyncio.to_thread(store)

    def _store_layer(
        self, directory: str, ids: IdMaps | None, skip: frozenset[str] = frozenset()
    ) -> tuple[Descriptor, str]:
        content: LocalStore = self._images.content
        fd, path = tempfile.mkstemp(dir=self._images.tmp_dir, prefix="build-layer-")
        try:
            with os.fdopen(fd, "wb") as f:
                res = write_layer(directory, f, ids=ids, skip=skip)
            with open(path, "rb") as f:
                info = content.ingest_file(f, res.diff_id, res.size)
        finally:
            os.unlink(path)
        kept = self._b.blobs.path(info.digest)
        if not os.path.exists(kept):
            with contextlib.suppress(FileExistsError):
                os.link(content.path(info.digest), kept)
        return Descriptor(mt.OCI_LAYER, info.digest, info.size), str(res.diff_id)

    @contextlib.asynccontextmanager
    async def staging_dir(self) -> AsyncIterator[str]:
        path = tempfile.mkdtemp(prefix="build-stage-", dir=self._images.tmp_dir)
        try:
            yield path
        finally:
            await asyncio.to_thread(shutil.rmtree, path, True)

    @contextlib.asynccontextmanager
    async def rootfs(self, state: ImageState) -> AsyncIterator[str]:
        """The state's filesystem, mounted read-only on a scratch directory."""
        target = tempfile.mkdtemp(prefix="build-rootfs-", dir=self._images.tmp_dir)
        if not state.layers:
            try:
                yield target
            finally:
                os.rmdir(target)
            return
        image_id = await self._ensure_image(state)
        chain = await self._images.ensure_unpacked(image_id)
        snaps = self._engine.snapshots
        key = f"{_VIEW_PREFIX}{uuid.uuid4().hex}"
        from dockyard.mount.linux import mount_all, unmount_all

        try:
            mounts = await asyncio.to_thread(snaps.view, key, chain)
            await asyncio.to_thread(mount_all, mounts, target)
            try:
                yield target
            finally:
                await asyncio.to_thread(unmount_all, target)
        finally:
            with contextlib.suppress(errors.DockyardError, OSError):
                await asyncio.to_thread(snaps.remove, key)
            with contextlib.suppress(OSError):
                os.rmdir(target)

    # --- RUN ---------------------------------------------------------------------------------

    async def run(self, state: ImageState, config: Mapping[str, Any], output: Output) -> RunResult:
        image_id = await self._ensure_image(state)
        containers = self._engine.containers
        host_config = {"NetworkMode": "default", **dict(self._opts.host_config)}
        body = {
            **dict(config),
            "Image": image_id,
            "AttachStdin": False,
            "AttachStdout": True,
            "AttachStderr": True,
            "Tty": False,
            "OpenStdin": False,
            "HostConfig": host_config,
        }
        cid, _ = await containers.create(body, None)
        await output({"stream": f" ---> Running in {cid[:12]}\n"})
        ok = cancelled = False
        try:
            conn = _OutputConn(output)
            attach = asyncio.create_task(containers.attach(cid, AttachOptions(stdout=True, stderr=True), conn))
            await asyncio.sleep(0)  # let attach register before the start hands out the stdio
            await containers.start(cid)
            st = await containers.wait(cid)
            with contextlib.suppress(asyncio.TimeoutError, errors.DockyardError):
                await asyncio.wait_for(attach, 30)
            if not attach.done():
                attach.cancel()
            if st.exit_code != 0:
                return RunResult(st.exit_code, None)
            desc, diff_id = await self._container_layer(cid)
            ok = True
            return RunResult(0, desc, diff_id)
        except asyncio.CancelledError:
            cancelled = True  # the client went away: leave no container running behind
            raise
        finally:
            if (ok and self._opts.rm) or self._opts.forcerm or cancelled:
                with contextlib.suppress(errors.DockyardError):
                    await containers.remove(cid, force=True, volumes=True)
                await output({"stream": f"Removing intermediate container {cid[:12]}\n"})


@dataclass
class PreparedBuild:
    """A context on disk and a planned Dockerfile, ready to run."""

    workdir: str
    context_dir: str
    options: BuildOptions
    plan: StagePlan
    dockerfile: Any

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


class Builder:
    """``engine.builder``: the classic builder's backend, with a persistent cache."""

    def __init__(self, engine: Any, data_root: str) -> None:
        self.engine = engine
        root = os.path.join(data_root, "build")
        os.makedirs(root, exist_ok=True)
        self.cache = BuildCache(os.path.join(root, "cache.db"))
        # hard links of the layers builds made: a cache hit still finds them after rmi/cleanup
        self.blobs = LocalStore(os.path.join(root, "content"))
        self._holds: dict[str, int] = {}
        self._owned: set[str] = set()
        self._final: set[str] = set()

    async def prune(self) -> dict[str, Any]:
        """``POST /build/prune``: forget every cache entry and the layer copies only the cache kept."""
        return await asyncio.to_thread(self._prune)

    def _prune(self) -> dict[str, Any]:
        entries = self.cache.clear()
        reclaimed = 0
        deleted: list[str] = []
        for info in list(self.blobs.walk()):
            path = self.blobs.path(info.digest)
            with contextlib.suppress(OSError):
                if os.stat(path).st_nlink == 1:  # no image holds this layer any more
                    reclaimed += info.size
                    deleted.append(str(info.digest))
                os.unlink(path)
        return {"CachesDeleted": deleted or ([] if entries else None), "SpaceReclaimed": reclaimed}

    def hold(self, image_id: str, owned: bool) -> None:
        self._holds[image_id] = self._holds.get(image_id, 0) + 1
        if owned:
            self._owned.add(image_id)
            self._final.discard(image_id)

    def keep(self, image_id: str) -> None:
        self._final.add(image_id)
        self._owned.discard(image_id)

    async def _release(self, image_ids: Sequence[str]) -> None:
        for image_id in image_ids:
            n = self._holds.get(image_id, 0) - 1
            if n > 0:
                self._holds[image_id] = n
                continue
            self._holds.pop(image_id, None)
            if image_id in self._owned and image_id not in self._final:
                self._owned.discard(image_id)
                with contextlib.suppress(errors.DockyardError):
                    await self.engine.images.remove(image_id, force=False)

    async def prepare(self, body: AsyncIterable[bytes], options: BuildOptions) -> PreparedBuild:
        """Spool and unpack the context, read and plan the Dockerfile; raises before anything runs."""
        workdir = tempfile.mkdtemp(prefix="build-", dir=self.engine.images.tmp_dir)
        try:
            archive = os.path.join(workdir, "context.tar")
            with open(archive, "wb") as f:
                async for chunk in body:
                    await asyncio.to_thread(f.write, chunk)
            ctx = os.path.join(workdir, "context")
            os.mkdir(ctx)
            await asyncio.to_thread(extract_context, archive, ctx)
            os.unlink(archive)
            text = await asyncio.to_thread(read_dockerfile, ctx, options.dockerfile)
            await asyncio.to_thread(apply_dockerignore, ctx)
            df = parse_dockerfile(text)
            plan = plan_stages(df, options.target, options.build_args)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        return PreparedBuild(workdir, ctx, options, plan, df)

    async def run(self, prepared: PreparedBuild) -> AsyncIterator[dict[str, Any]]:
        """Execute a prepared build, yielding Docker's stream messages (errors as ``errorDetail``)."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        async def out(msg: dict[str, Any]) -> None:
            await queue.put(msg)

        opts = prepared.options
        worker = EngineWorker(self, opts, out)

        async def work() -> None:
            try:
                ex = Executor(
                    worker=worker, cache=self.cache, context_dir=prepared.context_dir, dockerfile=prepared.dockerfile,
                    plan=prepared.plan, options=opts, output=out,
                )  # fmt: skip
                state = await ex.run()
                tags = [parse_reference(t).familiar() for t in opts.tags]
                image_id = await worker.register(state, opts.tags)
                await out({"aux": {"ID": image_id}})
                if opts.quiet:
                    await out({"stream": f"{image_id}\n"})
                else:
                    await out({"stream": f"Successfully built {image_id.split(':', 1)[1][:12]}\n"})
                    for t in tags:
                        await out({"stream": f"Successfully tagged {_with_tag(t)}\n"})
            except Exception as raised:
                exc: BaseException = raised
                while isinstance(exc, BaseExceptionGroup):
                    exc = exc.exceptions[0]
                msg = exc.message if isinstance(exc, errors.DockyardError) else f"{type(exc).__name__}: {exc}"
                await out({"errorDetail": {"message": msg}, "error": msg})
            finally:
                await self._release(worker.temp_images)
                await queue.put(None)

        task = asyncio.create_task(work())
        try:
            while True:
                msg = await queue.get()
                if msg is None:
                    break
                yield msg
            await task
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task


def _with_tag(familiar: str) -> str:
    ref = parse_reference(familiar)
    return familiar if ref.tag is None or familiar.endswith(":" + ref.tag) else f"{familiar}:{ref.tag}"
