"""Container names and IDs."""

from __future__ import annotations

import random
import re

import pytest

from dockyard.containers.naming import (
    ADJECTIVES,
    SURNAMES,
    generate_name,
    new_container_id,
    random_name,
    short_id,
    validate_name,
)
from dockyard.errors import InvalidArgument


def test_word_lists_are_usable_names() -> None:
    assert len(ADJECTIVES) >= 30 and len(SURNAMES) >= 30
    assert len(set(ADJECTIVES)) == len(ADJECTIVES) and len(set(SURNAMES)) == len(SURNAMES)
    for word in ADJECTIVES + SURNAMES:
        assert re.fullmatch(r"[a-z]+", word)


def test_random_names_are_adjective_surname_and_valid() -> None:
    rng = random.Random(1)
    for _ in range(200):
        name = random_name(rng)
        adjective, surname = name.split("_")
        assert adjective in ADJECTIVES and surname in SURNAMES
        assert name != "boring_wozniak"
        assert validate_name(name) == name


def test_retries_add_a_digit() -> None:
    assert re.fullmatch(r"[a-z]+_[a-z]+[0-9]", random_name(random.Random(2), retry=1))


def test_generate_name_skips_taken_names() -> None:
    taken: set[str] = set()
    rng = random.Random(3)
    first = generate_name(taken.__contains__, "a" * 64, rng)
    taken.add(first)
    seen: list[str] = []

    def is_taken(name: str) -> bool:
        seen.append(name)
        return name in taken

    second = generate_name(is_taken, "a" * 64, random.Random(3))
    assert second != first
    assert seen[0] == first  # the same seed collides first, then retries


def test_generate_name_falls_back_to_the_short_id() -> None:
    cid = new_container_id()
    assert generate_name(lambda _: True, cid, random.Random(4)) == cid[:12]


@pytest.mark.parametrize("name", ["web", "/web", "a1", "my_app.v2-3", "0abc"])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name.lstrip("/")


@pytest.mark.parametrize("name", ["", "a", "/a", "-web", "_x", "we b", "web/1", "ünï", "//web"])
def test_invalid_names_use_dockers_message(name: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        validate_name(name)
    assert exc.value.message == f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"


def test_container_ids_are_64_hex_and_never_numeric_short_ids() -> None:
    ids = {new_container_id() for _ in range(50)}
    assert len(ids) == 50
    for cid in ids:
        assert re.fullmatch(r"[0-9a-f]{64}", cid)
        assert not short_id(cid).isdigit()


def test_all_digit_short_ids_are_redrawn() -> None:
    draws = iter([bytes.fromhex("12" * 32), bytes.fromhex("ab" * 32)])
    assert new_container_id(lambda n: next(draws)) == "ab" * 32
