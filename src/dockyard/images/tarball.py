"""Image archives: read ``docker save`` tars and OCI image layouts, write Docker 25's save format.

Reading verifies everything before anything is stored: every config and layer
is hashed (layers both as stored and uncompressed, against the config's
diffIDs), so a corrupt or truncated archive fails as a whole.
"""

from __future__ import annotations

import io
import json
import posixpath
import tarfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import zstandard

from dockyard import errors
from dockyard.archive.compression import decompressed, detect
from dockyard.archive.hashing import HashingReader
from dockyard.content.api import Provider
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, sha256_of
from dockyard.oci.image import Descriptor, Index, Manifest, Platform, canonical_json, host_platform
from dockyard.oci.reference import Reference, parse_reference

__all__ = ["ArchiveImage", "ArchiveLayer", "SaveImage", "open_member", "read_archive", "write_archive"]

_CORRUPT: tuple[type[BaseException], ...] = (tarfile.TarError, EOFError, zlib.error, zstandard.ZstdError, OSError)
NAME_ANNOTATION = "io.containerd.image.name"
REF_ANNOTATION = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class ArchiveLayer:
    member: str  # path inside the archive
    digest: Digest  # of the bytes as stored (maybe compressed)
    size: int
    media_type: str
    diff_id: Digest


@dataclass(frozen=True)
class ArchiveImage:
    config: bytes
    config_digest: Digest
    layers: tuple[ArchiveLayer, ...]
    refs: tuple[Reference, ...]


@dataclass(frozen=True)
class SaveImage:
    manifest_digest: Digest
    config_digest: Digest
    layers: tuple[Descriptor, ...]
    refs: tuple[Reference, ...]  # tags to record in manifest.json/index.json


def _member_bytes(tar: tarfile.TarFile, name: str, limit: int = 64 << 20) -> bytes:
    f = open_member(tar, name)
    data = f.read(limit + 1)
    if len(data) > limit:
        raise errors.InvalidArgument(f"invalid archive: {name} is too large")
    return data


def open_member(tar: tarfile.TarFile, name: str) -> BinaryIO:
    clean = posixpath.normpath(name.lstrip("/"))
    try:
        member = tar.getmember(clean)
    except KeyError:
        try:
            member = tar.getmember("./" + clean)
        except KeyError:
            raise errors.InvalidArgument(f"invalid archive: {name} is missing") from None
    f = tar.extractfile(member)
    if f is None:
        raise errors.InvalidArgument(f"invalid archive: {name} is not a file")
    return f  # type: ignore[return-value]


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.InvalidArgument(f"invalid archive: {what} is not valid JSON: {exc}") from None


def _diff_ids(config: Any) -> list[Digest]:
    try:
        ids = config["rootfs"]["diff_ids"] or []
        return [Digest.parse(str(d)) for d in ids]
    except (KeyError, TypeError):
        raise errors.InvalidArgument("invalid image config: no rootfs.diff_ids") from None


class _Verifier:
    """Hashes archive members once each (layers are often shared between images)."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.seen: dict[str, tuple[Digest, int, str, Digest]] = {}

    def layer(self, member: str) -> tuple[Digest, int, str, Digest]:
        if member not in self.seen:
            raw = HashingReader(open_member(self.tar, member))
            head = io.BufferedReader(_Peek(raw), 1 << 16)
            kind = detect(head.peek(8)[:8])
            un = HashingReader(decompressed(head))
            un.drain()
            head.read()  # compressed streams may end before the member does
            raw.drain()
            media = {"gzip": mt.OCI_LAYER_GZIP, "zstd": mt.OCI_LAYER_ZSTD}.get(kind, mt.OCI_LAYER)
            self.seen[member] = (raw.digest, raw.hasher.size, media, un.digest)
        return self.seen[member]


class _Peek(io.RawIOBase):
    def __init__(self, src: HashingReader) -> None:
        self._src = src

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._src.read(len(b))
        b[: len(data)] = data
        return len(data)


def read_archive(tar: tarfile.TarFile, platform: Platform | None = None) -> list[ArchiveImage]:
    """Every image in a ``docker save`` tar (``manifest.json``) or OCI layout (``index.json``), verified."""
    try:
        names = {n.removeprefix("./") for n in tar.getnames()}
        if "manifest.json" in names:
            return _read_docker(tar)
        if "index.json" in names:
            return _read_oci(tar, platform or host_platform())
    except _CORRUPT as exc:
        raise errors.InvalidArgument(f"invalid archive: {exc or type(exc).__name__}") from None
    raise errors.InvalidArgument("invalid archive: neither manifest.json nor index.json found")


def _read_docker(tar: tarfile.TarFile) -> list[ArchiveImage]:
    entries = _json(_member_bytes(tar, "manifest.json"), "manifest.json")
    if not isinstance(entries, list):
        raise errors.InvalidArgument("invalid archive: manifest.json must be a list")
    verifier = _Verifier(tar)
    out: list[ArchiveImage] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise errors.InvalidArgument("invalid archive: manifest.json entry without Config")
        config = _member_bytes(tar, entry["Config"])
        cfg = _json(config, entry["Config"])
        want = _diff_ids(cfg)
        members = entry.get("Layers") or []
        if len(members) != len(want):
            raise errors.InvalidArgument(
                f"invalid archive: {len(members)} layers but the config lists {len(want)} diff IDs"
            )
        layers = []
        for member, diff_id in zip(members, want, strict=True):
            digest, size, media, got = verifier.layer(str(member))
            if got != diff_id:
                raise errors.DigestMismatch(f"layer {member}: content is {got}, the config says {diff_id}")
            layers.append(ArchiveLayer(str(member), digest, size, media, got))
        refs = tuple(parse_reference(str(t)) for t in entry.get("RepoTags") or [])
        out.append(ArchiveImage(config, sha256_of(config), tuple(layers), refs))
    return out


def _blob_path(d: Digest) -> str:
    return f"blobs/{d.algorithm}/{d.hex}"


def _read_blob(tar: tarfile.TarFile, desc: Descriptor) -> bytes:
    data = _member_bytes(tar, _blob_path(desc.digest))
    if Digest.from_bytes(data, desc.digest.algorithm) != desc.digest:
        raise errors.DigestMismatch(f"blob {desc.digest} does not match its digest")
    return data


def _read_oci(tar: tarfile.TarFile, platform: Platform) -> list[ArchiveImage]:
    index = Index.from_json(_member_bytes(tar, "index.json"), mt.OCI_INDEX)
    verifier = _Verifier(tar)
    out: list[ArchiveImage] = []
    for desc in index.manifests:
        manifest_desc = desc
        if desc.media_type in mt.INDEX_TYPES:
            inner = Index.from_json(_read_blob(tar, desc), desc.media_type)
            picks = [m for m in inner.manifests if m.platform is None or m.platform.matches(platform)]
            if not picks:
                raise errors.NotFound(f"no manifest for platform {platform} in the archive")
            manifest_desc = picks[0]
        manifest = Manifest.from_json(_read_blob(tar, manifest_desc), manifest_desc.media_type)
        config = _read_blob(tar, manifest.config)
        want = _diff_ids(_json(config, "image config"))
        if len(want) != len(manifest.layers):
            raise errors.InvalidArgument("invalid archive: manifest and config disagree on the number of layers")
        layers = []
        for ldesc, diff_id in zip(manifest.layers, want, strict=True):
            member = _blob_path(ldesc.digest)
            digest, size, _, got = verifier.layer(member)
            if digest != ldesc.digest or size != ldesc.size:
                raise errors.DigestMismatch(f"layer blob {ldesc.digest} does not match its descriptor")
            if got != diff_id:
                raise errors.DigestMismatch(f"layer {ldesc.digest}: content is {got}, the config says {diff_id}")
            layers.append(ArchiveLayer(member, digest, size, ldesc.media_type, got))
        out.append(ArchiveImage(config, manifest.config.digest, tuple(layers), _oci_refs(desc)))
    return out


def _oci_refs(desc: Descriptor) -> tuple[Reference, ...]:
    name = desc.annotations.get(NAME_ANNOTATION) or desc.annotations.get(REF_ANNOTATION) or ""
    if not name:
        return ()
    try:
        ref = parse_reference(name)
    except errors.InvalidArgument:
        return ()  # a bare tag such as "latest" names no repository
    if "/" not in name and ":" not in name and desc.annotations.get(NAME_ANNOTATION) is None:
        return ()
    return (ref,)


# --- writing ---------------------------------------------------------------------


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = len(data), 0o644, 0
    tar.addfile(ti, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 0
    tar.addfile(ti)


def write_archive(out: BinaryIO, images: Sequence[SaveImage], content: Provider) -> None:
    """A tar ``docker load`` (old and new) and OCI tools accept: blobs/, index.json, manifest.json."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        _add_dir(tar, "blobs/")
        _add_dir(tar, "blobs/sha256/")
        written: set[Digest] = set()

        def blob(d: Digest) -> None:
            if d in written:
                return
            written.add(d)
            info = content.info(d)
            ti = tarfile.TarInfo(_blob_path(d))
            ti.size, ti.mode, ti.mtime = info.size, 0o644, 0
            with content.open(d) as f:
                tar.addfile(ti, f)

        index_entries: list[dict[str, Any]] = []
        manifest_json: list[dict[str, Any]] = []
        repositories: dict[str, dict[str, str]] = {}
        for img in images:
            for d in (img.config_digest, *(lay.digest for lay in img.layers), img.manifest_digest):
                blob(d)
            mdesc = Descriptor(mt.OCI_MANIFEST, img.manifest_digest, content.info(img.manifest_digest).size)
            tags = [r for r in img.refs if r.tag]
            for r in tags:
                ann = {NAME_ANNOTATION: str(r), REF_ANNOTATION: r.tag or ""}
                index_entries.append({**mdesc.to_json(), "annotations": ann})
                top = img.layers[-1].digest.hex if img.layers else ""
                repositories.setdefault(r.familiar_name(), {})[r.tag or "latest"] = top
            if not tags:
                index_entries.append(mdesc.to_json())
            manifest_json.append(
                {
                    "Config": _blob_path(img.config_digest),
                    "RepoTags": [r.familiar() for r in tags] or None,
                    "Layers": [_blob_path(lay.digest) for lay in img.layers],
                }
            )
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": index_entries}
        _add_bytes(tar, "index.json", canonical_json(index))
        _add_bytes(tar, "manifest.json", canonical_json(manifest_json))
        _add_bytes(tar, "oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"}))
        if repositories:
            _add_bytes(tar, "repositories", canonical_json(repositories))
