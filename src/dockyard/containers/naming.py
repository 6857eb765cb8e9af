"""Container names and IDs: Docker's ``adjective_surname`` names, name rules, random IDs."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable

from dockyard.errors import InvalidArgument

__all__ = [
    "ADJECTIVES",
    "NAME_CHARS",
    "SURNAMES",
    "generate_name",
    "new_container_id",
    "random_name",
    "short_id",
    "validate_name",
]

ADJECTIVES: tuple[str, ...] = (
    "agile", "amazing", "bold", "brave", "bright", "busy", "calm", "careful", "cheerful", "clever",
    "curious", "daring", "eager", "earnest", "elegant", "fearless", "focused", "friendly", "gallant", "gentle",
    "happy", "hopeful", "humble", "jolly", "keen", "kind", "lively", "loyal", "lucid", "merry",
    "modest", "nimble", "patient", "peaceful", "playful", "proud", "quick", "quiet", "radiant", "serene",
    "sharp", "sleepy", "steady", "sunny", "swift", "tender", "thirsty", "vibrant", "witty", "zealous",
)  # fmt: skip

SURNAMES: tuple[str, ...] = (
    "agnesi", "babbage", "bardeen", "bohr", "boole", "cannon", "carson", "cerf", "curie", "darwin",
    "dijkstra", "einstein", "euler", "faraday", "fermi", "feynman", "franklin", "galileo", "gauss", "goldberg",
    "hamilton", "hawking", "hodgkin", "hopper", "hypatia", "johnson", "kepler", "knuth", "lamarr", "lovelace",
    "maxwell", "meitner", "mendel", "newton", "noether", "pascal", "planck", "ritchie", "shannon", "somerville",
    "tesla", "thompson", "torvalds", "turing", "volta", "wiles", "wozniak", "wu", "yalow", "zuse",
)  # fmt: skip

NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
_VALID_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

# Docker tries this many random names before falling back to the short ID.
_NAME_ATTEMPTS = 6


def random_name(rng: random.Random, retry: int = 0) -> str:
    """One ``adjective_surname``; from the second try on a digit is appended to widen the space."""
    while True:
        name = f"{rng.choice(ADJECTIVES)}_{rng.choice(SURNAMES)}"
        if name != "boring_wozniak":  # Steve Wozniak is not boring (moby's rule, kept in spirit)
            break
    if retry > 0:
        name += str(rng.randrange(10))
    return name


def generate_name(is_taken: Callable[[str], bool], container_id: str, rng: random.Random | None = None) -> str:
    """A free random name (without the leading ``/``); the short ID when every try collides."""
    rng = rng or random.Random()
    for attempt in range(_NAME_ATTEMPTS):
        name = random_name(rng, attempt)
        if not is_taken(name):
            return name
    return short_id(container_id)


def validate_name(name: str) -> str:
    """``name`` without its optional leading ``/``, or Docker's error when it has other characters."""
    if not _VALID_NAME.match(name):
        raise InvalidArgument(f"Invalid container name ({name}), only {NAME_CHARS} are allowed")
    return name.removeprefix("/")


def new_container_id(random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    """64 hex digits whose 12-character short form is never all digits (it would read as a number)."""
    while True:
        cid = random_bytes(32).hex()
        if not short_id(cid).isdigit():
            return cid


def short_id(container_id: str) -> str:
    """The 12-character form Docker shows."""
    return container_id[:12]
