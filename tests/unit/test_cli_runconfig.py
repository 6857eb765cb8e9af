"""run/create flags -> the create body (pure)."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.cli.arguments import split_repo_tag
from dockyard.cli.flagvalues import parse_env, parse_env_file, parse_labels, parse_port_specs, parse_volume
from dockyard.cli.runconfig import RunOptions, create_body


def test_foreground_run_attaches_everything() -> None:
    body = create_body(RunOptions(image="busybox", command=("echo", "hi"), interactive=True, tty=True, rm=True), [])
    assert body["Cmd"] == ["echo", "hi"]
    assert body["Entrypoint"] is None
    assert (body["AttachStdin"], body["AttachStdout"], body["AttachStderr"]) == (True, True, True)
    assert (body["OpenStdin"], body["StdinOnce"], body["Tty"]) == (True, True, True)
    assert body["HostConfig"]["AutoRemove"] is True


def test_detached_run_attaches_nothing() -> None:
    body = create_body(RunOptions(image="busybox", detach=True, interactive=True), ["A=1"])
    assert (body["AttachStdin"], body["AttachStdout"], body["StdinOnce"]) == (False, False, False)
    assert body["OpenStdin"] is True
    assert body["Cmd"] is None
    assert body["Env"] == ["A=1"]


def test_flags_map_to_fields() -> None:
    opts = RunOptions(
        image="img",
        entrypoint="",
        workdir="/w",
        user="1:2",
        hostname="h",
        labels={"a": "b"},
        runtime="crun",
        volumes=("/src:/dst:ro",),
        publish=("127.0.0.1:8080:80", "53/udp"),
        network="none",
    )
    body = create_body(opts, [])
    assert body["Entrypoint"] == [""]  # --entrypoint "" clears the image's entrypoint
    assert (body["WorkingDir"], body["User"], body["Hostname"], body["Labels"]) == ("/w", "1:2", "h", {"a": "b"})
    hc = body["HostConfig"]
    assert (hc["Runtime"], hc["Binds"], hc["NetworkMode"]) == ("crun", ["/src:/dst:ro"], "none")
    assert hc["PortBindings"] == {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
        "53/udp": [{"HostIp": "", "HostPort": ""}],
    }
    assert body["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}


def test_env_resolution() -> None:
    environ = {"HOME": "/root"}
    assert parse_env(["A=1", "HOME", "UNSET", "B="], environ) == ["A=1", "HOME=/root", "B="]
    text = "# comment\n\nX=1 2\nHOME\n  Y=\n"
    assert parse_env_file(text, environ) == ["X=1 2", "HOME=/root", "Y="]
    with pytest.raises(errors.InvalidArgument):
        parse_env_file("BAD NAME=1\n", environ)
    with pytest.raises(errors.InvalidArgument):
        parse_env(["=x"], environ)


def test_labels_ports_volumes_refs() -> None:
    assert parse_labels(["a=b=c", "flag"]) == {"a": "b=c", "flag": ""}
    assert parse_port_specs("[::1]:80:8080/tcp") == [("8080/tcp", {"HostIp": "::1", "HostPort": "80"})]
    for bad in ("80/icmp", "x:80", "99999"):
        with pytest.raises(errors.InvalidArgument):
            parse_port_specs(bad)
    assert parse_volume("/data") == "/data"
    for bad in ("rel:rel", "a:b:c:d", ":/x"):
        with pytest.raises(errors.InvalidArgument):
            parse_volume(bad)
    assert split_repo_tag("localhost:5000/x") == ("localhost:5000/x", None)
    assert split_repo_tag("localhost:5000/x:1") == ("localhost:5000/x", "1")
    assert split_repo_tag("x@sha256:ab") == ("x@sha256:ab", None)
