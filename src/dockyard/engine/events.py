"""The daemon's event bus: what ``GET /events`` streams (Docker's field names)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import Any

__all__ = ["EventBus", "event_matches"]


def event_matches(event: Mapping[str, Any], filters: Mapping[str, list[str]]) -> bool:
    """Docker's /events filters: type, event/action, container, image, label, ..."""
    if not filters:
        return True
    actor = event.get("Actor", {})
    attrs = actor.get("Attributes", {})
    for key, wanted in filters.items():
        if not wanted:
            continue
        if key == "type":
            ok = event.get("Type") in wanted
        elif key in ("event", "action"):
            action = str(event.get("Action", ""))
            ok = action in wanted or action.split(":", 1)[0] in wanted
        elif key in (
            "container",
            "image",
            "volume",
            "network",
            "daemon",
            "plugin",
            "node",
            "service",
            "secret",
            "config",
        ):
            typ = "container" if key == "container" else key
            if key == "image" and event.get("Type") == "container":
                ok = attrs.get("image") in wanted
            else:
                ok = event.get("Type") == typ and (
                    actor.get("ID") in wanted
                    or attrs.get("name") in wanted
                    or any(str(actor.get("ID", "")).startswith(w) for w in wanted if len(w) >= 3)
                )
        elif key == "label":
            ok = all(_label_ok(attrs, w) for w in wanted)
        elif key == "scope":
            ok = event.get("scope", "local") in wanted
        else:
            ok = True
        if not ok:
            return False
    return True


def _label_ok(attrs: Mapping[str, Any], want: str) -> bool:
    k, eq, v = want.partition("=")
    return k in attrs and (not eq or attrs[k] == v)


class EventBus:
    """Fan-out of events to subscribers, with a bounded history for ``since``."""

    def __init__(self, history: int = 256) -> None:
        self._history: deque[dict[str, Any]] = deque(maxlen=history)
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()

    def publish(self, type_: str, action: str, actor_id: str, attributes: Mapping[str, str] | None = None) -> None:
        ns = time.time_ns()
        ev: dict[str, Any] = {
            "Type": type_,
            "Action": action,
            "Actor": {"ID": actor_id, "Attributes": dict(attributes or {})},
            "scope": "local",
            "time": ns // 1_000_000_000,
            "timeNano": ns,
        }
        # Pre-1.22 clients read these; docker-py still looks at status/id.
        if type_ in ("container", "image"):
            ev["status"] = action
            ev["id"] = actor_id
            if type_ == "container" and attributes and "image" in attributes:
                ev["from"] = attributes["image"]
        self._history.append(ev)
        for q in list(self._subscribers):
            q.put_nowait(ev)

    async def stream(
        self, since: float | None, until: float | None, filters: Mapping[str, list[str]]
    ) -> AsyncIterator[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers.add(q)
        try:
            if since is not None:
                for ev in list(self._history):
                    t = ev["timeNano"] / 1e9
                    if t >= since and (until is None or t <= until) and event_matches(ev, filters):
                        yield ev
            if until is not None and until <= time.time():
                return
            while True:
                timeout = None if until is None else max(0.0, until - time.time())
                try:
                    ev = await asyncio.wait_for(q.get(), timeout)
                except TimeoutError:
                    return
                if since is not None and ev["timeNano"] / 1e9 < since:
                    continue
                if event_matches(ev, filters):
                    yield ev
        finally:
            self._subscribers.discard(q)
