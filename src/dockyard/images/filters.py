"""``filters`` query values (JSON) and the image-list filter predicates."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from typing import Any

from dockyard import errors

__all__ = ["IMAGE_FILTERS", "label_matches", "parse_filters", "reference_matches"]

IMAGE_FILTERS = frozenset({"reference", "dangling", "label", "before", "since", "until"})


def parse_filters(raw: str | None) -> dict[str, list[str]]:
    """Both ``{"k":["v"]}`` and the legacy ``{"k":{"v":true}}`` forms."""
    if not raw:
        return {}
    try:
        obj = json.loads(raw)
    except ValueError:
        raise errors.InvalidArgument(f"invalid filters: {raw!r}") from None
    if not isinstance(obj, dict):
        raise errors.InvalidArgument("invalid filters: expected a JSON object")
    out: dict[str, list[str]] = {}
    for key, val in obj.items():
        if isinstance(val, list):
            out[str(key)] = [str(v) for v in val]
        elif isinstance(val, dict):
            out[str(key)] = [str(k) for k, on in val.items() if on]
        else:
            out[str(key)] = [str(val)]
    return out


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
