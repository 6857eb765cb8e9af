"""Validation of what clients put in URLs: repository names, tags, references, upload ids.

These are the registry's first line against path traversal: storage only ever
builds paths from values that passed these checks.
"""

from __future__ import annotations

import re

from dockyard.errors import InvalidArgument
from dockyard.oci import Digest
from dockyard.registry.errors import BlobUploadUnknown, DigestInvalid, ManifestInvalid, NameInvalid

__all__ = ["check_name", "check_tag", "check_upload_id", "is_digest", "parse_digest", "parse_reference"]

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
_UPLOAD_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
MAX_NAME = 255


def check_name(name: str) -> str:
    if len(name) > MAX_NAME or not _NAME_RE.match(name):
        raise NameInvalid(f"invalid repository name {name[:300]!r}")
    return name


def check_tag(tag: str) -> str:
    if not _TAG_RE.match(tag):
        raise ManifestInvalid(f"invalid tag {tag[:300]!r}")
    return tag


def is_digest(reference: str) -> bool:
    return ":" in reference


def parse_digest(text: str) -> Digest:
    try:
        return Digest.parse(text)
    except InvalidArgument as exc:
        raise DigestInvalid(exc.message) from None


def parse_reference(reference: str) -> str | Digest:
    """A manifest reference is a tag or a digest."""
    return parse_digest(reference) if is_digest(reference) else check_tag(reference)


def check_upload_id(upload_id: str) -> str:
    if not _UPLOAD_RE.match(upload_id):
        raise BlobUploadUnknown("blob upload unknown")
    return upload_id
