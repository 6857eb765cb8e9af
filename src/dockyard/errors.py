"""One error taxonomy for all of dockyard.

Every error raised on purpose is a subclass of one *category* below. Boundaries
(the Engine API, the registry, the CLI) map categories to their own wire format
in exactly one place each (``api/errors.py``, ``registry/errors.py``); nothing
ever classifies an error by its message text.
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "ContainerNotFound",
    "DigestMismatch",
    "DockyardError",
    "Forbidden",
    "ImageNotFound",
    "InUse",
    "Internal",
    "InvalidArgument",
    "NameConflict",
    "NotFound",
    "NotImplementedYet",
    "NotModified",
    "SizeMismatch",
    "Unauthorized",
    "Unavailable",
    "UnsafePath",
]


class DockyardError(Exception):
    """Base of every deliberate error; ``message`` is what users see."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- categories -------------------------------------------------------------


class NotFound(DockyardError):
    """The named object does not exist."""


class InvalidArgument(DockyardError):
    """The request is malformed or its values are not allowed."""


class Conflict(DockyardError):
    """The request conflicts with the current state (name taken, in use...)."""


class NotModified(DockyardError):
    """Nothing to do: the object is already in the requested state."""


class Unauthorized(DockyardError):
    """Credentials are missing or wrong."""


class Forbidden(DockyardError):
    """Credentials are valid but do not allow this."""


class Unavailable(DockyardError):
    """A dependency (registry, kernel feature, shim) cannot be reached now."""


class NotImplementedYet(DockyardError):
    """A known operation that this build does not support."""


class Internal(DockyardError):
    """A bug or an unexpected state; logged with its traceback."""


# --- domain errors (each inherits one category) ------------------------------


class DigestMismatch(InvalidArgument):
    """Content did not hash to the digest it claimed."""


class SizeMismatch(InvalidArgument):
    """Content was not the size it claimed."""


class UnsafePath(InvalidArgument):
    """A path (tar entry, symlink, mount target) would escape its root."""


class ImageNotFound(NotFound):
    """No such image."""


class ContainerNotFound(NotFound):
    """No such container."""


class NameConflict(Conflict):
    """A name is already taken."""


class InUse(Conflict):
    """The object is used by another one and cannot be removed."""
