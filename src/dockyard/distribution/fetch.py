"""Pull-side registry operations: resolve a reference to one image manifest, download verified blobs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from dockyard import errors
from dockyard.content.api import Ingester, Writer
from dockyard.distribution.client import Repository, registry_error
from dockyard.distribution.platforms import select_manifest
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, sha256_of
from dockyard.oci.image import Descriptor, Index, Manifest, Platform
from dockyard.oci.reference import Reference

__all__ = ["ACCEPT", "Resolved", "Tee", "download_blob", "fetch_blob_bytes", "fetch_manifest", "list_tags", "resolve"]

ACCEPT = ", ".join([mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.OCI_MANIFEST, mt.OCI_INDEX])
_MAX_MANIFEST = 4 * 1024 * 1024
_MAX_CONFIG = 16 * 1024 * 1024
_ATTEMPTS = 4
_WRITE_CHUNK = 1 << 20
_BACKOFF = 0.25  # seconds before the first retry, doubled after each


@dataclass(frozen=True)
class Resolved:
    """An image as a registry describes it; ``digest`` is what the reference resolved to (index or manifest)."""

    digest: Digest
    manifest: Manifest
    manifest_bytes: bytes
    manifest_digest: Digest
    config: bytes


def _media_type(header: str, body: bytes) -> str:
    ctype = header.split(";", 1)[0].strip()
    if ctype in mt.MANIFEST_TYPES or ctype in mt.INDEX_TYPES:
        return ctype
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidArgument(f"invalid manifest: content type {ctype!r} and not JSON") from None
    declared = obj.get("mediaType", "") if isinstance(obj, dict) else ""
    if not declared and isinstance(obj, dict):
        # OCI manifests may omit mediaType: tell them apart by their fields
        declared = mt.OCI_INDEX if "manifests" in obj else mt.OCI_MANIFEST if "config" in obj else ""
    if declared in mt.MANIFEST_TYPES or declared in mt.INDEX_TYPES:
        return str(declared)
    raise errors.InvalidArgument(f"unsupported manifest media type {declared or ctype!r}")


def _not_found(ref: Reference, status_text: str, code: str) -> errors.NotFound:
    if code == "NAME_UNKNOWN":
        return errors.NotFound(f"repository {ref.familiar_name()} not found: {status_text}")
    target = str(ref.digest) if ref.digest else (ref.tag or "latest")
    return errors.NotFound(
        f"manifest for {ref.familiar_name()}:{target} not found: {status_text}".replace(":sha256:", "@sha256:")
    )


async def fetch_manifest(repo: Repository, ref: Reference, target: str) -> tuple[str, bytes, Digest]:
    """GET a manifest or index by tag or digest: (media type, bytes, digest), digest-checked."""
    try:
        resp = await repo.request("GET", f"{repo.path}/manifests/{target}", headers={"Accept": ACCEPT})
    except errors.Unauthorized as exc:
        if not repo.auth.empty:
            raise  # credentials given and refused
        # anonymous and refused: like dockerd, "not found" (the repository may be private or missing)
        raise errors.NotFound(_denied(ref, exc.message.removeprefix("unauthorized: "))) from None
    try:
        body = await resp.raw.content.read(_MAX_MANIFEST + 1)
    finally:
        resp.release()
    if resp.status == 404:
        code = _error_code(body)
        raise _not_found(ref, registry_error(404, body), code)
    if resp.status in (401, 403):
        message = _denied(ref, registry_error(resp.status, body))
        raise errors.NotFound(message) if repo.auth.empty else errors.Unauthorized(message)
    if resp.status != 200:
        raise errors.Unavailable(
            f"unexpected status {resp.status} for manifest {target}: {registry_error(resp.status, body)}"
        )
    if len(body) > _MAX_MANIFEST:
        raise errors.InvalidArgument(f"manifest {target} is larger than {_MAX_MANIFEST} bytes")
    digest = sha256_of(body)
    if target.startswith("sha256:") and str(digest) != target:
        raise errors.DigestMismatch(f"manifest verification failed for digest {target}")
    header = resp.headers.get("Docker-Content-Digest", "")
    if header and not target.startswith("sha256:") and header != str(digest):
        raise errors.DigestMismatch(f"manifest digest {digest} does not match Docker-Content-Digest {header}")
    return _media_type(resp.headers.get("Content-Type", ""), body), body, digest


def _denied(ref: Reference, detail: str) -> str:
    return (
        f"pull access denied for {ref.familiar_name()}, repository does not exist or may require "
        f"'docker login': {detail}"
    )


def _error_code(body: bytes) -> str:
    try:
        return str(json.loads(body)["errors"][0]["code"])
    except (ValueError, UnicodeDecodeError, KeyError, IndexError, TypeError):
        return ""


async def list_tags(repo: Repository) -> list[str]:
    """Every tag of the repository, following ``Link: <...>; rel="next"`` pagination."""
    tags: list[str] = []
    path = f"{repo.path}/tags/list"
    for _ in range(1000):  # bounded: a registry looping its Link headers must not hang a pull
        resp = await repo.request("GET", path)
        try:
            body = await resp.read()
        finally:
            resp.release()
        if resp.status == 404:
            raise errors.NotFound(f"repository {repo.path} not found: {registry_error(404, body)}")
        if resp.status != 200:
            raise errors.Unavailable(f"listing tags of {repo.path}: {resp.status}: {registry_error(resp.status, body)}")
        try:
            page = json.loads(body).get("tags") or []
        except (ValueError, UnicodeDecodeError, AttributeError):
            raise errors.InvalidArgument(f"invalid tag list for {repo.path}") from None
        tags.extend(str(t) for t in page)
        link = resp.headers.get("Link", "")
        if 'rel="next"' not in link or "<" not in link:
            break
        nxt = link[link.index("<") + 1 : link.index(">")]
        path = nxt.removeprefix("/v2/") if not nxt.startswith("http") else nxt
    return tags


async def fetch_blob_bytes(repo: Repository, desc: Descriptor, limit: int = _MAX_CONFIG) -> bytes:
    """A small blob (a config) read into memory and verified."""
    if desc.size > limit:
        raise errors.InvalidArgument(f"blob {desc.digest} is too large ({desc.size} bytes)")
    resp = await repo.request("GET", f"{repo.path}/blobs/{desc.digest}")
    try:
        body = await resp.raw.content.read(limit + 1)
    finally:
        resp.release()
    if resp.status != 200:
        raise errors.NotFound(f"blob {desc.digest}: {registry_error(resp.status, body)}")
    if len(body) != desc.size:
        raise errors.SizeMismatch(f"blob {desc.digest}: got {len(body)} bytes, expected {desc.size}")
    if sha256_of(body) != desc.digest:
        raise errors.DigestMismatch(f"blob {desc.digest}: content does not match its digest")
    return body


async def resolve(repo: Repository, ref: Reference, platform: Platform) -> Resolved:
    """The manifest for ``platform`` that ``ref`` names, with its config; every digest checked."""
    target = str(ref.digest) if ref.digest is not None else (ref.tag or "latest")
    media_type, body, digest = await fetch_manifest(repo, ref, target)
    top = digest
    if media_type in mt.INDEX_TYPES:
        index = Index.from_json(body, media_type)
        chosen = select_manifest([d for d in index.manifests if d.media_type in mt.MANIFEST_TYPES], platform)
        media_type, body, digest = await fetch_manifest(repo, ref, str(chosen.digest))
        if media_type not in mt.MANIFEST_TYPES:
            raise errors.InvalidArgument(f"index entry {chosen.digest} is not an image manifest ({media_type})")
    manifest = Manifest.from_json(body, media_type)
    if manifest.config.media_type not in mt.CONFIG_TYPES:
        raise errors.InvalidArgument(f"unsupported config media type {manifest.config.media_type!r}")
    for layer in manifest.layers:
        if layer.media_type not in mt.LAYER_TYPES:
            raise errors.InvalidArgument(f"unsupported layer media type {layer.media_type!r}")
    config = await fetch_blob_bytes(repo, manifest.config)
    return Resolved(top, manifest, body, digest, config)


class Tee(Protocol):
    """Also receives a blob's bytes as they arrive (e.g. a layer extractor), in a worker thread."""

    def feed(self, data: bytes) -> None: ...

    def restart(self) -> None:
        """The download starts over from byte 0: what was fed so far is void."""


def _write(writer: Writer, tee: Tee | None, data: bytes) -> None:
    writer.write(data)
    if tee is not None:
        tee.feed(data)


async def download_blob(
    repo: Repository,
    desc: Descriptor,
    ingester: Ingester,
    on_progress: Callable[[int], None],
    tee: Tee | None = None,
) -> None:
    """Stream a blob into the content store, resuming with ``Range`` after network errors.

    The ingester's writer checks size and digest at commit, so a wrong or truncated blob is never stored.
    Disk writes, hashing and feeding ``tee`` run in a worker thread.
    """
    writer = await asyncio.to_thread(ingester.writer, desc.digest, desc.size)
    done = 0
    delay = _BACKOFF
    try:
        for attempt in range(_ATTEMPTS):
            headers = {"Range": f"bytes={done}-"} if done else {}
            try:
                resp = await repo.request("GET", f"{repo.path}/blobs/{desc.digest}", headers=headers, retry=False)
            except errors.Unavailable:
                if attempt == _ATTEMPTS - 1:
                    raise
                await asyncio.sleep(delay)
                delay *= 2
                continue
            try:
                if resp.status not in (200, 206):
                    body = await resp.read()
                    if resp.status == 404:
                        raise errors.NotFound(f"blob {desc.digest} not found: {registry_error(404, body)}")
                    raise errors.Unavailable(
                        f"blob {desc.digest}: status {resp.status}: {registry_error(resp.status, body)}"
                    )
                if done and resp.status == 200:
                    # the server ignored Range: start over
                    writer.abort()
                    writer = await asyncio.to_thread(ingester.writer, desc.digest, desc.size)
                    done = 0
                    if tee is not None:
                        tee.restart()
                async for chunk in _chunks(resp.raw):
                    await asyncio.to_thread(_write, writer, tee, chunk)
                    done += len(chunk)
                    on_progress(done)
            except (ConnectionError, TimeoutError, aiohttp.ClientError) as exc:
                if attempt == _ATTEMPTS - 1:
                    raise errors.Unavailable(f"error pulling blob {desc.digest}: {exc or type(exc).__name__}") from None
                await asyncio.sleep(delay)
                delay *= 2
                continue
            finally:
                resp.release()
            break
        await asyncio.to_thread(writer.commit)
    except BaseException:
        writer.abort()
        raise


async def _chunks(raw: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The body in pieces of about 1 MiB, so each worker-thread hop writes a useful amount."""
    buf = bytearray()
    while True:
        chunk = await raw.content.readany()
        if not chunk:
            break
        buf += chunk
        if len(buf) >= _WRITE_CHUNK:
            yield bytes(buf)
            buf.clear()
    if buf:
        yield bytes(buf)
