"""The one table from dockyard's error categories to Engine API status codes."""

from __future__ import annotations

from dockyard import errors as e

__all__ = ["status_for"]

# Most specific first: domain classes may inherit a category further down.
_STATUS: tuple[tuple[type[e.DockyardError], int], ...] = (
    (e.NotModified, 304),
    (e.InvalidArgument, 400),
    (e.Unauthorized, 401),
    (e.Forbidden, 403),
    (e.NotFound, 404),
    (e.Conflict, 409),
    (e.NotImplementedYet, 501),
    (e.Unavailable, 503),
    (e.Internal, 500),
)


def status_for(exc: e.DockyardError) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500
