"""The registry's errors and the one table that maps them to the distribution spec.

Every class here inherits a category of ``dockyard.errors`` so code outside the
registry can still reason about it; ``error_for`` is the only place a Python
error becomes a spec code, an HTTP status and a JSON body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dockyard import errors as e

__all__ = [
    "BlobUnknown",
    "BlobUploadInvalid",
    "BlobUploadUnknown",
    "Denied",
    "DigestInvalid",
    "ManifestBlobUnknown",
    "ManifestInvalid",
    "ManifestUnknown",
    "NameInvalid",
    "NameUnknown",
    "RangeInvalid",
    "RangeUnsatisfiable",
    "RegistryError",
    "RouteUnknown",
    "SizeInvalid",
    "TooLarge",
    "TooManyRequests",
    "Unauthorized",
    "Unsupported",
    "WireError",
    "error_body",
    "error_for",
]


class RegistryError(e.DockyardError):
    """Base of the registry's own errors; ``detail`` goes into the JSON body."""

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.detail = detail


class BlobUnknown(RegistryError, e.NotFound):
    pass


class BlobUploadInvalid(RegistryError, e.InvalidArgument):
    pass


class BlobUploadUnknown(RegistryError, e.NotFound):
    pass


class DigestInvalid(RegistryError, e.InvalidArgument):
    pass


class ManifestBlobUnknown(RegistryError, e.NotFound):
    pass


class ManifestInvalid(RegistryError, e.InvalidArgument):
    pass


class ManifestUnknown(RegistryError, e.NotFound):
    pass


class NameInvalid(RegistryError, e.InvalidArgument):
    pass


class NameUnknown(RegistryError, e.NotFound):
    pass


class SizeInvalid(RegistryError, e.InvalidArgument):
    pass


class TooLarge(SizeInvalid):
    """Content over a configured size limit (HTTP 413)."""


class RangeUnsatisfiable(RegistryError, e.InvalidArgument):
    """A ``Range`` outside a blob (HTTP 416 with ``Content-Range: bytes */size``)."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


class RouteUnknown(RegistryError, e.NotFound):
    """No such endpoint."""


class RangeInvalid(BlobUploadInvalid):
    """A chunk that does not start where the upload ends (HTTP 416)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class Unauthorized(RegistryError, e.Unauthorized):
    """No or wrong credentials; ``challenge`` is the WWW-Authenticate value."""

    def __init__(self, message: str, challenge: str = "", detail: Any = None) -> None:
        super().__init__(message, detail)
        self.challenge = challenge


class Denied(RegistryError, e.Forbidden):
    pass


class Unsupported(RegistryError, e.NotImplementedYet):
    pass


class TooManyRequests(RegistryError, e.Unavailable):
    pass


@dataclass(frozen=True)
class WireError:
    """What a client sees: HTTP status, spec code, message."""

    status: int
    code: str
    message: str
    detail: Any = None


# Most specific first: subclasses must precede their bases.
_TABLE: tuple[tuple[type[BaseException], int, str], ...] = (
    (TooLarge, 413, "SIZE_INVALID"),
    (RangeInvalid, 416, "BLOB_UPLOAD_INVALID"),
    (RangeUnsatisfiable, 416, "SIZE_INVALID"),
    (RouteUnknown, 404, "UNSUPPORTED"),
    (BlobUnknown, 404, "BLOB_UNKNOWN"),
    (BlobUploadInvalid, 400, "BLOB_UPLOAD_INVALID"),
    (BlobUploadUnknown, 404, "BLOB_UPLOAD_UNKNOWN"),
    (DigestInvalid, 400, "DIGEST_INVALID"),
    (ManifestBlobUnknown, 400, "MANIFEST_BLOB_UNKNOWN"),
    (ManifestInvalid, 400, "MANIFEST_INVALID"),
    (ManifestUnknown, 404, "MANIFEST_UNKNOWN"),
    (NameInvalid, 400, "NAME_INVALID"),
    (NameUnknown, 404, "NAME_UNKNOWN"),
    (SizeInvalid, 400, "SIZE_INVALID"),
    (Unauthorized, 401, "UNAUTHORIZED"),
    (Denied, 403, "DENIED"),
    (Unsupported, 405, "UNSUPPORTED"),
    (TooManyRequests, 429, "TOOMANYREQUESTS"),
    # dockyard categories raised by shared code (e.g. Digest.parse) land here.
    (e.DigestMismatch, 400, "DIGEST_INVALID"),
    (e.SizeMismatch, 400, "SIZE_INVALID"),
    (e.UnsafePath, 400, "NAME_INVALID"),
    (e.NotFound, 404, "NAME_UNKNOWN"),
    (e.InvalidArgument, 400, "UNKNOWN"),
    (e.Unauthorized, 401, "UNAUTHORIZED"),
    (e.Forbidden, 403, "DENIED"),
    (e.NotImplementedYet, 405, "UNSUPPORTED"),
    (e.Unavailable, 503, "UNAVAILABLE"),
)


def error_for(exc: BaseException) -> WireError:
    """Map any exception to its wire form; unknown ones are a 500 without internals."""
    for cls, status, code in _TABLE:
        if isinstance(exc, cls):
            message = exc.message if isinstance(exc, e.DockyardError) else str(exc)
            detail = exc.detail if isinstance(exc, RegistryError) else None
            return WireError(status, code, message, detail)
    return WireError(500, "UNKNOWN", "internal error")


def error_body(*errs: WireError) -> bytes:
    """The spec's ``{"errors": [{"code", "message", "detail"}]}`` body."""
    out: list[dict[str, Any]] = []
    for w in errs:
        item: dict[str, Any] = {"code": w.code, "message": w.message}
        if w.detail is not None:
            item["detail"] = w.detail
        out.append(item)
    return json.dumps({"errors": out}).encode()
