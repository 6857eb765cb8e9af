"""The CLI's side of registry credentials: which stored login goes with an image or server."""

from __future__ import annotations

import os

from dockyard import errors
from dockyard.client.auth import AuthConfig, DockerConfig, config_dir, registry_of

__all__ = ["docker_config", "stored_auth"]


def docker_config() -> DockerConfig:
    return DockerConfig(config_dir(os.environ))


def stored_auth(image: str) -> AuthConfig | None:
    """Credentials stored for the registry of ``image``; none (anonymous) when unreadable."""
    try:
        return docker_config().get(registry_of(image))
    except errors.DockyardError:
        return None
