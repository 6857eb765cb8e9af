"""Pure changes of an image config by the metadata instructions, and history wording.

Each function takes the image config's ``config`` section (Env, Cmd, Labels ...)
and returns a new one; nothing here does I/O.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from dockyard.build.dockerfile import (
    DockerfileParseError,
    Instruction,
    expand_word,
    expand_words,
    parse_instruction_line,
    split_flags,
    split_raw_words,
)

__all__ = [
    "DEFAULT_SHELL",
    "PROXY_ARGS",
    "apply_metadata",
    "command_argv",
    "env_map",
    "name_values",
    "parse_duration",
    "run_created_by",
]

DEFAULT_SHELL = ("/bin/sh", "-c")
PROXY_ARGS = frozenset(
    {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy",
     "ALL_PROXY", "all_proxy"}
)  # fmt: skip
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
          "h": 3_600_000_000_000}  # fmt: skip


def env_map(env: Sequence[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in env or ():
        k, _, v = e.partition("=")
        out[k] = v
    return out


def name_values(inst: Instruction, env: Mapping[str, str], escape: str) -> list[tuple[str, str]]:
    """ENV/LABEL pairs: ``a=b c="d e"`` or the legacy ``a b c`` (one name, the rest its value)."""
    words = split_raw_words(inst.text, escape)
    if not words:
        raise _err(inst, f"{inst.cmd} requires at least one argument")
    if "=" not in words[0]:
        if inst.cmd == "LABEL":
            raise _err(inst, "LABEL requires name=value")
        if len(words) < 2:
            raise _err(inst, f"{inst.cmd} must have two arguments")
        value = inst.text.split(None, 1)[1]
        return [(expand_word(words[0], env, escape), expand_word(value, env, escape))]
    out: list[tuple[str, str]] = []
    for w in words:
        if "=" not in w:
            raise _err(inst, f"{inst.cmd} names can not be blank: syntax error - can't find = in {w!r}")
        expanded = expand_word(w, env, escape)
        k, _, v = expanded.partition("=")
        if not k:
            raise _err(inst, f"{inst.cmd} names can not be blank")
        out.append((k, v))
    return out


def _err(inst: Instruction, msg: str) -> DockerfileParseError:
    return DockerfileParseError(f"Dockerfile parse error line {inst.line}: {msg}")


def command_argv(inst: Instruction, shell: Sequence[str]) -> list[str]:
    """RUN/CMD/ENTRYPOINT argv: the JSON list, or the shell form run by ``shell``."""
    if inst.json_form:
        return list(inst.args)
    return [*shell, inst.text] if inst.text else []


def parse_duration(text: str, default: int) -> int:
    """Go durations (``30s``, ``1m30s``, ``500ms``) in nanoseconds."""
    if not text:
        return default
    pos = 0
    total = 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or pos == 0:
        raise DockerfileParseError(f"time: invalid duration {text!r}")
    return int(total)


def run_created_by(argv: Sequence[str], build_args: Mapping[str, str]) -> str:
    """History ``created_by`` of a RUN: Docker prefixes the build args it saw as ``|N k=v ...``."""
    text = " ".join(argv)
    if build_args:
        pairs = " ".join(f"{k}={v}" for k, v in sorted(build_args.items()))
        return f"|{len(build_args)} {pairs} {text}"
    return text


def _ports(words: Sequence[str]) -> list[str]:
    out: list[str] = []
    for w in words:
        port, _, proto = w.partition("/")
        proto = (proto or "tcp").lower()
        lo, dash, hi = port.partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise DockerfileParseError(f"invalid containerPort: {port}")
        start, end = int(lo), int(hi) if dash else int(lo)
        out.extend(f"{p}/{proto}" for p in range(start, end + 1))
    return out


def apply_metadata(
    inst: Instruction, cfg: Mapping[str, Any], env: Mapping[str, str], escape: str
) -> tuple[dict[str, Any], str]:
    """Apply a metadata instruction; returns the new ``config`` section and the history text."""
    out: dict[str, Any] = copy.deepcopy(dict(cfg))
    cmd = inst.cmd
    shell = list(out.get("Shell") or DEFAULT_SHELL)
    nop = "/bin/sh -c #(nop) "
    if cmd == "ENV":
        pairs = name_values(inst, env, escape)
        cur = env_map(out.get("Env"))
        for k, v in pairs:
            cur[k] = v
        out["Env"] = [f"{k}={v}" for k, v in cur.items()]
        return out, nop + "ENV " + " ".join(f"{k}={v}" for k, v in pairs)
    if cmd == "LABEL":
        pairs = name_values(inst, env, escape)
        labels = dict(out.get("Labels") or {})
        labels.update(pairs)
        out["Labels"] = labels
        return out, nop + "LABEL " + " ".join(f"{k}={v}" for k, v in pairs)
    if cmd == "MAINTAINER":
        return out, nop + "MAINTAINER " + inst.text
    if cmd == "WORKDIR":
        path = expand_word(inst.text, env, escape)
        if not path.startswith("/"):
            path = (str(out.get("WorkingDir") or "/").rstrip("/") + "/" + path).replace("//", "/")
        out["WorkingDir"] = _clean_abs(path)
        return out, nop + "WORKDIR " + out["WorkingDir"]
    if cmd == "USER":
        out["User"] = expand_word(inst.text, env, escape)
        return out, nop + "USER " + out["User"]
    if cmd == "STOPSIGNAL":
        out["StopSignal"] = expand_word(inst.text, env, escape)
        return out, nop + "STOPSIGNAL " + out["StopSignal"]
    if cmd == "EXPOSE":
        ports = _ports(expand_words(inst.text, env, escape))
        exposed = dict(out.get("ExposedPorts") or {})
        for p in ports:
            exposed[p] = {}
        out["ExposedPorts"] = exposed
        return out, nop + "EXPOSE " + " ".join(sorted(ports))
    if cmd == "VOLUME":
        paths = list(inst.args) if inst.json_form else expand_words(inst.text, env, escape)
        paths = [expand_word(p, env, escape) if inst.json_form else p for p in paths]
        if not paths or any(not p for p in paths):
            raise _err(inst, "VOLUME specified can not be an empty string")
        vols = dict(out.get("Volumes") or {})
        for p in paths:
            vols[p] = {}
        out["Volumes"] = vols
        return out, nop + "VOLUME " + json.dumps(paths)
    if cmd == "CMD":
        out["Cmd"] = command_argv(inst, shell)
        return out, nop + "CMD " + json.dumps(out["Cmd"])
    if cmd == "ENTRYPOINT":
        out["Entrypoint"] = command_argv(inst, shell) or None
        out["Cmd"] = None  # Docker: an ENTRYPOINT resets an inherited CMD (the caller keeps this stage's)
        return out, nop + "ENTRYPOINT " + json.dumps(out["Entrypoint"] or [])
    if cmd == "SHELL":
        if not inst.json_form or not inst.args:
            raise _err(inst, "SHELL requires the arguments to be in JSON form")
        out["Shell"] = list(inst.args)
        return out, nop + "SHELL " + json.dumps(out["Shell"])
    if cmd == "ONBUILD":
        word, _, rest = inst.text.strip().partition(" ")
        trigger = word.upper()
        if trigger in ("ONBUILD", "FROM", "MAINTAINER"):
            raise _err(inst, f"{trigger} isn't allowed as an ONBUILD trigger")
        parse_instruction_line(trigger, rest.strip(), inst.line)  # validate now, not in the child build
        out["OnBuild"] = [*(out.get("OnBuild") or []), f"{trigger} {rest.strip()}"]
        return out, nop + "ONBUILD " + f"{trigger} {rest.strip()}"
    if cmd == "HEALTHCHECK":
        out["Healthcheck"] = _healthcheck(inst)
        return out, nop + "HEALTHCHECK " + json.dumps(out["Healthcheck"].get("Test"))
    raise _err(inst, f"{cmd} is not a metadata instruction")


def _healthcheck(inst: Instruction) -> dict[str, Any]:
    more, rest = split_flags(inst.text)
    flags = (*inst.flags, *more)
    word, _, cmdtext = rest.strip().partition(" ")
    if word.upper() == "NONE":
        if cmdtext.strip():
            raise _err(inst, "HEALTHCHECK NONE takes no arguments")
        return {"Test": ["NONE"]}
    if word.upper() != "CMD":
        raise _err(inst, f"Unknown type {word!r} in HEALTHCHECK (try CMD)")
    sub = parse_instruction_line("CMD", cmdtext.strip(), inst.line)
    test = ["CMD", *sub.args] if sub.json_form else ["CMD-SHELL", sub.text]
    hc: dict[str, Any] = {"Test": test}
    names = {"interval": "Interval", "timeout": "Timeout", "start-period": "StartPeriod",
             "start-interval": "StartInterval"}  # fmt: skip
    for k, v in flags:
        if k in names:
            hc[names[k]] = parse_duration(v, 0)
        elif k == "retries":
            if not v.isdigit():
                raise _err(inst, f"invalid retries {v!r}")
            hc["Retries"] = int(v)
        else:
            raise _err(inst, f"unknown flag: {k}")
    return hc


def _clean_abs(path: str) -> str:
    parts: list[str] = []
    for p in path.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if parts:
                parts.pop()
            continue
        parts.append(p)
    return "/" + "/".join(parts)
