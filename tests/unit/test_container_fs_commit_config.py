"""Pure parts of commit and prune: the derived image config, the commit config, what prune removes."""

from __future__ import annotations

import json
import time

import pytest

from dockyard import errors
from dockyard.containers.store import ContainerRecord, ContainerState
from dockyard.engine.commit import CommitOptions, commit_config
from dockyard.engine.prune import prunable
from dockyard.engine.timefmt import rfc3339
from dockyard.images.derive import Derivation, derive_config, derived_config_bytes
from dockyard.oci.digest import sha256_of

PARENT = {
    "architecture": "arm64",
    "os": "linux",
    "variant": "v8",
    "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "a" * 64]},
    "history": [{"created": "2020-01-01T00:00:00Z", "created_by": "base"}],
}


def test_derive_appends_layer_history_and_keeps_platform() -> None:
    d = Derivation(
        config={"Cmd": ["cat", "/x"]},
        created="2026-01-01T00:00:00Z",
        diff_id="sha256:" + "b" * 64,
        created_by="sh -c touch /x",
        author="me",
        comment="msg",
        container="c1",
        parent_id="sha256:" + "c" * 64,
    )
    cfg = derive_config(PARENT, d)
    assert cfg["rootfs"]["diff_ids"] == ["sha256:" + "a" * 64, "sha256:" + "b" * 64]
    assert (cfg["architecture"], cfg["os"], cfg["variant"]) == ("arm64", "linux", "v8")
    assert cfg["config"] == {"Cmd": ["cat", "/x"]}
    assert cfg["history"][-1] == {
        "created": "2026-01-01T00:00:00Z",
        "created_by": "sh -c touch /x",
        "author": "me",
        "comment": "msg",
    }
    assert (cfg["author"], cfg["comment"], cfg["container"], cfg["parent"]) == ("me", "msg", "c1", d.parent_id)
    assert PARENT["rootfs"]["diff_ids"] == ["sha256:" + "a" * 64]  # the parent is not modified


def test_derive_empty_layer_and_canonical_bytes() -> None:
    d = Derivation(config={"Env": ["A=1"]}, created="2026-01-01T00:00:00Z")
    cfg = derive_config(None, d)
    assert cfg["rootfs"]["diff_ids"] == []
    assert cfg["history"] == [{"created": "2026-01-01T00:00:00Z", "empty_layer": True}]
    raw = derived_config_bytes(None, d)
    assert json.loads(raw) == cfg
    assert sha256_of(raw) == sha256_of(derived_config_bytes(None, d))  # deterministic


def test_commit_config_overrides_and_changes() -> None:
    container = {"Hostname": "abc", "Image": "busybox", "Cmd": ["sh"], "Env": ["A=1"], "User": ""}
    cfg = commit_config(container, {"User": "nobody", "Cmd": None}, ['CMD ["cat","/x"]', "ENV B=2"])
    assert "Hostname" not in cfg and "Image" not in cfg
    assert cfg["User"] == "nobody"
    assert cfg["Cmd"] == ["cat", "/x"]
    assert cfg["Env"] == ["A=1", "B=2"]
    assert container["Cmd"] == ["sh"]
    with pytest.raises(errors.InvalidArgument):
        commit_config(container, {}, ["RUN echo"])


def test_commit_reference() -> None:
    assert CommitOptions(repo="myimg", tag="1").reference() == "myimg:1"
    assert CommitOptions(repo="myimg").reference() == "myimg:latest"
    assert CommitOptions().reference() == ""
    with pytest.raises(errors.InvalidArgument):
        CommitOptions(tag="x").reference()
    with pytest.raises(errors.InvalidArgument):
        CommitOptions(repo="Bad Name").reference()


def _rec(status: str, created: float, labels: dict[str, str] | None = None) -> ContainerRecord:
    return ContainerRecord(
        id="c" * 64,
        name="c",
        created=rfc3339(int(created * 1e9)),
        image="busybox",
        image_id="sha256:" + "0" * 64,
        config={"Labels": labels or {}},
        host_config={},
        state=ContainerState(status=status),
    )


def test_prunable_only_stopped_and_filters() -> None:
    now = time.time()
    assert prunable(_rec("exited", now - 10), {}, now)
    assert prunable(_rec("created", now - 10), {}, now)
    assert not prunable(_rec("running", now - 10), {}, now)
    assert not prunable(_rec("paused", now - 10), {}, now)
    assert prunable(_rec("exited", now - 7200), {"until": ["1h"]}, now)
    assert not prunable(_rec("exited", now - 60), {"until": ["1h"]}, now)
    assert prunable(_rec("dead", now, {"a": "1"}), {"label": ["a=1"]}, now)
    assert not prunable(_rec("exited", now, {"a": "2"}), {"label": ["a=1"]}, now)
    assert not prunable(_rec("exited", now, {"keep": "y"}), {"label!": ["keep"]}, now)
    with pytest.raises(errors.InvalidArgument):
        prunable(_rec("exited", now), {"until": ["soon"]}, now)
