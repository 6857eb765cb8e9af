"""The image record the engine and routes consume."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ImageRecord"]


@dataclass(frozen=True)
class ImageRecord:
    """One local image. ``id`` is ``sha256:<config digest>``; tags and digests are familiar strings."""

    id: str
    config: dict[str, Any] = field(hash=False, compare=False)
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    top_chain_id: str | None  # None for an image without layers
    diff_ids: tuple[str, ...]
    created: str  # the config's ``created`` (RFC 3339) or ""
    size: int
    manifest_digest: str = ""
    last_tag_time: str = ""
    layer_sizes: tuple[int, ...] = ()

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[-1][:12]

    @property
    def container_config(self) -> dict[str, Any]:
        """The ``config`` section of the image config (Env, Cmd, Entrypoint...)."""
        cfg = self.config.get("config")
        return dict(cfg) if isinstance(cfg, dict) else {}
