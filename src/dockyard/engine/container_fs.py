"""A container's filesystem from outside: the archive API (``docker cp``), export and changes.

Everything works on the rootfs view: the mounted ``<bundle>/rootfs`` of a running
container, or the container's snapshot mounted for the duration of the call in a
private directory when it is not running. Paths are resolved inside that root
(``secure_join``), archives are written without following symlinks, and uploads
are unpacked by ``dockyard.archive.apply_layer``, which refuses to write through
symlinks or outside its root.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import tarfile
import tempfile
import threading
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from dockyard import errors
from dockyard.archive import apply_layer, clean_name, decompressed
from dockyard.containers.rootfs import secure_join
from dockyard.containers.store import ContainerRecord
from dockyard.containers.user import resolve_user_in_rootfs
from dockyard.engine.cp_paths import PathStat, archive_name, container_path, path_stat, resolve_last_unfollowed
from dockyard.engine.failpoints import failpoint
from dockyard.engine.fs_changes import overlay_changes
from dockyard.mount.linux import mount_all, unmount_all
from dockyard.mount.types import Mount

__all__ = ["ContainerFS", "ContainerLookup", "LayerDirs", "SnapshotDirs", "TarStream", "layer_dirs"]

log = logging.getLogger("dockyard.engine.container_fs")

_CHUNK = 256 * 1024
_DEPTH = 8  # chunks in flight between the tar thread and the event loop


class SnapshotDirs(Protocol):
    """The part of a snapshotter this module reads."""

    def mounts(self, key: str) -> list[Mount]: ...

    def upper_dir(self, key: str) -> str: ...


class ContainerLookup(Protocol):
    def get(self, ref: str) -> ContainerRecord: ...

    def emit(self, rec: ContainerRecord, action: str, extra: Mapping[str, str] | None = None) -> None: ...


@dataclass(frozen=True)
class LayerDirs:
    upper: str
    lowers: tuple[str, ...]  # topmost first


def layer_dirs(snapshots: SnapshotDirs, key: str) -> LayerDirs:
    """A container snapshot's upper dir and the image's lower dirs (overlay storage only)."""
    if getattr(snapshots, "whiteout_style", "overlay") != "overlay":
        raise errors.NotImplementedYet("container changes need the overlay storage driver")
    upper = snapshots.upper_dir(key)
    lowers: tuple[str, ...] = ()
    for m in snapshots.mounts(key):
        for opt in m.options:
            name, _, value = opt.partition("=")
            if name == "lowerdir" and value:
                lowers = tuple(value.split(":"))
    return LayerDirs(upper, lowers)


@dataclass
class _SharedMount:
    target: str
    users: int = 0


class _View:
    """A container's rootfs as a host directory; ``close`` gives it back (once)."""

    def __init__(self, root: str, release: Callable[[], None]) -> None:
        self.root = root
        self._release = release
        self._lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._release()


class TarStream:
    """A tar a worker thread writes, read as chunks on the event loop.

    Iterate ``chunks()`` once; always ``await aclose()`` (it stops the worker and
    releases the rootfs view even when the stream was never read).
    """

    def __init__(self, produce: Callable[[TarStream], None], cleanup: Callable[[], None]) -> None:
        self._produce = produce
        self._cleanup = cleanup
        self._cancel = threading.Event()
        self._slots = threading.Semaphore(_DEPTH)
        self._buf = bytearray()
        self._thread: threading.Thread | None = None
        self._queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- worker side -------------------------------------------------------------

    def write(self, data: bytes) -> int:
        self._buf += data
        if len(self._buf) >= _CHUNK:
            self._post(bytes(self._buf))
            self._buf.clear()
        return len(data)

    def _post(self, item: bytes | BaseException | None) -> None:
        while not self._slots.acquire(timeout=0.2):
            if self._cancel.is_set():
                raise BrokenPipeError("the reader went away")
        if self._cancel.is_set():
            raise BrokenPipeError("the reader went away")
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def _run(self) -> None:
        # Cleanup comes before the end marker, so a client that has read the whole
        # tar finds the rootfs view already released.
        try:
            self._produce(self)
            if self._buf:
                self._post(bytes(self._buf))
        except BrokenPipeError:
            self._release()
            return
        except BaseException as exc:  # handed to the reader, which raises it
            self._release()
            with contextlib.suppress(BrokenPipeError):
                self._post(exc)
            return
        self._release()
        with contextlib.suppress(BrokenPipeError):
            self._post(None)

    def _release(self) -> None:
        try:
            self._cleanup()
        except Exception:  # the reader must still get its end marker
            log.exception("releasing a container rootfs view failed")

    # --- event loop side -----------------------------------------------------------

    async def chunks(self) -> AsyncIterator[bytes]:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="tar-stream", daemon=True)
        self._thread.start()
        while True:
            item = await self._queue.get()
            self._slots.release()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    async def aclose(self) -> None:
        self._cancel.set()
        if self._thread is None:
            await asyncio.to_thread(self._release)
            return
        await asyncio.to_thread(self._thread.join, 60)


def _anonymous(ti: tarfile.TarInfo) -> tarfile.TarInfo:
    # Host user names mean nothing inside the container: only numeric ids go in.
    ti.uname = ti.gname = ""
    ti.mtime = int(ti.mtime)  # whole seconds keep entries plain ustar, as Docker writes them
    return ti


def _rooted(ti: tarfile.TarInfo) -> tarfile.TarInfo:
    # Docker names the entries of a copy of "/" "/", "/bin" ...: the CLI rebases them on that prefix.
    ti = _anonymous(ti)
    ti.name = "/" + ti.name
    if ti.islnk():
        ti.linkname = "/" + ti.linkname
    return ti


def _write_path_tar(out: TarStream, host_path: str, name: str) -> None:
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        if name == "/":
            tar.add(host_path, arcname="", recursive=True, filter=_rooted)
        else:
            tar.add(host_path, arcname=name, recursive=True, filter=_anonymous)


def _write_rootfs_tar(out: TarStream, root: str) -> None:
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for name in sorted(os.listdir(root)):
            tar.add(os.path.join(root, name), arcname=name, recursive=True, filter=_anonymous)


def _network_file(rec: ContainerRecord, root: str, host: str) -> str:
    """The daemon's own hosts/hostname/resolv.conf for their rootfs stubs (bind-mounted only inside the container)."""
    for rel, real in (
        ("etc/hosts", rec.hosts_path),
        ("etc/hostname", rec.hostname_path),
        ("etc/resolv.conf", rec.resolv_conf_path),
    ):
        if real and host == os.path.join(root, rel) and os.path.isfile(real):
            try:
                st = os.lstat(host)
            except FileNotFoundError:
                return real  # not started yet: the stub is made at start
            if stat.S_ISREG(st.st_mode) and st.st_size == 0:
                return real
    return host


def _not_found(path: str, rec: ContainerRecord) -> errors.NotFound:
    return errors.NotFound(f"Could not find the file {path} in container {rec.name}")


def _member_names(spool: str) -> list[tuple[str, bool]]:
    """``(relative name, is directory)`` of every entry of the uploaded (maybe compressed) tar."""
    out: list[tuple[str, bool]] = []
    try:
        with open(spool, "rb") as raw, tarfile.open(fileobj=decompressed(raw), mode="r|") as tar:  # type: ignore[call-overload]
            for m in tar:
                out.append((clean_name(m.name), m.isdir()))
    except (tarfile.TarError, EOFError) as exc:
        raise errors.InvalidArgument(f"invalid tar archive: {exc}") from None
    return out


def _check_dir_non_dir(dest: str, abs_dest: str, members: Sequence[tuple[str, bool]]) -> None:
    for rel, is_dir in members:
        if not rel:
            continue
        try:
            st = os.lstat(os.path.join(dest, rel))
        except (FileNotFoundError, NotADirectoryError):
            continue
        shown = os.path.join(abs_dest, rel)
        if stat.S_ISDIR(st.st_mode) and not is_dir:
            raise errors.InvalidArgument(f'cannot overwrite directory "{shown}" with non-directory "{rel}"')
        if not stat.S_ISDIR(st.st_mode) and is_dir:
            raise errors.InvalidArgument(f'cannot overwrite non-directory "{shown}" with directory "{rel}"')


class ContainerFS:
    """Archive, export and changes for containers; ``views_dir`` holds temporary rootfs mounts."""

    def __init__(
        self, containers: ContainerLookup, snapshots: SnapshotDirs, views_dir: str, spool_dir: str | None = None
    ) -> None:
        self._containers = containers
        self._snapshots = snapshots
        self._views_dir = views_dir
        # uploads are spooled on disk (not in a tmpfs exec root) when the caller says where
        self._spool_dir = spool_dir or views_dir
        self._lock = threading.Lock()
        self._mounted: dict[str, _SharedMount] = {}  # by container ID
        os.makedirs(views_dir, mode=0o700, exist_ok=True)
        os.makedirs(self._spool_dir, mode=0o700, exist_ok=True)
        self._sweep()

    def _sweep(self) -> None:
        """Views a killed daemon left mounted, uploads it left spooled: nothing else uses these directories."""
        for name in os.listdir(self._views_dir):
            path = os.path.join(self._views_dir, name)
            if os.path.isdir(path) and not os.path.islink(path):
                unmount_all(path)
                with contextlib.suppress(OSError):
                    os.rmdir(path)  # never rmtree: a view that stayed mounted holds a container's files
        for name in os.listdir(self._spool_dir):
            if name.startswith("upload-"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self._spool_dir, name))

    # --- rootfs views ---------------------------------------------------------------

    def _open_view(self, rec: ContainerRecord) -> _View:
        rootfs = os.path.join(rec.bundle, "rootfs")
        if rec.bundle and os.path.ismount(rootfs):
            return _View(rootfs, lambda: None)
        # Concurrent copies of one stopped container share a single mount of its snapshot.
        with self._lock:
            shared = self._mounted.get(rec.id)
            if shared is None:
                target = os.path.join(self._views_dir, f"{rec.id[:12]}-{uuid.uuid4().hex[:8]}")
                os.mkdir(target, 0o700)
                try:
                    mount_all(self._snapshots.mounts(rec.id), target)
                except BaseException:
                    os.rmdir(target)
                    raise
                failpoint("fs:view-mounted")
                shared = self._mounted[rec.id] = _SharedMount(target)
            shared.users += 1
        return _View(shared.target, lambda: self._release(rec.id))

    def _release(self, cid: str) -> None:
        with self._lock:
            shared = self._mounted.get(cid)
            if shared is None:
                return
            shared.users -= 1
            if shared.users > 0:
                return
            del self._mounted[cid]
            unmount_all(shared.target)
            with contextlib.suppress(OSError):
                os.rmdir(shared.target)

    async def _view(self, rec: ContainerRecord) -> _View:
        return await asyncio.to_thread(self._open_view, rec)

    # --- archive API -------------------------------------------------------------------

    def _stat_in(self, rec: ContainerRecord, root: str, path: str) -> tuple[PathStat, str, str]:
        abs_path = container_path(path)
        host = _network_file(rec, root, resolve_last_unfollowed(root, abs_path))
        try:
            return path_stat(root, abs_path, host), host, abs_path
        except (FileNotFoundError, NotADirectoryError):
            raise _not_found(path, rec) from None

    async def stat(self, ref: str, path: str) -> PathStat:
        """``HEAD /containers/{id}/archive``."""
        rec = self._containers.get(ref)
        view = await self._view(rec)
        try:
            st, _, _ = await asyncio.to_thread(self._stat_in, rec, view.root, path)
        finally:
            await asyncio.to_thread(view.close)
        return st

    async def archive(self, ref: str, path: str) -> tuple[PathStat, TarStream]:
        """``GET /containers/{id}/archive``: the path's stat and a tar of it, entries named by its base name."""
        rec = self._containers.get(ref)
        view = await self._view(rec)
        try:
            st, host, abs_path = await asyncio.to_thread(self._stat_in, rec, view.root, path)
        except BaseException:
            await asyncio.to_thread(view.close)
            raise
        name = archive_name(abs_path)
        stream = TarStream(lambda out: _write_path_tar(out, host, name), view.close)
        self._containers.emit(rec, "archive-path", {"path": path})
        return st, stream

    async def extract(
        self,
        ref: str,
        path: str,
        body: AsyncIterable[bytes],
        *,
        no_overwrite_dir_non_dir: bool = False,
        copy_uid_gid: bool = False,
    ) -> None:
        """``PUT /containers/{id}/archive``: unpack a tar into the directory ``path`` (symlinks followed inside)."""
        rec = self._containers.get(ref)
        if rec.host_config.get("ReadonlyRootfs"):
            raise errors.Forbidden("container rootfs is marked read-only")
        view = await self._view(rec)
        try:
            abs_path = container_path(path)
            dest = await asyncio.to_thread(self._extraction_dir, rec, view.root, path, abs_path)
            spool = await self._spool(body)
            try:
                await asyncio.to_thread(
                    self._extract_sync, rec, view.root, dest, abs_path, spool, no_overwrite_dir_non_dir, copy_uid_gid
                )
            finally:
                os.unlink(spool)
        finally:
            await asyncio.to_thread(view.close)
        self._containers.emit(rec, "extract-to-dir", {"path": path})

    def _extraction_dir(self, rec: ContainerRecord, root: str, path: str, abs_path: str) -> str:
        dest = secure_join(root, abs_path)
        try:
            st = os.lstat(dest)
        except (FileNotFoundError, NotADirectoryError):
            raise _not_found(path, rec) from None
        if not stat.S_ISDIR(st.st_mode):
            raise errors.InvalidArgument("extraction point is not a directory")
        return dest

    async def _spool(self, body: AsyncIterable[bytes]) -> str:
        fd, spool = tempfile.mkstemp(dir=self._spool_dir, prefix="upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                async for chunk in body:
                    await asyncio.to_thread(f.write, chunk)
        except BaseException:
            os.unlink(spool)
            raise
        return spool

    def _extract_sync(
        self,
        rec: ContainerRecord,
        root: str,
        dest: str,
        abs_dest: str,
        spool: str,
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
    ) -> None:
        members = _member_names(spool)
        if no_overwrite_dir_non_dir:
            _check_dir_non_dir(dest, abs_dest, members)
        with open(spool, "rb") as f:
            apply_layer(f, dest, whiteouts="remove")
        user = str(rec.config.get("User") or "")
        if copy_uid_gid and user:
            # Docker's -a with a configured user: everything copied belongs to that user.
            who = resolve_user_in_rootfs(root, user)
            for rel, _ in members:
                with contextlib.suppress(FileNotFoundError):
                    os.lchown(os.path.join(dest, rel) if rel else dest, who.uid, who.gid)

    # --- export and changes ------------------------------------------------------------

    async def export(self, ref: str) -> TarStream:
        """``GET /containers/{id}/export``: a tar of the container's whole filesystem."""
        rec = self._containers.get(ref)
        view = await self._view(rec)
        stream = TarStream(lambda out: _write_rootfs_tar(out, view.root), view.close)
        self._containers.emit(rec, "export")
        return stream

    async def changes(self, ref: str) -> list[dict[str, Any]]:
        """``GET /containers/{id}/changes``: ``[{"Path": ..., "Kind": 0|1|2}]`` in Docker's order."""
        rec = self._containers.get(ref)
        dirs = await asyncio.to_thread(layer_dirs, self._snapshots, rec.id)
        found = await asyncio.to_thread(overlay_changes, dirs.upper, dirs.lowers)
        return [c.to_json() for c in found]
