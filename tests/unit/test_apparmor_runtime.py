"""The built-in runtime's side of ``process.apparmorProfile``: spec field, attr file, host check, features."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.runtime.container import CreateOptions, create
from dockyard.runtime.defaultspec import default_spec
from dockyard.runtime.features import features
from dockyard.runtime.linux import apparmor
from dockyard.runtime.spec import parse_process


def test_process_field_parsed() -> None:
    assert parse_process({"args": ["true"], "apparmorProfile": "docker-default"}).apparmor_profile == "docker-default"
    assert parse_process({"args": ["true"]}).apparmor_profile == ""
    with pytest.raises(InvalidArgument, match="apparmorProfile"):
        parse_process({"args": ["true"], "apparmorProfile": 7})


def _attr(proc: Path, base: str, rel: str) -> Path:
    path = proc / base / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    return path


def test_attr_path_prefers_the_per_lsm_file_of_the_thread(tmp_path: Path) -> None:
    _attr(tmp_path, "thread-self", "attr/exec")
    new = _attr(tmp_path, "thread-self", "attr/apparmor/exec")
    _attr(tmp_path, "self", "attr/apparmor/exec")
    assert apparmor.exec_attr_path(str(tmp_path)) == str(new)


def test_attr_path_falls_back_to_the_old_layout(tmp_path: Path) -> None:
    old = _attr(tmp_path, "thread-self", "attr/exec")
    assert apparmor.exec_attr_path(str(tmp_path)) == str(old)


def test_attr_path_without_thread_self(tmp_path: Path) -> None:
    new = _attr(tmp_path, "self", "attr/apparmor/exec")
    assert apparmor.exec_attr_path(str(tmp_path)) == str(new)


def test_change_onexec_writes_the_request(tmp_path: Path) -> None:
    path = _attr(tmp_path, "thread-self", "attr/apparmor/exec")
    apparmor.change_onexec("docker-default", str(tmp_path))
    assert path.read_text() == "exec docker-default"


def test_change_onexec_failure_says_what_and_where(tmp_path: Path) -> None:
    (tmp_path / "thread-self").mkdir()
    with pytest.raises(RuntimeError, match=r"unable to apply apparmor profile: .*write .*attr/exec: No such file"):
        apparmor.change_onexec("docker-default", str(tmp_path))


def _host(root: Path, securityfs: bool, value: str | None) -> str:
    if securityfs:
        (root / "sys/kernel/security/apparmor").mkdir(parents=True)
    if value is not None:
        param = root / "sys/module/apparmor/parameters/enabled"
        param.parent.mkdir(parents=True)
        param.write_text(value)
    return str(root)


@pytest.mark.parametrize(
    ("securityfs", "value", "expected"),
    [(True, "Y\n", True), (True, "N\n", False), (False, "Y\n", False), (True, None, False)],
)
def test_runtime_detection(tmp_path: Path, securityfs: bool, value: str | None, expected: bool) -> None:
    root = _host(tmp_path, securityfs, value)
    assert apparmor.enabled(root) is expected
    assert features(root)["linux"]["apparmor"] == {"enabled": expected}


@pytest.mark.skipif(apparmor.enabled(), reason="the host has AppArmor: the profile would be applied")
def test_create_refuses_a_profile_without_host_apparmor(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    spec = default_spec(["true"], rootfs="rootfs")
    spec["process"]["apparmorProfile"] = "docker-default"
    (bundle / "config.json").write_text(json.dumps(spec))
    state = tmp_path / "state"
    state.mkdir()
    with pytest.raises(InvalidArgument, match="apparmor: config provided but apparmor not supported"):
        create(str(state), "ctr", CreateOptions(bundle=str(bundle)))
    assert os.listdir(state) == []  # refused before anything was made
