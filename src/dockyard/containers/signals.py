"""Signal names and numbers as Docker accepts them (``KILL``, ``SIGKILL``, ``9``, ``SIGRTMIN+3``)."""

from __future__ import annotations

from types import MappingProxyType

from dockyard.errors import InvalidArgument

__all__ = ["SIGNALS", "SIGRTMAX", "SIGRTMIN", "parse_signal", "signal_name"]

# Linux numbering (x86, arm, and the generic table share these values).
SIGNALS = MappingProxyType(
    {
        "HUP": 1,
        "INT": 2,
        "QUIT": 3,
        "ILL": 4,
        "TRAP": 5,
        "ABRT": 6,
        "IOT": 6,
        "BUS": 7,
        "FPE": 8,
        "KILL": 9,
        "USR1": 10,
        "SEGV": 11,
        "USR2": 12,
        "PIPE": 13,
        "ALRM": 14,
        "TERM": 15,
        "STKFLT": 16,
        "CHLD": 17,
        "CLD": 17,
        "CONT": 18,
        "STOP": 19,
        "TSTP": 20,
        "TTIN": 21,
        "TTOU": 22,
        "URG": 23,
        "XCPU": 24,
        "XFSZ": 25,
        "VTALRM": 26,
        "PROF": 27,
        "WINCH": 28,
        "IO": 29,
        "POLL": 29,
        "PWR": 30,
        "SYS": 31,
        "UNUSED": 31,
    }
)

# glibc reserves 32 and 33 for its threads, so user-visible SIGRTMIN is 34.
SIGRTMIN = 34
SIGRTMAX = 64


def _realtime(name: str) -> int | None:
    for base, number in (("RTMIN", SIGRTMIN), ("RTMAX", SIGRTMAX)):
        if name == base:
            return number
        if name.startswith(base) and len(name) > len(base) + 1 and name[len(base)] in "+-":
            offset = name[len(base) + 1 :]
            if not offset.isdigit():
                return None
            n = number + int(offset) if name[len(base)] == "+" else number - int(offset)
            return n if SIGRTMIN <= n <= SIGRTMAX else None
    return None


def parse_signal(raw: str) -> int:
    """The signal number for ``raw``; ``InvalidArgument("Invalid signal: ...")`` otherwise."""
    text = raw.strip()
    if text.isdigit():
        number = int(text)
        if 1 <= number <= SIGRTMAX:
            return number
        raise InvalidArgument(f"Invalid signal: {raw}")
    name = text.upper()
    name = name.removeprefix("SIG")
    number_or_none = SIGNALS.get(name)
    if number_or_none is None:
        number_or_none = _realtime(name)
    if number_or_none is None:
        raise InvalidArgument(f"Invalid signal: {raw}")
    return number_or_none


def signal_name(number: int) -> str:
    """The canonical ``SIG...`` name of ``number`` (``SIGRTMIN+n`` for real-time signals)."""
    for name, value in SIGNALS.items():
        if value == number and name not in ("IOT", "CLD", "POLL", "UNUSED"):
            return "SIG" + name
    if SIGRTMIN <= number <= SIGRTMAX:
        return "SIGRTMIN" if number == SIGRTMIN else f"SIGRTMIN+{number - SIGRTMIN}"
    raise InvalidArgument(f"Invalid signal: {number}")
