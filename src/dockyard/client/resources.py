"""Endpoints for networks, volumes, events and the system-wide views (df, prune)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

from dockyard.client.base import BaseClient, encode_filters

__all__ = ["ResourcesMixin"]

Filters = Mapping[str, Iterable[str]] | None


class ResourcesMixin(BaseClient):
    # -- networks --------------------------------------------------------------

    def networks(self, filters: Filters = None) -> list[dict[str, Any]]:
        return list(self.request("GET", "/networks", {"filters": encode_filters(filters)}) or [])

    def create_network(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self.request("POST", "/networks/create", body=dict(config)))

    def inspect_network(self, ref: str, *, verbose: bool = False) -> dict[str, Any]:
        return dict(self.request("GET", f"/networks/{quote(ref, safe='')}", {"verbose": verbose or None}))

    def remove_network(self, ref: str) -> None:
        self.request("DELETE", f"/networks/{quote(ref, safe='')}")

    def connect_network(self, net: str, container: str, endpoint: Mapping[str, Any] | None = None) -> None:
        body = {"Container": container, "EndpointConfig": dict(endpoint or {})}
        self.request("POST", f"/networks/{quote(net, safe='')}/connect", body=body)

    def disconnect_network(self, net: str, container: str, *, force: bool = False) -> None:
        body = {"Container": container, "Force": force}
        self.request("POST", f"/networks/{quote(net, safe='')}/disconnect", body=body)

    def prune_networks(self, filters: Filters = None) -> dict[str, Any]:
        return dict(self.request("POST", "/networks/prune", {"filters": encode_filters(filters)}) or {})

    # -- volumes ---------------------------------------------------------------

    def volumes(self, filters: Filters = None) -> dict[str, Any]:
        return dict(self.request("GET", "/volumes", {"filters": encode_filters(filters)}) or {})

    def create_volume(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self.request("POST", "/volumes/create", body=dict(config)))

    def inspect_volume(self, name: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/volumes/{quote(name, safe='')}"))

    def remove_volume(self, name: str, *, force: bool = False) -> None:
        self.request("DELETE", f"/volumes/{quote(name, safe='')}", {"force": force or None})

    def prune_volumes(self, filters: Filters = None) -> dict[str, Any]:
        return dict(self.request("POST", "/volumes/prune", {"filters": encode_filters(filters)}) or {})

    # -- system ----------------------------------------------------------------

    def df(self, types: Iterable[str] = ()) -> dict[str, Any]:
        return dict(self.request("GET", "/system/df", [("type", t) for t in types]) or {})

    def prune_images(self, filters: Filters = None) -> dict[str, Any]:
        return dict(self.request("POST", "/images/prune", {"filters": encode_filters(filters)}) or {})

    def prune_build_cache(self, *, all: bool = False, filters: Filters = None) -> dict[str, Any]:
        params = {"all": all or None, "filters": encode_filters(filters)}
        return dict(self.request("POST", "/build/prune", params) or {})

    def events(
        self, *, since: str | None = None, until: str | None = None, filters: Filters = None
    ) -> Iterator[dict[str, Any]]:
        params = {"since": since, "until": until, "filters": encode_filters(filters)}
        for msg in self.stream_json("GET", "/events", params):
            if isinstance(msg, dict):
                yield msg
