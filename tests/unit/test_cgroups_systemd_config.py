"""The systemd driver on the daemon side: exec-opts, cgroup parents, cgroupsPath, the systemd check, the shim."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.containers.cgroup_parent import cgroups_path, validate_cgroup_parent
from dockyard.containers.store import ContainerRecord
from dockyard.daemon.cgroup_driver import (
    SystemdUnitLimits,
    check_cgroup_driver,
    systemd_unavailable_reason,
    update_resources,
)
from dockyard.daemon.config import DaemonConfig, config_from_mapping, parse_exec_opts
from dockyard.daemon.main import build_config, parse_args
from dockyard.engine.cgroups import ResourceUpdate
from dockyard.shim.config import parse_config
from dockyard.tasks.api import TaskSpec
from dockyard.tasks.shim_client import spec_to_json

SLICE_ERROR = 'cgroup-parent for systemd cgroup should be a valid slice named as "xxx.slice"'


def test_exec_opts_choose_the_cgroup_driver() -> None:
    assert parse_exec_opts([]).cgroup_driver == "cgroupfs"
    assert parse_exec_opts(["native.cgroupdriver=systemd"]).cgroup_driver == "systemd"
    assert parse_exec_opts(["Native.CgroupDriver = SystemD"]).cgroup_driver == "systemd"  # dockerd ignores case
    assert parse_exec_opts(["native.cgroupdriver=systemd", "native.cgroupdriver=cgroupfs"]).cgroup_driver == "cgroupfs"


@pytest.mark.parametrize(
    ("opt", "message"),
    [
        ("native.cgroupdriver=lxc", "native.cgroupdriver option lxc not supported"),
        ("native.foo=bar", "unknown exec-opt 'native.foo'"),
        ("native.cgroupdriver", "expected key=value"),
        ("=systemd", "expected key=value"),
    ],
)
def test_exec_opts_refuse_what_they_do_not_know(opt: str, message: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=message):
        parse_exec_opts([opt])


def test_daemon_json_exec_opts_and_the_default_parent() -> None:
    cfg = config_from_mapping({"exec-opts": ["native.cgroupdriver=systemd"]})
    assert cfg.exec_opts == ("native.cgroupdriver=systemd",)
    assert cfg.cgroup_driver == "systemd"
    assert cfg.container_cgroup_parent == "system.slice"
    assert DaemonConfig().container_cgroup_parent == "/dockyard"
    assert config_from_mapping({"cgroup-parent": "/mine"}).container_cgroup_parent == "/mine"
    with pytest.raises(errors.InvalidArgument, match="exec-opts must be a list"):
        config_from_mapping({"exec-opts": "native.cgroupdriver=systemd"})
    with pytest.raises(errors.InvalidArgument, match="not supported"):
        config_from_mapping({"exec-opts": ["native.cgroupdriver=nope"]})


def test_exec_opt_flags_add_to_daemon_json(tmp_path: Path) -> None:
    p = tmp_path / "daemon.json"
    p.write_text(json.dumps({"exec-opts": ["native.cgroupdriver=cgroupfs"]}))
    cfg = build_config(parse_args(["--config-file", str(p), "--exec-opt", "native.cgroupdriver=systemd"]))
    assert cfg.exec_opts == ("native.cgroupdriver=cgroupfs", "native.cgroupdriver=systemd")
    assert cfg.cgroup_driver == "systemd"
    assert build_config(parse_args(["--config-file", str(p)])).cgroup_driver == "cgroupfs"


def test_flags_refuse_a_bad_driver_and_a_non_slice_parent_for_systemd(tmp_path: Path) -> None:
    p = tmp_path / "daemon.json"
    p.write_text("{}")
    base = ["--config-file", str(p)]
    with pytest.raises(errors.InvalidArgument, match="option bad not supported"):
        build_config(parse_args([*base, "--exec-opt", "native.cgroupdriver=bad"]))
    with pytest.raises(errors.InvalidArgument, match="valid slice"):
        build_config(parse_args([*base, "--exec-opt", "native.cgroupdriver=systemd", "--cgroup-parent", "/x"]))
    cfg = build_config(parse_args([*base, "--exec-opt", "native.cgroupdriver=systemd", "--cgroup-parent", "a.slice"]))
    assert cfg.container_cgroup_parent == "a.slice"
    # cgroupfs takes any directory
    assert build_config(parse_args([*base, "--cgroup-parent", "/x"])).container_cgroup_parent == "/x"


@pytest.mark.parametrize("parent", ["/dockyard", "foo", ".slice", "x.scope"])
def test_systemd_parent_must_be_a_slice(parent: str) -> None:
    with pytest.raises(errors.InvalidArgument) as info:
        validate_cgroup_parent("systemd", parent)
    assert info.value.message == SLICE_ERROR
    validate_cgroup_parent("cgroupfs", parent)  # any name is a directory for cgroupfs


def test_cgroups_path_per_driver() -> None:
    assert cgroups_path("cgroupfs", "/dockyard", "abc") == "/dockyard/abc"
    assert cgroups_path("cgroupfs", "dockyard/", "abc") == "/dockyard/abc"
    assert cgroups_path("cgroupfs", "", "abc") == "/abc"
    assert cgroups_path("systemd", "system.slice", "abc") == "system.slice:docker:abc"
    assert cgroups_path("systemd", "", "abc") == "system.slice:docker:abc"
    assert cgroups_path("systemd", "my-app.slice", "abc") == "my-app.slice:docker:abc"
    with pytest.raises(errors.InvalidArgument):
        cgroups_path("systemd", "/dockyard", "abc")


def test_systemd_runs_when_it_booted_the_host(tmp_path: Path) -> None:
    booted = tmp_path / "systemd-system"
    assert "not running" in systemd_unavailable_reason({}, str(booted))
    with pytest.raises(errors.Unavailable, match="needs systemd"):
        check_cgroup_driver("systemd", {}, str(booted))
    check_cgroup_driver("cgroupfs", {}, str(booted))  # cgroupfs never asks
    booted.mkdir()
    assert systemd_unavailable_reason({}, str(booted)) == ""
    check_cgroup_driver("systemd", {}, str(booted))


def test_a_bus_address_decides_instead_of_sd_booted(tmp_path: Path) -> None:
    booted = tmp_path / "booted"
    booted.mkdir()
    env = {"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/no-such-bus"}
    reason = systemd_unavailable_reason(env, str(booted))
    assert "cannot be reached" in reason and "no-such-bus" in reason
    with pytest.raises(errors.Unavailable):
        check_cgroup_driver("systemd", env, str(booted))


def test_runtime_args_reach_the_shim() -> None:
    spec = TaskSpec(container_id="c", bundle="/b", state_dir="/s", runtime_args=("--systemd-cgroup",))
    doc = spec_to_json(spec)
    assert doc["runtime_args"] == ["--systemd-cgroup"]
    assert parse_config(doc).runtime_args == ("--systemd-cgroup",)
    assert parse_config({**doc, "runtime_args": []}).runtime_args == ()
    legacy = {k: v for k, v in doc.items() if k != "runtime_args"}  # written by an older daemon
    assert parse_config(legacy).runtime_args == ()
    with pytest.raises(ValueError):
        parse_config({**doc, "runtime_args": "--systemd-cgroup"})


def test_no_dbus_import_on_the_cgroupfs_path() -> None:
    """The lean runtime must not pay for D-Bus unless the systemd driver is asked for."""
    import subprocess
    import sys

    src = os.path.dirname(os.path.dirname(os.path.abspath(sys.modules["dockyard"].__file__ or "")))
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import dockyard.runtime.cli, dockyard.runtime.container; "
        "print(sorted(m for m in sys.modules if m.startswith('jeepney') or m.endswith('.systemd')))"
    )
    out = subprocess.run([sys.executable, "-S", "-I", "-c", code, src], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_docker_update_values_as_runtime_resources() -> None:
    r = update_resources(ResourceUpdate(memory=64 << 20, pids_limit=0, cpu_quota=5000, cpu_period=10000))
    assert (r.memory_limit, r.pids_limit, r.cpu_quota, r.cpu_period) == (64 << 20, -1, 5000, 10000)
    assert update_resources(ResourceUpdate(pids_limit=9)).pids_limit == 9
    assert update_resources(ResourceUpdate()).pids_limit is None


def test_update_hook_leaves_non_scopes_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Containers without a bundle or with a cgroupfs path make no D-Bus call; a scope's update does."""
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")  # a call would fail
    hook = SystemdUnitLimits(unified=False)
    rec = ContainerRecord(id="c1", name="n", created="", image="i", image_id="x", config={}, host_config={})
    update = ResourceUpdate(pids_limit=5)
    asyncio.run(hook(replace(rec, bundle=str(tmp_path / "missing")), update))
    (tmp_path / "config.json").write_text(json.dumps({"linux": {"cgroupsPath": "/dockyard/c1"}}))
    asyncio.run(hook(replace(rec, bundle=str(tmp_path)), update))
    (tmp_path / "config.json").write_text(json.dumps({"linux": {"cgroupsPath": "system.slice:docker:c1"}}))
    with pytest.raises(errors.Unavailable, match="system D-Bus"):
        asyncio.run(hook(replace(rec, bundle=str(tmp_path)), update))
    asyncio.run(hook(replace(rec, bundle=str(tmp_path)), ResourceUpdate(cpuset_cpus="0")))  # nothing for systemd
