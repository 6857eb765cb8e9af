"""A small synchronous Engine API client: one method per endpoint the CLI uses."""

from __future__ import annotations

import http.client
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any
from urllib.parse import quote

from dockyard.client.base import BaseClient, Params, PendingResponse
from dockyard.client.base import encode_filters as _filters
from dockyard.client.container_ops import ContainerOpsMixin
from dockyard.client.distribution import DistributionMixin
from dockyard.client.hijack import HijackedStream
from dockyard.client.resources import ResourcesMixin
from dockyard.client.streams import MULTIPLEXED_CONTENT_TYPE, RAW_CONTENT_TYPE, iter_frames

__all__ = ["Client", "Params", "PendingResponse"]


class Client(ContainerOpsMixin, ResourcesMixin, DistributionMixin, BaseClient):
    """The Engine API at ``host`` (``unix:///path`` or ``tcp://h:port``)."""

    # -- system ----------------------------------------------------------------

    def ping(self) -> str:
        resp = self.open("GET", "/_ping")
        try:
            return resp.read().decode()
        finally:
            resp.close()

    def version(self) -> dict[str, Any]:
        return dict(self.request("GET", "/version"))

    def info(self) -> dict[str, Any]:
        return dict(self.request("GET", "/info"))

    # -- containers --------------------------------------------------------------

    def containers(
        self,
        *,
        all: bool = False,
        limit: int | None = None,
        size: bool = False,
        filters: Mapping[str, Iterable[str]] | None = None,
    ) -> list[dict[str, Any]]:
        params: dict[str, str | int | bool | None] = {"all": all or None, "limit": limit, "size": size or None}
        params["filters"] = _filters(filters)
        return list(self.request("GET", "/containers/json", params) or [])

    def create_container(
        self, config: Mapping[str, Any], name: str | None = None, *, platform: str | None = None
    ) -> dict[str, Any]:
        params = {"name": name, "platform": platform}
        return dict(self.request("POST", "/containers/create", params, body=dict(config)))

    def inspect_container(self, ref: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/containers/{quote(ref, safe='')}/json"))

    def start(self, ref: str) -> None:
        self.request("POST", f"/containers/{quote(ref, safe='')}/start")

    def stop(self, ref: str, timeout: int | None = None) -> None:
        self.request("POST", f"/containers/{quote(ref, safe='')}/stop", {"t": timeout})

    def kill(self, ref: str, signal: str | None = None) -> None:
        self.request("POST", f"/containers/{quote(ref, safe='')}/kill", {"signal": signal})

    def remove_container(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        self.request("DELETE", f"/containers/{quote(ref, safe='')}", {"force": force or None, "v": volumes or None})

    def resize(self, ref: str, height: int, width: int) -> None:
        self.request("POST", f"/containers/{quote(ref, safe='')}/resize", {"h": height, "w": width})

    def wait_later(self, ref: str, condition: str = "not-running") -> PendingResponse:
        """Send the wait now, read its ``{"StatusCode": n}`` answer later."""
        _, pending = self.send("POST", f"/containers/{quote(ref, safe='')}/wait", {"condition": condition})
        return pending

    def wait(self, ref: str, condition: str = "not-running") -> dict[str, Any]:
        return dict(self.wait_later(ref, condition).json())

    def attach(
        self, ref: str, *, stdin: bool = False, stdout: bool = True, stderr: bool = True, logs: bool = False
    ) -> HijackedStream:
        params = {"stream": True, "stdin": stdin or None, "stdout": stdout, "stderr": stderr, "logs": logs or None}
        return self.hijack("POST", f"/containers/{quote(ref, safe='')}/attach", params)

    def exec_create(self, ref: str, config: Mapping[str, Any]) -> str:
        """Register a process to run in a running container; returns the exec ID."""
        return str(self.request("POST", f"/containers/{quote(ref, safe='')}/exec", body=dict(config))["Id"])

    def exec_start(self, exec_id: str, *, tty: bool = False) -> HijackedStream:
        """Start an exec attached: its stdio over a hijacked connection."""
        return self.hijack("POST", f"/exec/{quote(exec_id, safe='')}/start", body={"Detach": False, "Tty": tty})

    def exec_start_detached(self, exec_id: str) -> None:
        self.request("POST", f"/exec/{quote(exec_id, safe='')}/start", body={"Detach": True, "Tty": False})

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/exec/{quote(exec_id, safe='')}/json"))

    def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        self.request("POST", f"/exec/{quote(exec_id, safe='')}/resize", {"h": height, "w": width})

    def logs(
        self,
        ref: str,
        *,
        tty: bool,
        follow: bool = False,
        tail: str | None = None,
        timestamps: bool = False,
        since: str | None = None,
        until: str | None = None,
    ) -> Iterator[tuple[int, bytes]]:
        """``(stream, bytes)`` pairs; with a TTY everything is stream 1."""
        params = {
            "stdout": True,
            "stderr": True,
            "follow": follow or None,
            "tail": tail,
            "timestamps": timestamps or None,
            "since": since,
            "until": until,
        }
        resp = self.open("GET", f"/containers/{quote(ref, safe='')}/logs", params)
        ctype = resp.getheader("Content-Type") or ""
        raw = RAW_CONTENT_TYPE in ctype or (tty and MULTIPLEXED_CONTENT_TYPE not in ctype)
        try:
            if raw:
                while chunk := resp.read1(65536):
                    yield 1, chunk
            else:
                yield from iter_frames(resp.read1)
        finally:
            resp.close()

    # -- images ------------------------------------------------------------------

    def images(
        self, *, all: bool = False, filters: Mapping[str, Iterable[str]] | None = None, digests: bool = False
    ) -> list[dict[str, Any]]:
        params = {"all": all or None, "filters": _filters(filters), "digests": digests or None}
        return list(self.request("GET", "/images/json", params) or [])

    def inspect_image(self, ref: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/images/{quote(ref, safe=':@/')}/json"))

    def remove_image(self, ref: str, *, force: bool = False, noprune: bool = False) -> list[dict[str, str]]:
        params = {"force": force or None, "noprune": noprune or None}
        return list(self.request("DELETE", f"/images/{quote(ref, safe=':@/')}", params) or [])

    def tag(self, ref: str, repo: str, tag: str | None) -> None:
        self.request("POST", f"/images/{quote(ref, safe=':@/')}/tag", {"repo": repo, "tag": tag})

    def load(self, data: IO[bytes] | bytes, *, quiet: bool = False) -> Iterator[Any]:
        headers = {"Content-Type": "application/x-tar"}
        return self.stream_json("POST", "/images/load", {"quiet": quiet or None}, data=data, headers=headers)

    def save(self, names: list[str]) -> http.client.HTTPResponse:
        """The tar stream of ``names`` (read it, then close it)."""
        return self.open("GET", "/images/get", [("names", n) for n in names])

    def import_image(
        self,
        data: IO[bytes] | bytes | None,
        *,
        source: str = "-",
        repo: str | None = None,
        tag: str | None = None,
        message: str | None = None,
        changes: list[str] | None = None,
    ) -> Iterator[Any]:
        params: list[tuple[str, str]] = [("fromSrc", source)]
        params += [(k, v) for k, v in (("repo", repo), ("tag", tag), ("message", message)) if v]
        params += [("changes", c) for c in changes or []]
        headers = {"Content-Type": "application/x-tar"}
        return self.stream_json("POST", "/images/create", params, data=data, headers=headers)

    def bootstrap(self, kind: str, tag: str | None = None) -> Iterator[Any]:
        """dockyard's own endpoint: build a base image (e.g. busybox) from the host."""
        return self.stream_json("POST", "/dockyard/images/bootstrap", {"kind": kind, "tag": tag})
