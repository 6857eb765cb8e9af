"""Rows for ``ps`` and ``images``: API objects -> the strings docker prints, and output modes."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from dockyard.cli.humanize import ellipsis, go_time, human_size, short_id, time_ago
from dockyard.cli.templates import parse_template, render_table

__all__ = [
    "CONTAINER_HEADERS",
    "IMAGE_HEADERS",
    "container_row",
    "format_ports",
    "image_rows",
    "render_rows",
]

CONTAINER_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": "SIZE",
    "Names": "NAMES",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
    "LocalVolumes": "LOCAL VOLUMES",
}
IMAGE_HEADERS = {
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "Digest": "DIGEST",
    "ID": "IMAGE ID",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "Containers": "CONTAINERS",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
    "VirtualSize": "VIRTUAL SIZE",
}


def format_ports(ports: Sequence[Mapping[str, Any]] | None) -> str:
    """``127.0.0.1:18081->80/tcp, 443/tcp`` from the API's port list."""
    out: list[str] = []
    for p in ports or []:
        priv = f"{p.get('PrivatePort')}/{p.get('Type', 'tcp')}"
        if p.get("PublicPort"):
            ip = str(p.get("IP") or "")
            host = f"[{ip}]" if ":" in ip else ip
            out.append(f"{host}:{p['PublicPort']}->{priv}")
        else:
            out.append(priv)
    return ", ".join(dict.fromkeys(out))


def _labels(labels: Mapping[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))


def container_row(c: Mapping[str, Any], *, no_trunc: bool = False, now: float | None = None) -> dict[str, str]:
    """One ``ps`` row of strings, keyed like docker's template fields."""
    names = [n.lstrip("/") for n in c.get("Names") or []]
    command = str(c.get("Command") or "")
    image = str(c.get("Image") or "")
    if image.startswith("sha256:"):
        image = short_id(image, no_trunc=no_trunc)
    created = float(c.get("Created") or 0)
    size = ""
    if "SizeRw" in c or "SizeRootFs" in c:
        size = f"{human_size(c.get('SizeRw') or 0)} (virtual {human_size(c.get('SizeRootFs') or 0)})"
    networks = (c.get("NetworkSettings") or {}).get("Networks") or {}
    mounts = [str(m.get("Name") or m.get("Source") or "") for m in c.get("Mounts") or []]
    return {
        "ID": short_id(str(c.get("Id", "")), no_trunc=no_trunc),
        "Image": image,
        "Command": json.dumps(command if no_trunc else ellipsis(command, 20), ensure_ascii=False),
        "CreatedAt": go_time(created),
        "RunningFor": time_ago(created, now),
        "Ports": format_ports(c.get("Ports")),
        "State": str(c.get("State") or ""),
        "Status": str(c.get("Status") or ""),
        "Size": size,
        "Names": ",".join(n for n in names if "/" not in n),
        "Labels": _labels(c.get("Labels")),
        "Mounts": ",".join(mounts if no_trunc else [ellipsis(m, 15) for m in mounts]),
        "Networks": ",".join(sorted(networks)),
        "LocalVolumes": str(sum(1 for m in c.get("Mounts") or [] if m.get("Type") == "volume")),
    }


def image_rows(
    img: Mapping[str, Any], *, no_trunc: bool = False, digests: bool = False, now: float | None = None
) -> list[dict[str, str]]:
    """``images`` rows: one per tag (``<none>`` when untagged)."""
    created = float(img.get("Created") or 0)
    repo_digests = [str(d) for d in img.get("RepoDigests") or []]
    base = {
        "ID": short_id(str(img.get("Id", "")), no_trunc=no_trunc),
        "CreatedSince": time_ago(created, now if now is not None else time.time()) if created > 0 else "N/A",
        "CreatedAt": go_time(created),
        "Size": human_size(img.get("Size") or 0),
        "Containers": "N/A" if (img.get("Containers", -1) in (-1, None)) else str(img["Containers"]),
        "SharedSize": "N/A" if img.get("SharedSize", -1) in (-1, None) else human_size(img["SharedSize"]),
        "UniqueSize": "N/A",
        "VirtualSize": human_size(img.get("VirtualSize") or img.get("Size") or 0),
    }
    tags = [str(t) for t in img.get("RepoTags") or [] if t != "<none>:<none>"]
    rows: list[dict[str, str]] = []
    for ref in tags or ["<none>:<none>"]:
        repo, _, tag = ref.rpartition(":")
        digest = next((d.partition("@")[2] for d in repo_digests if d.partition("@")[0] == repo), "<none>")
        rows.append({"Repository": repo, "Tag": tag, "Digest": digest, **base})
    if not tags and repo_digests:
        rows = [
            {"Repository": d.partition("@")[0], "Tag": "<none>", "Digest": d.partition("@")[2], **base}
            for d in repo_digests
        ]
    return rows


def render_rows(
    rows: Sequence[Mapping[str, str]], fmt: str | None, default: str, headers: Mapping[str, str]
) -> str | None:
    """Text for ``--format`` (``json``, ``table [TEMPLATE]``, or a template); None when nothing prints."""
    fmt = default if not fmt or fmt == "table" else fmt
    if fmt == "json":
        return "\n".join(json.dumps(r, sort_keys=True, ensure_ascii=False) for r in rows) if rows else None
    if fmt.startswith("table "):
        return render_table(parse_template(fmt[len("table ") :]), headers, rows)
    tmpl = parse_template(fmt)
    return "\n".join(tmpl.render(r) for r in rows) if rows else None
