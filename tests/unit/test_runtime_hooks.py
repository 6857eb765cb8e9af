"""Hook parsing and running (hooks are plain host programs: no root needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dockyard.errors import InvalidArgument, Unavailable
from dockyard.runtime.hooks import Hook, parse_hooks, run_hooks, state_for_hooks


def test_parse_keeps_kinds_and_order() -> None:
    hooks = parse_hooks(
        {
            "prestart": [{"path": "/a", "args": ["a", "1"], "env": ["X=1"], "timeout": 5}, {"path": "/b"}],
            "poststop": [{"path": "/c"}],
            "unknownKind": [{"path": "/ignored"}],
        }
    )
    assert hooks.get("prestart") == (Hook("/a", ("a", "1"), ("X=1",), 5), Hook("/b"))
    assert hooks.get("poststop") == (Hook("/c"),)
    assert hooks.get("poststart") == ()
    assert parse_hooks(None).get("prestart") == ()


@pytest.mark.parametrize(
    "doc", [[], {"prestart": [{"path": "relative"}]}, {"prestart": [{"path": "/x", "timeout": 0}]}, {"poststop": ["x"]}]
)
def test_bad_hooks(doc: Any) -> None:
    with pytest.raises(InvalidArgument):
        parse_hooks(doc)


def test_run_hooks_passes_state_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "state.json"
    state = state_for_hooks("1.0.2", "c1", "creating", 42, "/b", {"k": "v"})
    run_hooks("prestart", (Hook("/bin/sh", ("sh", "-c", f'cat > {out}; echo "$X" >> {out}.env'), ("X=hello",)),), state)
    assert json.loads(out.read_text()) == {
        "ociVersion": "1.0.2", "id": "c1", "status": "creating", "pid": 42, "bundle": "/b", "annotations": {"k": "v"}
    }  # fmt: skip
    assert Path(f"{out}.env").read_text() == "hello\n"


def test_failing_or_slow_hooks_raise() -> None:
    with pytest.raises(Unavailable, match="exit code 3"):
        run_hooks("poststop", (Hook("/bin/sh", ("sh", "-c", "echo nope >&2; exit 3")),), b"{}")
    with pytest.raises(Unavailable, match="timed out"):
        run_hooks("poststop", (Hook("/bin/sleep", ("sleep", "5"), (), 1),), b"{}")
    with pytest.raises(Unavailable):
        run_hooks("poststop", (Hook("/no/such/hook"),), b"{}")
