"""Structured (JSON lines) access log; also where per-request metrics are counted."""

from __future__ import annotations

import contextlib
import json
import logging
import time

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import AppKey, BaseRequest, Request, RequestKey, StreamResponse

from dockyard.registry.metrics import Metrics

__all__ = [
    "ACCESS_LOG_ENABLED_KEY",
    "ACCOUNT_KEY",
    "METRICS_KEY",
    "REPOSITORY_KEY",
    "ROUTE_KEY",
    "UPLOAD_LOCATION_KEY",
    "AccessLogger",
]

METRICS_KEY = AppKey("metrics", Metrics)
ACCESS_LOG_ENABLED_KEY = AppKey("access_log", bool)
# What handlers learn about a request, for the log and the error middleware.
ROUTE_KEY = RequestKey("route", str)
REPOSITORY_KEY = RequestKey("repository", str)
ACCOUNT_KEY = RequestKey("account", str)
UPLOAD_LOCATION_KEY = RequestKey("upload_location", str)


class AccessLogger(AbstractAccessLogger):
    """aiohttp calls this after every response, when the sent byte count is known."""

    def log(self, request: BaseRequest, response: StreamResponse, time_taken: float) -> None:
        route = request.get(ROUTE_KEY, "other")
        app = None
        if isinstance(request, Request):
            # A request refused before routing (e.g. TLS bytes on a plain port) has no app yet.
            with contextlib.suppress(AssertionError):
                app = request.app
        metrics = app.get(METRICS_KEY) if app is not None else None
        if metrics is not None:
            # Requests by status are counted when the response starts (app.py), so a client
            # that reads /metrics right after its own request already sees it.
            metrics.inc("dockyard_registry_http_request_duration_seconds_total", time_taken, route=route)
            metrics.inc("dockyard_registry_bytes_sent_total", float(response.body_length))
        if app is not None and not app.get(ACCESS_LOG_ENABLED_KEY, True):
            return
        if not self.logger.isEnabledFor(logging.INFO):
            return
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "remote": request.remote,
            "method": request.method,
            "path": request.path,
            "route": route,
            "repository": request.get(REPOSITORY_KEY),
            "account": request.get(ACCOUNT_KEY),
            "status": response.status,
            "bytes_sent": response.body_length,
            "duration_ms": round(time_taken * 1000, 3),
            "user_agent": request.headers.get("User-Agent", ""),
        }
        self.logger.info(json.dumps(entry))

    @property
    def enabled(self) -> bool:
        return True  # metrics are counted here even when the log itself is off
