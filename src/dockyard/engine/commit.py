"""``docker commit``: a container's writable layer becomes a new image on top of its image.

The upper dir is written as one layer tar (``archive.write_layer``, shared with the
builder) straight into the content store, the config is derived from the parent
image's (``images.derive``), and ``ImageService.add_image`` registers it. The
container is paused meanwhile when asked and pausing exists. A crash at any point
leaves at most an ingest file, which the content store discards at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, BinaryIO, Protocol, cast

from dockyard import errors
from dockyard.archive import write_layer
from dockyard.engine.container_fs import ContainerLookup, SnapshotDirs, layer_dirs
from dockyard.engine.failpoints import failpoint
from dockyard.engine.fs_changes import runtime_stubs
from dockyard.engine.timefmt import now_rfc3339
from dockyard.images.changes import apply_changes
from dockyard.images.derive import Derivation, derived_config_bytes
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest
from dockyard.oci.image import Descriptor, Manifest
from dockyard.oci.reference import parse_reference

__all__ = ["CommitOptions", "CommitService", "commit_config"]

# Per-container settings Docker does not carry into an image config.
_NOT_INHERITED = ("Hostname", "Domainname", "Image")


class Pauser(Protocol):
    async def pause(self, ref: str) -> Any: ...

    async def unpause(self, ref: str) -> Any: ...


def commit_config(container: Mapping[str, Any], overrides: Mapping[str, Any], changes: Sequence[str]) -> dict[str, Any]:
    """The committed image's ``config``: the container's, with set ``overrides`` fields, then ``changes`` (pure)."""
    cfg = {k: v for k, v in json.loads(json.dumps(dict(container))).items() if k not in _NOT_INHERITED}
    for key, value in overrides.items():
        if value not in (None, "", [], {}, False, 0):
            cfg[key] = value
    return apply_changes(cfg, changes)


class CommitOptions:
    """The query of ``POST /commit``."""

    def __init__(
        self,
        *,
        repo: str = "",
        tag: str = "",
        comment: str = "",
        author: str = "",
        pause: bool = True,
        changes: Sequence[str] = (),
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.repo = repo
        self.tag = tag
        self.comment = comment
        self.author = author
        self.pause = pause
        self.changes = tuple(changes)
        self.config = dict(config or {})

    def reference(self) -> str:
        if not self.repo:
            if self.tag:
                raise errors.InvalidArgument("a tag needs a repository name")
            return ""
        text = f"{self.repo}:{self.tag}" if self.tag else self.repo
        return parse_reference(text).familiar()


class _BlobSink:
    """A content-store writer seen as a binary file by ``write_layer``."""

    def __init__(self, writer: Any) -> None:
        self._w = writer

    def write(self, data: bytes) -> int:
        self._w.write(data)
        return len(data)


class CommitService:
    def __init__(
        self,
        containers: ContainerLookup,
        images: Any,
        snapshots: SnapshotDirs,
        pauser: Callable[[], Pauser | None] = lambda: None,
    ) -> None:
        self._containers = containers
        self._images = images
        self._snapshots = snapshots
        self._pauser = pauser

    async def commit(self, ref: str, opts: CommitOptions) -> str:
        """Commit the container ``ref``; returns the new image ID."""
        rec = self._containers.get(ref)
        if rec.state.status in ("removing", "dead"):
            raise errors.Conflict(f"cannot commit container {rec.name}: it is {rec.state.status}")
        image_ref = opts.reference()
        config = commit_config(rec.config, opts.config, opts.changes)
        parent = self._images.resolve(rec.image_id)
        pauser = self._pauser() if opts.pause and rec.state.status == "running" else None
        if pauser is not None:
            try:
                await pauser.pause(rec.id)
            except errors.Conflict:
                pauser = None  # it stopped (or was paused by someone else) meanwhile: nothing to undo
        try:
            failpoint("commit:paused")
            layer = await asyncio.to_thread(self._write_layer, rec.id)
            failpoint("commit:after-layer")
        finally:
            if pauser is not None:
                with contextlib.suppress(errors.DockyardError):
                    await pauser.unpause(rec.id)
        manifest = Manifest.from_json(self._images.content.read(Digest.parse(parent.manifest_digest)))
        created_by = " ".join([rec.path, *rec.args]).strip()
        cfg_bytes = derived_config_bytes(
            parent.config,
            Derivation(
                config=config,
                created=now_rfc3339(),
                diff_id=str(layer.digest),
                created_by=created_by,
                author=opts.author,
                comment=opts.comment,
                container=rec.id,
                parent_id=parent.id,
            ),
        )
        tags = [image_ref] if image_ref else []
        image_id = str(await self._images.add_image(cfg_bytes, [*manifest.layers, layer], tags))
        failpoint("commit:after-register")
        self._containers.emit(rec, "commit", {"comment": opts.comment, "imageID": image_id, "imageRef": image_ref})
        return image_id

    def _write_layer(self, cid: str) -> Descriptor:
        content = self._images.content
        writer = content.writer()
        try:
            with layer_dirs(self._snapshots, cid) as dirs:
                skip = runtime_stubs(dirs.upper, dirs.lowers)
                sink = cast(BinaryIO, _BlobSink(writer))
                result = write_layer(dirs.upper, sink, skip=skip, ids=self._snapshots.ids)
            info = writer.commit()
        except BaseException:
            writer.abort()
            raise
        # An uncompressed layer: its digest is its diffID.
        if info.digest != result.diff_id:
            raise errors.Internal(f"layer blob {info.digest} differs from its diffID {result.diff_id}")
        return Descriptor(mt.OCI_LAYER, info.digest, info.size)
