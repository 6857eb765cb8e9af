"""Docker's word processing: quotes, the escape character and ``$var`` expansion.

``expand_word`` turns one word into one string (ENV values, WORKDIR, USER ...);
``expand_words`` also splits on unquoted whitespace (COPY sources, EXPOSE, ARG ...);
``split_raw_words`` splits without expanding, keeping quotes (name=value parsing).
"""

from __future__ import annotations

from collections.abc import Mapping

from dockyard import errors

__all__ = ["ExpansionError", "expand_word", "expand_words", "split_raw_words"]

_NAME_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | set("0123456789")


class ExpansionError(errors.InvalidArgument):
    """A malformed ``${...}`` or a ``${var:?message}`` on an unset variable."""


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str) -> None:
        self.s = text
        self.i = 0
        self.env = env
        self.esc = escape

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def take(self) -> str:
        ch = self.peek()
        self.i += 1
        return ch

    def words(self, split: bool) -> list[str]:
        """Process the whole text; ``split`` separates words on unquoted whitespace."""
        out: list[str] = []
        cur: list[str] = []
        started = False
        while self.i < len(self.s):
            ch = self.peek()
            if split and ch in " \t\n":
                self.i += 1
                if started:
                    out.append("".join(cur))
                    cur, started = [], False
                continue
            started = True
            if ch == "'":
                self.i += 1
                cur.append(self._single())
            elif ch == '"':
                self.i += 1
                cur.append(self._double())
            elif ch == self.esc:
                self.i += 1
                if self.i < len(self.s):
                    cur.append(self.take())
                else:
                    cur.append(ch)
            elif ch == "$":
                self.i += 1
                cur.append(self._dollar())
            else:
                cur.append(self.take())
        if started:
            out.append("".join(cur))
        return out

    def _single(self) -> str:
        buf: list[str] = []
        while self.i < len(self.s):
            ch = self.take()
            if ch == "'":
                return "".join(buf)
            buf.append(ch)
        raise ExpansionError("unexpected end of statement while looking for matching single-quote")

    def _double(self) -> str:
        buf: list[str] = []
        while self.i < len(self.s):
            ch = self.peek()
            if ch == '"':
                self.i += 1
                return "".join(buf)
            if ch == "$":
                self.i += 1
                buf.append(self._dollar())
            elif ch == self.esc:
                self.i += 1
                nxt = self.peek()
                if nxt in ('"', "$", self.esc):
                    buf.append(self.take())
                else:
                    buf.append(ch)
            else:
                buf.append(self.take())
        raise ExpansionError("unexpected end of statement while looking for matching double-quote")

    def _name(self) -> str:
        start = self.i
        if self.peek() and self.peek() in _NAME_START:
            self.i += 1
            while self.peek() and self.peek() in _NAME_CHARS:
                self.i += 1
        return self.s[start : self.i]

    def _dollar(self) -> str:
        ch = self.peek()
        if ch == "{":
            self.i += 1
            return self._braced()
        name = self._name()
        if not name:
            if ch and ch.isdigit():
                self.i += 1
                return ""  # positional parameters are never set at build time
            return "$"
        return self.env.get(name, "")

    def _braced(self) -> str:
        name = self._name()
        if not name:
            raise ExpansionError(f"bad substitution: missing or invalid variable name in {self.s!r}")
        ch = self.take()
        if ch == "}":
            return self.env.get(name, "")
        colon = False
        if ch == ":":
            colon = True
            ch = self.take()
        if ch not in ("-", "+", "?"):
            raise ExpansionError(f"unsupported modifier ({ch or 'end'}) in substitution in {self.s!r}")
        word = self._word_until_brace()
        is_set = name in self.env and (not colon or self.env[name] != "")
        if ch == "-":
            return self.env[name] if is_set else word
        if ch == "+":
            return word if is_set else ""
        if not is_set:
            raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
        return self.env[name]

    def _word_until_brace(self) -> str:
        """The ``word`` of ``${var:-word}``: itself expanded, quotes honoured, up to the matching ``}``."""
        buf: list[str] = []
        while self.i < len(self.s):
            ch = self.peek()
            if ch == "}":
                self.i += 1
                return "".join(buf)
            if ch == "'":
                self.i += 1
                buf.append(self._single())
            elif ch == '"':
                self.i += 1
                buf.append(self._double())
            elif ch == self.esc:
                self.i += 1
                buf.append(self.take())
            elif ch == "$":
                self.i += 1
                buf.append(self._dollar())
            else:
                buf.append(self.take())
        raise ExpansionError(f"syntax error: missing '}}' in {self.s!r}")


def expand_word(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """One word with quotes removed and variables expanded (whitespace kept)."""
    return "".join(_Lexer(word, env, escape).words(split=False))


def expand_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Words of ``text`` split on unquoted whitespace, each processed like ``expand_word``."""
    return _Lexer(text, env, escape).words(split=True)


def split_raw_words(text: str, escape: str = "\\") -> list[str]:
    """Split on unquoted, unescaped whitespace, keeping quotes and escapes for a later expansion."""
    out: list[str] = []
    cur: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            cur.append(ch)
            if ch == escape and quote == '"' and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch == escape and i + 1 < len(text):
            cur.append(ch)
            cur.append(text[i + 1])
            i += 1
        elif ch in ("'", '"'):
            quote = ch
            cur.append(ch)
        elif ch in " \t\n":
            if cur:
                out.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
        i += 1
    if quote:
        raise ExpansionError(f"unmatched quote in {text!r}")
    if cur:
        out.append("".join(cur))
    return out
