"""Content digests (``algorithm:hex``) as values, and streaming hashers."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from dockyard.errors import InvalidArgument

__all__ = ["Digest", "Hasher", "sha256_of"]

_ALGOS = {"sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$")


@dataclass(frozen=True, order=True)
class Digest:
    """A validated digest. ``str(d)`` is its canonical ``algo:hex`` form."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        m = _DIGEST_RE.match(text or "")
        if not m:
            raise InvalidArgument(f"invalid digest {text!r}")
        algo, hexpart = m.group(1), m.group(2)
        want = _ALGOS.get(algo)
        if want is None:
            raise InvalidArgument(f"unsupported digest algorithm {algo!r}")
        if len(hexpart) != want or not re.fullmatch(r"[0-9a-f]+", hexpart):
            raise InvalidArgument(f"invalid {algo} digest {text!r}")
        return cls(algo, hexpart)

    @classmethod
    def from_bytes(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def encoded(self) -> str:
        return self.hex

    def short(self) -> str:
        """The 12-character form Docker prints."""
        return self.hex[:12]


def sha256_of(data: bytes) -> Digest:
    return Digest.from_bytes(data, "sha256")


class Hasher:
    """Hash a stream incrementally while counting its size."""

    def __init__(self, algorithm: str = "sha256") -> None:
        self.algorithm = algorithm
        self._h = hashlib.new(algorithm)
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._h.update(chunk)
        self.size += len(chunk)

    def digest(self) -> Digest:
        return Digest(self.algorithm, self._h.hexdigest())
