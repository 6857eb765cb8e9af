"""Pure parts of the shim: mount options, runtime error messages, exit codes, argv."""

from __future__ import annotations

import os
import signal

import pytest

from dockyard.shim import mounts
from dockyard.shim.main import _parse
from dockyard.shim.runtime import error_from_log, exit_code


def test_parse_options_splits_flags_and_data() -> None:
    flags, data = mounts.parse_options(["ro", "nosuid", "lowerdir=/a:/b", "upperdir=/u", "rw", "nodev"])
    assert flags == mounts.MS_NOSUID | mounts.MS_NODEV
    assert data == "lowerdir=/a:/b,upperdir=/u"
    assert mounts.parse_options(["rbind", "ro"])[0] == mounts.MS_BIND | mounts.MS_REC | mounts.MS_RDONLY


def test_compact_overlay_options_uses_the_common_parent() -> None:
    data = (
        "index=off,lowerdir=/var/lib/x/snapshots/1/fs:/var/lib/x/snapshots/2/fs,"
        "upperdir=/var/lib/x/snapshots/3/fs,workdir=/var/lib/x/snapshots/3/work"
    )
    parent, short = mounts.compact_overlay_options(data)
    assert parent == "/var/lib/x/snapshots"
    assert short == "index=off,lowerdir=1/fs:2/fs,upperdir=3/fs,workdir=3/work"
    assert mounts.compact_overlay_options("lowerdir=/a:/b") == ("", "lowerdir=/a:/b")
    assert mounts.compact_overlay_options("lowerdir=rel:/b") == ("", "lowerdir=rel:/b")


def test_runtime_error_from_json_log() -> None:
    log = (
        '{"level":"info","msg":"starting","time":"t"}\n'
        '{"level":"error","msg":"exec: \\"nope\\": executable file not found in $PATH","time":"t"}\n'
    )
    assert error_from_log(log) == 'exec: "nope": executable file not found in $PATH'
    assert error_from_log("plain failure\n") == "plain failure"
    assert error_from_log("") == ""


def test_exit_code_follows_docker() -> None:
    assert exit_code(3 << 8) == 3
    assert exit_code(0) == 0
    assert exit_code(signal.SIGKILL) == 137  # a wait status for death by signal 9
    assert exit_code(signal.SIGTERM) == 143


def test_argv_parsing() -> None:
    assert _parse(["--state-dir", "/s", "--ready-fd", "5"]) == ("serve", {"state-dir": "/s", "ready-fd": "5"})
    assert _parse(["cleanup", "--state-dir", "/s"]) == ("cleanup", {"state-dir": "/s"})
    for bad in ([], ["--state-dir"], ["--bogus", "1", "--state-dir", "/s"], ["frob", "--state-dir", "/s"]):
        with pytest.raises(ValueError):
            _parse(bad)


def test_shim_main_reports_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    from dockyard.shim.main import main

    assert main(["--nope"]) == 2
    assert "usage" in capsys.readouterr().err


def test_cleanup_of_an_empty_state_dir_is_a_no_op(tmp_path: os.PathLike[str]) -> None:
    from dockyard.shim.main import main

    assert main(["cleanup", "--state-dir", str(tmp_path)]) == 0
