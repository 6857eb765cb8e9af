"""Pure parsing of pushed manifests into what the registry must check and index."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.errors import InvalidArgument
from dockyard.oci import Descriptor, Digest, Index, Manifest
from dockyard.oci import mediatypes as mt
from dockyard.registry.errors import ManifestInvalid

__all__ = ["ParsedManifest", "parse_manifest", "referrer_descriptor"]


@dataclass(frozen=True)
class ParsedManifest:
    media_type: str
    digest: Digest
    size: int
    blobs: tuple[Descriptor, ...]
    """Config and layers that must exist in the repository."""
    children: tuple[Descriptor, ...]
    """Manifests an index points at."""
    subject: Descriptor | None
    artifact_type: str
    annotations: Mapping[str, str]


def _content_type(header: str) -> str:
    return header.split(";", 1)[0].strip().lower()


def parse_manifest(data: bytes, content_type: str, digest: Digest) -> ParsedManifest:
    """Validate a manifest body; raise ManifestInvalid for anything the spec refuses."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ManifestInvalid("manifest is not valid JSON") from None
    if not isinstance(obj, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    ctype = _content_type(content_type)
    known = mt.MANIFEST_TYPES | mt.INDEX_TYPES
    body_type = obj.get("mediaType")
    if body_type is not None and not isinstance(body_type, str):
        raise ManifestInvalid("mediaType must be a string")
    if body_type and ctype in known and body_type != ctype:
        raise ManifestInvalid(f"mediaType {body_type!r} does not match Content-Type {ctype!r}")
    media_type = body_type or (ctype if ctype in known else "")
    if not media_type:
        # An OCI manifest may omit mediaType; tell manifest from index by shape.
        media_type = mt.OCI_INDEX if "manifests" in obj else mt.OCI_MANIFEST
    try:
        if media_type in mt.MANIFEST_TYPES:
            m = Manifest.from_json(obj, media_type)
            return ParsedManifest(
                media_type,
                digest,
                len(data),
                (m.config, *m.layers),
                (),
                m.subject,
                m.artifact_type or m.config.media_type,
                m.annotations,
            )
        if media_type in mt.INDEX_TYPES:
            if obj.get("schemaVersion") != 2:
                raise ManifestInvalid("schemaVersion must be 2")
            ix = Index.from_json(obj, media_type)
            return ParsedManifest(
                media_type,
                digest,
                len(data),
                (),
                ix.manifests,
                ix.subject,
                str(obj.get("artifactType") or ""),
                ix.annotations,
            )
    except ManifestInvalid:
        raise
    except InvalidArgument as exc:
        raise ManifestInvalid(exc.message) from None
    raise ManifestInvalid(f"unsupported manifest media type {media_type!r}")


def referrer_descriptor(m: ParsedManifest) -> dict[str, Any]:
    """The descriptor the referrers API lists for a manifest with a subject."""
    d: dict[str, Any] = {"mediaType": m.media_type, "digest": str(m.digest), "size": m.size}
    if m.artifact_type:
        d["artifactType"] = m.artifact_type
    if m.annotations:
        d["annotations"] = dict(m.annotations)
    return d
