"""Image records as the Engine API's JSON (inspect, list, history): pure conversions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dockyard.images.record import ImageRecord

__all__ = ["ZERO_TIME", "container_config", "history_json", "inspect_json", "parse_time", "summary_json"]

ZERO_TIME = "0001-01-01T00:00:00Z"

# Docker prints every one of these keys in an image's Config, null when unset.
_CONFIG_DEFAULTS: dict[str, Any] = {
    "Hostname": "",
    "Domainname": "",
    "User": "",
    "AttachStdin": False,
    "AttachStdout": False,
    "AttachStderr": False,
    "Tty": False,
    "OpenStdin": False,
    "StdinOnce": False,
    "Env": None,
    "Cmd": None,
    "Image": "",
    "Volumes": None,
    "WorkingDir": "",
    "Entrypoint": None,
    "OnBuild": None,
    "Labels": None,
}


def container_config(cfg: dict[str, Any] | None) -> dict[str, Any]:
    """An image config's ``config`` section in Docker's full shape."""
    out = dict(_CONFIG_DEFAULTS)
    for key, val in (cfg or {}).items():
        out[key] = val
    return out


def parse_time(text: str) -> int:
    """RFC 3339 (nanoseconds allowed) -> Unix seconds; the zero time for junk, as Docker does."""
    if not text:
        return -62135596800
    t = text.strip().replace("Z", "+00:00")
    if "." in t:
        head, _, frac = t.partition(".")
        digits = "".join(c for c in frac if c.isdigit())
        tz = frac[len(digits) :]
        t = f"{head}.{digits[:6]}{tz}"
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        return -62135596800
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def inspect_json(rec: ImageRecord, graph: dict[str, str]) -> dict[str, Any]:
    """``GET /images/{name}/json``. ``graph`` is the GraphDriver ``Data`` (layer directories)."""
    cfg = rec.config
    out: dict[str, Any] = {
        "Id": rec.id,
        "RepoTags": list(rec.repo_tags),
        "RepoDigests": list(rec.repo_digests),
        "Parent": str(cfg.get("parent") or ""),
        "Comment": str(cfg.get("comment") or _last_comment(cfg)),
        "Created": str(cfg.get("created") or ZERO_TIME),
        "Container": str(cfg.get("container") or ""),
        "ContainerConfig": container_config(cfg.get("container_config")),
        "DockerVersion": str(cfg.get("docker_version") or ""),
        "Author": str(cfg.get("author") or ""),
        "Config": container_config(rec.container_config),
        "Architecture": str(cfg.get("architecture") or ""),
        "Os": str(cfg.get("os") or ""),
        "Size": rec.size,
        "VirtualSize": rec.size,
        "GraphDriver": {"Data": graph, "Name": "overlay2"},
        "RootFS": {"Type": "layers", "Layers": list(rec.diff_ids)},
        "Metadata": {"LastTagTime": rec.last_tag_time or ZERO_TIME},
    }
    if cfg.get("variant"):
        out["Variant"] = str(cfg["variant"])
    if cfg.get("os.version"):
        out["OsVersion"] = str(cfg["os.version"])
    return out


def _last_comment(cfg: dict[str, Any]) -> str:
    hist = cfg.get("history")
    if isinstance(hist, list) and hist and isinstance(hist[-1], dict):
        return str(hist[-1].get("comment") or "")
    return ""


def summary_json(rec: ImageRecord, containers: int = -1) -> dict[str, Any]:
    """One entry of ``GET /images/json``."""
    labels = rec.container_config.get("Labels")
    return {
        "Containers": containers,
        "Created": parse_time(rec.created),
        "Id": rec.id,
        "Labels": labels if labels else None,
        "ParentId": str(rec.config.get("parent") or ""),
        "RepoDigests": list(rec.repo_digests),
        "RepoTags": list(rec.repo_tags),
        "SharedSize": -1,
        "Size": rec.size,
        "VirtualSize": rec.size,
    }


def history_json(rec: ImageRecord) -> list[dict[str, Any]]:
    """``GET /images/{name}/history``: newest first; only the top entry carries the ID and tags."""
    hist = rec.config.get("history")
    entries: list[dict[str, Any]] = [h for h in hist if isinstance(h, dict)] if isinstance(hist, list) else []
    if not entries:
        entries = [{"created": rec.created} for _ in rec.diff_ids] or [{"created": rec.created}]
    sizes = list(rec.layer_sizes)
    layer = 0
    rows: list[dict[str, Any]] = []
    for h in entries:
        size = 0
        if not h.get("empty_layer"):
            size = sizes[layer] if layer < len(sizes) else 0
            layer += 1
        rows.append(
            {
                "Comment": str(h.get("comment") or ""),
                "Created": parse_time(str(h.get("created") or "")),
                "CreatedBy": str(h.get("created_by") or ""),
                "Id": "<missing>",
                "Size": size,
                "Tags": None,
            }
        )
    rows.reverse()
    rows[0]["Id"] = rec.id
    rows[0]["Tags"] = list(rec.repo_tags) or None
    return rows
