"""A small Go-template subset for ``--format``: the parts docker users actually type.

Supported: literal text, ``{{.Path.To.Field}}``, ``{{.}}``, functions ``json``,
``index``, ``join``, ``upper``, ``lower``, ``title``, ``len``, ``println``,
string literals and ``|`` pipelines; ``\\t`` and ``\\n`` escapes in the format
string as the docker CLI allows. Control structures (``range``, ``if``) are
rejected with a clear error rather than rendered wrongly.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dockyard import errors

__all__ = ["Template", "go_str", "parse_template", "render_table", "tabulate"]

_ACTION = re.compile(r"{{(-?)\s*(.*?)\s*(-?)}}", re.S)
NO_VALUE = "<no value>"


def go_str(v: Any) -> str:
    """How Go's text/template prints a decoded JSON value."""
    if v is None:
        return NO_VALUE
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{k}:{go_str(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, list | tuple):
        return "[" + " ".join(go_str(x) for x in v) + "]"
    return str(v)


def _lookup(obj: Any, path: str) -> Any:
    cur = obj
    for part in path.split(".")[1:]:
        if not part:
            continue
        if isinstance(cur, Mapping):
            if part not in cur:
                return None
            cur = cur[part]
        else:
            raise errors.InvalidArgument(f"template: can't evaluate field {part} in type {type(cur).__name__}")
    return cur


def _index(v: Any, *keys: Any) -> Any:
    for k in keys:
        if isinstance(v, Mapping):
            v = v.get(k)
        elif isinstance(v, list) and isinstance(k, int | str) and str(k).lstrip("-").isdigit():
            v = v[int(k)]
        else:
            raise errors.InvalidArgument(f"template: index of untyped nil or unindexable value {go_str(v)}")
    return v


def _join(v: Any, sep: str) -> str:
    return sep.join(go_str(x) for x in v or [])


_FUNCS: dict[str, Callable[..., Any]] = {
    "json": lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=False),
    "index": _index,
    "join": _join,
    "upper": lambda v: go_str(v).upper(),
    "lower": lambda v: go_str(v).lower(),
    "title": lambda v: go_str(v).title(),
    "len": lambda v: len(v or []),
    "println": lambda *vs: " ".join(go_str(v) for v in vs) + "\n",
    "print": lambda *vs: "".join(go_str(v) for v in vs),
}
_UNSUPPORTED = {"range", "if", "else", "end", "with", "define", "template", "block"}


def _arg(tok: str, obj: Any) -> Any:
    if tok.startswith("."):
        return _lookup(obj, tok)
    if tok[:1] in "\"'`":
        return tok[1:-1]
    if tok.lstrip("-").isdigit():
        return int(tok)
    if tok in ("true", "false"):
        return tok == "true"
    raise errors.InvalidArgument(f'template: function "{tok}" not defined')


@dataclass(frozen=True)
class _Action:
    commands: tuple[tuple[str, ...], ...]

    def eval(self, obj: Any) -> Any:
        result: Any = None
        for i, words in enumerate(self.commands):
            head, args = words[0], list(words[1:])
            if head in _FUNCS:
                vals = [_arg(a, obj) for a in args]
                if i > 0:
                    vals.append(result)
                try:
                    result = _FUNCS[head](*vals)
                except TypeError:
                    raise errors.InvalidArgument(f"template: wrong number of args for {head}") from None
            elif i == 0 and not args:
                result = _arg(head, obj)
            else:
                raise errors.InvalidArgument(f"template: can't give argument to non-function {head}")
        return result


@dataclass(frozen=True)
class Template:
    """A parsed template: literal text and actions, alternating."""

    parts: tuple[str | _Action, ...]

    def render(self, obj: Any) -> str:
        out: list[str] = []
        for p in self.parts:
            if isinstance(p, str):
                out.append(p)
            else:
                v = p.eval(obj)
                out.append(v if isinstance(v, str) else go_str(v))
        return "".join(out)

    def fields(self) -> list[str]:
        """Top-level field names the template uses (for table headers)."""
        names: list[str] = []
        for p in self.parts:
            if isinstance(p, _Action):
                for words in p.commands:
                    names += [w.split(".")[1] for w in words if w.startswith(".") and len(w) > 1]
        return names


def _split_words(text: str) -> tuple[str, ...]:
    lex = shlex.shlex(text, posix=False)
    lex.whitespace_split = True
    lex.quotes = "\"'`"
    try:
        return tuple(lex)
    except ValueError as exc:
        raise errors.InvalidArgument(f"template: {exc}") from None


def parse_template(text: str) -> Template:
    """Parse ``text``; errors are InvalidArgument with Go-like messages."""
    text = text.replace("\\t", "\t").replace("\\n", "\n")
    parts: list[str | _Action] = []
    pos = 0
    trim_next = False
    for m in _ACTION.finditer(text):
        literal = text[pos : m.start()]
        if m.group(1):
            literal = literal.rstrip()
        if trim_next:
            literal = literal.lstrip()
        trim_next = bool(m.group(3))
        if literal:
            parts.append(literal)
        body = m.group(2)
        if body.startswith("/*"):
            pos = m.end()
            continue
        commands = tuple(_split_words(c.strip()) for c in body.split("|"))
        if not body or any(not c for c in commands):
            raise errors.InvalidArgument("template: missing value for command")
        if commands[0][0] in _UNSUPPORTED:
            raise errors.InvalidArgument(f"template: {{{{{commands[0][0]}}}}} is not supported by dockyard")
        parts.append(_Action(commands))
        pos = m.end()
    rest = text[pos:].lstrip() if trim_next else text[pos:]
    if "{{" in rest:
        raise errors.InvalidArgument("template: unclosed action")
    if rest:
        parts.append(rest)
    return Template(tuple(parts))


def tabulate(rows: Sequence[str], *, minwidth: int = 10, padding: int = 3) -> str:
    """Align tab-separated cells like Go's tabwriter as the docker CLI configures it."""
    cells = [r.split("\t") for r in rows]
    widths: dict[int, int] = {}
    for row in cells:
        for i, c in enumerate(row[:-1]):
            widths[i] = max(widths.get(i, 0), max(minwidth, len(c) + padding))
    out = []
    for row in cells:
        line = "".join(c.ljust(widths[i]) for i, c in enumerate(row[:-1])) + row[-1]
        out.append(line.rstrip() if not row[-1] else line)
    return "\n".join(out)


def render_table(template: Template, header: Mapping[str, str], rows: Sequence[Mapping[str, Any]]) -> str:
    """A ``table`` format: a header line (field -> column title) then one line per row, aligned."""
    head = "".join(p if isinstance(p, str) else _header_for(p, header) for p in template.parts)
    return tabulate([head] + [template.render(r) for r in rows])


def _header_for(action: _Action, header: Mapping[str, str]) -> str:
    words = [w for c in action.commands for w in c]
    field = next((w.split(".")[1] for w in words if w.startswith(".") and len(w) > 1), "")
    return header.get(field, field.upper())
