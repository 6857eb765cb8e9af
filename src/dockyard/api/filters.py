"""Docker's ``filters`` query parameter: JSON of ``{"key": ["v", ...]}`` (or the
legacy ``{"key": {"v": true}}``)."""

from __future__ import annotations

import json

from dockyard import errors

__all__ = ["parse_filters"]


def parse_filters(raw: str | None) -> dict[str, list[str]]:
    if not raw:
        return {}
    try:
        obj = json.loads(raw)
    except ValueError:
        raise errors.InvalidArgument(f"invalid filter: {raw!r}") from None
    if not isinstance(obj, dict):
        raise errors.InvalidArgument("invalid filter: expected an object")
    out: dict[str, list[str]] = {}
    for key, val in obj.items():
        if isinstance(val, dict):
            out[str(key)] = [str(k) for k, on in val.items() if on]
        elif isinstance(val, list):
            out[str(key)] = [str(v) for v in val]
        elif isinstance(val, str):
            out[str(key)] = [val]
        else:
            raise errors.InvalidArgument(f"invalid filter value for {key!r}")
    return out
