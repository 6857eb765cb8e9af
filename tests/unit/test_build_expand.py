"""Docker's word expansion: quotes, escapes, ``$var``/``${var}`` and the ``:-``/``:+``/``?`` modifiers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.build.dockerfile import ExpansionError, expand_word, expand_words, split_raw_words

ENV = {"A": "apple", "E": "", "P": "/usr/bin"}


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("$A", "apple"),
        ("${A}s", "apples"),
        ("x$Ay", "x"),  # $Ay is the (unset) variable Ay
        ("'$A'", "$A"),
        ('"$A b"', "apple b"),
        ("\\$A", "$A"),
        ('"\\$A"', "$A"),
        ("${MISSING:-dflt}", "dflt"),
        ("${E:-dflt}", "dflt"),
        ("${E-dflt}", ""),
        ("${A:+set}", "set"),
        ("${E:+set}", ""),
        ("${E+set}", "set"),
        ("${MISSING+set}", ""),
        ("${MISSING:-$A}", "apple"),
        ("$P:/bin", "/usr/bin:/bin"),
        ("$", "$"),
        ("a b", "a b"),
    ],
)
def test_expand_word(word: str, expected: str) -> None:
    assert expand_word(word, ENV) == expected


def test_backtick_escape() -> None:
    assert expand_word("`$A", ENV, "`") == "$A"
    assert expand_word("c:\\dir", ENV, "`") == "c:\\dir"


def test_required_variable() -> None:
    with pytest.raises(ExpansionError, match="MISSING: needed"):
        expand_word("${MISSING:?needed}", ENV)
    assert expand_word("${A:?needed}", ENV) == "apple"


def test_bad_substitution_and_quotes() -> None:
    with pytest.raises(ExpansionError):
        expand_word("${A", ENV)
    with pytest.raises(ExpansionError):
        expand_word("'open", ENV)


def test_expand_words_splits_only_unquoted_whitespace() -> None:
    assert expand_words("a \"b c\" $A 'd e'", ENV) == ["a", "b c", "apple", "d e"]
    assert split_raw_words('k="v w" x=y') == ['k="v w"', "x=y"]


_NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
_VALUE = st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12)
_PLAIN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-./:,", max_size=20)


@given(_PLAIN)
def test_plain_text_is_unchanged(text: str) -> None:
    assert expand_word(text, ENV) == text


@given(_NAME, _VALUE)
def test_braced_variable_is_its_value(name: str, value: str) -> None:
    assert expand_word("${" + name + "}", {name: value}) == value
    assert expand_word('"${' + name + '}"', {name: value}) == value


@given(_NAME, _VALUE, _PLAIN)
def test_default_and_alternative(name: str, value: str, word: str) -> None:
    env = {name: value}
    assert expand_word("${" + name + ":-" + word + "}", env) == (value if value else word)
    assert expand_word("${" + name + ":+" + word + "}", env) == (word if value else "")
    assert expand_word("${" + name + ":-" + word + "}", {}) == word


@given(_PLAIN)
def test_single_quotes_are_literal(text: str) -> None:
    assert expand_word("'$" + text + "'", ENV) == "$" + text


@given(st.lists(_PLAIN.filter(bool), min_size=1, max_size=6))
def test_words_split_like_whitespace(words: list[str]) -> None:
    assert expand_words("  ".join(words), {}) == words
    assert split_raw_words(" ".join(words)) == words
