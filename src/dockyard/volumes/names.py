"""Volume names: Docker's rule for the local driver, and generated names for anonymous volumes."""

from __future__ import annotations

import re
import secrets

from dockyard.errors import InvalidArgument

__all__ = ["new_volume_name", "validate_volume_name"]

_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


def validate_volume_name(name: str) -> None:
    """Raise Docker's error for a name the local driver refuses (it also becomes a directory name)."""
    if not _NAME_RE.match(name):
        raise InvalidArgument(
            f'create {name}: "{name}" includes invalid characters for a local volume name, only '
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path'
        )


def new_volume_name() -> str:
    """64 hex digits, like the names Docker gives anonymous volumes."""
    return secrets.token_hex(32)
