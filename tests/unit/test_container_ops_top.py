"""`docker top`: ps argument rules and cutting ps output down to a container's pids."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.engine.top import parse_ps_output, ps_argv, ps_pids_arg

PS_EF = """\
UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 22:00 ?        00:00:01 /sbin/init splash
root        8550    8530  0 22:03 ?        00:00:00 httpd -f -p 80 -h /etc
nobody      8551    8550  0 22:03 ?        00:00:00 sh -c sleep   100
"""


def test_default_args_are_ef() -> None:
    assert ps_argv("") == ["ps", "-ef"]
    assert ps_argv(" aux ") == ["ps", "aux"]


def test_only_pid_may_be_renamed() -> None:
    assert ps_argv("-o pid=PID,comm") == ["ps", "-o", "pid=PID,comm"]
    with pytest.raises(errors.InvalidArgument):
        ps_argv("-o user=PID")


def test_keeps_only_container_pids_and_whole_commands() -> None:
    titles, rows = parse_ps_output(PS_EF, [8550, 8551])
    assert titles == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert [r[1] for r in rows] == ["8550", "8551"]
    assert rows[0][-1] == "httpd -f -p 80 -h /etc"
    assert rows[1][-1] == "sh -c sleep 100"
    assert all(len(r) == len(titles) for r in rows)


def test_no_pid_column_is_an_error() -> None:
    with pytest.raises(errors.InvalidArgument):
        parse_ps_output("USER COMMAND\nroot init\n", [1])


def test_empty_output() -> None:
    assert parse_ps_output("", [1]) == ([], [])


def test_pids_arg() -> None:
    assert ps_pids_arg([12, 7]) == "-q7,12"
