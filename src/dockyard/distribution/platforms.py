"""Choosing one manifest from a manifest list or OCI index for a platform (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from dockyard import errors
from dockyard.oci.image import Descriptor, Platform

__all__ = ["select_manifest"]


def select_manifest(manifests: Sequence[Descriptor], want: Platform) -> Descriptor:
    """The best match for ``want``: exact variant first, then any variant; entries without a platform never match.

    Attestation manifests (``unknown/unknown``) are skipped naturally because they match no real platform.
    """
    exact = [d for d in manifests if d.platform is not None and d.platform.matches(want)]
    if want.variant:
        same = [d for d in exact if d.platform is not None and d.platform.variant == want.variant]
        if same:
            return same[0]
    if exact:
        # prefer entries without a variant over ones with a different variant
        exact.sort(key=lambda d: 0 if d.platform is None or not d.platform.variant else 1)
        return exact[0]
    raise errors.NotFound(f"no matching manifest for {want} in the manifest list entries")
