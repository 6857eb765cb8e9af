"""A child image config from its parent's: one more layer (or none), a new ``config`` section, one more history entry.

Pure (no I/O); shared by container commit and the builder. The caller stores the
layer blob and registers the result with ``ImageService.add_image``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.oci.image import canonical_json

__all__ = ["Derivation", "derive_config", "derived_config_bytes"]


@dataclass(frozen=True)
class Derivation:
    """What a child image adds on top of its parent."""

    config: Mapping[str, Any]  # the new ``config`` section (Env, Cmd, Entrypoint, Labels ...)
    created: str  # RFC 3339
    diff_id: str | None = None  # the new layer's diffID; None adds an empty-layer history entry
    created_by: str = ""
    author: str = ""
    comment: str = ""
    container: str = ""  # the container an image was committed from
    parent_id: str = ""  # the parent's image ID (local images only, as Docker records it)


def derive_config(parent: Mapping[str, Any] | None, d: Derivation) -> dict[str, Any]:
    """The child's image config; ``parent`` is the parent's image config (None for ``FROM scratch``)."""
    base: dict[str, Any] = json.loads(json.dumps(dict(parent or {})))
    rootfs = base.get("rootfs") if isinstance(base.get("rootfs"), dict) else {}
    diff_ids = [str(x) for x in (rootfs or {}).get("diff_ids") or []]
    history = [dict(h) for h in base.get("history") or [] if isinstance(h, dict)]
    entry: dict[str, Any] = {"created": d.created}
    if d.created_by:
        entry["created_by"] = d.created_by
    if d.author:
        entry["author"] = d.author
    if d.comment:
        entry["comment"] = d.comment
    if d.diff_id is None:
        entry["empty_layer"] = True
    else:
        diff_ids.append(d.diff_id)
    history.append(entry)
    out: dict[str, Any] = {
        "architecture": base.get("architecture") or "amd64",
        "os": base.get("os") or "linux",
        "created": d.created,
        "config": json.loads(json.dumps(dict(d.config))),
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    if base.get("variant"):
        out["variant"] = base["variant"]
    if d.author:
        out["author"] = d.author
    if d.comment:
        out["comment"] = d.comment
    if d.container:
        out["container"] = d.container
    if d.parent_id:
        out["parent"] = d.parent_id
    return out


def derived_config_bytes(parent: Mapping[str, Any] | None, d: Derivation) -> bytes:
    """``derive_config`` as the canonical JSON whose digest is the image ID."""
    return canonical_json(derive_config(parent, d))
