"""Signal parsing, and exit codes of failed starts."""

from __future__ import annotations

import signal

import pytest

from dockyard.containers.exitcodes import (
    EXIT_CANNOT_INVOKE,
    EXIT_DAEMON_ERROR,
    EXIT_NOT_FOUND,
    EXIT_START_FAILED,
    classify_start_error,
    cli_exit_status,
)
from dockyard.containers.signals import parse_signal, signal_name
from dockyard.errors import InvalidArgument


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("KILL", 9),
        ("SIGKILL", 9),
        ("kill", 9),
        ("sigterm", 15),
        ("9", 9),
        ("15", 15),
        ("HUP", 1),
        ("SIGUSR1", 10),
        ("CHLD", 17),
        ("IOT", 6),
        ("SIGRTMIN", 34),
        ("SIGRTMIN+3", 37),
        ("RTMAX", 64),
        ("SIGRTMAX-2", 62),
        ("64", 64),
    ],
)
def test_parse_signal(raw: str, number: int) -> None:
    assert parse_signal(raw) == number


def test_names_agree_with_the_host() -> None:
    for name in ("HUP", "INT", "QUIT", "KILL", "USR1", "USR2", "TERM", "CHLD", "CONT", "STOP", "WINCH", "PWR", "SYS"):
        assert parse_signal(name) == getattr(signal, "SIG" + name).value
    assert parse_signal("SIGRTMIN") == signal.SIGRTMIN.value
    assert parse_signal("SIGRTMAX") == signal.SIGRTMAX.value


@pytest.mark.parametrize("raw", ["0", "65", "-1", "SIGFOO", "", "RTMIN+31", "RTMAX-31", "RTMIN+x", "SIG"])
def test_invalid_signals(raw: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        parse_signal(raw)
    assert exc.value.message == f"Invalid signal: {raw}"


def test_signal_names_round_trip() -> None:
    for number in range(1, 65):
        if number in (32, 33):
            continue
        assert parse_signal(signal_name(number)) == number
    assert signal_name(9) == "SIGKILL"
    assert signal_name(37) == "SIGRTMIN+3"


@pytest.mark.parametrize(
    ("message", "command", "code", "invalid"),
    [
        ('exec: "nosuch": executable file not found in $PATH', "nosuch", EXIT_NOT_FOUND, True),
        ("exec /bin/nosuch: no such file or directory", "/bin/nosuch", EXIT_NOT_FOUND, True),
        ("exec /etc/passwd: permission denied", "/etc/passwd", EXIT_CANNOT_INVOKE, True),
        ("cgroup setup failed: device or resource busy", "sh", EXIT_START_FAILED, False),
        # A missing file that is not the command is not "command not found".
        ("open /x/config: no such file or directory", "sh", EXIT_START_FAILED, False),
    ],
)
def test_classify_start_error(message: str, command: str, code: int, invalid: bool) -> None:
    failure = classify_start_error(message, command)
    assert (failure.exit_code, failure.invalid_config) == (code, invalid)
    assert failure.message == message


def test_mounting_over_the_wrong_kind_of_file_gets_dockers_hint() -> None:
    failure = classify_start_error("mount /src to /etc/hosts: not a directory", "sh")
    assert failure.exit_code == EXIT_NOT_FOUND
    assert failure.message.endswith("Check if the specified host path exists and is the expected type")


def test_cli_exit_status() -> None:
    assert cli_exit_status('Error response from daemon: exec: "x": executable file not found in $PATH') == 127
    assert cli_exit_status("exec /etc: permission denied") == 126
    assert cli_exit_status("exec /etc: is a directory") == 126
    assert cli_exit_status("something else") == EXIT_DAEMON_ERROR
