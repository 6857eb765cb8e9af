"""``docker top``: the host's ``ps`` output cut down to one container's processes (pure parts)."""

from __future__ import annotations

import re
from collections.abc import Collection

from dockyard import errors

__all__ = ["DEFAULT_PS_ARGS", "parse_ps_output", "ps_argv", "ps_pids_arg"]

DEFAULT_PS_ARGS = "-ef"

_ASSIGNMENT = re.compile(r"\s+(\S*)=\s*(PID)")


def ps_argv(ps_args: str) -> list[str]:
    """The ``ps`` command line for ``ps_args`` (dockerd's rule: only ``pid=`` may rename the PID column)."""
    args = ps_args.strip() or DEFAULT_PS_ARGS
    for key, value in _ASSIGNMENT.findall(" " + args):
        if key != "pid":
            raise errors.InvalidArgument(f'specifying "{key}={value}" is not allowed')
    return ["ps", *args.split()]


def ps_pids_arg(pids: Collection[int]) -> str:
    """``-q1,2,3``: procps lists just these processes, whatever selection the other args make
    (dockerd passes it, and retries without when the args conflict with it, e.g. ``f``)."""
    return "-q" + ",".join(str(p) for p in sorted(pids))


def parse_ps_output(output: str, pids: Collection[int]) -> tuple[list[str], list[list[str]]]:
    """Titles and the rows whose PID is in ``pids``; the last column keeps its spaces (the command)."""
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        return [], []
    titles = lines[0].split()
    try:
        pid_index = titles.index("PID")
    except ValueError:
        raise errors.InvalidArgument("Couldn't find PID field in ps output") from None
    wanted = set(pids)
    rows: list[list[str]] = []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) <= pid_index or not fields[pid_index].isdigit():
            continue
        if int(fields[pid_index]) not in wanted:
            continue
        n = len(titles)
        rows.append([*fields[: n - 1], " ".join(fields[n - 1 :])] if len(fields) >= n else fields)
    return titles, rows
