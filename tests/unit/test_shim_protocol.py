"""The daemon <-> shim wire format and the spec file round trip."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.mount.types import Mount
from dockyard.shim import protocol as proto
from dockyard.shim.config import RootfsMount, parse_config
from dockyard.tasks.api import TaskSpec
from dockyard.tasks.errors import RuntimeFailed, ShimUnavailable
from dockyard.tasks.shim_client import _check, exit_status_from_json, spec_to_json


def test_message_round_trip() -> None:
    msg = {"op": "attach", "stdin": True, "n": 3, "s": "é"}
    data = proto.encode_message(msg)
    n = proto.message_length(data[:4])
    assert n == len(data) - 4
    assert proto.decode_message(data[4:]) == msg


def test_message_limits() -> None:
    with pytest.raises(proto.ProtocolError):
        proto.message_length((proto.MAX_MESSAGE + 1).to_bytes(4, "big"))
    with pytest.raises(proto.ProtocolError):
        proto.decode_message(b"[1, 2]")
    with pytest.raises(proto.ProtocolError):
        proto.decode_message(b"{not json")


def test_frames_match_docker_multiplexing() -> None:
    frame = proto.encode_frame(proto.STDERR, b"oops\n")
    assert frame[:8] == bytes([2, 0, 0, 0, 0, 0, 0, 5])
    assert proto.decode_header(frame[:8]) == (proto.STDERR, 5)
    assert frame[8:] == b"oops\n"


def test_spec_round_trip() -> None:
    spec = TaskSpec(
        container_id="c1",
        bundle="/b",
        state_dir="/s",
        runtime="/usr/sbin/runc",
        rootfs_mounts=(Mount("overlay", "overlay", ("lowerdir=/l", "upperdir=/u", "workdir=/w")),),
        tty=True,
        open_stdin=True,
        stdin_once=True,
        log_path="/s/log.json",
        log_max_size=1000,
        log_max_files=3,
        console_size=(24, 80),
        extra_env={"A": "1"},
    )
    cfg = parse_config(spec_to_json(spec))
    assert (cfg.container_id, cfg.bundle, cfg.state_dir, cfg.runtime) == ("c1", "/b", "/s", "/usr/sbin/runc")
    assert cfg.rootfs_mounts == (RootfsMount("overlay", "overlay", ("lowerdir=/l", "upperdir=/u", "workdir=/w")),)
    assert (cfg.tty, cfg.open_stdin, cfg.stdin_once) == (True, True, True)
    assert (cfg.log_path, cfg.log_max_size, cfg.log_max_files) == ("/s/log.json", 1000, 3)
    assert cfg.console_size == (24, 80)
    assert cfg.extra_env == (("A", "1"),)
    assert not cfg.builtin_runtime
    assert parse_config(spec_to_json(TaskSpec("c2", "/b", "/s"))).builtin_runtime


@pytest.mark.parametrize(
    "bad",
    [
        {"bundle": "/b", "state_dir": "/s"},
        {"container_id": "c", "bundle": "/b", "state_dir": "/s", "tty": "yes"},
        {"container_id": "c", "bundle": "/b", "state_dir": "/s", "console_size": [1]},
        {"container_id": "c", "bundle": "/b", "state_dir": "/s", "rootfs_mounts": [{"type": "overlay"}]},
        {"container_id": "c", "bundle": "/b", "state_dir": "/s", "log_max_size": True},
    ],
)
def test_malformed_spec_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        parse_config(bad)


def test_exit_status_from_json() -> None:
    status = exit_status_from_json({"code": 137, "exited_at": "2024-01-02T03:04:05.000000001Z", "oom_killed": True})
    assert status is not None
    assert (status.code, status.oom_killed, status.error) == (137, True, "")
    assert exit_status_from_json(None) is None
    assert exit_status_from_json({"code": "1", "exited_at": "x"}) is None


@pytest.mark.parametrize(
    ("kind", "category"),
    [
        ("NotFound", errors.NotFound),
        ("Conflict", errors.Conflict),
        ("InvalidArgument", errors.InvalidArgument),
        ("RuntimeFailed", RuntimeFailed),
        ("SomethingNew", errors.Internal),
    ],
)
def test_shim_errors_map_to_categories(kind: str, category: type[errors.DockyardError]) -> None:
    with pytest.raises(category) as info:
        _check({"ok": False, "kind": kind, "error": "it broke"})
    assert info.value.message == "it broke"
    assert _check({"ok": True, "pid": 3}) == {"ok": True, "pid": 3}


def test_runtime_failures_are_internal_errors_with_the_runtime_message() -> None:
    assert issubclass(RuntimeFailed, errors.Internal)
    assert issubclass(ShimUnavailable, errors.Unavailable)
