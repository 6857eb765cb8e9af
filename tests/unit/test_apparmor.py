"""AppArmor on the daemon's side: host detection, profile choice, loading docker-default, spec and inspect.

This host has no AppArmor, so everything goes through seams: fake /sys trees, a
fake ``apparmor_parser`` that records its arguments and "loads" the profile by
appending it to the fake securityfs list.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dockyard import errors
from dockyard.api.routes.containers import apparmor_profile, inspect_json
from dockyard.containers.capabilities import ALL_CAPABILITIES
from dockyard.containers.create_request import parse_create_request
from dockyard.containers.specgen import SpecInput, generate_spec
from dockyard.containers.store import ContainerRecord
from dockyard.containers.user import ResolvedUser
from dockyard.engine.isolation import HostFacts, Isolation, security_options
from dockyard.security.apparmor import (
    DEFAULT_PROFILE,
    UNCONFINED,
    AppArmor,
    daemon_profile,
    default_profile_params,
    host_enabled,
    load_profile,
    loaded_profiles,
    profile_for,
)

PROFILES = "sys/kernel/security/apparmor/profiles"


def _host_tree(root: Path, enabled: str = "Y\n", profiles: str | None = "") -> Path:
    """A fake root with the module parameter and (unless None) securityfs' profile list."""
    param = root / "sys/module/apparmor/parameters/enabled"
    param.parent.mkdir(parents=True)
    param.write_text(enabled)
    if profiles is not None:
        (root / PROFILES).parent.mkdir(parents=True)
        (root / PROFILES).write_text(profiles)
    return root


def _fake_parser(directory: Path, status: int = 0, load: bool = True) -> Path:
    """An ``apparmor_parser`` that records its argv and the profile it was given, then "loads" it."""
    script = directory / "apparmor_parser"
    lines = [
        "#!/bin/sh",
        f'echo "$@" >> "{directory}/calls"',
        f'cp "$2" "{directory}/loaded-profile"',
    ]
    if load:
        lines.append(f'echo "docker-default (enforce)" >> "{directory}/root/{PROFILES}"')
    if status:
        lines += ["echo 'AppArmor parser error: syntax' >&2", f"exit {status}"]
    script.write_text("\n".join(lines) + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def _calls(directory: Path) -> list[str]:
    path = directory / "calls"
    return path.read_text().splitlines() if path.exists() else []


# --- detection ------------------------------------------------------------------


def test_enabled_when_module_says_y_and_profiles_are_readable(tmp_path: Path) -> None:
    assert host_enabled(str(_host_tree(tmp_path)))


@pytest.mark.parametrize(("enabled", "profiles"), [("N\n", ""), ("Y\n", None), ("", "")])
def test_disabled_hosts(tmp_path: Path, enabled: str, profiles: str | None) -> None:
    assert not host_enabled(str(_host_tree(tmp_path, enabled, profiles)))


def test_no_apparmor_at_all(tmp_path: Path) -> None:
    assert not host_enabled(str(tmp_path))


def test_loaded_profiles_strip_the_mode(tmp_path: Path) -> None:
    root = _host_tree(tmp_path, profiles="docker-default (enforce)\n/usr/sbin/cupsd (complain)\nlxc (enforce)\n\n")
    assert loaded_profiles(str(root)) == {"docker-default", "/usr/sbin/cupsd", "lxc"}


def test_daemon_profile_from_attr_current(tmp_path: Path) -> None:
    attr = tmp_path / "self/attr/current"
    assert daemon_profile(str(tmp_path)) == UNCONFINED  # unreadable: assume unconfined, as Docker does
    attr.parent.mkdir(parents=True)
    attr.write_text("dockerd (enforce)\n")
    assert daemon_profile(str(tmp_path)) == "dockerd"
    attr.write_text("unconfined\n")
    assert daemon_profile(str(tmp_path)) == UNCONFINED
    per_lsm = tmp_path / "self/attr/apparmor/current"
    per_lsm.parent.mkdir()
    per_lsm.write_text("dockerd-stacked (complain)\n")
    assert daemon_profile(str(tmp_path)) == "dockerd-stacked"


def test_profile_params_follow_the_hosts_apparmor_d(tmp_path: Path) -> None:
    params = default_profile_params("docker-default", str(tmp_path), str(tmp_path / "proc"))
    assert not params.tunables_global and not params.abstractions_base
    for name in ("tunables/global", "abstractions/base"):
        (tmp_path / "etc/apparmor.d" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "etc/apparmor.d" / name).write_text("")
    params = default_profile_params("docker-default", str(tmp_path), str(tmp_path / "proc"))
    assert params.tunables_global and params.abstractions_base and params.daemon_profile == UNCONFINED


# --- which profile ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("named", "privileged", "enabled", "expected"),
    [
        ("", False, True, DEFAULT_PROFILE),
        ("", True, True, UNCONFINED),
        ("custom", False, True, "custom"),
        ("custom", True, True, "custom"),  # an explicit choice wins over --privileged
        ("unconfined", False, True, UNCONFINED),
        # Docker ignores AppArmor entirely on a host without it, requested profiles included
        ("", False, False, ""),
        ("custom", False, False, ""),
        ("", True, False, ""),
    ],
)
def test_profile_choice(named: str, privileged: bool, enabled: bool, expected: str) -> None:
    assert profile_for(named, privileged, enabled) == expected


# --- loading ------------------------------------------------------------------------


def test_load_profile_runs_parser_with_kr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "root").mkdir()
    _fake_parser(tmp_path, load=False)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ.get('PATH', '')}")
    profile = tmp_path / "p"
    profile.write_text("profile p {}\n")
    load_profile(str(profile))
    assert _calls(tmp_path) == [f"-Kr {profile}"]


def test_missing_parser_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(errors.Internal, match="apparmor_parser not found"):
        load_profile(str(tmp_path / "p"))


def test_failing_parser_reports_its_output(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    parser = _fake_parser(tmp_path, status=1, load=False)
    with pytest.raises(errors.Internal, match=r"syntax.*status 1"):
        load_profile(str(tmp_path / "p"), str(parser))


def test_default_profile_is_loaded_once(tmp_path: Path) -> None:
    root = _host_tree(tmp_path / "root")
    aa = AppArmor(enabled=True, root=str(root), proc_root=str(tmp_path / "proc"), parser=str(_fake_parser(tmp_path)))
    assert aa.for_start("", privileged=False) == DEFAULT_PROFILE
    calls = _calls(tmp_path)
    assert len(calls) == 1 and calls[0].startswith("-Kr ")
    assert not os.path.exists(calls[0].split(" ", 1)[1])  # the temporary profile file is gone
    text = (tmp_path / "loaded-profile").read_text()
    assert "profile docker-default flags=(attach_disconnected,mediate_deleted) {" in text
    assert "@{PROC}=/proc/" in text  # the fake root has no tunables/global
    # now in the kernel's list: the next start does not run the parser again
    assert aa.for_start("", privileged=False) == DEFAULT_PROFILE
    assert len(_calls(tmp_path)) == 1


def test_default_profile_load_failure_fails_the_start(tmp_path: Path) -> None:
    root = _host_tree(tmp_path / "root")
    aa = AppArmor(enabled=True, root=str(root), parser=str(_fake_parser(tmp_path, status=2, load=False)))
    with pytest.raises(errors.Internal, match="the docker-default profile could not be loaded: parser error"):
        aa.for_start("", privileged=False)


def test_default_profile_without_parser_fails_the_start(tmp_path: Path) -> None:
    root = _host_tree(tmp_path / "root")
    aa = AppArmor(enabled=True, root=str(root), parser=str(tmp_path / "no-such-parser"))
    with pytest.raises(errors.Internal, match=r"docker-default profile could not be loaded: .*not found"):
        aa.for_start("", privileged=False)


def test_named_profile_must_be_loaded(tmp_path: Path) -> None:
    root = _host_tree(tmp_path / "root", profiles="mine (enforce)\n")
    aa = AppArmor(enabled=True, root=str(root), parser=str(_fake_parser(tmp_path)))
    assert aa.for_start("mine", privileged=False) == "mine"
    with pytest.raises(errors.InvalidArgument, match="the other profile could not be loaded"):
        aa.for_start("other", privileged=False)
    assert _calls(tmp_path) == []  # only docker-default is ever generated


def test_unconfined_and_disabled_hosts_touch_nothing(tmp_path: Path) -> None:
    parser = str(_fake_parser(tmp_path))
    # no securityfs under this root: any look at the kernel's list would fail
    assert AppArmor(enabled=True, root=str(tmp_path), parser=parser).for_start("", privileged=True) == UNCONFINED
    assert AppArmor(enabled=False, root=str(tmp_path), parser=parser).for_start("custom", privileged=False) == ""
    assert _calls(tmp_path) == []


def test_unreadable_profile_list_is_an_error(tmp_path: Path) -> None:
    aa = AppArmor(enabled=True, root=str(tmp_path))
    with pytest.raises(errors.Internal, match="could not check if the docker-default AppArmor profile is loaded"):
        aa.for_start("", privileged=False)


# --- isolation, spec, /info -------------------------------------------------------------

HOST = HostFacts(frozenset(ALL_CAPABILITIES), "x86_64", (6, 1), True)


def _host_config(**hc: Any) -> Any:
    return parse_create_request({"Image": "busybox", "Cmd": ["true"], "HostConfig": hc}).host_config


def test_isolation_resolves_the_profile(tmp_path: Path) -> None:
    root = _host_tree(tmp_path / "root", profiles="mine (enforce)\n")
    aa = AppArmor(enabled=True, root=str(root), parser=str(_fake_parser(tmp_path)))
    iso = Isolation(HOST, apparmor=aa)
    assert iso.for_start(_host_config()).apparmor_profile == DEFAULT_PROFILE
    assert iso.for_start(_host_config(SecurityOpt=["apparmor=mine"])).apparmor_profile == "mine"
    assert iso.for_start(_host_config(SecurityOpt=["apparmor:unconfined"])).apparmor_profile == UNCONFINED
    with pytest.raises(errors.InvalidArgument):
        iso.for_start(_host_config(SecurityOpt=["apparmor=missing"]))


def test_isolation_on_a_host_without_apparmor() -> None:
    iso = Isolation(HOST)  # HostFacts.apparmor is False
    assert iso.for_start(_host_config(SecurityOpt=["apparmor=whatever"])).apparmor_profile == ""
    assert iso.apparmor.enabled is False


def _spec(profile: str) -> dict[str, Any]:
    req = parse_create_request({"Image": "busybox", "Cmd": ["true"]})
    return generate_spec(
        SpecInput(
            container_id="c" * 64,
            config=req.config,
            host_config=req.host_config,
            user=ResolvedUser(uid=0, gid=0, additional_gids=(), home="/root"),
            args=("true",),
            apparmor_profile=profile,
        )
    )


def test_spec_carries_the_profile_only_when_set() -> None:
    assert _spec(DEFAULT_PROFILE)["process"]["apparmorProfile"] == DEFAULT_PROFILE
    assert "apparmorProfile" not in _spec("")["process"]


def test_info_names_apparmor_first_when_enabled() -> None:
    on = HostFacts(frozenset(ALL_CAPABILITIES), "x86_64", (6, 1), True, apparmor=True)
    assert security_options(on, "", False, "1") == ["name=apparmor", "name=seccomp,profile=builtin"]
    assert "name=apparmor" not in security_options(HOST, "", False, "1")


# --- inspect ------------------------------------------------------------------------------


def _record(**host_config: Any) -> ContainerRecord:
    return ContainerRecord(
        id="c" * 64, name="box", created="", image="busybox", image_id="x", config={}, host_config=host_config
    )


def _engine(aa: AppArmor | None) -> Any:
    isolation = Isolation(HOST, apparmor=aa) if aa is not None else None
    return SimpleNamespace(
        containers=SimpleNamespace(isolation=isolation),
        graph_driver_data=lambda rec: {},
        network_settings=lambda rec: {},
    )


def test_inspect_shows_the_profile_on_apparmor_hosts(tmp_path: Path) -> None:
    engine = _engine(AppArmor(enabled=True, root=str(tmp_path)))
    assert inspect_json(_record(), engine)["AppArmorProfile"] == DEFAULT_PROFILE
    assert apparmor_profile(_record(Privileged=True), engine) == UNCONFINED
    assert apparmor_profile(_record(SecurityOpt=["apparmor=mine"]), engine) == "mine"
    assert apparmor_profile(_record(SecurityOpt=["bogus"]), engine) == DEFAULT_PROFILE


def test_inspect_shows_nothing_without_apparmor(tmp_path: Path) -> None:
    engine = _engine(AppArmor(enabled=False, root=str(tmp_path)))
    assert inspect_json(_record(SecurityOpt=["apparmor=mine"]), engine)["AppArmorProfile"] == ""
    assert apparmor_profile(_record(), _engine(None)) == ""


@pytest.mark.skipif(shutil.which("apparmor_parser") is None, reason="apparmor_parser is not installed")
@pytest.mark.skipif(host_enabled(), reason="the host has AppArmor: this would load docker-default into its kernel")
def test_real_parser_failing_to_load_into_a_kernel_without_apparmor(tmp_path: Path) -> None:
    """The real ``apparmor_parser -Kr`` cannot load into this kernel: the start fails with the parser's words."""
    root = _host_tree(tmp_path / "root")
    aa = AppArmor(enabled=True, root=str(root))
    with pytest.raises(errors.Internal) as raised:
        aa.for_start("", privileged=False)
    message = raised.value.message
    assert message.startswith("AppArmor enabled on system but the docker-default profile could not be loaded: ")
    assert "parser error(" in message and "exited with status" in message
