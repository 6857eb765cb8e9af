"""Signal names ("KILL", "SIGTERM", "9") -> numbers (pure)."""

from __future__ import annotations

import signal

from dockyard.errors import InvalidArgument

__all__ = ["parse_signal"]


def parse_signal(text: str) -> int:
    """Accept a number, a name with or without ``SIG``, or ``RTMIN+n``; like runc's ParseSignal."""
    raw = text.strip()
    if raw.isdigit():
        num = int(raw)
        if not 0 < num < signal.NSIG:
            raise InvalidArgument(f"invalid signal {text!r}")
        return num
    name = raw.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    for base, anchor in (("SIGRTMIN+", signal.SIGRTMIN), ("SIGRTMAX-", signal.SIGRTMAX)):
        if name.startswith(base) and name[len(base) :].isdigit():
            off = int(name[len(base) :])
            num = anchor + off if base.endswith("+") else anchor - off
            if signal.SIGRTMIN <= num <= signal.SIGRTMAX:
                return int(num)
            raise InvalidArgument(f"invalid signal {text!r}")
    sig = getattr(signal.Signals, name, None) if name.isidentifier() else None
    if sig is None:
        raise InvalidArgument(f"invalid signal {text!r}")
    return int(sig)
