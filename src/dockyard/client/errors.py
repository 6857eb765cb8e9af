"""Errors the client raises: the daemon's answers mapped onto dockyard's categories.

An ``APIError`` is also an instance of the matching category in
``dockyard.errors`` (NotFound, Conflict, ...), so callers catch by meaning and
never by the message text.
"""

from __future__ import annotations

from dockyard import errors

__all__ = ["APIError", "DaemonUnreachable", "ProtocolError", "api_error"]


class APIError(errors.DockyardError):
    """The daemon answered a request with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    def __str__(self) -> str:
        return self.message


class DaemonUnreachable(errors.Unavailable):
    """Nothing answers on the daemon's socket (missing, refused)."""

    def __init__(self, message: str, host: str) -> None:
        super().__init__(message)
        self.host = host


class ProtocolError(errors.Internal):
    """The daemon's answer is not the HTTP/JSON the Engine API promises."""


def _subclass(category: type[errors.DockyardError]) -> type[APIError]:
    return type(f"API{category.__name__}", (APIError, category), {"__module__": __name__})


# Status -> category, the inverse of api/errors.py's table.
_BY_STATUS: dict[int, type[APIError]] = {
    304: _subclass(errors.NotModified),
    400: _subclass(errors.InvalidArgument),
    401: _subclass(errors.Unauthorized),
    403: _subclass(errors.Forbidden),
    404: _subclass(errors.NotFound),
    409: _subclass(errors.Conflict),
    501: _subclass(errors.NotImplementedYet),
    503: _subclass(errors.Unavailable),
}
_INTERNAL = _subclass(errors.Internal)


def api_error(status: int, message: str) -> APIError:
    """The error for an HTTP ``status``; anything unknown is Internal."""
    cls = _BY_STATUS.get(status, _INTERNAL if status >= 500 else _BY_STATUS[400])
    return cls(status, message)
