"""``dockyard cp``: copy between a container and the local filesystem with docker's path rules.

The archive endpoints move tars whose top entry is the source's base name; the
rules below decide which directory receives it and under which name, so that
``cp c:/etc/hosts ./x`` makes a file ``x`` and ``cp c:/etc ./d`` (``d`` existing)
makes ``d/etc``, as ``docker cp`` does.
"""

from __future__ import annotations

import os
import posixpath
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import click

from dockyard import errors
from dockyard.cli.archive_output import write_archive
from dockyard.cli.context import client_from
from dockyard.cli.humanize import human_size
from dockyard.client import Client

__all__ = ["CopyPlan", "commands", "plan_copy", "split_container_path"]

_GO_DIR = 1 << 31  # Go's os.ModeDir in the archive stat's mode
_GO_SYMLINK = 1 << 27
_SPOOL = 32 << 20


def split_container_path(arg: str) -> tuple[str | None, str]:
    """``CONTAINER:PATH`` -> (container, path); a local path (``./a:b``, ``/x``) -> (None, path)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    name, _, path = arg.partition(":")
    return (name, path) if name else (None, arg)


@dataclass(frozen=True)
class CopyPlan:
    """Where the source's tar goes: extract into ``parent``, its top entry renamed to ``name`` (None: kept)."""

    parent: str
    name: str | None


def plan_copy(src: str, src_is_dir: bool, dst: str, dst_kind: str | None) -> CopyPlan:
    """docker cp's rules; ``dst_kind`` is "dir", "file" or None (missing)."""
    contents_only = src_is_dir and (src.endswith("/.") or src == ".")
    if dst_kind == "dir":
        return CopyPlan(dst, "." if contents_only else None)
    if dst_kind == "file":
        if src_is_dir:
            raise errors.InvalidArgument(f'cannot copy a directory to a file: "{dst}"')
        return CopyPlan(posixpath.dirname(dst.rstrip("/")) or ".", posixpath.basename(dst))
    if dst.endswith("/") and not src_is_dir:
        raise errors.InvalidArgument(f'destination directory "{dst}" does not exist')
    trimmed = dst.rstrip("/") or "/"
    return CopyPlan(posixpath.dirname(trimmed) or ".", posixpath.basename(trimmed))


def _rename_top(name: str, new_top: str | None) -> str | None:
    """A member's name with its first component replaced; None when it should be skipped."""
    if new_top is None:
        return name
    _first, sep, rest = name.lstrip("/").partition("/")
    if new_top == ".":
        return rest if sep and rest else None
    return new_top + (sep + rest if sep else "")


def _local_kind(path: str) -> str | None:
    if os.path.isdir(path):
        return "dir"
    return "file" if os.path.lexists(path) else None


def extract(tar_stream: IO[bytes], plan: CopyPlan) -> int:
    """Extract a tar from the daemon safely under ``plan.parent``; returns the bytes written."""
    total = 0
    os.makedirs(plan.parent, exist_ok=True)
    dest = os.path.realpath(plan.parent)
    with tarfile.open(fileobj=tar_stream, mode="r|*") as tf:
        for member in tf:
            new = _rename_top(member.name, plan.name)
            if new is None:
                continue
            member = member.replace(name=new, deep=False)
            if member.islnk():
                link = _rename_top(member.linkname, plan.name)
                member = member.replace(linkname=link or member.linkname, deep=False)
            # tar_filter: nothing outside dest (also through symlinks); files owned by whoever copies, like docker.
            safe = tarfile.tar_filter(member, dest)
            safe = safe.replace(uid=None, gid=None, uname=None, gname=None, deep=False)  # type: ignore[arg-type]
            tf.extract(safe, dest, set_attrs=True, filter="fully_trusted")
            total += member.size
    return total


def _go_kind(stat: dict[str, Any]) -> str | None:
    if not stat:
        return None
    return "dir" if int(stat.get("mode") or 0) & _GO_DIR else "file"


def copy_from_container(client: Client, container: str, src: str, dst: str, follow: bool) -> str:
    if follow:
        stat = client.archive_stat(container, src)
        if int(stat.get("mode") or 0) & _GO_SYMLINK and stat.get("linkTarget"):
            src = str(stat["linkTarget"])
    resp, stat = client.get_archive(container, src)
    try:
        if dst == "-":
            return human_size(write_archive(resp, None))
        plan = plan_copy(src, _go_kind(stat) == "dir", dst, _local_kind(dst))
        return human_size(extract(resp, plan))  # type: ignore[arg-type]
    finally:
        resp.close()


def _tar_local(src: str, top: str, contents_only: bool, out: IO[bytes], *, keep_owner: bool) -> int:
    def owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
        # Without -a docker makes copied files the container root's; say so in the tar itself.
        if not keep_owner:
            info.uid = info.gid = 0
            info.uname = info.gname = ""
        return info

    size = 0
    with tarfile.open(fileobj=out, mode="w|") as tf:
        if contents_only:
            for entry in sorted(os.listdir(src)):
                tf.add(os.path.join(src, entry), arcname=entry, filter=owner)
        else:
            tf.add(src, arcname=top, filter=owner)
        for m in tf.getmembers():
            size += m.size
    return size


def _spooled(src: str, top: str, contents_only: bool, *, keep_owner: bool) -> tuple[IO[bytes], int]:
    buf = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115 - the caller closes it
    size = _tar_local(src, top, contents_only, buf, keep_owner=keep_owner)  # type: ignore[arg-type]
    buf.seek(0)
    return buf, size  # type: ignore[return-value]


def copy_to_container(client: Client, src: str, container: str, dst: str, follow: bool, archive: bool) -> str:
    if src == "-":
        client.put_archive(container, dst, _stdin_chunks(), copy_uid_gid=archive)
        return "stdin"
    path = os.path.realpath(src) if follow else src
    if not os.path.lexists(path):
        raise errors.NotFound(f'stat {src}: no such file or directory: "{src}"')
    src_is_dir = os.path.isdir(path) and (follow or not os.path.islink(path))
    try:
        dst_kind = _go_kind(client.archive_stat(container, dst))
    except errors.NotFound:
        dst_kind = None
    plan = plan_copy(src, src_is_dir, dst, dst_kind)
    base = os.path.basename(os.path.normpath(src)) if src not in (".", "/") else os.path.basename(os.path.abspath(src))
    contents_only = plan.name == "."
    data, size = _spooled(path, plan.name or base, contents_only, keep_owner=archive)
    with data:
        client.put_archive(container, plan.parent, data, copy_uid_gid=archive)
    return human_size(size)


def _stdin_chunks() -> Iterator[bytes]:
    while chunk := sys.stdin.buffer.read(1 << 20):
        yield chunk


@click.command()
@click.option("-a", "--archive", is_flag=True, help="Archive mode (copy all uid/gid information).")
@click.option("-L", "--follow-link", is_flag=True, help="Always follow symbol link in SRC_PATH.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress progress output during copy.")
@click.argument("src")
@click.argument("dst")
@click.pass_context
def cp(ctx: click.Context, archive: bool, follow_link: bool, quiet: bool, src: str, dst: str) -> int:
    """Copy files/folders between a container and the local filesystem (- for a tar stream)."""
    src_ctr, src_path = split_container_path(src)
    dst_ctr, dst_path = split_container_path(dst)
    if (src_ctr is None) == (dst_ctr is None):
        which = "one of" if src_ctr is None else "only one of"
        raise errors.InvalidArgument(f"must specify at least {which} SRC_PATH and DEST_PATH as container:path")
    client = client_from(ctx)
    if src_ctr is not None:
        if not src_path:
            raise errors.InvalidArgument("filepath is empty")
        size = copy_from_container(client, src_ctr, src_path, dst_path, follow_link)
    else:
        assert dst_ctr is not None
        if not dst_path:
            raise errors.InvalidArgument("filepath is empty")
        size = copy_to_container(client, src_path, dst_ctr, dst_path, follow_link, archive)
    if not quiet and dst_path != "-" and sys.stderr.isatty():
        print(f"Successfully copied {size} to {dst}", file=sys.stderr)
    return 0


def commands() -> list[click.Command]:
    return [cp]
