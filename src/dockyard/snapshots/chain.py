"""Chain IDs (OCI image spec): chain(L0) = diffID(L0); chain(Ln) = sha256(chain(Ln-1) + " " + diffID(Ln))."""

from __future__ import annotations

from collections.abc import Sequence

from dockyard.oci.digest import Digest, sha256_of

__all__ = ["chain_id", "chain_ids"]


def chain_ids(diff_ids: Sequence[Digest]) -> list[Digest]:
    """The chain ID of every prefix of ``diff_ids``."""
    out: list[Digest] = []
    for d in diff_ids:
        out.append(d if not out else sha256_of(f"{out[-1]} {d}".encode()))
    return out


def chain_id(diff_ids: Sequence[Digest]) -> Digest | None:
    """The chain ID of the whole stack; None for an image without layers."""
    ids = chain_ids(diff_ids)
    return ids[-1] if ids else None
