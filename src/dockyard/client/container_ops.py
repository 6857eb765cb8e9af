"""Endpoints for the container lifecycle beyond run: pause, update, top, stats, archive, commit, prune."""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any
from urllib.parse import quote

from dockyard.client.base import BaseClient, encode_filters

__all__ = ["ContainerOpsMixin", "decode_path_stat"]


def _c(ref: str) -> str:
    return f"/containers/{quote(ref, safe='')}"


def decode_path_stat(header: str | None) -> dict[str, Any]:
    """The ``X-Docker-Container-Path-Stat`` header: base64 of a JSON stat."""
    if not header:
        return {}
    try:
        return dict(json.loads(base64.b64decode(header + "=" * (-len(header) % 4))))
    except ValueError:
        return {}


class ContainerOpsMixin(BaseClient):
    def pause(self, ref: str) -> None:
        self.request("POST", _c(ref) + "/pause")

    def unpause(self, ref: str) -> None:
        self.request("POST", _c(ref) + "/unpause")

    def restart(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        self.request("POST", _c(ref) + "/restart", {"t": timeout, "signal": signal})

    def rename(self, ref: str, name: str) -> None:
        self.request("POST", _c(ref) + "/rename", {"name": name})

    def update_container(self, ref: str, update: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self.request("POST", _c(ref) + "/update", body=dict(update)) or {})

    def top(self, ref: str, ps_args: str | None = None) -> dict[str, Any]:
        return dict(self.request("GET", _c(ref) + "/top", {"ps_args": ps_args}))

    def stats(self, ref: str, *, stream: bool = False, one_shot: bool = False) -> Iterator[dict[str, Any]]:
        """Stats samples: one (``stream=False``) or a sample a second until closed."""
        params = {"stream": stream, "one-shot": one_shot or None}
        for msg in self.stream_json("GET", _c(ref) + "/stats", params):
            if isinstance(msg, dict):
                yield msg

    def changes(self, ref: str) -> list[dict[str, Any]]:
        return list(self.request("GET", _c(ref) + "/changes") or [])

    def export(self, ref: str) -> http.client.HTTPResponse:
        """The container's filesystem as a tar stream (read it, then close it)."""
        return self.open("GET", _c(ref) + "/export")

    def archive_stat(self, ref: str, path: str) -> dict[str, Any]:
        resp = self.open("HEAD", _c(ref) + "/archive", {"path": path})
        try:
            resp.read()
        finally:
            resp.close()
        return decode_path_stat(resp.getheader("X-Docker-Container-Path-Stat"))

    def get_archive(self, ref: str, path: str) -> tuple[http.client.HTTPResponse, dict[str, Any]]:
        """A tar of ``path`` in the container and the stat of ``path``."""
        resp = self.open("GET", _c(ref) + "/archive", {"path": path})
        return resp, decode_path_stat(resp.getheader("X-Docker-Container-Path-Stat"))

    def put_archive(
        self,
        ref: str,
        path: str,
        data: bytes | IO[bytes] | Iterable[bytes],
        *,
        no_overwrite_dir_non_dir: bool = True,
        copy_uid_gid: bool = False,
    ) -> None:
        params = {
            "path": path,
            "noOverwriteDirNonDir": no_overwrite_dir_non_dir or None,
            "copyUIDGID": copy_uid_gid or None,
        }
        resp = self.open("PUT", _c(ref) + "/archive", params, data=data, headers={"Content-Type": "application/x-tar"})
        try:
            resp.read()
        finally:
            resp.close()

    def commit(
        self,
        ref: str,
        *,
        repo: str | None = None,
        tag: str | None = None,
        author: str | None = None,
        comment: str | None = None,
        changes: Iterable[str] = (),
        pause: bool = True,
    ) -> dict[str, Any]:
        params: list[tuple[str, str]] = [("container", ref), ("pause", "1" if pause else "0")]
        params += [(k, v) for k, v in (("repo", repo), ("tag", tag), ("author", author), ("comment", comment)) if v]
        params += [("changes", c) for c in changes]
        return dict(self.request("POST", "/commit", params, body={}))

    def prune_containers(self, filters: Mapping[str, Iterable[str]] | None = None) -> dict[str, Any]:
        return dict(self.request("POST", "/containers/prune", {"filters": encode_filters(filters)}) or {})
