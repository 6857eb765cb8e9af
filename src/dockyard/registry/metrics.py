"""Counters rendered in the Prometheus text exposition format."""

from __future__ import annotations

from collections import defaultdict

__all__ = ["Metrics"]

_HELP = {
    "dockyard_registry_http_requests_total": "HTTP requests by route, method and status.",
    "dockyard_registry_http_request_duration_seconds_total": "Time spent serving requests, by route.",
    "dockyard_registry_bytes_received_total": "Blob and manifest bytes received.",
    "dockyard_registry_bytes_sent_total": "Response bytes sent (headers and bodies).",
    "dockyard_registry_uploads_total": (
        "Blob uploads by outcome (started, completed, mounted, cancelled, failed, expired)."
    ),
}

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Per-process counters (each replica exports its own; Prometheus sums them)."""

    def __init__(self) -> None:
        self._values: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        self._values[name][tuple(sorted(labels.items()))] += value

    def get(self, name: str, **labels: str) -> float:
        return self._values.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> str:
        lines = []
        for name in sorted(set(_HELP) | set(self._values)):
            lines.append(f"# HELP {name} {_HELP.get(name, name)}")
            lines.append(f"# TYPE {name} counter")
            for labels, value in sorted(self._values.get(name, {}).items()):
                lab = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                num = int(value) if float(value).is_integer() else value
                lines.append(f"{name}{{{lab}}} {num}" if lab else f"{name} {num}")
        return "\n".join(lines) + "\n"
