"""The image service: local images over the content store, the snapshotter and SQLite metadata.

Reads (resolve, list, inspect, history) are quick SQLite and small-blob reads and
run on the caller's thread. Anything that hashes or unpacks (load, save, import,
bootstrap, unpack, remove, prune) is ``async`` and does its work in a worker
thread, so the daemon's event loop never waits on disk.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import os
import re
import shutil
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO, Protocol

from dockyard import errors
from dockyard.archive.apply import apply_layer
from dockyard.archive.compression import decompressed
from dockyard.archive.diff import write_layer
from dockyard.content.local import LocalStore
from dockyard.images import filters as flt
from dockyard.images.busybox import busybox_config, busybox_layer
from dockyard.images.changes import apply_changes, parse_change
from dockyard.images.debian import debian_config, host_mirror, run_debootstrap, trim_rootfs
from dockyard.images.formats import history_json, inspect_json, parse_time, summary_json
from dockyard.images.record import ImageRecord
from dockyard.images.tarball import ArchiveImage, SaveImage, open_member, read_archive, write_archive
from dockyard.metadata.images import ImageMeta, ImageMetadata
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, sha256_of
from dockyard.oci.image import Descriptor, Manifest, Platform, canonical_json, host_platform
from dockyard.oci.reference import Reference, parse_reference
from dockyard.snapshots.api import Snapshotter
from dockyard.snapshots.chain import chain_ids

__all__ = ["EventSink", "ImageService", "UsageFn", "now_rfc3339"]

UsageFn = Callable[[str], list[tuple[str, bool]]]  # image ID -> [(container ID, running)]
InUseFn = Callable[[str], list[str]]  # image ID -> container IDs
_HEX_PREFIX = re.compile(r"^[a-f0-9]{1,64}$")
_CHUNK = 1 << 20
_SCRATCH_PREFIX = "extract-"  # snapshots a layer is unpacked into before it is committed


def now_rfc3339() -> str:
    """Docker's timestamp form: UTC with nanoseconds."""
    t = datetime.now(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}000Z"


def _nobody(_image_id: str) -> list[str]:
    return []


def _no_usage(_image_id: str) -> list[tuple[str, bool]]:
    return []


class EventSink(Protocol):
    """Where image events (tag, untag, delete, load, import) go; the engine's event bus."""

    def publish(self, type_: str, action: str, actor_id: str, attributes: Mapping[str, str] | None = None) -> None: ...


@dataclass(frozen=True)
class _Conflict:
    message: str
    used: bool  # caused by a container using the image (Docker's ``conflict.used``)


class ImageService:
    """Local images. Build one per daemon with ``ImageService.open(data_root, snapshotter)``."""

    def __init__(self, root: str, snapshotter: Snapshotter, events: EventSink | None = None) -> None:
        """Keeps ``<root>/content``, ``<root>/metadata/images.db`` and scratch files in ``<root>/tmp``."""
        self.content = LocalStore(os.path.join(root, "content"))
        self.meta = ImageMetadata.open(os.path.join(root, "metadata", "images.db"))
        self.snapshotter = snapshotter
        self.tmp_dir = os.path.join(root, "tmp")
        os.makedirs(self.tmp_dir, exist_ok=True)
        self._events = events
        self._usage: UsageFn = _no_usage
        # One writer at a time: unpack, register and delete touch several stores together.
        self._lock = threading.RLock()
        self._recover()

    def _recover(self) -> None:
        """Drop what a crash can leave behind: half-written blobs, uploads, scratch unpack snapshots.

        Call sites construct one service per data root at daemon start, so nothing here is in use.
        """
        self.content.clean_ingest()
        for name in os.listdir(self.tmp_dir):
            _quietly(os.unlink, os.path.join(self.tmp_dir, name))
        for key in self.snapshotter.all_keys():
            if key.startswith(_SCRATCH_PREFIX):
                _quietly(self.snapshotter.remove, key)

    def set_usage_check(self, usage: UsageFn) -> None:
        """``usage(image_id)`` -> ``[(container_id, running), ...]``: who uses an image (for rmi/prune)."""
        self._usage = usage

    def _users(self, image_id: str) -> builtins.list[str]:
        return [cid for cid, _ in self._usage(image_id)]

    def _running_users(self, image_id: str) -> builtins.list[str]:
        return [cid for cid, running in self._usage(image_id) if running]

    def _event(self, action: str, actor: str, name: str = "") -> None:
        if self._events is not None:
            self._events.publish("image", action, actor, {"name": name or actor})

    # --- look-up ------------------------------------------------------------------

    def resolve(self, name_or_id: str) -> ImageRecord:
        """The image a name, ``name@digest``, full or short ID names; ``ImageNotFound`` otherwise."""
        return self._record(self._find(name_or_id)[0])

    def exists(self, name_or_id: str) -> bool:
        try:
            self._find(name_or_id)
        except errors.NotFound:
            return False
        return True

    def _find(self, name: str) -> tuple[ImageMeta, Reference | None]:
        if name.startswith("sha256:"):
            hexpart = name[len("sha256:") :]
            if _HEX_PREFIX.match(hexpart):
                found = self._by_prefix("sha256:" + hexpart)
                if found is not None:
                    return found, None
            raise errors.ImageNotFound(f"No such image: {name}")
        ref: Reference | None = None
        try:
            ref = parse_reference(name)
        except errors.InvalidArgument:
            if not _HEX_PREFIX.match(name):
                raise
        if ref is not None:
            image_id = self._ref_target(ref)
            if image_id is not None:
                m = self.meta.get_image(image_id)
                if m is not None:
                    return m, ref
        if _HEX_PREFIX.match(name):
            found = self._by_prefix("sha256:" + name)
            if found is not None:
                return found, None
        raise errors.ImageNotFound(f"No such image: {ref.familiar() if ref is not None else name}")

    def _by_prefix(self, prefix: str) -> ImageMeta | None:
        ids = self.meta.ids_with_prefix(prefix)
        if len(ids) > 1:
            raise errors.InvalidArgument(f"multiple IDs found with provided prefix: {prefix.split(':', 1)[1]}")
        return self.meta.get_image(ids[0]) if ids else None

    def _ref_target(self, ref: Reference) -> str | None:
        row = self.meta.get_ref(str(ref))
        if row is not None:
            return row.image_id
        if ref.digest is not None:
            if ref.tag is not None:
                row = self.meta.get_ref(str(ref.with_digest(ref.digest)))
                if row is not None:
                    return row.image_id
            # name@digest also finds an image of that repository by its manifest digest
            for m in self.meta.images():
                if m.manifest_digest == str(ref.digest) and any(
                    parse_reference(r.ref).name == ref.name for r in self.meta.refs_for(m.id)
                ):
                    return m.id
        return None

    def _record(self, m: ImageMeta) -> ImageRecord:
        config = self._config(m.id)
        tags: list[str] = []
        digests: list[str] = []
        for r in self.meta.refs_for(m.id):
            ref = parse_reference(r.ref, default_tag=False)
            (tags if r.kind == "tag" else digests).append(ref.familiar())
        diff_ids = [str(d) for d in _diff_ids(config)]
        chains = chain_ids([Digest.parse(d) for d in diff_ids])
        return ImageRecord(
            id=m.id,
            config=config,
            repo_tags=tuple(sorted(tags)),
            repo_digests=tuple(sorted(digests)),
            top_chain_id=str(chains[-1]) if chains else None,
            diff_ids=tuple(diff_ids),
            created=str(config.get("created") or ""),
            size=m.size,
            manifest_digest=m.manifest_digest,
            last_tag_time=m.last_tag_time,
            layer_sizes=m.layer_sizes,
        )

    def _config(self, image_id: str) -> dict[str, Any]:
        try:
            obj = json.loads(self.content.read(Digest.parse(image_id)))
        except errors.NotFound:
            raise errors.Internal(f"image {image_id} has no config blob") from None
        if not isinstance(obj, dict):
            raise errors.Internal(f"image {image_id} has an invalid config")
        return obj

    def _manifest(self, m: ImageMeta) -> Manifest:
        return Manifest.from_json(self.content.read(Digest.parse(m.manifest_digest)))

    def records(self) -> builtins.list[ImageRecord]:
        return [self._record(m) for m in self.meta.images()]

    # --- Engine API views --------------------------------------------------------

    def inspect(self, name: str) -> dict[str, Any]:
        rec = self.resolve(name)
        return inspect_json(rec, self._graph_data(rec))

    def _graph_data(self, rec: ImageRecord) -> dict[str, str]:
        chains = [str(c) for c in chain_ids([Digest.parse(d) for d in rec.diff_ids])]
        dirs: builtins.list[str] = []
        for c in reversed(chains):
            try:
                dirs.append(self.snapshotter.upper_dir(c))
            except errors.NotFound:
                return {}
        if not dirs:
            return {}
        data = {"UpperDir": dirs[0]}
        if len(dirs) > 1:
            data["LowerDir"] = ":".join(dirs[1:])
        return data

    def history(self, name: str) -> builtins.list[dict[str, Any]]:
        return history_json(self.resolve(name))

    def disk_usage(self) -> dict[str, Any]:
        """For ``GET /system/df``: the image summaries and the bytes of all distinct layers."""
        recs = self.records()
        seen: dict[str, int] = {}
        for rec in recs:
            chains = chain_ids([Digest.parse(d) for d in rec.diff_ids])
            for c, size in zip(chains, rec.layer_sizes, strict=False):
                seen[str(c)] = size
        return {"LayersSize": sum(seen.values()), "Images": [summary_json(r) for r in recs]}

    # --- tags ------------------------------------------------------------------

    def tag(self, name: str, repo: str, tag: str = "") -> str:
        """Point ``repo[:tag]`` at the image ``name``; returns the familiar reference."""
        m, _ = self._find(name)
        text = f"{repo}:{tag}" if tag else repo
        ref = parse_reference(text)
        if ref.digest is not None:
            raise errors.InvalidArgument("refusing to create a tag with a digest reference")
        self.meta.set_ref(str(ref), m.id, "tag", now_rfc3339())
        self._event("tag", m.id, ref.familiar())
        return ref.familiar()

    # --- unpacking -------------------------------------------------------------

    async def ensure_unpacked(self, image_id: str) -> str | None:
        """Unpack the image's layers into the snapshotter (idempotent); returns the top chain ID."""
        return await asyncio.to_thread(self._ensure_unpacked, image_id)

    def _ensure_unpacked(self, image_id: str) -> str | None:
        m, _ = self._find(image_id)
        manifest = self._manifest(m)
        diff_ids = _diff_ids(self._config(m.id))
        self._unpack(diff_ids, manifest.layers, [])
        chains = chain_ids(diff_ids)
        return str(chains[-1]) if chains else None

    def _unpack(
        self, diff_ids: Sequence[Digest], layers: Sequence[Descriptor], created: builtins.list[str]
    ) -> tuple[int, ...]:
        """Apply each missing layer in a scratch snapshot and commit it under its chain ID.

        Chain IDs this call creates are appended to ``created`` so a failing caller can undo them.
        """
        if len(diff_ids) != len(layers):
            raise errors.InvalidArgument("the manifest and the config disagree on the number of layers")
        chains = chain_ids(diff_ids)
        sizes: builtins.list[int] = []
        with self._lock:
            for i, (chain, layer) in enumerate(zip(chains, layers, strict=True)):
                key = str(chain)
                if not self.snapshotter.exists(key):
                    parent = str(chains[i - 1]) if i else None
                    scratch = f"{_SCRATCH_PREFIX}{uuid.uuid4().hex}"
                    self.snapshotter.prepare(scratch, parent)
                    try:
                        with self.content.open(layer.digest) as f:
                            res = apply_layer(
                                f,
                                self.snapshotter.upper_dir(scratch),
                                whiteouts=self.snapshotter.whiteout_style,
                                ids=self.snapshotter.ids,
                            )
                        if res.diff_id != diff_ids[i]:
                            raise errors.DigestMismatch(
                                f"layer {layer.digest} unpacks to {res.diff_id}, the config says {diff_ids[i]}"
                            )
                        self.snapshotter.commit(key, scratch)
                    except BaseException:
                        self.snapshotter.remove(scratch)
                        raise
                    created.append(key)
                sizes.append(self.snapshotter.usage(key))
        return tuple(sizes)

    # --- registering --------------------------------------------------------------

    async def add_image(
        self,
        config: bytes,
        layers: Sequence[Descriptor],
        tags: Sequence[str] = (),
        *,
        manifest: bytes | None = None,
        digest_refs: Sequence[str] = (),
    ) -> str:
        """Record an image whose layer blobs are already in the content store (pull, build, commit).

        ``manifest`` is the original manifest (kept for save/push); one is made when omitted.
        Returns the image ID.
        """
        refs = [parse_reference(t) for t in tags]
        drefs = [parse_reference(d, default_tag=False) for d in digest_refs]
        image_id, _ = await asyncio.to_thread(self._register, config, layers, refs, manifest, drefs)
        return image_id

    def _register(
        self,
        config: bytes,
        layers: Sequence[Descriptor],
        refs: Sequence[Reference],
        manifest: bytes | None = None,
        digest_refs: Sequence[Reference] = (),
        created_chains: builtins.list[str] | None = None,
    ) -> tuple[str, builtins.list[tuple[Reference, str]]]:
        """Store config + manifest, unpack, record the image, point ``refs`` at it.

        Returns the image ID and the (reference, previous image ID) pairs that moved.
        """
        cfg = _parse_config(config)
        diff_ids = _diff_ids(cfg)
        config_digest = sha256_of(config)
        image_id = str(config_digest)
        if manifest is None:
            desc = Descriptor(mt.OCI_CONFIG, config_digest, len(config))
            manifest = canonical_json(Manifest(mt.OCI_MANIFEST, desc, tuple(layers)).to_json())
        with self._lock:
            created = created_chains if created_chains is not None else []
            mark = len(created)
            try:
                sizes = self._unpack(diff_ids, layers, created)
            except BaseException:
                for chain in reversed(created[mark:]):
                    _quietly(self.snapshotter.remove, chain)
                del created[mark:]
                raise
            # Unpacking succeeded: only now do config and manifest become visible blobs.
            self.content.write_bytes(config, config_digest)
            manifest_info = self.content.write_bytes(manifest)
            now = now_rfc3339()
            self.meta.put_image(ImageMeta(image_id, str(manifest_info.digest), sum(sizes), now, "", sizes))
            moved: builtins.list[tuple[Reference, str]] = []
            for ref in refs:
                old = self.meta.set_ref(str(ref), image_id, "tag", now)
                if old is not None:
                    moved.append((ref, old))
            for dref in digest_refs:
                self.meta.set_ref(str(dref), image_id, "digest", now)
        return image_id, moved

    # --- load / save ---------------------------------------------------------

    async def _spool(self, stream: AsyncIterable[bytes]) -> str:
        fd, path = tempfile.mkstemp(dir=self.tmp_dir, prefix="upload-")
        f = os.fdopen(fd, "wb")
        try:
            async for chunk in stream:
                await asyncio.to_thread(f.write, chunk)
            f.close()
        except BaseException:
            f.close()
            os.unlink(path)
            raise
        return path

    async def load(self, stream: AsyncIterable[bytes], quiet: bool = False) -> AsyncIterator[dict[str, Any]]:
        """Load a ``docker save`` tar or an OCI layout tar; yields Docker's progress messages.

        Everything is verified before anything is stored, so a corrupt archive changes nothing.
        """
        path = await self._spool(stream)
        try:
            messages, loaded = await asyncio.to_thread(self._load_file, path)
        finally:
            os.unlink(path)
        for image_id, name in loaded:
            self._event("load", image_id, name)
        for msg in messages:
            yield msg

    def _load_file(self, path: str) -> tuple[builtins.list[dict[str, Any]], builtins.list[tuple[str, str]]]:
        try:
            tar = _open_tar(path)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise errors.InvalidArgument(f"invalid tar archive: {exc}") from None
        with tar:
            images = read_archive(tar)
            return self._commit_archive(tar, images)

    def _commit_archive(
        self, tar: tarfile.TarFile, images: Sequence[ArchiveImage]
    ) -> tuple[builtins.list[dict[str, Any]], builtins.list[tuple[str, str]]]:
        new_blobs: builtins.list[Digest] = []
        new_chains: builtins.list[str] = []
        messages: builtins.list[dict[str, Any]] = []
        loaded: builtins.list[tuple[str, str]] = []
        with self._lock:
            try:
                for img in images:
                    for layer in img.layers:
                        if not self.content.exists(layer.digest):
                            self.content.ingest_file(open_member(tar, layer.member), layer.digest, layer.size)
                            new_blobs.append(layer.digest)
                for img in images:
                    descs = [Descriptor(lay.media_type, lay.digest, lay.size) for lay in img.layers]
                    self._unpack([lay.diff_id for lay in img.layers], descs, new_chains)
            except BaseException:
                for chain in reversed(new_chains):
                    _quietly(self.snapshotter.remove, chain)
                for d in new_blobs:
                    self.content.delete(d)
                raise
            for img in images:
                descs = [Descriptor(lay.media_type, lay.digest, lay.size) for lay in img.layers]
                image_id, moved = self._register(img.config, descs, img.refs)
                for ref, old in moved:
                    messages.append(
                        {
                            "stream": f"The image {ref.familiar()} already exists, renaming the old one with ID "
                            f"{old} to empty string\n"
                        }
                    )
                if img.refs:
                    messages.extend({"stream": f"Loaded image: {r.familiar()}\n"} for r in img.refs)
                else:
                    messages.append({"stream": f"Loaded image ID: {image_id}\n"})
                loaded.append((image_id, img.refs[0].familiar() if img.refs else image_id))
        return messages, loaded

    async def save(self, names: Sequence[str]) -> AsyncIterator[bytes]:
        """A tar of the named images in Docker's save format (with OCI layout files).

        Names are resolved before anything is produced, so unknown names raise here.
        """
        plan = self._save_plan(names)
        for name in names:
            self._event("save", self._find(name)[0].id, name)
        fd, path = tempfile.mkstemp(dir=self.tmp_dir, prefix="save-")
        try:
            with os.fdopen(fd, "wb") as out:
                await asyncio.to_thread(write_archive, out, plan, self.content)
        except BaseException:
            os.unlink(path)
            raise
        return _stream_file(path)

    def _save_plan(self, names: Sequence[str]) -> builtins.list[SaveImage]:
        if not names:
            raise errors.InvalidArgument("no images to save")
        order: builtins.list[str] = []
        refs: dict[str, builtins.list[Reference]] = {}
        metas: dict[str, ImageMeta] = {}
        for name in names:
            m, ref = self._find(name)
            if m.id not in metas:
                order.append(m.id)
                metas[m.id] = m
                refs[m.id] = []
            if ref is not None and ref.tag and ref.digest is None and ref not in refs[m.id]:
                refs[m.id].append(ref)
        out = []
        for image_id in order:
            m = metas[image_id]
            manifest = self._manifest(m)
            out.append(
                SaveImage(
                    Digest.parse(m.manifest_digest), manifest.config.digest, manifest.layers, tuple(refs[image_id])
                )
            )
        return out

    # --- import -----------------------------------------------------------------

    async def import_(
        self,
        stream: AsyncIterable[bytes],
        repo: str = "",
        tag: str = "",
        changes: Sequence[str] = (),
        message: str = "",
        platform: str = "",
    ) -> str:
        """``POST /images/create?fromSrc=-``: a rootfs tar (maybe compressed) becomes a one-layer image."""
        for line in changes:
            parse_change(line)  # fail before reading the upload
        ref = parse_reference(f"{repo}:{tag}" if repo and tag else repo) if repo else None
        plat = Platform.parse(platform) if platform else host_platform()
        path = await self._spool(stream)
        try:
            image_id = await asyncio.to_thread(self._import_file, path, ref, changes, message, plat)
        finally:
            os.unlink(path)
        self._event("import", image_id, ref.familiar() if ref else image_id)
        return image_id

    def _import_file(
        self, path: str, ref: Reference | None, changes: Sequence[str], message: str, plat: Platform
    ) -> str:
        if os.path.getsize(path) == 0:
            raise errors.InvalidArgument("import requires a non-empty tar archive")
        with open(path, "rb") as src, self.content.writer() as w:
            reader = decompressed(src)
            try:
                while chunk := reader.read(_CHUNK):
                    w.write(chunk)
            except (OSError, EOFError) as exc:
                raise errors.InvalidArgument(f"invalid compressed archive: {exc}") from None
            info = w.commit()
        now = now_rfc3339()
        cfg: dict[str, Any] = {
            "architecture": plat.architecture,
            "os": plat.os,
            "created": now,
            "config": apply_changes({}, changes),
            "rootfs": {"type": "layers", "diff_ids": [str(info.digest)]},
            "history": [{"created": now, "comment": message or "Imported from -"}],
        }
        if plat.variant:
            cfg["variant"] = plat.variant
        if message:
            cfg["comment"] = message
        layer = Descriptor(mt.OCI_LAYER, info.digest, info.size)
        created: builtins.list[str] = []
        try:
            image_id, _ = self._register(canonical_json(cfg), [layer], [ref] if ref else [], created_chains=created)
        except BaseException:
            if not any(self._blob_users(info.digest)):
                self.content.delete(info.digest)
            raise
        return image_id

    # --- bootstrap ------------------------------------------------------------

    async def bootstrap_busybox(self, tag: str = "busybox:latest", busybox_path: str = "/bin/busybox") -> str:
        """An image from the host's static busybox, tagged ``tag``; the same ID every time on one host."""
        ref = parse_reference(tag)
        image_id = await asyncio.to_thread(self._bootstrap_busybox, ref, busybox_path)
        self._event("import", image_id, ref.familiar())
        return image_id

    def _bootstrap_busybox(self, ref: Reference, busybox_path: str) -> str:
        layer = busybox_layer(busybox_path)
        info = self.content.write_bytes(layer.tar)
        plat = host_platform()
        cfg = busybox_config(str(info.digest), layer.mtime, plat.architecture, plat.variant)
        image_id, _ = self._register(canonical_json(cfg), [Descriptor(mt.OCI_LAYER, info.digest, info.size)], [ref])
        return image_id

    async def bootstrap_debian(
        self, suite: str = "bookworm", tag: str = "", mirror: str = "", debootstrap: str = "debootstrap"
    ) -> str:
        """A Debian base image from debootstrap's minbase variant (network access to the mirror)."""
        ref = parse_reference(tag or f"debian:{suite}")
        image_id = await asyncio.to_thread(self._bootstrap_debian, ref, suite, mirror or host_mirror(), debootstrap)
        self._event("import", image_id, ref.familiar())
        return image_id

    def _bootstrap_debian(self, ref: Reference, suite: str, mirror: str, debootstrap: str) -> str:
        work = tempfile.mkdtemp(dir=self.tmp_dir, prefix="debootstrap-")
        try:
            rootfs = os.path.join(work, "rootfs")
            run_debootstrap(suite, rootfs, mirror, debootstrap)
            trim_rootfs(rootfs)
            layer_path = os.path.join(work, "layer.tar")
            with open(layer_path, "wb") as out:
                result = write_layer(rootfs, out)
            with open(layer_path, "rb") as f:
                info = self.content.ingest_file(f)
            plat = host_platform()
            cfg = debian_config(str(result.diff_id), suite, plat.architecture, plat.variant, time.time())
            image_id, _ = self._register(canonical_json(cfg), [Descriptor(mt.OCI_LAYER, info.digest, info.size)], [ref])
            return image_id
        finally:
            shutil.rmtree(work, ignore_errors=True)

    # --- removal ------------------------------------------------------------------

    async def remove(
        self,
        name: str,
        force: bool = False,
        noprune: bool = False,
        in_use: Callable[[str], builtins.list[str]] | None = None,
    ) -> builtins.list[dict[str, str]]:
        """``DELETE /images/{name}`` with Docker's untag-or-delete rules and conflict messages.

        Who uses an image comes from ``set_usage_check``; ``in_use(image_id)`` (container IDs,
        treated as stopped) overrides it when given.
        """
        users: InUseFn = in_use if in_use is not None else self._users
        running: InUseFn = _nobody if in_use is not None else self._running_users
        image_id = self._find(name)[0].id
        records = await asyncio.to_thread(self._remove, name, force, noprune, users, running)
        for r in records:
            if "Untagged" in r:
                self._event("untag", image_id, r["Untagged"])
            elif r.get("Deleted") == image_id:
                self._event("delete", image_id)
        return records

    def _remove(
        self, name: str, force: bool, noprune: bool, in_use: InUseFn, running: InUseFn
    ) -> builtins.list[dict[str, str]]:
        del noprune  # there are no parent images to prune: each image keeps its own layer chain
        with self._lock:
            m, ref = self._find(name)
            image_id = m.id
            short = image_id.split(":", 1)[1][:12]
            records: builtins.list[dict[str, str]] = []
            repo_refs = [parse_reference(r.ref, default_tag=False) for r in self.meta.refs_for(image_id)]
            removed_repo_ref = False
            if ref is not None:
                if not force and _single_reference(repo_refs):
                    users = in_use(image_id)
                    if users:
                        raise errors.InUse(
                            f'conflict: unable to remove repository reference "{name}" (must force) - container '
                            f"{users[0][:12]} is using its referenced image {short}"
                        )
                target = ref if self.meta.get_ref(str(ref)) is not None else None
                if target is None:
                    target = next((r for r in repo_refs if r.digest == ref.digest and r.name == ref.name), ref)
                self.meta.delete_ref(str(target))
                records.append({"Untagged": target.familiar()})
                repo_refs = [r for r in repo_refs if r != target]
                if target.digest is None and not any(r.digest is None and r.name == target.name for r in repo_refs):
                    # the last tag of a repository takes that repository's digest references with it
                    for r in [r for r in repo_refs if r.digest is not None and r.name == target.name]:
                        self.meta.delete_ref(str(r))
                        records.append({"Untagged": r.familiar()})
                        repo_refs.remove(r)
                if repo_refs:
                    return records
                removed_repo_ref = True
            elif _single_reference(repo_refs) or force:
                conflict = self._conflict(
                    image_id, short, hard=True, soft=not force, active=False, in_use=in_use, running=running
                )
                if conflict is not None:
                    raise errors.InUse(conflict.message)
                for r in repo_refs:
                    self.meta.delete_ref(str(r))
                    records.append({"Untagged": r.familiar()})
            conflict = self._conflict(
                image_id, short, hard=True, soft=not force, active=True, in_use=in_use, running=running
            )
            if conflict is not None:
                if removed_repo_ref and conflict.used:
                    return records  # untagged; the image stays for the containers using it
                raise errors.InUse(conflict.message)
            records.extend(self._delete_image(m))
            return records

    def _conflict(
        self, image_id: str, short: str, *, hard: bool, soft: bool, active: bool, in_use: InUseFn, running: InUseFn
    ) -> _Conflict | None:
        def msg(forced: bool, why: str) -> str:
            how = "cannot be forced" if not forced else "must be forced"
            return f"conflict: unable to delete {short} ({how}) - {why}"

        if hard:
            run = running(image_id)
            if run:
                return _Conflict(msg(False, f"image is being used by running container {run[0][:12]}"), True)
        if soft:
            if active and self.meta.refs_for(image_id):
                return _Conflict(msg(True, "image is referenced in multiple repositories"), False)
            users = in_use(image_id)
            if users:
                return _Conflict(msg(True, f"image is being used by stopped container {users[0][:12]}"), True)
        return None

    def _blob_users(self, digest: Digest) -> builtins.list[str]:
        users = []
        for m in self.meta.images():
            man = self._manifest(m)
            if digest in (man.config.digest, Digest.parse(m.manifest_digest), *(lay.digest for lay in man.layers)):
                users.append(m.id)
        return users

    def _delete_image(self, m: ImageMeta) -> builtins.list[dict[str, str]]:
        """Drop the image and whatever of its blobs and layers no other image still needs."""
        manifest = self._manifest(m)
        chains = [str(c) for c in chain_ids(_diff_ids(self._config(m.id)))]
        self.meta.delete_image(m.id)
        keep_blobs: set[Digest] = set()
        keep_chains: set[str] = set()
        for other in self.meta.images():
            om = self._manifest(other)
            keep_blobs.update((om.config.digest, Digest.parse(other.manifest_digest), *(x.digest for x in om.layers)))
            keep_chains.update(str(c) for c in chain_ids(_diff_ids(self._config(other.id))))
        records = [{"Deleted": m.id}]
        for chain in reversed(chains):
            if chain in keep_chains:
                break
            try:
                self.snapshotter.remove(chain)
            except errors.NotFound:
                continue
            except errors.Conflict:
                break  # a container's snapshot still sits on this layer
            records.append({"Deleted": chain})
        for d in (Digest.parse(m.manifest_digest), manifest.config.digest, *(x.digest for x in manifest.layers)):
            if d not in keep_blobs:
                self.content.delete(d)
        return records

    async def prune(
        self,
        dangling_only: bool = True,
        filters: Mapping[str, Sequence[str]] | None = None,
        in_use: Callable[[str], builtins.list[str]] | None = None,
    ) -> dict[str, Any]:
        """``POST /images/prune``: untagged images (or, with ``dangling_only=False``, all unused ones)."""
        users: InUseFn = in_use if in_use is not None else self._users
        return await asyncio.to_thread(self._prune, dangling_only, dict(filters or {}), users)

    def _prune(self, dangling_only: bool, filters: dict[str, Sequence[str]], in_use: InUseFn) -> dict[str, Any]:
        flt.check_filters(filters, frozenset({"dangling", "label", "label!", "until"}))
        if "dangling" in filters:
            dangling_only = any(v.lower() in ("1", "true") for v in filters["dangling"])
        until = [_until_seconds(v) for v in filters.get("until", ())]
        deleted: builtins.list[dict[str, str]] = []
        reclaimed = 0
        with self._lock:
            for rec in self.records():
                if dangling_only and rec.repo_tags:
                    continue
                if in_use(rec.id):
                    continue
                labels = rec.container_config.get("Labels") or {}
                if "label" in filters and not flt.label_matches(labels, builtins.list(filters["label"])):
                    continue
                if "label!" in filters and flt.label_matches(labels, builtins.list(filters["label!"])):
                    continue
                if until and not all(parse_time(rec.created) < u for u in until):
                    continue
                m = self.meta.get_image(rec.id)
                if m is None:
                    continue
                for r in self.meta.refs_for(rec.id):
                    self.meta.delete_ref(r.ref)
                    deleted.append({"Untagged": parse_reference(r.ref, default_tag=False).familiar()})
                deleted.extend(self._delete_image(m))
                reclaimed += rec.size
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    # --- list (last: the method name shadows the builtin in this class body) ---------------

    def list(
        self, filters: Mapping[str, Sequence[str]] | None = None, all: bool = False, digests: bool = False
    ) -> builtins.list[dict[str, Any]]:
        """``GET /images/json``: newest first; filters reference, dangling, label, before, since, until."""
        del all  # no intermediate build images are kept: every image is a top-level one
        f = dict(filters or {})
        flt.check_filters(f, flt.IMAGE_FILTERS)
        recs = self.records()
        if "before" in f:
            limit = min(parse_time(self.resolve(v).created) for v in f["before"])
            recs = [r for r in recs if parse_time(r.created) < limit]
        if "since" in f:
            limit = max(parse_time(self.resolve(v).created) for v in f["since"])
            recs = [r for r in recs if parse_time(r.created) > limit]
        if "until" in f:
            limit = min(_until_seconds(v) for v in f["until"])
            recs = [r for r in recs if parse_time(r.created) < limit]
        if "dangling" in f:
            want = any(v.lower() in ("1", "true") for v in f["dangling"])
            recs = [r for r in recs if (not r.repo_tags) == want]
        if "label" in f:
            recs = [r for r in recs if flt.label_matches(r.container_config.get("Labels"), builtins.list(f["label"]))]
        if "reference" in f:
            pats = builtins.list(f["reference"])
            recs = [r for r in recs if flt.reference_matches([*r.repo_tags, *r.repo_digests], pats)]
        del digests  # RepoDigests are always included, as Docker does since API 1.22
        out = [summary_json(r) for r in recs]
        out.sort(key=lambda s: (s["Created"], s["Id"]), reverse=True)
        return out


def _open_tar(path: str) -> tarfile.TarFile:
    # docker load also takes gzip/bzip2/xz-compressed archives
    return tarfile.open(path, "r:*")


def _quietly(fn: Callable[[str], None], arg: str) -> None:
    try:
        fn(arg)
    except (errors.DockyardError, OSError):
        pass


def _until_seconds(value: str) -> int:
    """``until`` takes Unix seconds, RFC 3339, or a duration such as ``10m`` / ``24h`` before now."""
    m = re.fullmatch(r"(\d+)([smh])", value.strip())
    if m:
        mult = {"s": 1, "m": 60, "h": 3600}[m.group(2)]
        return int(datetime.now(UTC).timestamp()) - int(m.group(1)) * mult
    if re.fullmatch(r"\d+(\.\d+)?", value.strip()):
        return int(float(value))
    t = parse_time(value)
    if t == -62135596800:
        raise errors.InvalidArgument(f"invalid until value {value!r}")
    return t


def _parse_config(config: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(config)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.InvalidArgument(f"invalid image config: {exc}") from None
    if not isinstance(obj, dict):
        raise errors.InvalidArgument("invalid image config: not a JSON object")
    return obj


def _diff_ids(config: Mapping[str, Any]) -> builtins.list[Digest]:
    rootfs = config.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, builtins.list):
        raise errors.InvalidArgument("invalid image config: no rootfs.diff_ids")
    return [Digest.parse(str(d)) for d in ids]


def _single_reference(refs: Sequence[Reference]) -> bool:
    """Docker's isSingleReference: at most one tag, and every reference in one repository."""
    if len(refs) <= 1:
        return len(refs) == 1
    tags = [r for r in refs if r.digest is None]
    if len(tags) > 1:
        return False
    canonical = {r.name for r in refs if r.digest is not None}
    single = tags[0] if tags else refs[0]
    return len(canonical) == 1 and single.name in canonical


async def _stream_file(path: str) -> AsyncIterator[bytes]:
    """Yield a temp file's bytes, then delete it (also when the consumer stops early)."""
    f: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed in finally
    try:
        while chunk := await asyncio.to_thread(f.read, _CHUNK):
            yield chunk
    finally:
        f.close()
        os.unlink(path)
