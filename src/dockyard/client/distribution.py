"""Endpoints that talk to registries or make images: pull, push, auth and build."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any
from urllib.parse import quote

from dockyard.client.auth import AuthConfig, encode_registry_auth
from dockyard.client.base import BaseClient

__all__ = ["BuildParams", "DistributionMixin"]

BuildParams = Mapping[str, str | int | bool | None] | Iterable[tuple[str, str]]


class DistributionMixin(BaseClient):
    def pull(
        self, image: str, tag: str | None = None, *, platform: str | None = None, auth: AuthConfig | None = None
    ) -> Iterator[Any]:
        headers = {"X-Registry-Auth": encode_registry_auth(auth)}
        params = {"fromImage": image, "tag": tag, "platform": platform}
        return self.stream_json("POST", "/images/create", params, headers=headers)

    def push(self, name: str, tag: str | None = None, *, auth: AuthConfig | None = None) -> Iterator[Any]:
        headers = {"X-Registry-Auth": encode_registry_auth(auth)}
        return self.stream_json("POST", f"/images/{quote(name, safe=':@/')}/push", {"tag": tag}, headers=headers)

    def auth(self, auth: AuthConfig) -> dict[str, Any]:
        """``POST /auth``: the daemon checks the credentials against the registry."""
        return dict(self.request("POST", "/auth", body=auth.as_api()) or {})

    def build(
        self,
        context: bytes | IO[bytes] | Iterable[bytes],
        params: BuildParams,
        *,
        registry_config: Mapping[str, AuthConfig] | None = None,
        content_type: str = "application/x-tar",
    ) -> Iterator[Any]:
        """``POST /build`` with a tar ``context``: the streamed JSON messages."""
        headers = {"Content-Type": content_type}
        if registry_config:
            cfg = {k: v.as_api() for k, v in registry_config.items()}
            headers["X-Registry-Config"] = base64.urlsafe_b64encode(json.dumps(cfg).encode()).decode()
        pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
        return self.stream_json("POST", "/build", pairs, data=context, headers=headers)
