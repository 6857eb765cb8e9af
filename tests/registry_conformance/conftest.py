"""Fixtures for the OCI distribution conformance suite.

By default each test session starts dockyard's registry in-process on an
ephemeral 127.0.0.1 port; set ``DOCKYARD_REGISTRY_URL`` (and optionally
``DOCKYARD_REGISTRY_DELETE=0``) to run the suite against a running server in CI.
Tests that need a server with special settings start their own and are
skipped against an external URL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from dockyard.registry import RegistryConfig, RunningRegistry
from dockyard.registry.storage import MemoryDriver
from registry_conformance.client import Client

EXTERNAL = os.environ.get("DOCKYARD_REGISTRY_URL", "")


@pytest.fixture(scope="session", params=["filesystem", "memory"] if not EXTERNAL else ["external"])
def registry_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The suite runs once per storage driver, proving the registry only uses its storage seam."""
    if EXTERNAL:
        yield EXTERNAL.rstrip("/")
        return
    root = tmp_path_factory.mktemp("registry")
    driver = MemoryDriver() if request.param == "memory" else None
    with RunningRegistry(RegistryConfig(root=str(root), access_log=False), driver=driver) as reg:
        yield reg.url


@pytest.fixture
def client(registry_url: str) -> Iterator[Client]:
    with requests.Session() as s:
        yield Client(registry_url, s)


@pytest.fixture
def repo() -> str:
    """A fresh repository name per test, so tests never see each other's content."""
    return f"conformance/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def start_registry(tmp_path: Path) -> Iterator[object]:
    """Start a private in-process registry with config overrides; stopped at teardown."""
    if EXTERNAL:
        pytest.skip("needs a registry with special settings; DOCKYARD_REGISTRY_URL is set")
    started: list[RunningRegistry] = []

    def start(**overrides: object) -> Client:
        config = RegistryConfig(root=str(tmp_path / f"root{len(started)}"), access_log=False)
        reg = RunningRegistry(config.with_overrides(**overrides)).start()
        started.append(reg)
        return Client(reg.url, requests.Session())

    yield start
    for reg in started:
        reg.stop()
