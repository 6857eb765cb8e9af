"""``HostConfig.SecurityOpt`` entries (``no-new-privileges``, ``seccomp=...``, ``apparmor=...``, ``label=...``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dockyard.errors import InvalidArgument

__all__ = ["SecurityOptions", "parse_security_opts"]

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


@dataclass(frozen=True)
class SecurityOptions:
    """What the SecurityOpt list asks for; ``seccomp_profile`` is ``""`` (default), ``"unconfined"`` or JSON."""

    no_new_privileges: bool = False
    seccomp_profile: str = ""
    apparmor_profile: str = ""
    label_opts: tuple[str, ...] = ()


def _go_bool(text: str) -> bool | None:
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def parse_security_opts(opts: Iterable[str]) -> SecurityOptions:
    """Docker's parser: ``key=value`` (or the deprecated ``key:value``); bare ``no-new-privileges`` and ``disable``."""
    nnp = False
    seccomp = ""
    apparmor = ""
    labels: list[str] = []
    for opt in opts:
        if opt == "no-new-privileges":
            nnp = True
            continue
        if opt == "disable":
            labels.append("disable")
            continue
        sep = "=" if "=" in opt else ":" if ":" in opt else ""
        if not sep:
            raise InvalidArgument(f'invalid --security-opt 1: "{opt}"')
        key, _, value = opt.partition(sep)
        if key == "label":
            labels.append(value)
        elif key == "apparmor":
            apparmor = value
        elif key == "seccomp":
            seccomp = value
        elif key == "no-new-privileges":
            parsed = _go_bool(value)
            if parsed is None:
                raise InvalidArgument(f'invalid --security-opt 2: "{opt}"')
            nnp = parsed
        else:
            raise InvalidArgument(f'invalid --security-opt 2: "{opt}"')
    return SecurityOptions(nnp, seccomp, apparmor, tuple(labels))
