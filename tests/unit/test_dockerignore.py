"""``.dockerignore`` matching (``dockyard.dockerignore``, for the CLI and the daemon), as Docker's patternmatcher."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard import errors
from dockyard.dockerignore import IgnoreMatcher, compile_pattern, read_patterns


def excluded(patterns: str, path: str) -> bool:
    return IgnoreMatcher.from_text(patterns).excluded(path)


@pytest.mark.parametrize(
    ("patterns", "path", "expected"),
    [
        # * and ? stay within one component
        ("*.log", "a.log", True),
        ("*.log", "dir/a.log", False),
        ("a*/b", "abc/b", True),
        ("a*/b", "a/c/b", False),
        ("d?r", "dir", True),
        ("d?r", "dr", False),
        ("a?c", "a/c", False),
        ("*", "anything", True),
        (".*", ".hidden", True),
        (".*", "visible", False),
        # ** spans components; **/ also matches none
        ("**/*.log", "dir/sub/a.log", True),
        ("**/*.log", "a.log", True),
        ("**/**/*.txt", "a.txt", True),
        ("a/**/b", "a/x/y/b", True),
        ("a/**/b", "a/b", True),
        ("dir/**", "dir/x/y", True),
        ("dir/**", "dir", False),  # dir/** is what is inside, not the directory
        ("**", "any/thing", True),
        ("**/dir", "dir/file", True),
        ("**/dir2/*", "a/dir2/file", True),
        ("**file", "dir/file", True),
        ("**/.foo", "bar.foo", False),
        ("a**/*.txt", "a/x/y/f.txt", True),
        # a directory pattern takes what is inside it; a trailing / changes nothing
        ("dir", "dir/sub/file", True),
        ("dir/", "dir/file", True),
        ("/dir/", "dir/file", True),
        ("dir", "dirx", False),
        # leading / and ./ and .. are cleaned away
        ("/build/../out", "out/x", True),
        ("./build", "build/out", True),
        ("a//b", "a/b", True),
        # classes: ranges, ^ negation, escapes; ! is a plain character (Go's filepath.Match)
        ("[a-c]x", "bx", True),
        ("[a-c]x", "dx", False),
        ("a[^b-d]e", "aze", True),
        ("a[^b-d]e", "ace", False),
        ("[!a]x", "!x", True),
        ("[!a]x", "bx", False),
        ("[\\]a]", "]", True),
        ("[x\\-]", "-", True),
        ("[x\\-]", "z", False),
        ("[*]", "*", True),
        ("[*]", "x", False),
        # escapes make a character literal
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
        ("a\\\\", "a\\", True),
        # regex characters are literal
        ("abc.def", "abcXdef", False),
        ("a(b)c/d+e", "a(b)c/d+e", True),
        ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
        ("^a$", "^a$", True),
        # exceptions: the last matching pattern wins
        ("*.md\n!README.md", "README.md", False),
        ("*.md\n!README.md", "other.md", True),
        ("!README.md\n*.md", "README.md", True),
        ("docs\n!docs/keep.txt", "docs/keep.txt", False),
        ("docs\n!docs/keep.txt", "docs/other.txt", True),
        ("**\n!util/web\nutil/web/foo", "util/web/foo", True),
        ("**\n!util/web", "util/web/foo", False),
        # comments are lines that start with #; an indented # is a pattern
        ("# comment\n\n  secret.txt  ", "secret.txt", True),
        ("# comment", "# comment", False),
        ("  #x", "#x", True),
        ("\ufeffbom", "bom", True),
        ("a\r\nb\r\n", "b", True),
    ],
)
def test_patterns(patterns: str, path: str, expected: bool) -> None:
    assert excluded(patterns, path) is expected


def test_the_context_itself_is_never_excluded() -> None:
    m = IgnoreMatcher.from_text("**\n*\n.")
    assert not m.excluded("") and not m.excluded(".") and m.excluded("x")


def test_read_patterns_cleans_like_docker() -> None:
    text = "test1\n/test2\n/a/file/here\n\nlast//file/\n# a comment\n! /inverted/abs/path\n!\n! \n./x/../y\n"
    assert read_patterns(text) == ["test1", "test2", "a/file/here", "last/file", "!inverted/abs/path", "!", "!", "y"]


@pytest.mark.parametrize(
    "pattern",
    ["[", "a[", "[abc", "[^", "[^bc", "[]a]", "[-]", "[x-]", "[-x]", "[a-b-c]", "\\", "a\\", "[a\\", "[z-a]", "!"],
)
def test_malformed_patterns_are_errors(pattern: str) -> None:
    with pytest.raises(errors.InvalidArgument, match="pattern"):
        IgnoreMatcher.from_text(f"ok\n{pattern}\n")


def test_blank_pattern_is_none_and_exclusion_is_marked() -> None:
    assert compile_pattern("   ") is None
    p = compile_pattern("!docs/*.md")
    assert p is not None and p.exclusion and p.text == "docs/*.md"
    assert p.matches("docs/a.md") and not p.matches("docs/sub/a.md")
    assert IgnoreMatcher.from_patterns(["docs", "!docs/a.md"]).has_exceptions
    assert not IgnoreMatcher.from_patterns(["docs"]).has_exceptions


@pytest.mark.parametrize(
    ("patterns", "directory", "walk"),
    [
        ("dir\n!dir/keep", "dir", True),
        ("dir\n!dir", "dir", True),
        ("dir\n!dir/sub/keep", "dir/sub", True),
        ("dir\n!dir/keep", "di", False),
        ("dir\n!dirx/keep", "dir", False),
        ("dir\n!*/keep", "dir", False),  # Docker compares the exception's text, not its meaning
        ("dir", "dir", False),
    ],
)
def test_may_reinclude_below(patterns: str, directory: str, walk: bool) -> None:
    assert IgnoreMatcher.from_text(patterns).may_reinclude_below(directory) is walk


_SEG = st.from_regex(r"[a-z.]{1,5}", fullmatch=True).filter(lambda s: s not in (".", ".."))


@given(st.lists(_SEG, min_size=1, max_size=4), st.lists(_SEG, min_size=0, max_size=3))
def test_a_literal_pattern_excludes_exactly_it_and_below(prefix: list[str], rest: list[str]) -> None:
    path = "/".join(prefix)
    m = IgnoreMatcher.from_text(path)
    assert m.excluded("/".join(prefix + rest))
    assert not m.excluded(path + "x")
    assert not IgnoreMatcher.from_text(f"{path}\n!{path}").excluded(path)


@given(st.lists(_SEG, min_size=1, max_size=4))
def test_exception_after_exclusion_reincludes(path: list[str]) -> None:
    p = "/".join(path)
    assert not excluded(f"**\n!{p}", p)
    assert excluded(f"!{p}\n**", p)


@given(st.lists(_SEG, min_size=1, max_size=4))
def test_double_star_matches_any_depth(path: list[str]) -> None:
    assert excluded("**/" + path[-1], "/".join(path))
    assert excluded(path[0] + "/**/" + path[-1], "/".join(path)) is (len(path) > 1)


@given(st.text(alphabet="ab*?[]^!\\-/.", max_size=8), st.lists(_SEG, min_size=1, max_size=3))
def test_any_pattern_compiles_or_is_a_syntax_error(pattern: str, path: list[str]) -> None:
    try:
        m = IgnoreMatcher.from_text(pattern)
    except errors.InvalidArgument as exc:
        assert "pattern" in str(exc)
    else:
        assert m.excluded("/".join(path)) in (True, False)
