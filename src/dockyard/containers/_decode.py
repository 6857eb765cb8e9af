"""Read JSON objects the way Go's ``encoding/json`` reads Docker's structs.

Docker decodes request bodies with Go, so field names match case-insensitively,
the last duplicate key wins, ``null`` leaves a field at its zero value, and a
value of the wrong JSON type is rejected with Go's wording (clients and tests
grep for it).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from dockyard.errors import InvalidArgument

__all__ = ["Fields", "frozen_map", "json_kind"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def frozen_map(items: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A read-only copy of ``items`` (values stay as they are)."""
    return MappingProxyType(dict(items or {}))


def json_kind(value: Any) -> str:
    """The JSON type name Go uses in its unmarshal errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


class Fields:
    """One JSON object of a Go struct named ``struct`` (used in error messages)."""

    def __init__(self, doc: Any, struct: str) -> None:
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise InvalidArgument(f"json: cannot unmarshal {json_kind(doc)} into Go value of type {struct}")
        self.struct = struct
        self._doc: dict[str, Any] = dict(doc)
        self._items: dict[str, Any] = {}
        for key, value in doc.items():
            self._items[str(key).lower()] = value

    def _bad(self, key: str, value: Any, gotype: str) -> InvalidArgument:
        return InvalidArgument(
            f"json: cannot unmarshal {json_kind(value)} into Go struct field {self.struct}.{key} of type {gotype}"
        )

    def doc(self) -> dict[str, Any]:
        """A copy of the object as it was sent."""
        return dict(self._doc)

    def raw(self, key: str) -> Any:
        """The value under ``key`` (any case), or None."""
        return self._items.get(key.lower())

    def has(self, key: str) -> bool:
        return self._items.get(key.lower()) is not None

    def string(self, key: str, default: str = "") -> str:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self._bad(key, value, "string")
        return value

    def boolean(self, key: str) -> bool:
        value = self.raw(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self._bad(key, value, "bool")
        return value

    def opt_boolean(self, key: str) -> bool | None:
        return None if self.raw(key) is None else self.boolean(key)

    def integer(self, key: str, default: int = 0, gotype: str = "int64") -> int:
        value = self.opt_integer(key, gotype)
        return default if value is None else value

    def opt_integer(self, key: str, gotype: str = "int64") -> int | None:
        value = self.raw(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(key, value, gotype)
        if gotype.startswith("uint") and value < 0:
            raise self._bad(key, value, gotype)
        return value

    def str_list(self, key: str) -> tuple[str, ...] | None:
        """A ``[]string``: null stays None (Docker shows it as null)."""
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self._bad(key, value, "[]string")
        for item in value:
            if not isinstance(item, str):
                raise self._bad(key, item, "string")
        return tuple(value)

    def str_slice(self, key: str) -> tuple[str, ...] | None:
        """A ``strslice.StrSlice``: a JSON string is read as a one-item list."""
        value = self.raw(key)
        if isinstance(value, str):
            return (value,)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self._bad(key, value, "strslice.StrSlice")
        return self.str_list(key)

    def str_map(self, key: str) -> Mapping[str, str] | None:
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._bad(key, value, "map[string]string")
        for item in value.values():
            if not isinstance(item, str):
                raise self._bad(key, item, "string")
        return frozen_map(value)

    def key_set(self, key: str) -> tuple[str, ...] | None:
        """A ``map[string]struct{}`` (ExposedPorts, Volumes): its keys, in order."""
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._bad(key, value, "map[string]struct {}")
        return tuple(str(k) for k in value)

    def obj(self, key: str, struct: str) -> Fields | None:
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._bad(key, value, struct)
        return Fields(value, struct)

    def obj_list(self, key: str, struct: str) -> tuple[Fields, ...] | None:
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self._bad(key, value, f"[]{struct}")
        out = []
        for item in value:
            if item is None:
                item = {}
            if not isinstance(item, dict):
                raise self._bad(key, item, struct)
            out.append(Fields(item, struct))
        return tuple(out)

    def mapping(self, key: str) -> Mapping[str, Any]:
        value = self.raw(key)
        if value is None:
            return _EMPTY
        if not isinstance(value, dict):
            raise self._bad(key, value, "map")
        return frozen_map(value)
