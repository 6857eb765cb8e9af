"""Pull, push and login: registry client + content store + image store, streamed as Docker's progress messages.

Each operation has two halves. ``prepare_*`` talks to the registry until the first thing worth
reporting (manifest resolved, image found) and raises ordinary errors, so the API answers with a
proper status; ``run_*`` then yields progress messages and raises only for failures mid-stream.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from dockyard import errors
from dockyard.distribution import progress as pm
from dockyard.distribution.authconfig import AuthConfig
from dockyard.distribution.client import RegistryClient, Repository
from dockyard.distribution.fetch import Resolved, download_blob, list_tags, resolve
from dockyard.distribution.hosts import DOCKER_HUB_DOMAIN
from dockyard.distribution.upload import EXISTS, MOUNTED, put_manifest, upload_blob
from dockyard.images.gc import Leases, collect
from dockyard.images.pull_store import (
    ChunkPipe,
    PipeAbandoned,
    clean_stale_extractions,
    commit_extracted,
    extract_layer,
    extract_stream,
    parallel_extraction,
    unpack_layer,
)
from dockyard.images.service import ImageService, now_rfc3339
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest
from dockyard.oci.image import Descriptor, Manifest, Platform, canonical_json, host_platform
from dockyard.oci.reference import Reference, parse_reference
from dockyard.snapshots.chain import chain_ids

__all__ = ["DistributionService", "PullJob", "PushJob"]

Message = dict[str, Any]
_TICK = 0.1  # seconds between progress messages of one layer
_HUB_ADDRESSES = {"", "docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/"}


@dataclass
class PullJob:
    ref: Reference
    repo: Repository
    resolved: Resolved
    diff_ids: list[Digest]


@dataclass
class PushJob:
    name: Reference  # repository, no tag
    tags: list[str]
    image_id: str
    repo: Repository
    manifest: Manifest
    diff_ids: list[Digest]
    mount_from: list[str] = field(default_factory=list)


class _Throttle:
    """At most one progress message per layer every ``_TICK`` seconds (plus the last one)."""

    def __init__(self, emit: Callable[[Message], None], status: str, id_: str, total: int) -> None:
        self._emit, self._status, self._id, self._total = emit, status, id_, total
        self._last = 0.0
        self._done = False

    def __call__(self, current: int) -> None:
        now = time.monotonic()
        final = current >= self._total
        if (now - self._last >= _TICK and not final) or (final and not self._done):
            self._last = now
            self._done = final
            self._emit(pm.progress(self._status, self._id, current, self._total))


def _pull_tag_ref(from_image: str, tag: str) -> Reference:
    ref = parse_reference(from_image, default_tag=False)
    if tag:
        if ":" in tag and tag.split(":", 1)[0] in ("sha256", "sha512"):
            ref = Reference(ref.domain, ref.path, None, Digest.parse(tag))
        else:
            ref = parse_reference(f"{ref.name}:{tag}")
    return ref.tagged()


def _registry_domain(server: str) -> str:
    s = server.strip()
    if s in _HUB_ADDRESSES or "index.docker.io" in s:
        return DOCKER_HUB_DOMAIN
    if "://" in s:
        s = s.split("://", 1)[1]
    return s.split("/", 1)[0]


class DistributionService:
    """Pull, push and login for the engine (``engine.distribution``)."""

    def __init__(
        self,
        images: ImageService,
        client: RegistryClient,
        *,
        events: Any = None,
        leases: Leases | None = None,
        state_dir: str = "",
        max_concurrent_downloads: int = 3,
        max_concurrent_uploads: int = 5,
    ) -> None:
        self.images = images
        self.client = client
        self.events = events
        self.leases = leases or Leases()
        self._downloads = asyncio.Semaphore(max(1, max_concurrent_downloads))
        self._max_uploads = max(1, max_concurrent_uploads)
        self._state_dir = state_dir
        self._compressed_lock = threading.Lock()
        # extraction threads of their own: they wait on downloads, which need the default pool
        self._extract_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dockyard-extract")
        self._extract_sem = asyncio.Semaphore(max(2, os.cpu_count() or 2))
        self._started = time.time()
        clean_stale_extractions(images)

    @staticmethod
    def _threadsafe(emit: Callable[[Message], None]) -> Callable[[Message], None]:
        """``emit`` for callers in worker threads: hops onto the event loop."""
        loop = asyncio.get_running_loop()

        def call(msg: Message) -> None:
            loop.call_soon_threadsafe(emit, msg)

        return call

    async def close(self) -> None:
        await self.client.close()
        self._extract_pool.shutdown(wait=False)

    async def collect_garbage(self, min_age: float = 300.0) -> int:
        """Sweep content and layers no image or in-flight operation uses; returns the bytes freed.

        Unreferenced blobs younger than ``min_age`` seconds are kept unless they predate this daemon
        (then nothing can still be writing them): operations without a lease get that grace.
        """
        keep_after = max(self._started, time.time() - min_age)
        result = await asyncio.to_thread(collect, self.images, self.leases, keep_after=keep_after)
        return result.bytes_freed

    # --- login -------------------------------------------------------------------

    async def login(self, auth: AuthConfig) -> dict[str, str]:
        """``POST /auth``: check the credentials against the registry's ``/v2/`` (with its challenge)."""
        domain = _registry_domain(auth.server_address)
        repo = self.client.repository(domain, "", auth, actions="")
        if not auth.username and not auth.identity_token:
            raise errors.InvalidArgument("username is required")
        try:
            await repo.ping()
        except errors.Unauthorized as exc:
            raise errors.Unauthorized(f"login attempt to {repo.endpoint.url}/v2/ failed: {exc.message}") from None
        return {"Status": "Login Succeeded", "IdentityToken": ""}

    # --- pull ----------------------------------------------------------------------

    async def prepare_pull(self, from_image: str, tag: str, platform: str, auth: AuthConfig) -> PullJob:
        """Resolve the reference to one manifest and its config; registry errors raise here."""
        ref = _pull_tag_ref(from_image, tag)
        plat = Platform.parse(platform) if platform else host_platform()
        repo = self.client.repository(ref.domain, ref.path, auth, "pull")
        last: errors.DockyardError | None = None
        for ep in repo.endpoints:
            repo.endpoint = ep
            try:
                resolved = await resolve(repo, ref, plat)
            except (errors.Unavailable, errors.NotFound, errors.Unauthorized) as exc:
                last = exc
                if ep.mirror:
                    continue  # a mirror that fails or lacks the image: try the next one, then the origin
                raise
            cfg = _config_json(resolved.config)
            if platform and resolved.digest == resolved.manifest_digest:
                # a single-platform image: refuse one built for another platform than the one asked for
                actual = Platform.from_json(cfg)
                if not actual.matches(plat):
                    raise errors.NotFound(
                        f"image with reference {ref.familiar()} was found but does not match the specified "
                        f"platform: wanted {plat}, actual: {actual}"
                    )
            rootfs = cfg.get("rootfs")
            ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
            if not isinstance(ids, list):
                raise errors.InvalidArgument("invalid image config: no rootfs.diff_ids")
            diff_ids = [Digest.parse(str(d)) for d in ids]
            if len(diff_ids) != len(resolved.manifest.layers):
                raise errors.InvalidArgument("the manifest and the image config disagree on the number of layers")
            return PullJob(ref, repo, resolved, diff_ids)
        assert last is not None
        raise last

    async def prepare_pull_all(self, from_image: str, platform: str, auth: AuthConfig) -> list[PullJob]:
        """``docker pull --all-tags``: one resolved job per tag of the repository."""
        ref = parse_reference(from_image, default_tag=False)
        repo = self.client.repository(ref.domain, ref.path, auth, "pull")
        tags = sorted(set(await list_tags(repo)))
        if not tags:
            raise errors.NotFound(f"repository {ref.familiar_name()} has no tags")
        return [await self.prepare_pull(ref.name, tag, platform, auth) for tag in tags]

    async def run_pull_all(self, jobs: Sequence[PullJob]) -> AsyncIterator[Message]:
        for job in jobs:
            async for msg in self.run_pull(job):
                yield msg

    async def run_pull(self, job: PullJob) -> AsyncIterator[Message]:
        """Download and unpack what is missing, register the image; yields Docker's progress messages."""
        ref = job.ref
        yield pm.status(f"Pulling from {ref.path}", ref.tag or str(ref.digest))
        async for msg in _pump(lambda emit: self._pull(job, emit)):
            yield msg

    async def pull(self, from_image: str, tag: str = "", platform: str = "", auth: AuthConfig | None = None) -> str:
        """Pull without progress (``docker run`` paths, tests); returns the image ID."""
        job = await self.prepare_pull(from_image, tag, platform, auth or AuthConfig())
        async for _ in self.run_pull(job):
            pass
        return str(job.resolved.manifest.config.digest)

    async def _pull(self, job: PullJob, emit: Callable[[Message], None]) -> None:
        ref, res = job.ref, job.resolved
        layers = res.manifest.layers
        chains = chain_ids(job.diff_ids)
        image_id = str(res.manifest.config.digest)
        previous = self._current_id(ref)
        parallel = parallel_extraction(self.images)
        with self.leases.hold() as lease:
            lease.add_blobs([d.digest for d in layers])
            lease.add_snapshots([str(c) for c in chains])
            todo: list[int] = []
            for i, layer in enumerate(layers):
                lid = pm.short_id(str(layer.digest))
                if self.images.snapshotter.exists(str(chains[i])):
                    emit(pm.layer_status("Already exists", lid))
                else:
                    emit(pm.layer_status("Pulling fs layer", lid))
                    todo.append(i)
            tasks: dict[int, asyncio.Task[str | None]] = {}
            for i in todo:
                coro: Coroutine[Any, Any, str | None]
                if parallel:
                    coro = self._fetch_and_extract(job.repo, layers[i], job.diff_ids[i], emit)
                else:
                    coro = self._download(job.repo, layers[i], emit)
                tasks[i] = asyncio.create_task(coro)
            try:
                for i in todo:
                    layer = layers[i]
                    lid = pm.short_id(str(layer.digest))
                    parent = chains[i - 1] if i else None
                    extracted = await tasks[i]
                    if extracted is not None:
                        await asyncio.to_thread(commit_extracted, self.images, extracted, chains[i], parent)
                    else:
                        tick = _Throttle(self._threadsafe(emit), "Extracting", lid, layer.size)
                        try:
                            await asyncio.to_thread(
                                unpack_layer, self.images, layer, job.diff_ids[i], chains[i], parent, tick
                            )
                        except errors.InvalidArgument:
                            # the blob verified but its content is bad: do not keep it for a retry
                            await asyncio.to_thread(_discard_blob, self.images, layer.digest)
                            raise
                    emit(pm.layer_status("Pull complete", lid))
            finally:
                for t in tasks.values():
                    t.cancel()
                results = await asyncio.gather(*tasks.values(), return_exceptions=True)
                for r in results:
                    if isinstance(r, str):  # extracted but never committed (a commit renames it away)
                        await asyncio.to_thread(shutil.rmtree, r, True)
            tags = [str(ref)] if ref.tag else []
            await self.images.add_image(
                res.config,
                layers,
                tags,
                manifest=res.manifest_bytes,
                digest_refs=[f"{ref.name}@{res.digest}"],
            )
        if self.events is not None:
            self.events.publish("image", "pull", ref.familiar(), {"name": ref.familiar()})
        emit(pm.status(f"Digest: {res.digest}"))
        word = "Image is up to date" if previous == image_id else "Downloaded newer image"
        emit(pm.status(f"Status: {word} for {ref.familiar()}"))

    async def _download(self, repo: Repository, layer: Descriptor, emit: Callable[[Message], None]) -> None:
        """Fetch a layer blob into the content store (when missing); extraction happens later, in order."""
        lid = pm.short_id(str(layer.digest))
        if not self.images.content.exists(layer.digest):
            if self._downloads.locked():
                emit(pm.layer_status("Waiting", lid))
            async with self._downloads:
                if not self.images.content.exists(layer.digest):
                    await download_blob(
                        repo, layer, self.images.content, _Throttle(emit, "Downloading", lid, layer.size)
                    )
                    emit(pm.layer_status("Verifying Checksum", lid))
        emit(pm.layer_status("Download complete", lid))
        return None

    async def _fetch_and_extract(
        self, repo: Repository, layer: Descriptor, diff_id: Digest, emit: Callable[[Message], None]
    ) -> str:
        """Download a layer and extract it while it streams; returns the extracted directory.

        A blob already in the content store (an earlier, interrupted pull) is extracted from there.
        """
        lid = pm.short_id(str(layer.digest))
        tick = _Throttle(self._threadsafe(emit), "Extracting", lid, layer.size)
        loop = asyncio.get_running_loop()
        if not self.images.content.exists(layer.digest):
            if self._downloads.locked():
                emit(pm.layer_status("Waiting", lid))
            async with self._downloads:
                if not self.images.content.exists(layer.digest):
                    pipe = ChunkPipe()
                    streaming: asyncio.Future[str] = loop.run_in_executor(
                        self._extract_pool, extract_stream, self.images, cast(BinaryIO, pipe), layer, diff_id, tick
                    )
                    # an extractor that stops early (bad tar) must not leave the download blocked on the pipe
                    streaming.add_done_callback(
                        lambda f: None if not (f.cancelled() or f.exception()) else pipe.abandon()
                    )
                    try:
                        await download_blob(
                            repo, layer, self.images.content, _Throttle(emit, "Downloading", lid, layer.size), pipe
                        )
                    except BaseException as exc:
                        pipe.fail(exc)
                        pipe.abandon()
                        left: list[object] = list(await asyncio.gather(streaming, return_exceptions=True))
                        if isinstance(left[0], str):
                            await asyncio.to_thread(shutil.rmtree, left[0], True)
                        raise
                    pipe.finish()
                    emit(pm.layer_status("Verifying Checksum", lid))
                    emit(pm.layer_status("Download complete", lid))
                    try:
                        return await streaming
                    except PipeAbandoned:
                        pass  # the download restarted part-way: extract the stored blob below
                    except errors.InvalidArgument:
                        await asyncio.to_thread(_discard_blob, self.images, layer.digest)
                        raise
        else:
            emit(pm.layer_status("Download complete", lid))
        async with self._extract_sem:
            try:
                extracted: str = await loop.run_in_executor(
                    self._extract_pool, extract_layer, self.images, layer, diff_id, tick
                )
                return extracted
            except errors.InvalidArgument:
                # the blob verified but its content is bad: do not keep it for a retry
                await asyncio.to_thread(_discard_blob, self.images, layer.digest)
                raise

    def _current_id(self, ref: Reference) -> str:
        try:
            return self.images.resolve(str(ref)).id
        except errors.DockyardError:
            return ""

    # --- push ----------------------------------------------------------------------

    async def prepare_push(self, name: str, tag: str, auth: AuthConfig) -> PushJob:
        ref = parse_reference(name, default_tag=False)
        repo_name = Reference(ref.domain, ref.path)
        tags = [tag] if tag else ([ref.tag] if ref.tag else [])
        if not tags:
            tags = sorted(
                parse_reference(t).tag or "latest"
                for rec in self.images.records()
                for t in rec.repo_tags
                if parse_reference(t).name == repo_name.name
            )
        if not tags:
            raise errors.ImageNotFound(f"An image does not exist locally with the tag: {repo_name.familiar()}")
        try:
            rec = self.images.resolve(f"{repo_name.name}:{tags[0]}")
        except errors.NotFound:
            raise errors.ImageNotFound(
                f"An image does not exist locally with the tag: {repo_name.familiar()}:{tags[0]}"
            ) from None
        manifest = Manifest.from_json(self.images.content.read(Digest.parse(rec.manifest_digest)))
        repo = self.client.repository(ref.domain, ref.path, auth, "pull,push")
        sources = sorted(
            {
                r.path
                for text in (*rec.repo_tags, *rec.repo_digests)
                for r in [parse_reference(text, default_tag=False)]
                if r.domain == ref.domain and r.path != ref.path
            }
        )
        return PushJob(repo_name, tags, rec.id, repo, manifest, [Digest.parse(d) for d in rec.diff_ids], sources)

    async def run_push(self, job: PushJob, compression: str = "gzip") -> AsyncIterator[Message]:
        yield pm.status(f"The push refers to repository [{job.name.familiar_name()}]")
        async for msg in _pump(lambda emit: self._push(job, emit, compression)):
            yield msg

    async def _push(self, job: PushJob, emit: Callable[[Message], None], compression: str) -> None:
        repo, man = job.repo, job.manifest
        ids = (
            [pm.short_id(str(d)) for d in job.diff_ids]
            if len(job.diff_ids) == len(man.layers)
            else [pm.short_id(str(x.digest)) for x in man.layers]
        )
        for lid in reversed(ids):
            emit(pm.layer_status("Preparing", lid))
        sem = asyncio.Semaphore(self._max_uploads)

        async def one(i: int, layer: Descriptor) -> Descriptor:
            lid = ids[i]
            if sem.locked():
                emit(pm.layer_status("Waiting", lid))
            async with sem:
                if not mt.layer_compression(layer.media_type):
                    layer = await asyncio.to_thread(self._compressed, layer, man.media_type, compression)
                status = await upload_blob(
                    repo,
                    layer,
                    lambda: self.images.content.open(layer.digest),
                    _Throttle(emit, "Pushing", lid, layer.size),
                    job.mount_from,
                )
            if status == EXISTS:
                emit(pm.layer_status("Layer already exists", lid))
            elif status == MOUNTED:
                emit(pm.layer_status(f"Mounted from {job.mount_from[0]}", lid))
            else:
                emit(pm.layer_status("Pushed", lid))
            return layer

        with self.leases.hold() as lease:
            lease.add_blobs([x.digest for x in man.layers])
            pushed = list(await asyncio.gather(*(one(i, x) for i, x in enumerate(man.layers))))
            await upload_blob(repo, man.config, lambda: self.images.content.open(man.config.digest), lambda _n: None)
        if pushed != list(man.layers):
            man = Manifest(man.media_type, man.config, tuple(pushed), man.annotations, man.subject, man.artifact_type)
            body = canonical_json(man.to_json())
        else:
            body = self.images.content.read(Digest.parse(self.images.resolve(job.image_id).manifest_digest))
        digest = None
        for tag in job.tags:
            digest = await put_manifest(repo, tag, man.media_type, body)
            emit(pm.status(f"{tag}: digest: {digest} size: {len(body)}"))
            emit({"progressDetail": {}, "aux": {"Tag": tag, "Digest": str(digest), "Size": len(body)}})
            if self.events is not None:
                self.events.publish(
                    "image", "push", f"{job.name.familiar_name()}:{tag}", {"name": f"{job.name.familiar_name()}:{tag}"}
                )
        if digest is not None:
            self.images.meta.set_ref(f"{job.name.name}@{digest}", job.image_id, "digest", now_rfc3339())

    # --- compression for push ------------------------------------------------------

    def _cache_path(self) -> str:
        return os.path.join(self._state_dir or self.images.tmp_dir, "compressed.json")

    def _compressed(self, layer: Descriptor, manifest_type: str, compression: str) -> Descriptor:
        """The compressed form of an uncompressed layer, made once and kept in the content store."""
        key = f"{layer.digest}/{compression}"
        with self._compressed_lock:
            cache = _read_json(self._cache_path())
            hit = cache.get(key)
            if isinstance(hit, dict):
                d = Digest.parse(str(hit["digest"]))
                if self.images.content.exists(d):
                    return Descriptor(str(hit["mediaType"]), d, int(hit["size"]))
        if compression == "zstd":
            media = mt.OCI_LAYER_ZSTD
        else:
            media = mt.DOCKER_LAYER if manifest_type == mt.DOCKER_MANIFEST else mt.OCI_LAYER_GZIP
        with self.images.content.open(layer.digest) as src, self.images.content.writer() as w:
            _compress(src, w.write, compression)
            info = w.commit()
        with self._compressed_lock:
            cache = _read_json(self._cache_path())
            cache[key] = {"digest": str(info.digest), "size": info.size, "mediaType": media}
            _write_json(self._cache_path(), cache)
        return Descriptor(media, info.digest, info.size)


def _compress(src: BinaryIO, write: Callable[[bytes], None], compression: str) -> None:
    chunk = 1 << 20
    if compression == "zstd":
        import zstandard

        zcomp = zstandard.ZstdCompressor(level=3).compressobj()
        while data := src.read(chunk):
            write(zcomp.compress(data))
        write(zcomp.flush())
        return
    try:
        from isal import isal_zlib as zlib_impl
    except ImportError:
        import zlib as zlib_impl  # type: ignore[no-redef]
    # raw deflate in a gzip wrapper with mtime 0, so the same layer always compresses to the same bytes
    comp = zlib_impl.compressobj(1, zlib_impl.DEFLATED, 16 + 15)
    while data := src.read(chunk):
        out = comp.compress(data)
        if out:
            write(out)
    write(comp.flush())


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except (OSError, ValueError):
        return {}
    return obj if isinstance(obj, dict) else {}


def _write_json(path: str, obj: Mapping[str, Any]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def _config_json(config: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(config)
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidArgument("invalid image config") from None
    if not isinstance(obj, dict):
        raise errors.InvalidArgument("invalid image config")
    return obj


def _discard_blob(images: ImageService, digest: Digest) -> None:
    if not images._blob_users(digest):
        images.content.delete(digest)


async def _pump(work: Callable[[Callable[[Message], None]], Awaitable[None]]) -> AsyncIterator[Message]:
    """Run ``work(emit)`` in a task and yield what it emits; its error re-raises after the last message."""
    queue: asyncio.Queue[Message | None] = asyncio.Queue()

    async def runner() -> None:
        try:
            await work(queue.put_nowait)
        finally:
            queue.put_nowait(None)

    task = asyncio.create_task(runner())
    try:
        while (msg := await queue.get()) is not None:
            yield msg
        await task
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
