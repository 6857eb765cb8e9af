"""Dockerfile-like ``changes`` lines for import and commit (``CMD ["sh"]``, ``ENV A=b`` ...)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from typing import Any

from dockyard import errors

__all__ = ["ALLOWED", "apply_changes", "parse_change"]

ALLOWED = frozenset(
    {"CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "USER", "VOLUME", "WORKDIR", "ONBUILD", "STOPSIGNAL"}
)


def parse_change(line: str) -> tuple[str, str]:
    """``'cmd ["sh"]'`` -> ``('CMD', '["sh"]')``; refuses instructions import does not allow."""
    text = line.strip()
    if not text:
        raise errors.InvalidArgument("empty change")
    word, _, rest = text.partition(" ")
    if not rest:
        word, _, rest = text.partition("\t")
    inst = word.upper()
    if inst not in ALLOWED:
        raise errors.InvalidArgument(f"{word} is not a valid change command")
    return inst, rest.strip()


def _json_or_shell(arg: str, *, shell_wrap: bool) -> list[str]:
    if arg.startswith("["):
        try:
            val = json.loads(arg)
        except ValueError:
            val = None
        if isinstance(val, list) and all(isinstance(x, str) for x in val):
            return list(val)
    if not arg:
        return []
    return ["/bin/sh", "-c", arg] if shell_wrap else shlex.split(arg)


def _pairs(arg: str, what: str) -> list[tuple[str, str]]:
    """``A=b C="d e"`` or legacy ``A b c`` (one key, the rest is the value)."""
    words = shlex.split(arg)
    if not words:
        raise errors.InvalidArgument(f"{what} requires at least one argument")
    if "=" not in words[0]:
        if len(words) < 2:
            raise errors.InvalidArgument(f"{what} requires a value")
        return [(words[0], arg.split(None, 1)[1].strip())]
    out: list[tuple[str, str]] = []
    for w in words:
        key, eq, val = w.partition("=")
        if not eq or not key:
            raise errors.InvalidArgument(f"{what} names can not be blank: {w!r}")
        out.append((key, val))
    return out


def apply_changes(config: dict[str, Any], lines: Iterable[str]) -> dict[str, Any]:
    """A copy of the container ``config`` section with ``lines`` applied (pure)."""
    cfg: dict[str, Any] = json.loads(json.dumps(config))
    for line in lines:
        inst, arg = parse_change(line)
        if inst == "CMD":
            cfg["Cmd"] = _json_or_shell(arg, shell_wrap=True)
        elif inst == "ENTRYPOINT":
            cfg["Entrypoint"] = _json_or_shell(arg, shell_wrap=True)
        elif inst == "ENV":
            env = [e for e in (cfg.get("Env") or [])]
            for key, val in _pairs(arg, "ENV"):
                env = [e for e in env if e.split("=", 1)[0] != key]
                env.append(f"{key}={val}")
            cfg["Env"] = env
        elif inst == "LABEL":
            labels = dict(cfg.get("Labels") or {})
            for key, val in _pairs(arg, "LABEL"):
                labels[key] = val
            cfg["Labels"] = labels
        elif inst == "EXPOSE":
            ports = dict(cfg.get("ExposedPorts") or {})
            for p in arg.split():
                port = p if "/" in p else f"{p}/tcp"
                num = port.split("/", 1)[0]
                if not num.split("-")[0].isdigit():
                    raise errors.InvalidArgument(f"invalid port in EXPOSE: {p!r}")
                ports[port] = {}
            cfg["ExposedPorts"] = ports
        elif inst == "VOLUME":
            vols = dict(cfg.get("Volumes") or {})
            for v in _json_or_shell(arg, shell_wrap=False):
                vols[v] = {}
            cfg["Volumes"] = vols
        elif inst == "USER":
            cfg["User"] = arg
        elif inst == "WORKDIR":
            cfg["WorkingDir"] = arg
        elif inst == "STOPSIGNAL":
            cfg["StopSignal"] = arg
        elif inst == "ONBUILD":
            cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), arg]
    return cfg
