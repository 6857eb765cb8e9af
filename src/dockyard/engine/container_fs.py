"""A container's filesystem from outside: the archive API (``docker cp``), export and changes.

Everything works on the rootfs view: the mounted ``<bundle>/rootfs`` of a running
container, or the container's snapshot mounted for the duration of the call in a
private directory when it is not running; for the archive API the container's
volumes and binds are bound over their mountpoints in a view of its own, so
``docker cp`` sees what the container sees (export leaves them out, as Docker's
does). Paths are resolved inside that root
(``secure_join``), archives are written without following symlinks, and uploads
are unpacked by ``dockyard.archive.apply_layer``, which refuses to write through
symlinks or outside its root.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import stat
import tarfile
import tempfile
import threading
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from dockyard import errors
from dockyard.archive import apply_layer, clean_name, decompressed
from dockyard.archive.naive_diff import materialize_diff
from dockyard.containers.rootfs import secure_join
from dockyard.containers.store import ContainerRecord
from dockyard.containers.user import resolve_user_in_rootfs
from dockyard.engine.cp_paths import PathStat, archive_name, container_path, path_stat, resolve_last_unfollowed
from dockyard.engine.failpoints import failpoint
from dockyard.engine.fs_changes import Change, overlay_changes
from dockyard.idmaps import IdMaps
from dockyard.mount.linux import mount, mount_all, unmount_all
from dockyard.mount.types import Mount
from dockyard.snapshots.api import WhiteoutStyle

__all__ = ["ContainerFS", "ContainerLookup", "LayerDirs", "SnapshotDirs", "TarStream", "layer_dirs"]

log = logging.getLogger("dockyard.engine.container_fs")

_CHUNK = 256 * 1024
_DEPTH = 8  # chunks in flight between the tar thread and the event loop


class SnapshotDirs(Protocol):
    """The part of a snapshotter this module reads."""

    ids: IdMaps | None  # owners stored shifted (userns-remap)
    whiteout_style: WhiteoutStyle

    def parent(self, key: str) -> str | None: ...

    def mounts(self, key: str) -> list[Mount]: ...

    def upper_dir(self, key: str) -> str: ...


class ContainerLookup(Protocol):
    def get(self, ref: str) -> ContainerRecord: ...

    def emit(self, rec: ContainerRecord, action: str, extra: Mapping[str, str] | None = None) -> None: ...


@dataclass(frozen=True)
class LayerDirs:
    upper: str
    lowers: tuple[str, ...]  # topmost first


@contextlib.contextmanager
def layer_dirs(snapshots: SnapshotDirs, key: str) -> Iterator[LayerDirs]:
    """A container snapshot's changes as an overlay upper dir, and the image's lower dirs.

    With overlay storage they are the snapshot's own dirs. The copy driver keeps whole
    trees, so its changes are laid out in a scratch dir beside the snapshot for the
    duration of the block (``archive.materialize_diff``).
    """
    upper = snapshots.upper_dir(key)
    if snapshots.whiteout_style == "overlay":
        lowers: tuple[str, ...] = ()
        for m in snapshots.mounts(key):
            for opt in m.options:
                name, _, value = opt.partition("=")
                if name == "lowerdir" and value:
                    lowers = tuple(value.split(":"))
        yield LayerDirs(upper, lowers)
        return
    parent = snapshots.parent(key)
    scratch = tempfile.mkdtemp(prefix="diff-", dir=os.path.dirname(upper))  # hard links need one filesystem
    try:
        lower = snapshots.upper_dir(parent) if parent else os.path.join(scratch, "empty")
        diff = os.path.join(scratch, "upper")
        os.mkdir(diff)
        if not parent:
            os.mkdir(lower)
        materialize_diff(lower, upper, diff)
        yield LayerDirs(diff, (lower,))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


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


def _anonymous(ti: tarfile.TarInfo, ids: IdMaps | None = None) -> tarfile.TarInfo:
    # Host user names mean nothing inside the container: only numeric ids go in, as the container sees them.
    ti.uname = ti.gname = ""
    if ids is not None:
        ti.uid, ti.gid = ids.container_uid(ti.uid), ids.container_gid(ti.gid)
    ti.mtime = int(ti.mtime)  # whole seconds keep entries plain ustar, as Docker writes them
    return ti


def _rooted(ti: tarfile.TarInfo, ids: IdMaps | None = None) -> tarfile.TarInfo:
    # Docker names the entries of a copy of "/" "/", "/bin" ...: the CLI rebases them on that prefix.
    ti = _anonymous(ti, ids)
    ti.name = "/" + ti.name
    if ti.islnk():
        ti.linkname = "/" + ti.linkname
    return ti


def _write_path_tar(out: TarStream, host_path: str, name: str, ids: IdMaps | None = None) -> None:
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        if name == "/":
            tar.add(host_path, arcname="", recursive=True, filter=lambda ti: _rooted(ti, ids))
        else:
            tar.add(host_path, arcname=name, recursive=True, filter=lambda ti: _anonymous(ti, ids))


def _write_rootfs_tar(out: TarStream, root: str, ids: IdMaps | None = None) -> None:
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for name in sorted(os.listdir(root)):
            tar.add(os.path.join(root, name), arcname=name, recursive=True, filter=lambda ti: _anonymous(ti, ids))


def _volume_binds(rec: ContainerRecord) -> list[tuple[str, str, bool]]:
    """(host source, container destination, read-write) of the volumes and binds, parents first."""
    out = []
    for mp in rec.mount_points:  # inspect's Mounts entries
        source = str(mp.get("Source") or "")
        if mp.get("Type") in ("bind", "volume") and source and os.path.exists(source):
            out.append((source, container_path(str(mp.get("Destination") or "/")), bool(mp.get("RW", True))))
    return sorted(out, key=lambda b: b[1].count("/"))


def _volume_holding(rec: ContainerRecord, abs_path: str) -> bool | None:
    """Whether the volume or bind that holds ``abs_path`` is writable; None when it is in the rootfs."""
    best: tuple[int, bool] | None = None
    for _, dest, rw in _volume_binds(rec):
        if (abs_path == dest or abs_path.startswith(dest.rstrip("/") + "/")) and (best is None or len(dest) > best[0]):
            best = (len(dest), rw)
    return None if best is None else best[1]


def _mount_binds(binds: Sequence[tuple[str, str, bool]], root: str) -> None:
    """Bind each source over its mountpoint stub inside ``root`` (a stub not made yet: skipped, as nothing is there)."""
    for source, dest, rw in binds:
        where = secure_join(root, dest)
        if os.path.isdir(source) != os.path.isdir(where) or not os.path.exists(where):
            continue
        mount(Mount("bind", source, ("rbind",) if rw else ("rbind", "ro")), where)


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

    def _open_view(self, rec: ContainerRecord, volumes: bool = True) -> _View:
        """The container's files: its rootfs and, with ``volumes``, its volumes and binds (as ``docker cp`` sees)."""
        rootfs = os.path.join(rec.bundle, "rootfs")
        running = bool(rec.bundle) and os.path.ismount(rootfs)
        binds = _volume_binds(rec) if volumes else []
        if running and not binds:
            return _View(rootfs, lambda: None)
        # Concurrent copies of one container share a single view.
        key = f"{rec.id}{'+volumes' if binds else ''}"
        with self._lock:
            shared = self._mounted.get(key)
            if shared is None:
                target = os.path.join(self._views_dir, f"{rec.id[:12]}-{uuid.uuid4().hex[:8]}")
                os.mkdir(target, 0o700)
                try:
                    # A running container's overlay is bound, never mounted twice over one upper dir.
                    base = [Mount("bind", rootfs, ("bind",))] if running else self._snapshots.mounts(rec.id)
                    mount_all(base, target)
                    try:
                        _mount_binds(binds, target)
                    except BaseException:
                        unmount_all(target)
                        raise
                except BaseException:
                    os.rmdir(target)
                    raise
                failpoint("fs:view-mounted")
                shared = self._mounted[key] = _SharedMount(target)
            shared.users += 1
        return _View(shared.target, lambda: self._release(key))

    def _release(self, key: str) -> None:
        with self._lock:
            shared = self._mounted.get(key)
            if shared is None:
                return
            shared.users -= 1
            if shared.users > 0:
                return
            del self._mounted[key]
            unmount_all(shared.target)
            with contextlib.suppress(OSError):
                os.rmdir(shared.target)

    async def _view(self, rec: ContainerRecord, volumes: bool = True) -> _View:
        return await asyncio.to_thread(self._open_view, rec, volumes)

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
        ids = self._snapshots.ids
        stream = TarStream(lambda out: _write_path_tar(out, host, name, ids), view.close)
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
        in_volume = _volume_holding(rec, container_path(path))
        if in_volume is not None and not in_volume:
            raise errors.Forbidden("mounted volume is marked read-only")
        if in_volume is None and rec.host_config.get("ReadonlyRootfs"):
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
        ids = self._snapshots.ids
        if no_overwrite_dir_non_dir:
            _check_dir_non_dir(dest, abs_dest, members)
        with open(spool, "rb") as f:
            try:
                apply_layer(f, dest, whiteouts="remove", ids=ids)
            except OSError as exc:
                if exc.errno != errno.EROFS:
                    raise
                # reached through a symlink into a read-only mount
                raise errors.Forbidden(f"read-only file system: {abs_dest}") from None
        user = str(rec.config.get("User") or "")
        if copy_uid_gid and user:
            # Docker's -a with a configured user: everything copied belongs to that user.
            who = resolve_user_in_rootfs(root, user)
            uid, gid = (who.uid, who.gid) if ids is None else (ids.host_uid(who.uid), ids.host_gid(who.gid))
            for rel, _ in members:
                with contextlib.suppress(FileNotFoundError):
                    os.lchown(os.path.join(dest, rel) if rel else dest, uid, gid)

    # --- export and changes ------------------------------------------------------------

    async def export(self, ref: str) -> TarStream:
        """``GET /containers/{id}/export``: a tar of the container's whole filesystem."""
        rec = self._containers.get(ref)
        view = await self._view(rec, volumes=False)  # like Docker's, an export holds no volume
        ids = self._snapshots.ids
        stream = TarStream(lambda out: _write_rootfs_tar(out, view.root, ids), view.close)
        self._containers.emit(rec, "export")
        return stream

    async def changes(self, ref: str) -> list[dict[str, Any]]:
        """``GET /containers/{id}/changes``: ``[{"Path": ..., "Kind": 0|1|2}]`` in Docker's order."""
        rec = self._containers.get(ref)
        found = await asyncio.to_thread(self._changes_sync, rec.id)
        return [c.to_json() for c in found]

    def _changes_sync(self, cid: str) -> list[Change]:
        with layer_dirs(self._snapshots, cid) as dirs:
            return overlay_changes(dirs.upper, dirs.lowers)
