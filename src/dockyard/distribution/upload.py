"""Push-side registry operations: skip what the registry has, mount across repositories, upload, put manifests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import BinaryIO
from urllib.parse import urljoin

from dockyard import errors
from dockyard.distribution.client import Repository, registry_error
from dockyard.oci.digest import Digest, sha256_of
from dockyard.oci.image import Descriptor

__all__ = ["EXISTS", "MOUNTED", "PUSHED", "put_manifest", "upload_blob"]

EXISTS, MOUNTED, PUSHED = "exists", "mounted", "pushed"
_CHUNK = 1 << 20


async def _file_chunks(open_blob: Callable[[], BinaryIO], on_progress: Callable[[int], None]) -> AsyncIterator[bytes]:
    f = await asyncio.to_thread(open_blob)
    sent = 0
    try:
        while chunk := await asyncio.to_thread(f.read, 4 * _CHUNK):
            sent += len(chunk)
            yield chunk
            on_progress(sent)
    finally:
        f.close()


async def upload_blob(
    repo: Repository,
    desc: Descriptor,
    open_blob: Callable[[], BinaryIO],
    on_progress: Callable[[int], None],
    mount_from: Sequence[str] = (),
) -> str:
    """Make ``desc`` present in the repository: ``EXISTS``, ``MOUNTED`` (from another repository) or ``PUSHED``."""
    if await repo.blob_exists(desc.digest):
        return EXISTS
    location = ""
    for source in mount_from:
        if source == repo.path:
            continue
        resp = await repo.request(
            "POST", f"{repo.path}/blobs/uploads/", params={"mount": str(desc.digest), "from": source}
        )
        await resp.read()
        resp.release()
        if resp.status == 201:
            return MOUNTED
        if resp.status == 202:
            location = urljoin(resp.url, resp.headers.get("Location", ""))
            break
    if not location:
        location = await _start_upload(repo)
    # One streamed PATCH and a closing PUT: the shape Docker uses, which every registry accepts.
    resp = await repo.request(
        "PATCH",
        location,
        headers={"Content-Type": "application/octet-stream", "Content-Length": str(desc.size)},
        data=_file_chunks(open_blob, on_progress),
        retry=False,
    )
    body = await resp.read()
    resp.release()
    if resp.status != 202:
        raise errors.Unavailable(f"upload of {desc.digest} failed: {resp.status}: {registry_error(resp.status, body)}")
    location = urljoin(resp.url, resp.headers.get("Location", location))
    resp = await repo.request("PUT", location, params={"digest": str(desc.digest)}, data=b"")
    body = await resp.read()
    resp.release()
    if resp.status != 201:
        raise errors.Unavailable(f"upload of {desc.digest} failed: {resp.status}: {registry_error(resp.status, body)}")
    return PUSHED


async def _start_upload(repo: Repository) -> str:
    resp = await repo.request("POST", f"{repo.path}/blobs/uploads/", data=b"")
    body = await resp.read()
    resp.release()
    if resp.status in (401, 403):
        raise errors.Unauthorized(f"denied: {registry_error(resp.status, body)}")
    if resp.status != 202 or not resp.headers.get("Location"):
        raise errors.Unavailable(f"cannot start an upload: {resp.status}: {registry_error(resp.status, body)}")
    return urljoin(resp.url, resp.headers["Location"])


async def put_manifest(repo: Repository, reference: str, media_type: str, body: bytes) -> Digest:
    """PUT a manifest under a tag (or its digest); returns its digest."""
    digest = sha256_of(body)
    resp = await repo.request(
        "PUT", f"{repo.path}/manifests/{reference}", headers={"Content-Type": media_type}, data=body
    )
    text = await resp.read()
    resp.release()
    if resp.status in (401, 403):
        raise errors.Unauthorized(f"denied: {registry_error(resp.status, text)}")
    if resp.status not in (200, 201, 202):
        raise errors.InvalidArgument(f"manifest upload failed: {resp.status}: {registry_error(resp.status, text)}")
    header = resp.headers.get("Docker-Content-Digest", "")
    if header and header != str(digest):
        raise errors.DigestMismatch(f"registry stored the manifest as {header}, expected {digest}")
    return digest
