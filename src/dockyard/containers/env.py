"""The environment of a container's process, built as dockerd builds it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["DEFAULT_PATH", "container_env", "replace_or_append_env"]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def replace_or_append_env(defaults: Sequence[str], overrides: Iterable[str]) -> list[str]:
    """``defaults`` updated by ``overrides`` per key; an override without ``=`` unsets the key."""
    out: list[str | None] = list(defaults)
    index = {entry.partition("=")[0]: i for i, entry in enumerate(out) if entry is not None}
    for entry in overrides:
        key, sep, _ = entry.partition("=")
        if not sep:
            if key in index:
                out[index.pop(key)] = None
            continue
        if key in index:
            out[index[key]] = entry
        else:
            index[key] = len(out)
            out.append(entry)
    return [e for e in out if e is not None]


def container_env(config_env: Iterable[str] | None, *, hostname: str, tty: bool, home: str = "/") -> list[str]:
    """PATH (default), HOSTNAME and TERM=xterm (with a TTY) overridden by the container's Env,
    then HOME when it is still unset (runc sets it from the user's passwd entry the same way)."""
    base = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}"]
    if tty:
        base.append("TERM=xterm")
    env = replace_or_append_env(base, config_env or ())
    if not any(e.partition("=")[0] == "HOME" for e in env):
        env.append(f"HOME={home or '/'}")
    return env
