"""dockyardd's flags and daemon.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.daemon.config import DEFAULT_HOST, DaemonConfig, config_from_mapping, load_config_file
from dockyard.daemon.main import build_config, parse_args


def test_defaults() -> None:
    cfg = DaemonConfig()
    assert cfg.hosts == (DEFAULT_HOST,)
    assert cfg.data_root == "/var/lib/dockyard"
    assert cfg.exec_root == "/run/dockyard"
    assert cfg.pidfile_path == "/run/dockyard/dockyardd.pid"


def test_daemon_json_keys(tmp_path: Path) -> None:
    p = tmp_path / "daemon.json"
    p.write_text(
        json.dumps(
            {
                "data-root": "/d",
                "hosts": ["unix:///x.sock", "tcp://127.0.0.1:2399"],
                "default-runtime": "runc",
                "runtimes": {"crun": {"path": "/usr/bin/crun"}},
                "log-level": "debug",
                "log-opts": {"max-size": "1m"},
                "some-future-key": 1,
            }
        )
    )
    cfg = load_config_file(str(p))
    assert cfg.data_root == "/d"
    assert cfg.hosts == ("unix:///x.sock", "tcp://127.0.0.1:2399")
    assert cfg.default_runtime == "runc"
    assert cfg.runtimes["crun"]["path"] == "/usr/bin/crun"
    assert cfg.log_opts == {"max-size": "1m"}
    assert cfg.extra == {"some-future-key": 1}


def test_flags_override_file(tmp_path: Path) -> None:
    p = tmp_path / "daemon.json"
    p.write_text(json.dumps({"data-root": "/from-file", "exec-root": "/e"}))
    cfg = build_config(
        parse_args(
            ["--config-file", str(p), "--data-root", "/flag", "-H", "unix:///s.sock", "--add-runtime", "x=/bin/x"]
        )
    )
    assert cfg.data_root == "/flag"
    assert cfg.exec_root == "/e"
    assert cfg.hosts == ("unix:///s.sock",)
    assert cfg.runtimes["x"]["path"] == "/bin/x"


@pytest.mark.parametrize(
    "obj",
    [{"hosts": 3}, {"log-level": "loud"}, {"runtimes": {"r": {}}}, {"data-root": 5}, {"log-opts": []}],
)
def test_bad_config_is_a_clear_error(obj: dict[str, object]) -> None:
    with pytest.raises(errors.InvalidArgument):
        config_from_mapping(obj)


def test_unreadable_or_invalid_file(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidArgument, match="unable to read"):
        load_config_file(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(errors.InvalidArgument, match="invalid config file"):
        load_config_file(str(bad))
