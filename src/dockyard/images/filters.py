"""``filters`` query values (JSON) and the image-list filter predicates."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

from dockyard import errors

__all__ = ["IMAGE_FILTERS", "label_matches", "reference_matches"]

IMAGE_FILTERS = frozenset({"reference", "dangling", "label", "before", "since", "until"})


def check_filters(filters: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for key in filters:
        if key not in allowed:
            raise errors.InvalidArgument(f"invalid filter '{key}'")


def label_matches(labels: Mapping[str, str] | None, wanted: list[str]) -> bool:
    """Every ``key`` or ``key=value`` in ``wanted`` holds."""
    labels = labels or {}
    for w in wanted:
        key, eq, val = w.partition("=")
        if key not in labels or (eq and labels[key] != val):
            return False
    return True


def reference_matches(familiar_refs: list[str], patterns: list[str]) -> bool:
    """Docker matches ``busybox`` or ``busy*:lat*`` against each familiar ``repo:tag``."""
    for ref in familiar_refs:
        repo = ref.split("@", 1)[0]
        slash = repo.rfind("/")
        colon = repo.rfind(":")
        name = repo[:colon] if colon > slash else repo
        for p in patterns:
            if fnmatch.fnmatchcase(ref, p) or fnmatch.fnmatchcase(name, p):
                return True
    return False
