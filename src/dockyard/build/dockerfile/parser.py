"""The Dockerfile parser: directives, comments, continuations, heredocs, flags, JSON and shell forms.

Pure: text in, an immutable ``Dockerfile`` out. Variable expansion is a separate step
(``expand.py``) because it depends on build-time state (ARG/ENV scoping).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from dockyard import errors

__all__ = [
    "INSTRUCTIONS",
    "Dockerfile",
    "DockerfileParseError",
    "Heredoc",
    "Instruction",
    "parse_dockerfile",
    "parse_instruction_line",
    "split_flags",
]

INSTRUCTIONS = frozenset(
    {
        "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
        "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
    }
)  # fmt: skip
_JSON_FORM = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"})
_HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
_FLAGGED = frozenset({"FROM", "RUN", "COPY", "ADD", "HEALTHCHECK"})
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9_]*)\s*=\s*(.*?)\s*$")
_KNOWN_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_HEREDOC = re.compile(r"(?<![<\w])(\d*)<<(-?)(['\"]?)([A-Za-z_][A-Za-z0-9_.-]*)\3")


class DockerfileParseError(errors.InvalidArgument):
    """The Dockerfile is not valid; the message names the line."""


@dataclass(frozen=True)
class Heredoc:
    """One ``<<NAME`` body. ``expand`` is False when the delimiter was quoted."""

    name: str
    content: str
    expand: bool = True
    chomp: bool = False  # ``<<-``: leading tabs were stripped


@dataclass(frozen=True)
class Instruction:
    """One instruction. ``args`` is the JSON list in JSON form, else a single raw text element."""

    cmd: str
    args: tuple[str, ...]
    json_form: bool
    flags: tuple[tuple[str, str], ...]
    original: str
    line: int
    heredocs: tuple[Heredoc, ...] = ()

    @property
    def text(self) -> str:
        """The shell-form argument text ("" for JSON form)."""
        return "" if self.json_form or not self.args else self.args[0]

    def flag(self, name: str) -> str | None:
        for k, v in self.flags:
            if k == name:
                return v
        return None


@dataclass(frozen=True)
class Dockerfile:
    instructions: tuple[Instruction, ...]
    directives: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    escape: str = "\\"


def _fail(line: int, msg: str) -> DockerfileParseError:
    return DockerfileParseError(f"Dockerfile parse error line {line}: {msg}")


def _directives(lines: list[str]) -> tuple[dict[str, str], int]:
    """Parser directives at the top; returns them and the index of the first other line."""
    found: dict[str, str] = {}
    i = 0
    while i < len(lines):
        m = _DIRECTIVE.match(lines[i].strip())
        if m is None:
            break
        key = m.group(1).lower()
        if key not in _KNOWN_DIRECTIVES:
            break  # an unknown directive is a comment, and ends directive parsing
        if key in found:
            raise _fail(i + 1, f"only one {key} parser directive can be used")
        found[key] = m.group(2)
        i += 1
    return found, i


def _ends_with_escape(line: str, escape: str) -> bool:
    stripped = line.rstrip()
    if not stripped.endswith(escape):
        return False
    # an escaped escape (``\\``) at the end does not continue the line
    n = len(stripped) - len(stripped.rstrip(escape))
    return n % 2 == 1


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def parse_dockerfile(text: str) -> Dockerfile:
    """Parse a whole Dockerfile; ``DockerfileParseError`` names the offending line."""
    text = text.removeprefix("\ufeff")
    lines = text.replace("\r\n", "\n").split("\n")
    directives, i = _directives(lines)
    escape = directives.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise _fail(1, f"invalid escape token {escape!r} does not match ` or \\")
    out: list[Instruction] = []
    while i < len(lines):
        raw = lines[i]
        if not raw.strip() or _is_comment(raw):
            i += 1
            continue
        start = i
        parts = [raw]
        while _ends_with_escape(parts[-1], escape) and i + 1 < len(lines):
            parts[-1] = parts[-1].rstrip()[:-1]
            i += 1
            while i < len(lines) and _is_comment(lines[i]):
                i += 1  # comments inside a continued instruction are dropped
            if i >= len(lines):
                break
            parts.append(lines[i])
        if _ends_with_escape(parts[-1], escape):
            parts[-1] = parts[-1].rstrip()[:-1]
        logical = "".join(parts)
        i += 1
        inst, i = _instruction(logical, start + 1, lines, i, escape)
        if inst is not None:
            out.append(inst)
    return Dockerfile(tuple(out), directives, escape)


def _instruction(logical: str, line: int, lines: list[str], i: int, escape: str) -> tuple[Instruction | None, int]:
    stripped = logical.strip()
    if not stripped:
        return None, i
    word, _, rest = stripped.partition(" ")
    if "\t" in word:
        word, _, more = word.partition("\t")
        rest = more + " " + rest
    cmd = word.upper()
    if cmd not in INSTRUCTIONS:
        raise _fail(line, f"unknown instruction: {word}")
    heredocs: list[Heredoc] = []
    if cmd in _HEREDOC_INSTRUCTIONS:
        for m in _HEREDOC.finditer(rest):
            if _inside_quotes(rest, m.start(), escape):
                continue
            name, chomp, quoted = m.group(4), m.group(2) == "-", bool(m.group(3))
            body: list[str] = []
            while True:
                if i >= len(lines):
                    raise _fail(line, f"unterminated heredoc {name}")
                text = lines[i]
                i += 1
                candidate = text.lstrip("\t") if chomp else text
                if candidate == name:
                    break
                body.append(candidate)
            content = "\n".join(body) + "\n" if body else ""
            heredocs.append(Heredoc(name, content, expand=not quoted, chomp=chomp))
    inst = parse_instruction_line(cmd, rest.strip(), line, escape)
    return Instruction(inst.cmd, inst.args, inst.json_form, inst.flags, stripped, line, tuple(heredocs)), i


def _inside_quotes(text: str, pos: int, escape: str) -> bool:
    """Whether ``text[pos]`` sits inside a quoted string (a ``<<WORD`` there is not a heredoc)."""
    quote = ""
    i = 0
    while i < pos:
        ch = text[i]
        if ch == escape and quote != "'":
            i += 2
            continue
        if quote:
            if ch == quote:
                quote = ""
        elif ch in ("'", '"'):
            quote = ch
        i += 1
    return bool(quote)


def split_flags(rest: str) -> tuple[tuple[tuple[str, str], ...], str]:
    """Leading ``--name=value`` (or bare ``--name``) flags and the remaining text."""
    flags: list[tuple[str, str]] = []
    text = rest.lstrip()
    while text.startswith("--"):
        word, _, remainder = text.partition(" ")
        if word == "--":
            break
        name, eq, value = word[2:].partition("=")
        if not name:
            break
        flags.append((name.lower(), value if eq else "true"))
        text = remainder.lstrip()
    return tuple(flags), text


def parse_instruction_line(cmd: str, rest: str, line: int = 0, escape: str = "\\") -> Instruction:
    """Parse one instruction's argument text (flags, JSON or shell form)."""
    del escape
    cmd = cmd.upper()
    flags: tuple[tuple[str, str], ...] = ()
    if cmd in _FLAGGED:
        flags, rest = split_flags(rest)
    if cmd in ("ONBUILD", "HEALTHCHECK"):
        return Instruction(cmd, (rest,), False, flags, f"{cmd} {rest}", line)
    if cmd in _JSON_FORM and rest.startswith("["):
        try:
            val = json.loads(rest)
        except ValueError:
            val = None
        if isinstance(val, list) and all(isinstance(x, str) for x in val):
            return Instruction(cmd, tuple(val), True, flags, f"{cmd} {rest}", line)
    if not rest and cmd not in ("CMD", "ENTRYPOINT", "RUN"):
        raise _fail(line, f"{cmd} requires at least one argument")
    return Instruction(cmd, (rest,), False, flags, f"{cmd} {rest}", line)
