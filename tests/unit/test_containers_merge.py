"""Merging an image's config into a container's, and the container's environment."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.containers.create_request import parse_container_config
from dockyard.containers.env import DEFAULT_PATH, container_env, replace_or_append_env
from dockyard.containers.merge import merge_image_config, process_args
from dockyard.errors import InvalidArgument

IMAGE = {
    "User": "app",
    "Env": ["PATH=/opt/bin:/usr/bin", "LANG=C.UTF-8"],
    "Entrypoint": ["/entry.sh"],
    "Cmd": ["serve", "--port", "80"],
    "WorkingDir": "/srv",
    "Labels": {"maintainer": "img", "tier": "base"},
    "ExposedPorts": {"80/tcp": {}},
    "Volumes": {"/data": {}},
    "StopSignal": "SIGQUIT",
    "Healthcheck": {"Test": ["CMD", "check"], "Interval": 30_000_000_000, "Retries": 3},
    "Shell": ["/bin/bash", "-c"],
    "OnBuild": ["RUN make"],
}


def merged(request: dict[str, Any], image: dict[str, Any] | None = None) -> Any:
    return merge_image_config(parse_container_config(request), IMAGE if image is None else image)


def test_image_defaults_fill_an_empty_request() -> None:
    cfg = merged({"Image": "x"})
    assert process_args(cfg) == ["/entry.sh", "serve", "--port", "80"]
    assert cfg.user == "app"
    assert cfg.working_dir == "/srv"
    assert cfg.env == ("PATH=/opt/bin:/usr/bin", "LANG=C.UTF-8")
    assert cfg.stop_signal == "SIGQUIT"
    assert cfg.shell == ("/bin/bash", "-c")
    assert cfg.on_build == ("RUN make",)
    assert cfg.volumes == ("/data",)
    assert cfg.exposed_ports == ("80/tcp",)


def test_request_cmd_replaces_image_cmd_but_keeps_entrypoint() -> None:
    assert process_args(merged({"Cmd": ["migrate"]})) == ["/entry.sh", "migrate"]


def test_explicit_entrypoint_drops_image_cmd() -> None:
    cfg = merged({"Entrypoint": ["/bin/sh"]})
    assert cfg.cmd is None
    assert process_args(cfg) == ["/bin/sh"]


def test_explicit_entrypoint_with_cmd_keeps_both() -> None:
    assert process_args(merged({"Entrypoint": ["/bin/sh"], "Cmd": ["-c", "true"]})) == ["/bin/sh", "-c", "true"]


def test_empty_string_entrypoint_clears_it() -> None:
    cfg = merged({"Entrypoint": [""], "Cmd": ["ls"]})
    assert cfg.entrypoint is None
    assert process_args(cfg) == ["ls"]


def test_empty_string_entrypoint_without_cmd_has_no_command() -> None:
    with pytest.raises(InvalidArgument, match="No command specified"):
        merged({"Entrypoint": [""]})


def test_no_command_anywhere_is_an_error() -> None:
    with pytest.raises(InvalidArgument, match="No command specified"):
        merge_image_config(parse_container_config({}), {"Env": ["A=1"]})


def test_env_request_wins_per_key_and_image_rest_is_appended() -> None:
    cfg = merged({"Env": ["LANG=fr_FR", "FOO=bar"]})
    assert cfg.env == ("LANG=fr_FR", "FOO=bar", "PATH=/opt/bin:/usr/bin")


def test_labels_are_a_union_where_the_request_wins() -> None:
    cfg = merged({"Labels": {"tier": "web"}})
    assert dict(cfg.labels or {}) == {"tier": "web", "maintainer": "img"}
    assert dict(merge_image_config(parse_container_config({"Cmd": ["x"]}), {}).labels or {}) == {}


def test_ports_and_volumes_are_unions() -> None:
    cfg = merged({"ExposedPorts": {"443/tcp": {}}, "Volumes": {"/logs": {}}})
    assert cfg.exposed_ports == ("443/tcp", "80/tcp")
    assert cfg.volumes == ("/logs", "/data")


def test_request_values_win_over_image_values() -> None:
    cfg = merged({"User": "root", "WorkingDir": "/", "StopSignal": "SIGTERM", "Shell": ["/bin/sh", "-c"]})
    assert (cfg.user, cfg.working_dir, cfg.stop_signal, cfg.shell) == ("root", "/", "SIGTERM", ("/bin/sh", "-c"))


def test_healthcheck_fields_are_filled_from_the_image() -> None:
    cfg = merged({"Healthcheck": {"Interval": 5_000_000_000}})
    assert cfg.healthcheck is not None
    assert cfg.healthcheck.test == ("CMD", "check")
    assert cfg.healthcheck.interval == 5_000_000_000
    assert cfg.healthcheck.retries == 3


def test_merge_does_not_change_its_input() -> None:
    req = parse_container_config({"Env": ["A=1"]})
    merge_image_config(req, IMAGE)
    assert req.env == ("A=1",)


def test_replace_or_append_env() -> None:
    assert replace_or_append_env(["A=1", "B=2", "C=3"], ["B=20", "D=4", "A", "E"]) == ["B=20", "C=3", "D=4"]


def test_container_env_defaults() -> None:
    assert container_env(None, hostname="abc", tty=False) == [f"PATH={DEFAULT_PATH}", "HOSTNAME=abc", "HOME=/"]
    env = container_env(["PATH=/bin", "HOME=/root", "X=1"], hostname="h", tty=True, home="/ignored")
    assert env == ["PATH=/bin", "HOSTNAME=h", "TERM=xterm", "HOME=/root", "X=1"]
    assert container_env(["TERM=dumb"], hostname="h", tty=True, home="/home/u")[2:] == ["TERM=dumb", "HOME=/home/u"]
