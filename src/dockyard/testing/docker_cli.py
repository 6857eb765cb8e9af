"""The real docker CLI as tests run it: against a test daemon's environment, failures with their stderr."""

from __future__ import annotations

import subprocess

__all__ = ["docker"]


def docker(
    env: dict[str, str], *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``docker args...`` with ``env`` (its DOCKER_HOST); AssertionError with stderr when ``check`` and it fails."""
    r = subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {r.stderr}")
    return r
