"""run/create flags mapped onto the create body like the docker CLI, and the pure flag-value parsers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard import errors
from dockyard.cli.container_options import body_from
from dockyard.cli.flagvalues import (
    parse_device,
    parse_duration_ns,
    parse_mount,
    parse_port_specs,
    parse_restart,
    parse_size,
    parse_ulimit,
)
from dockyard.cli.run_command import create as create_cmd
from dockyard.cli.runconfig import RunOptions
from dockyard.cli.runflags import HostFlags, apply_host_flags


def _body(*argv: str) -> dict:
    """What `create ARGV` would send, without a daemon: click parses, body_from converts."""
    ctx = create_cmd.make_context("create", list(argv))
    from dockyard.cli.container_options import options_from

    opts = options_from(ctx.params, detach=True)
    return body_from(opts, tuple(ctx.params["env_file"]))


def test_full_flag_mapping(tmp_path: Path) -> None:
    profile = tmp_path / "seccomp.json"
    profile.write_text('{\n  "defaultAction": "SCMP_ACT_ALLOW"\n}\n')
    b = _body(
        "-v", "/data", "-v", "named:/vol:ro",
        "--mount", "type=bind,source=/src,target=/dst,readonly,bind-propagation=rshared",
        "--tmpfs", "/run:size=64m", "--volumes-from", "other:ro", "--network", "net1", "--network-alias", "db",
        "--ip", "10.1.0.5", "--mac-address", "02:42:ac:11:00:02", "--link", "a", "--link", "b:bee",
        "-p", "127.0.0.1:8000-8001:80-81/udp", "-P", "--expose", "9000-9001", "--dns", "1.1.1.1",
        "--dns-search", "example.com", "--dns-option", "ndots:2", "--add-host", "h:10.0.0.1",
        "--restart", "on-failure:3", "--health-cmd", "true", "--health-interval", "1m30s",
        "--health-retries", "2", "--memory", "1g", "--memory-swap", "-1", "--cpus", "1.5", "--cpu-shares", "512",
        "--pids-limit", "100", "--oom-kill-disable", "--cap-add", "NET_ADMIN", "--cap-drop", "ALL",
        "--security-opt", f"seccomp={profile}", "--security-opt", "no-new-privileges", "--read-only",
        "--ulimit", "nofile=1024:2048", "--sysctl", "net.ipv4.ip_forward=1", "--shm-size", "128m", "--ipc", "host",
        "--pid", "host", "--uts", "host", "--init", "--group-add", "audio", "--device", "/dev/fuse:/dev/f:rw",
        "--log-driver", "json-file", "--log-opt", "max-size=1m", "--stop-signal", "SIGINT", "--stop-timeout", "5",
        "busybox", "sh",
    )  # fmt: skip
    hc = b["HostConfig"]
    assert b["Volumes"] == {"/data": {}} and hc["Binds"] == ["named:/vol:ro"]
    assert hc["Mounts"] == [
        {
            "Type": "bind",
            "Source": "/src",
            "Target": "/dst",
            "ReadOnly": True,
            "BindOptions": {"Propagation": "rshared"},
        }
    ]
    assert hc["Tmpfs"] == {"/run": "size=64m"} and hc["VolumesFrom"] == ["other:ro"]
    assert b["NetworkingConfig"] == {
        "EndpointsConfig": {
            "net1": {"Aliases": ["db"], "IPAMConfig": {"IPv4Address": "10.1.0.5"}, "MacAddress": "02:42:ac:11:00:02"}
        }
    }
    assert hc["Links"] == ["a:a", "b:bee"]
    assert hc["PortBindings"] == {
        "80/udp": [{"HostIp": "127.0.0.1", "HostPort": "8000"}],
        "81/udp": [{"HostIp": "127.0.0.1", "HostPort": "8001"}],
    }
    assert set(b["ExposedPorts"]) == {"80/udp", "81/udp", "9000/tcp", "9001/tcp"} and hc["PublishAllPorts"] is True
    assert (hc["Dns"], hc["DnsSearch"], hc["DnsOptions"], hc["ExtraHosts"]) == (
        ["1.1.1.1"],
        ["example.com"],
        ["ndots:2"],
        ["h:10.0.0.1"],
    )
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert b["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 90_000_000_000, "Retries": 2}
    assert (hc["Memory"], hc["MemorySwap"], hc["NanoCpus"], hc["CpuShares"], hc["PidsLimit"]) == (
        1 << 30,
        -1,
        1_500_000_000,
        512,
        100,
    )
    assert hc["OomKillDisable"] is True and hc["CapAdd"] == ["NET_ADMIN"] and hc["CapDrop"] == ["ALL"]
    # docker sends the profile's content, compacted, not its path
    assert hc["SecurityOpt"] == ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}', "no-new-privileges=true"]
    assert hc["ReadonlyRootfs"] is True and hc["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    assert hc["Sysctls"] == {"net.ipv4.ip_forward": "1"} and hc["ShmSize"] == 128 << 20
    assert (hc["IpcMode"], hc["PidMode"], hc["UTSMode"], hc["Init"], hc["GroupAdd"]) == (
        "host",
        "host",
        "host",
        True,
        ["audio"],
    )
    assert hc["Devices"] == [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/f", "CgroupPermissions": "rw"}]
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m"}}
    assert (b["StopSignal"], b["StopTimeout"]) == ("SIGINT", 5)
    json.dumps(b)  # the whole body is JSON


def test_defaults_add_nothing() -> None:
    b = _body("busybox")
    assert b["HostConfig"] == {"AutoRemove": False, "Binds": None, "PortBindings": None, "NetworkMode": "default"}
    assert "Healthcheck" not in b and "NetworkingConfig" not in b and b["Volumes"] is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--no-healthcheck", "--health-cmd", "x"], "conflicts"),
        (["--rm", "--restart", "always"], "cannot specify both --restart and --rm"),
        (["--network", "host", "--ip", "1.2.3.4"], "network-scoped"),
        (["--memory", "lots"], "invalid size"),
        (["--ulimit", "nofile=2:1"], "soft limit"),
        (["--mount", "type=bind,target=/x"], "source is required"),
        (["--security-opt", "seccomp=/nonexistent/profile.json"], "opening seccomp profile"),
        (["--health-interval", "5 parsecs", "--health-cmd", "x"], "invalid duration"),
    ],
)
def test_bad_flags(argv: list[str], message: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=message):
        _body(*argv, "busybox")


def test_no_healthcheck_and_tmpfs_mount() -> None:
    b = apply_host_flags(
        {"HostConfig": {}},
        HostFlags(no_healthcheck=True, mount=("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770",)),
        [],
    )
    assert b["Healthcheck"] == {"Test": ["NONE"]}
    assert b["HostConfig"]["Mounts"] == [
        {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1770}}
    ]
    assert RunOptions(image="x").host == HostFlags()


def test_value_parsers() -> None:
    assert [parse_size(s) for s in ("1024", "1k", "1.5m", "2G", "1gb", "-1")] == [
        1024,
        1024,
        1572864,
        2 << 30,
        1 << 30,
        -1,
    ]
    assert parse_duration_ns("1m30s", flag="x") == 90_000_000_000 and parse_duration_ns("0", flag="x") == 0
    assert parse_restart("unless-stopped") == {"Name": "unless-stopped", "MaximumRetryCount": 0}
    for bad in ("always:3", "on-failure:x", "never"):
        with pytest.raises(errors.InvalidArgument):
            parse_restart(bad)
    assert parse_ulimit("nproc=10") == {"Name": "nproc", "Soft": 10, "Hard": 10}
    assert parse_device("/dev/sda") == {
        "PathOnHost": "/dev/sda",
        "PathInContainer": "/dev/sda",
        "CgroupPermissions": "rwm",
    }
    assert parse_device("/dev/sda:r") == {
        "PathOnHost": "/dev/sda",
        "PathInContainer": "/dev/sda",
        "CgroupPermissions": "r",
    }
    assert parse_mount("type=volume,src=v,dst=/d,volume-nocopy,volume-opt=o=bind") == {
        "Type": "volume",
        "Source": "v",
        "Target": "/d",
        "VolumeOptions": {"NoCopy": True, "DriverConfig": {"Options": {"o": "bind"}}},
    }
    with pytest.raises(errors.InvalidArgument, match="cannot mix"):
        parse_mount("type=bind,src=/a,dst=/b,volume-nocopy")
    assert parse_port_specs("8080:80") == [("80/tcp", {"HostIp": "", "HostPort": "8080"})]
    assert parse_port_specs("8000-8010:80") == [("80/tcp", {"HostIp": "", "HostPort": "8000-8010"})]
    assert parse_port_specs("[::1]:53:53/udp") == [("53/udp", {"HostIp": "::1", "HostPort": "53"})]
    for bad in ("1-3:1-2", "0:80", "80/icmp", "x"):
        with pytest.raises(errors.InvalidArgument):
            parse_port_specs(bad)


@given(st.integers(min_value=1, max_value=65535), st.integers(min_value=0, max_value=20))
def test_port_ranges_expand_one_per_port(start: int, width: int) -> None:
    end = min(start + width, 65535)
    specs = parse_port_specs(f"{start}-{end}")
    assert [p for p, _ in specs] == [f"{n}/tcp" for n in range(start, end + 1)]
    assert all(b == {"HostIp": "", "HostPort": ""} for _, b in specs)
