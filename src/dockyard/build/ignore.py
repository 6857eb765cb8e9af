"""``.dockerignore``: Docker's pattern rules (``*``, ``?``, ``**``, ``[...]``, ``!`` exceptions).

The last pattern that matches a path decides; a pattern matching a parent directory
matches everything below it.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["IgnoreMatcher", "Pattern", "parse_dockerignore"]


@dataclass(frozen=True)
class Pattern:
    text: str
    exclusion: bool  # a ``!`` line: re-include what matches
    regex: re.Pattern[str]

    def matches(self, path: str) -> bool:
        """``path`` or one of its parent directories matches."""
        if self.regex.match(path):
            return True
        parts = path.split("/")
        return any(self.regex.match("/".join(parts[:n])) for n in range(1, len(parts)))


def _clean(p: str) -> str:
    p = posixpath.normpath(p.strip("/")) if p.strip("/") else ""
    return "" if p == "." else p


def _compile(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 1
                if i + 1 < n and pattern[i + 1] == "/":
                    i += 1
                    out.append("(.*/)?")  # ``**/``: zero or more directories
                else:
                    out.append(".*")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            j = pattern.find("]", i + 1)
            if j == -1:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : j]
                if body.startswith("^") or body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return re.compile("".join(out))


def parse_dockerignore(text: str) -> list[Pattern]:
    """The patterns of a ``.dockerignore`` file, comments and blank lines dropped."""
    pats: list[Pattern] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        cleaned = _clean(line)
        if not cleaned:
            continue
        pats.append(Pattern(cleaned, exclusion, _compile(cleaned)))
    return pats


class IgnoreMatcher:
    """Decides whether a context path (relative, ``/``-separated) is excluded."""

    def __init__(self, patterns: Sequence[Pattern]) -> None:
        self.patterns = tuple(patterns)

    @classmethod
    def from_text(cls, text: str) -> IgnoreMatcher:
        return cls(parse_dockerignore(text))

    def excluded(self, path: str) -> bool:
        path = _clean(path)
        if not path:
            return False
        result = False
        for p in self.patterns:
            if p.exclusion == result and p.matches(path):
                result = not p.exclusion
        return result

    def may_reinclude_below(self, path: str) -> bool:
        """Whether an exception pattern could re-include something under the excluded dir ``path``."""
        prefix = _clean(path) + "/"
        return any(p.exclusion and (p.text.startswith(prefix) or "*" in p.text) for p in self.patterns)
