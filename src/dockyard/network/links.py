"""Legacy ``--link`` environment variables (pure)."""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["link_env", "parse_link"]


def parse_link(text: str) -> tuple[str, str]:
    """``name:alias`` (or ``name``) -> (target name, alias)."""
    name, _, alias = text.partition(":")
    name = name.lstrip("/")
    alias = (alias or name).lstrip("/").split("/")[-1]
    return name, alias


def _sort_key(port: str) -> tuple[int, str]:
    num, _, proto = port.partition("/")
    return int(num.split("-")[0]), proto or "tcp"


def link_env(
    alias: str, parent_name: str, address: str, exposed: Sequence[str], target_env: Sequence[str]
) -> list[str]:
    """Docker's ``<ALIAS>_PORT...``, ``<ALIAS>_NAME`` and ``<ALIAS>_ENV_...`` variables."""
    prefix = re.sub(r"[^A-Za-z0-9]", "_", alias).upper()
    env: list[str] = []
    ports = sorted(exposed, key=_sort_key)
    if ports:
        num, _, proto = ports[0].partition("/")
        env.append(f"{prefix}_PORT={proto or 'tcp'}://{address}:{num}")
    for port in ports:
        num, _, proto = port.partition("/")
        proto = proto or "tcp"
        p = f"{prefix}_PORT_{num}_{proto.upper()}"
        env += [f"{p}={proto}://{address}:{num}", f"{p}_ADDR={address}", f"{p}_PORT={num}", f"{p}_PROTO={proto}"]
    env.append(f"{prefix}_NAME=/{parent_name}/{alias}")
    skip = {"HOME", "HOSTNAME", "PATH"}
    for item in target_env:
        key, eq, value = item.partition("=")
        if eq and key not in skip:
            env.append(f"{prefix}_ENV_{key}={value}")
    return env
