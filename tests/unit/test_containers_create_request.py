"""Parsing and validating ``POST /containers/create`` bodies, and showing them back as inspect does."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.containers.create_request import (
    ContainerConfig,
    HostConfig,
    RestartPolicy,
    config_to_json,
    host_config_to_json,
    parse_container_config,
    parse_create_request,
    parse_host_config,
)
from dockyard.containers.hostconfig_defaults import DEFAULT_SHM_SIZE, DaemonDefaults, apply_daemon_defaults
from dockyard.containers.paths import DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS
from dockyard.errors import InvalidArgument


def create(**host: Any) -> HostConfig:
    return parse_create_request({"Image": "busybox", "Cmd": ["true"], "HostConfig": host}).host_config


def bad(body: dict[str, Any]) -> str:
    with pytest.raises(InvalidArgument) as exc:
        parse_create_request(body)
    return exc.value.message


def bad_host(**host: Any) -> str:
    return bad({"Image": "busybox", "HostConfig": host})


# --- decoding -------------------------------------------------------------------


def test_field_names_match_case_insensitively_like_go() -> None:
    req = parse_create_request(
        {"image": "busybox", "CMD": ["echo", "hi"], "env": ["A=1"], "hostconfig": {"privileged": True}}
    )
    assert req.config.image == "busybox"
    assert req.config.cmd == ("echo", "hi")
    assert req.config.env == ("A=1",)
    assert req.host_config.privileged is True


def test_last_duplicate_key_wins() -> None:
    assert parse_container_config({"User": "a", "user": "b"}).user == "b"


def test_null_and_missing_fields_are_zero_values_and_lists_stay_null() -> None:
    req = parse_create_request({"Image": "busybox", "Cmd": None, "Tty": None, "HostConfig": None})
    assert req.config.cmd is None
    assert req.config.tty is False
    assert req.host_config == HostConfig()
    shown = config_to_json(req.config)
    assert shown["Cmd"] is None and shown["Env"] is None and shown["Labels"] is None


def test_cmd_and_entrypoint_accept_a_single_string() -> None:
    cfg = parse_container_config({"Cmd": "echo hi", "Entrypoint": "/bin/sh", "Shell": "/bin/bash"})
    assert cfg.cmd == ("echo hi",)
    assert cfg.entrypoint == ("/bin/sh",)
    assert cfg.shell == ("/bin/bash",)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Env": "A=1"}, "json: cannot unmarshal string into Go struct field container.Config.Env of type []string"),
        ({"Tty": "yes"}, "json: cannot unmarshal string into Go struct field container.Config.Tty of type bool"),
        ({"Cmd": 5}, "json: cannot unmarshal number 5 into Go struct field container.Config.Cmd"),
        ({"Labels": {"a": 1}}, "json: cannot unmarshal number 1 into Go struct field container.Config.Labels"),
        ({"HostConfig": {"Memory": 1.5}}, "json: cannot unmarshal number 1.5 into Go struct field"),
        ({"HostConfig": {"Memory": True}}, "json: cannot unmarshal bool into Go struct field"),
        ({"HostConfig": []}, "json: cannot unmarshal array into Go value"),
    ],
)
def test_wrong_json_types_are_rejected_with_gos_message(body: dict[str, Any], message: str) -> None:
    assert bad(body).startswith(message)


def test_docker_cli_style_defaults_are_normalised() -> None:
    # The CLI sends -1 swappiness ("unset") and 0 pids limit.
    hc = create(MemorySwappiness=-1, PidsLimit=0)
    assert hc.resources.memory_swappiness is None
    assert apply_daemon_defaults(hc).resources.pids_limit is None


def test_ports_are_keyed_with_protocol() -> None:
    req = parse_create_request(
        {"ExposedPorts": {"80": {}, "53/udp": {}}, "HostConfig": {"PortBindings": {"80": [{"HostPort": "8080"}]}}}
    )
    assert req.config.exposed_ports == ("80/tcp", "53/udp")
    assert req.host_config.port_bindings is not None
    assert [b.host_port for b in req.host_config.port_bindings["80/tcp"] or ()] == ["8080"]


def test_working_dir_is_cleaned() -> None:
    assert parse_create_request({"WorkingDir": "/app//x/../y/"}).config.working_dir == "/app/y"


def test_networking_config_endpoints() -> None:
    req = parse_create_request(
        {
            "NetworkingConfig": {
                "EndpointsConfig": {
                    "net1": {
                        "Aliases": ["web"],
                        "IPAMConfig": {"IPv4Address": "10.1.0.5"},
                        "MacAddress": "02:42:ac:11:00:02",
                    }
                }
            }
        }
    )
    ep = req.networking.endpoints["net1"]
    assert ep.aliases == ("web",)
    assert ep.ipv4_address == "10.1.0.5"
    assert ep.mac_address == "02:42:ac:11:00:02"


def test_values_are_frozen() -> None:
    req = parse_create_request({"Labels": {"a": "b"}})
    with pytest.raises(AttributeError):
        req.config.user = "x"  # type: ignore[misc]
    assert req.config.labels is not None
    with pytest.raises(TypeError):
        req.config.labels["c"] = "d"  # type: ignore[index]


# --- validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Env": ["=x"]}, "invalid environment variable: =x"),
        ({"Env": [""]}, "invalid environment variable: "),
        ({"WorkingDir": "app"}, "the working directory 'app' is invalid, it needs to be an absolute path"),
        ({"StopSignal": "SIGFOO"}, "Invalid signal: SIGFOO"),
        ({"Healthcheck": {"Interval": 10}}, "Interval in Healthcheck cannot be less than 1ms"),
        ({"Healthcheck": {"Timeout": 999_999}}, "Timeout in Healthcheck cannot be less than 1ms"),
        ({"Healthcheck": {"Retries": -1}}, "Retries in Healthcheck cannot be negative"),
        ({"ExposedPorts": {"http/tcp": {}}}, 'invalid port specification: "http"'),
        ({"ExposedPorts": {"80/foo": {}}}, 'invalid port specification: "80/foo"'),
    ],
)
def test_config_validation_messages(body: dict[str, Any], message: str) -> None:
    assert bad(body) == message


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ({"RestartPolicy": {"Name": "sometimes"}}, "invalid restart policy: unknown policy 'sometimes'; use one of"),
        (
            {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 2}},
            "invalid restart policy: maximum retry count can only be used with 'on-failure'",
        ),
        (
            {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": -1}},
            "invalid restart policy: maximum retry count cannot be negative",
        ),
        (
            {"AutoRemove": True, "RestartPolicy": {"Name": "always"}},
            "can't create 'AutoRemove' container with restart policy",
        ),
        ({"CapAdd": ["CAP_FOO"]}, 'invalid CapAdd: unknown capability: "CAP_FOO"'),
        ({"CapAdd": ["foo"]}, 'invalid CapAdd: unknown capability: "CAP_FOO"'),
        ({"CapDrop": ["bar"]}, 'invalid CapDrop: unknown capability: "CAP_BAR"'),
        ({"PortBindings": {"80/tcp": [{"HostPort": "eighty"}]}}, 'invalid port specification: "eighty"'),
        ({"PortBindings": {"99999/tcp": []}}, 'invalid port specification: "99999"'),
        ({"ExtraHosts": ["nocolon"]}, 'bad format for add-host: "nocolon"'),
        ({"ExtraHosts": ["db:not-an-ip"]}, 'invalid IP address in add-host: "not-an-ip"'),
        (
            {"Mounts": [{"Type": "bind", "Target": "/x"}]},
            'invalid mount config for type "bind": field Source must not be empty',
        ),
        (
            {"Mounts": [{"Type": "bind", "Source": "/a", "Target": "rel"}]},
            "invalid mount path: 'rel' mount path must be absolute",
        ),
        ({"Mounts": [{"Type": "weird", "Target": "/x"}]}, 'invalid mount config for type "weird": mount type unknown'),
        (
            {"Mounts": [{"Type": "tmpfs", "Source": "x", "Target": "/x"}]},
            'invalid mount config for type "tmpfs": field Source must not be specified',
        ),
        (
            {"Mounts": [{"Type": "volume", "Target": "/x", "BindOptions": {}}]},
            'invalid mount config for type "volume": field BindOptions must not be specified',
        ),
        ({"Memory": 1024}, "Minimum memory limit allowed is 6MB"),
        ({"MemorySwap": 100_000_000}, "You should always set the Memory limit when using Memoryswap limit, see usage"),
        (
            {"Memory": 100_000_000, "MemorySwap": 50_000_000},
            "Minimum memoryswap limit should be larger than memory limit",
        ),
        ({"MemorySwappiness": 101}, "Invalid value: 101, valid memory swappiness range is 0-100"),
        (
            {"NanoCpus": 1_000_000_000, "CpuPeriod": 100_000},
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ),
        (
            {"NanoCpus": 1_000_000_000, "CpuQuota": 50_000},
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ),
        ({"CpuShares": -1}, "shares: invalid argument"),
        ({"CpuPeriod": 10}, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
        ({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
        ({"OomScoreAdj": 1001}, "Invalid value 1001, range for oom score adj is [-1000, 1000]"),
        ({"ShmSize": -1}, "SHM size can not be less than 0"),
        ({"Ulimits": [{"Name": "nofiles", "Soft": 1, "Hard": 1}]}, "invalid ulimit type: nofiles"),
        (
            {"Ulimits": [{"Name": "nofile", "Soft": 2, "Hard": 1}]},
            "ulimit soft limit must be less than or equal to hard limit: 2 > 1",
        ),
        ({"DeviceCgroupRules": ["c 1:3"]}, "invalid device cgroup format 'c 1:3'"),
        ({"IpcMode": "bogus"}, "invalid IPC mode: bogus"),
        ({"PidMode": "container:"}, "invalid PID mode: container:"),
        ({"UTSMode": "private"}, "invalid UTS mode: private"),
        ({"CgroupnsMode": "shared"}, "invalid cgroup namespace mode: shared"),
        ({"Isolation": "hyperv"}, "invalid isolation 'hyperv' on linux"),
        ({"SecurityOpt": ["seccomp"]}, 'invalid --security-opt 1: "seccomp"'),
        ({"SecurityOpt": ["no-new-privileges=maybe"]}, 'invalid --security-opt 2: "no-new-privileges=maybe"'),
        ({"SecurityOpt": ["colour=blue"]}, 'invalid --security-opt 2: "colour=blue"'),
        ({"Sysctls": {"kernel.panic": "1"}}, "sysctl 'kernel.panic' is not allowed"),
        ({"NetworkMode": "host", "Sysctls": {"net.ipv4.ip_forward": "1"}}, "not allowed in host network namespace"),
        ({"Tmpfs": {"/run": "size=1m,bogus"}}, 'Invalid tmpfs option "bogus"'),
        ({"Tmpfs": {"run": ""}}, "invalid mount path: 'run' mount path must be absolute"),
        ({"Annotations": {"": "x"}}, "invalid Annotations: the empty string is not permitted as an annotation key"),
        ({"Binds": ["/a:/data"], "Tmpfs": {"/data/": ""}}, "Duplicate mount point: /data"),
        (
            {"Mounts": [{"Type": "volume", "Target": "/v"}, {"Type": "tmpfs", "Target": "/v"}]},
            "Duplicate mount point: /v",
        ),
    ],
)
def test_host_config_validation_messages(host: dict[str, Any], message: str) -> None:
    assert message in bad_host(**host)


@pytest.mark.parametrize(
    "host",
    [
        {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 5}},
        {"RestartPolicy": {"Name": "", "MaximumRetryCount": 0}},
        {"AutoRemove": True, "RestartPolicy": {"Name": "no"}},
        {"CapAdd": ["net_admin", "CAP_SYS_ADMIN", "ALL"], "CapDrop": ["all"]},
        {"ExtraHosts": ["db:10.0.0.5", "gw:host-gateway", "v6:::1"]},
        {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8000-8010"}], "53/udp": None}},
        {"Memory": 64 << 20, "MemorySwap": -1, "MemoryReservation": 32 << 20},
        {"IpcMode": "container:abc", "PidMode": "host", "UTSMode": "host", "CgroupnsMode": "private"},
        {"SecurityOpt": ["no-new-privileges", "no-new-privileges:true", "seccomp=unconfined", "label=disable"]},
        {"Sysctls": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1", "fs.mqueue.msg_max": "10"}},
        {
            "Mounts": [
                {"Type": "volume", "Target": "/data"},
                {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1}},
            ]
        },
    ],
)
def test_valid_host_configs_are_accepted(host: dict[str, Any]) -> None:
    create(**host)


# --- daemon defaults and inspect JSON ----------------------------------------------


def test_daemon_defaults_fill_what_dockerd_stores() -> None:
    hc = apply_daemon_defaults(create(Memory=64 << 20), DaemonDefaults(cgroupns_mode="host", cgroup_v2=False))
    assert hc.network_mode == "default"
    assert hc.restart_policy == RestartPolicy("no", 0)
    assert hc.log_config.type == "json-file"
    assert hc.shm_size == DEFAULT_SHM_SIZE
    assert hc.ipc_mode == "private"
    assert hc.cgroupns_mode == "host"
    assert hc.runtime == "runc"
    assert hc.resources.memory_swap == 128 << 20
    assert hc.resources.oom_kill_disable is False
    assert hc.masked_paths == DEFAULT_MASKED_PATHS
    assert hc.readonly_paths == DEFAULT_READONLY_PATHS


def test_daemon_defaults_keep_what_the_client_set() -> None:
    hc = create(
        NetworkMode="none",
        ShmSize=1 << 20,
        IpcMode="shareable",
        MaskedPaths=[],
        ReadonlyPaths=["/proc/sys"],
        LogConfig={"Type": "none", "Config": {}},
        Memory=64 << 20,
        MemorySwap=-1,
    )
    out = apply_daemon_defaults(hc)
    assert (out.network_mode, out.shm_size, out.ipc_mode) == ("none", 1 << 20, "shareable")
    assert out.masked_paths == ()
    assert out.readonly_paths == ("/proc/sys",)
    assert out.log_config.type == "none"
    assert out.resources.memory_swap == -1


def test_privileged_containers_get_no_default_masked_paths() -> None:
    hc = apply_daemon_defaults(create(Privileged=True), DaemonDefaults(cgroup_v2=False, cgroupns_mode="host"))
    assert hc.masked_paths is None and hc.readonly_paths is None
    assert hc.cgroupns_mode == "host"
    assert apply_daemon_defaults(create(Privileged=True), DaemonDefaults()).cgroupns_mode == "private"


def test_host_config_json_shape() -> None:
    hc = apply_daemon_defaults(create(RestartPolicy={"Name": "on-failure", "MaximumRetryCount": 3}))
    out = host_config_to_json(hc)
    assert out["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert out["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert out["ConsoleSize"] == [0, 0]
    assert out["PidsLimit"] is None and out["Binds"] is None
    assert "Tmpfs" not in out and "Sysctls" not in out and "Init" not in out  # omitempty
    keys = list(out)
    assert keys.index("Binds") < keys.index("LogConfig") < keys.index("CapAdd") < keys.index("CpuShares")
    assert keys[-2:] == ["MaskedPaths", "ReadonlyPaths"]


def test_config_json_omits_empty_optional_fields() -> None:
    out = config_to_json(ContainerConfig(image="busybox", labels={}))
    assert "ExposedPorts" not in out and "Healthcheck" not in out and "StopSignal" not in out
    assert out["Labels"] == {}
    full = config_to_json(
        parse_container_config(
            {"StopSignal": "SIGINT", "StopTimeout": 3, "ExposedPorts": {"80/tcp": {}}, "Shell": ["sh"]}
        )
    )
    assert full["StopSignal"] == "SIGINT" and full["StopTimeout"] == 3
    assert full["ExposedPorts"] == {"80/tcp": {}}
    assert list(full).index("ExposedPorts") == list(full).index("Tty") - 1


_names = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)


@given(
    env=st.lists(st.builds(lambda k, v: f"{k}={v}", _names, st.text(max_size=5)), max_size=4),
    cmd=st.one_of(st.none(), st.lists(st.text(max_size=5), max_size=3)),
    labels=st.one_of(st.none(), st.dictionaries(_names, st.text(max_size=4), max_size=3)),
    tty=st.booleans(),
    user=_names,
)
def test_config_json_round_trips(
    env: list[str], cmd: list[str] | None, labels: dict[str, str] | None, tty: bool, user: str
) -> None:
    cfg = parse_container_config({"Env": env, "Cmd": cmd, "Labels": labels, "Tty": tty, "User": user})
    assert parse_container_config(config_to_json(cfg)) == cfg


@given(
    binds=st.one_of(st.none(), st.lists(st.sampled_from(["/a:/b", "/c:/d:ro"]), max_size=2, unique=True)),
    memory=st.integers(min_value=6 << 20, max_value=1 << 34),
    pids=st.one_of(st.none(), st.integers(min_value=1, max_value=4096)),
    privileged=st.booleans(),
    tmpfs=st.one_of(st.none(), st.dictionaries(st.sampled_from(["/run", "/tmp"]), st.just("size=1m"))),
)
def test_host_config_json_round_trips(
    binds: list[str] | None, memory: int, pids: int | None, privileged: bool, tmpfs: dict[str, str] | None
) -> None:
    hc = create(Binds=binds, Memory=memory, PidsLimit=pids, Privileged=privileged, Tmpfs=tmpfs, Ulimits=[])
    assert parse_host_config(host_config_to_json(hc)) == hc


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
_known = st.sampled_from(
    ["Cmd", "Env", "Entrypoint", "Labels", "ExposedPorts", "Healthcheck", "StopSignal", "WorkingDir", "User"]
)
_host_known = st.sampled_from(
    ["Binds", "PortBindings", "RestartPolicy", "Mounts", "Ulimits", "Tmpfs", "CapAdd", "LogConfig", "Memory",
     "ConsoleSize", "Devices", "ExtraHosts", "SecurityOpt", "Sysctls", "IpcMode", "PidsLimit"]
)  # fmt: skip


@given(
    top=st.dictionaries(_known, _json, max_size=4),
    host=st.dictionaries(_host_known, _json, max_size=4),
    networking=_json,
)
def test_any_json_is_either_accepted_or_an_invalid_argument(
    top: dict[str, Any], host: dict[str, Any], networking: Any
) -> None:
    body = top | {"HostConfig": host, "NetworkingConfig": networking}
    try:
        req = parse_create_request(body)
    except InvalidArgument:
        return
    # Whatever is accepted can be shown and read back unchanged.
    assert parse_host_config(host_config_to_json(req.host_config)) == req.host_config
    assert parse_container_config(config_to_json(req.config)) == req.config
