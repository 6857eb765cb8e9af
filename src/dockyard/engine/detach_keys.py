"""Detach keys (``ctrl-p,ctrl-q``): the client-typed sequence that ends an attach or exec
session without ending the process. dockerd watches for it in the client's input."""

from __future__ import annotations

from dockyard import errors

__all__ = ["DEFAULT_DETACH_KEYS", "DetachScanner", "parse_detach_keys"]

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"

_CTRL_SPECIAL = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_detach_keys(spec: str) -> bytes:
    """Docker's syntax: comma-separated keys, each a single character or ``ctrl-<key>``."""
    out = bytearray()
    for key in (spec or DEFAULT_DETACH_KEYS).split(","):
        if key.startswith("ctrl-") and len(key) == 6:
            c = key[5].lower()
            if "a" <= c <= "z":
                out.append(ord(c) - ord("a") + 1)
            elif c in _CTRL_SPECIAL:
                out.append(_CTRL_SPECIAL[c])
            else:
                raise errors.InvalidArgument(f"Unknown character: '{key}'")
        elif len(key) == 1:
            out.append(ord(key))
        else:
            raise errors.InvalidArgument(f"Unknown character: '{key}'")
    return bytes(out)


class DetachScanner:
    """Passes input through, holding back a partial detach sequence until it is decided."""

    def __init__(self, keys: bytes) -> None:
        self._keys = keys
        self._held = 0  # how many bytes of the sequence have been seen (and held back)

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """The bytes to forward, and whether the whole sequence was typed (the rest is dropped)."""
        if not self._keys:
            return data, False
        out = bytearray()
        for b in data:
            if b == self._keys[self._held]:
                self._held += 1
                if self._held == len(self._keys):
                    self._held = 0
                    return bytes(out), True
                continue
            if self._held:  # not the sequence after all: release what was held
                out += self._keys[: self._held]
                self._held = 0
                if b == self._keys[0]:
                    self._held = 1
                    continue
            out.append(b)
        return bytes(out), False
