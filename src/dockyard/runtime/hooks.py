"""OCI hooks: parsing (pure) and running one with the container's state on stdin."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from dockyard.errors import InvalidArgument, Unavailable

__all__ = ["HOOK_KINDS", "Hook", "Hooks", "parse_hooks", "run_hooks", "state_for_hooks"]

HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


class Hook(NamedTuple):
    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None


class Hooks(NamedTuple):
    """Hooks by the spec's kind names, in the order the spec lists them."""

    by_kind: tuple[tuple[str, tuple[Hook, ...]], ...] = ()

    def get(self, kind: str) -> tuple[Hook, ...]:
        for name, hooks in self.by_kind:
            if name == kind:
                return hooks
        return ()


def parse_hooks(doc: Any) -> Hooks:
    if doc is None:
        return Hooks()
    if not isinstance(doc, dict):
        raise InvalidArgument("hooks: expected an object")
    out = []
    for kind in HOOK_KINDS:
        entries = []
        for h in doc.get(kind) or ():
            if not isinstance(h, dict) or not isinstance(h.get("path"), str) or not h["path"].startswith("/"):
                raise InvalidArgument(f"hooks.{kind}[]: path must be absolute")
            timeout = h.get("timeout")
            if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
                raise InvalidArgument(f"hooks.{kind}[]: timeout must be a positive integer")
            entries.append(
                Hook(
                    h["path"],
                    tuple(str(a) for a in h.get("args") or ()),
                    tuple(str(e) for e in h.get("env") or ()),
                    timeout,
                )
            )
        if entries:
            out.append((kind, tuple(entries)))
    return Hooks(tuple(out))


def state_for_hooks(
    oci_version: str, container_id: str, status: str, pid: int, bundle: str, annotations: dict[str, str]
) -> bytes:
    """The state JSON a hook reads on stdin."""
    doc = {"ociVersion": oci_version, "id": container_id, "status": status, "pid": pid, "bundle": bundle,
           "annotations": annotations}  # fmt: skip
    return json.dumps(doc).encode()


def run_hooks(kind: str, hooks: tuple[Hook, ...], state: bytes) -> None:
    """Run each hook in turn; the first that fails or times out raises (callers decide if that is fatal)."""
    if not hooks:
        return
    import subprocess  # only bundles with hooks pay for it

    for hook in hooks:
        args = list(hook.args) or [hook.path]
        env = dict(e.partition("=")[::2] for e in hook.env)
        try:
            res = subprocess.run(
                args, executable=hook.path, input=state, env=env, capture_output=True, timeout=hook.timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise Unavailable(f"{kind} hook {hook.path} timed out after {hook.timeout}s") from None
        except OSError as e:
            raise Unavailable(f"{kind} hook {hook.path}: {e.strerror}") from None
        if res.returncode != 0:
            detail = res.stderr.decode(errors="replace").strip()
            raise Unavailable(f"{kind} hook {hook.path} failed with exit code {res.returncode}: {detail}")
