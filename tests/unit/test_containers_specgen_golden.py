"""Golden tests: create request + image config → inspect JSON and OCI config.json.

Each case directory under ``golden/specgen`` holds ``case.json`` (the request body,
the image config, the image's passwd/group files and extra SpecInput fields) and the
expected ``inspect.json`` and ``config.json``. Regenerate them with
``UPDATE_GOLDEN=1 python -m pytest tests/unit/test_containers_specgen_golden.py`` and
review the diff; without it the outputs must match exactly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from dockyard.containers.create_request import config_to_json, host_config_to_json, parse_create_request
from dockyard.containers.hostconfig_defaults import DaemonDefaults, apply_daemon_defaults
from dockyard.containers.merge import merge_image_config, process_args
from dockyard.containers.specgen import SpecInput, generate_spec, standard_file_mounts
from dockyard.containers.user import resolve_user
from dockyard.mount.types import Mount

GOLDEN = Path(__file__).parent / "golden" / "specgen"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "case.json").is_file())
CONTAINER_ID = "3f2a9c1e8b7d" + "0123456789abcdef" * 3 + "0123"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def run_case(case: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pipeline the engine runs: parse → daemon defaults → merge → user → spec."""
    req = parse_create_request(case["request"])
    hc = apply_daemon_defaults(req.host_config, DaemonDefaults(cgroupns_mode="private", cgroup_v2=True))
    cfg = merge_image_config(req.config, case["image"])
    extra = dict(case.get("input", {}))
    mounts = tuple(
        Mount(m["type"], m["source"], tuple(m["options"]), m["target"]) for m in extra.pop("extra_mounts", [])
    )
    files = standard_file_mounts(
        f"/var/lib/dockyard/containers/{CONTAINER_ID}/hostname",
        f"/var/lib/dockyard/containers/{CONTAINER_ID}/hosts",
        f"/var/lib/dockyard/containers/{CONTAINER_ID}/resolv.conf",
        read_only=hc.readonly_rootfs,
    )
    user = resolve_user(cfg.user, case["passwd"], case["group"], hc.group_add or ())
    inp = SpecInput(
        container_id=CONTAINER_ID,
        config=cfg,
        host_config=hc,
        user=user,
        args=tuple(process_args(cfg)),
        extra_mounts=files + mounts,
        **extra,
    )
    inspect = {"Config": config_to_json(cfg), "HostConfig": host_config_to_json(hc)}
    return inspect, generate_spec(inp)


def _check(path: Path, actual: dict[str, Any]) -> None:
    text = json.dumps(actual, indent=2) + "\n"
    if UPDATE:
        path.write_text(text)
        return
    assert path.exists(), f"{path} is missing; run with UPDATE_GOLDEN=1 and review it"
    expected = json.loads(path.read_text())
    assert actual == expected
    # Key order is part of the contract (Docker's inspect field order).
    assert text == path.read_text()


@pytest.mark.parametrize("name", CASES)
def test_golden_case(name: str) -> None:
    case = json.loads((GOLDEN / name / "case.json").read_text())
    inspect, spec = run_case(case)
    _check(GOLDEN / name / "inspect.json", inspect)
    _check(GOLDEN / name / "config.json", spec)


@pytest.mark.parametrize("name", CASES)
def test_golden_is_deterministic(name: str) -> None:
    case = json.loads((GOLDEN / name / "case.json").read_text())
    assert json.dumps(run_case(case)) == json.dumps(run_case(case))


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 5
