"""``.dockerignore``: Docker's pattern rules, for the CLI (what to send) and the daemon (what to drop).

Behaves like Docker's ``moby/patternmatcher`` with its ``ignorefile`` reader:

- a line whose first character is ``#`` is a comment (an indented ``#`` is a pattern);
- a pattern is trimmed, cleaned like Go's ``filepath.Clean`` (so ``dir/`` is ``dir`` and
  ``./a/../b`` is ``b``) and loses one leading ``/``; ``!`` makes it an exception;
- ``*`` and ``?`` stay within one path component, ``**`` spans any number of them
  (``**/`` also none), ``[...]`` is a class with ``^`` negation, ``\\`` escapes;
- a malformed pattern (an unclosed ``[``, a trailing ``\\``, a lone ``!``) is an error, as in Docker;
- the last pattern that matches a path, or one of its parent directories, decides.

Docker turns patterns into Go regexps by hand; where that translation is accidental (``*``
inside a class, ``^`` outside one) the ``filepath.Match`` meaning is used instead.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from dockyard import errors

__all__ = ["IgnoreMatcher", "IgnorePattern", "compile_pattern", "parse_dockerignore", "read_patterns"]

_BOM = "\ufeff"


class _Kind(Enum):
    # Docker's shortcuts: plain text compares, ``lit/**`` is a prefix, ``**lit`` a suffix
    EXACT = "exact"
    PREFIX = "prefix"
    SUFFIX = "suffix"
    REGEX = "regex"


@dataclass(frozen=True)
class IgnorePattern:
    text: str  # cleaned, without the ``!``
    exclusion: bool  # a ``!`` line: put back what earlier patterns took out
    kind: _Kind
    regex: re.Pattern[str] | None

    def matches(self, path: str) -> bool:
        """Whether the pattern matches ``path`` itself (relative, ``/``-separated, cleaned)."""
        if self.kind is _Kind.EXACT:
            return path == self.text
        if self.kind is _Kind.PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind is _Kind.SUFFIX:
            tail = self.text[2:]
            return path.endswith(tail) or (tail.startswith("/") and path == tail[1:])
        assert self.regex is not None
        return self.regex.fullmatch(path) is not None

    def matches_or_parent(self, path: str) -> bool:
        """Whether the pattern matches ``path`` or one of the directories above it."""
        if self.matches(path):
            return True
        parts = path.split("/")
        return any(self.matches("/".join(parts[:n])) for n in range(1, len(parts)))


def _clean(path: str) -> str:
    """Go's ``filepath.Clean`` (``posixpath.normpath`` keeps a leading ``//``, Go does not)."""
    cleaned = posixpath.normpath(path)
    return cleaned[1:] if cleaned.startswith("//") else cleaned


def read_patterns(text: str) -> list[str]:
    """The pattern lines of a ``.dockerignore`` file, cleaned; exceptions keep their ``!``."""
    out: list[str] = []
    for line in text.removeprefix(_BOM).split("\n"):
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
        if line:
            line = _clean(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        out.append("!" + line if invert else line)
    return out


def _bad(pattern: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"syntax error in pattern: {pattern}")


def _class_char(text: str, i: int) -> tuple[str, int]:
    """One character of a ``[...]`` class at ``i`` (maybe ``\\``-escaped) and the index after it."""
    if i >= len(text) or text[i] in "-]":
        raise _bad(text)
    if text[i] == "\\":
        i += 1
        if i >= len(text):
            raise _bad(text)
    return text[i], i + 1


def _class(text: str, i: int) -> tuple[str, int]:
    """The regex for the class opening at ``text[i] == "["`` and the index after its ``]``."""
    i += 1
    negate = text.startswith("^", i)
    if negate:
        i += 1
    ranges: list[str] = []
    while not (ranges and text.startswith("]", i)):
        lo, i = _class_char(text, i)
        hi = lo
        if text.startswith("-", i):
            hi, i = _class_char(text, i + 1)
            if hi < lo:
                raise _bad(text)
        ranges.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
    return "[" + ("^" if negate else "") + "".join(ranges) + "]", i + 1


def _translate(text: str) -> tuple[_Kind, str]:
    """The match kind of a cleaned pattern and, for a regex, its source."""
    kind = _Kind.EXACT
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("**", i):
            first = i == 0
            i += 2
            if text.startswith("/", i):
                i += 1
            if i == n:
                kind = _Kind.PREFIX if kind is _Kind.EXACT else _Kind.REGEX
                out.append(".*")
            else:
                kind = _Kind.REGEX
                out.append("(?:.*/)?")  # any number of whole directories, even none
            if first:
                kind = _Kind.SUFFIX  # stays one while the rest is plain text
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            if i + 1 == n:
                raise _bad(text)
            i += 1
            out.append(re.escape(text[i]))
        elif c == "[":
            regex, i = _class(text, i)
            out.append(regex)
            kind = _Kind.REGEX
            continue
        else:
            out.append(re.escape(c))
            i += 1
            continue
        kind = _Kind.REGEX
        i += 1
    return kind, "".join(out)


def compile_pattern(line: str) -> IgnorePattern | None:
    """One pattern (``!`` for an exception); ``None`` for a blank one."""
    text = line.strip()
    if not text:
        return None
    text = _clean(text)
    exclusion = text.startswith("!")
    if exclusion:
        if text == "!":
            raise errors.InvalidArgument('illegal exclusion pattern: "!"')
        text = text[1:]
    kind, source = _translate(text)
    return IgnorePattern(text, exclusion, kind, re.compile(source) if kind is _Kind.REGEX else None)


def parse_dockerignore(text: str) -> list[IgnorePattern]:
    """The patterns of a ``.dockerignore`` file; raises ``InvalidArgument`` for a malformed one."""
    return [p for p in map(compile_pattern, read_patterns(text)) if p is not None]


@dataclass(frozen=True)
class IgnoreMatcher:
    """Decides whether a context path (relative, ``/``-separated) stays out of the build context."""

    patterns: tuple[IgnorePattern, ...]

    @classmethod
    def from_text(cls, text: str) -> IgnoreMatcher:
        return cls(tuple(parse_dockerignore(text)))

    @classmethod
    def from_patterns(cls, lines: Iterable[str]) -> IgnoreMatcher:
        return cls(tuple(p for p in map(compile_pattern, lines) if p is not None))

    @property
    def has_exceptions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def excluded(self, path: str) -> bool:
        path = _clean(path).lstrip("/")
        if path in ("", "."):
            return False  # the context itself is never excluded
        verdict = False
        for p in self.patterns:
            # only a pattern that could change the verdict is worth matching
            if p.exclusion == verdict and p.matches_or_parent(path):
                verdict = not p.exclusion
        return verdict

    def may_reinclude_below(self, directory: str) -> bool:
        """Whether to walk into the excluded ``directory``: an exception names it or a path inside it.

        Docker compares the exception's text literally, so ``!*/keep`` does not reopen ``dir``.
        """
        prefix = _clean(directory).lstrip("/") + "/"
        return any(p.exclusion and (p.text + "/").startswith(prefix) for p in self.patterns)
