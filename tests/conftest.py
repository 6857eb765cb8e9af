"""Shared fixtures: root/kernel markers and a real dockyardd for integration tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.testing.daemon import DaemonProcess

IS_ROOT = os.geteuid() == 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_root = pytest.mark.skip(reason="needs root (namespaces, mounts, cgroups)")
    skip_docker = pytest.mark.skip(reason="the docker CLI is not installed")
    for item in items:
        if ("root" in item.keywords or "compat" in item.keywords) and not IS_ROOT:
            item.add_marker(skip_root)
        if "docker_cli" in item.fixturenames and shutil.which("docker") is None:
            item.add_marker(skip_docker)


def _started_daemon() -> DaemonProcess:
    """A private dockyardd with busybox (default runtime from DOCKYARD_TEST_RUNTIME)."""
    runtime = os.environ.get("DOCKYARD_TEST_RUNTIME", "")
    d = DaemonProcess(extra_args=("--default-runtime", runtime) if runtime else ())
    try:
        d.start()
        status, body = d.request("POST", "/dockyard/images/bootstrap?kind=busybox&tag=busybox:latest", timeout=120)
        assert status == 200, body
    except BaseException:
        d.destroy()
        raise
    return d


@pytest.fixture(scope="session")
def daemon() -> Iterator[DaemonProcess]:
    """One dockyardd for the session, with a bootstrapped busybox image."""
    if not IS_ROOT:
        pytest.skip("needs root")
    if not os.path.exists("/bin/busybox"):
        pytest.skip("needs busybox-static (/bin/busybox)")
    d = _started_daemon()
    try:
        yield d
    finally:
        d.destroy()


@pytest.fixture
def own_daemon() -> Iterator[DaemonProcess]:
    """A dockyardd of the test's own, for tests that stop, kill or restart it."""
    if not IS_ROOT:
        pytest.skip("needs root")
    d = _started_daemon()
    try:
        yield d
    finally:
        d.destroy()


@pytest.fixture
def clean_daemon(daemon: DaemonProcess) -> Iterator[DaemonProcess]:
    """The session daemon, with every container removed after the test."""
    yield daemon
    daemon.remove_all_containers()


@pytest.fixture
def docker_cli(clean_daemon: DaemonProcess) -> dict[str, str]:
    """Environment for running the real docker CLI against dockyardd."""
    return clean_daemon.env()


@pytest.fixture(scope="session", autouse=True)
def _remove_test_cgroup_parents() -> Iterator[None]:
    """Runtimes remove a container's own cgroup, not the parents they made: remove the suite's at the end."""
    yield
    for parent in [*Path("/sys/fs/cgroup").glob("*/dockyard-test"), Path("/sys/fs/cgroup/dockyard-test")]:
        try:
            parent.rmdir()
        except OSError:
            pass  # absent, or still in use
