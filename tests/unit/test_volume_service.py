"""VolumeService with the local driver on a temp dir and a fake mount table (no root)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import pytest

from dockyard import errors
from dockyard.containers.create_request import parse_create_request
from dockyard.containers.store import ContainerRecord, ContainerState
from dockyard.engine.events import EventBus
from dockyard.engine.volumes import VolumeService
from dockyard.testing.fake_volumes import FakeVolumeMounter
from dockyard.volumes import ANONYMOUS_LABEL, LocalDriver, VolumeStore


class Containers:
    def __init__(self) -> None:
        self.recs: dict[str, ContainerRecord] = {}

    def add(self, cid: str, running: bool = False) -> ContainerRecord:
        rec = ContainerRecord(
            id=cid,
            name=cid,
            created="",
            image="busybox",
            image_id="sha256:x",
            config={},
            host_config={},
            state=ContainerState(status="running" if running else "exited"),
        )
        self.recs[cid] = rec
        return rec

    def get(self, ref: str) -> ContainerRecord:
        if ref not in self.recs:
            raise errors.ContainerNotFound(f"No such container: {ref}")
        return self.recs[ref]


class Env:
    def __init__(self, root: str) -> None:
        self.store = VolumeStore(os.path.join(root, "volumes.db"))
        self.mounter = FakeVolumeMounter()
        self.driver = LocalDriver(os.path.join(root, "volumes"), self.store, self.mounter)
        self.events = EventBus()
        self.containers = Containers()
        self.service = VolumeService(
            store=self.store, drivers={"local": self.driver}, events=self.events, lookup_container=self.containers.get
        )
        self.seen: list[tuple[str, str]] = []
        orig = self.events.publish

        def publish(type_: str, action: str, actor_id: str, attributes: Any = None) -> None:
            self.seen.append((type_, action))
            orig(type_, action, actor_id, attributes)

        self.events.publish = publish  # type: ignore[method-assign]

    async def create_container(self, cid: str, body: dict[str, Any], running: bool = False) -> tuple[Any, ...]:
        req = parse_create_request({"Image": "busybox", **body})
        out = await self.service.on_create(cid, req.config, req.host_config, {})
        self.containers.add(cid, running)
        return out


@pytest.fixture
def env(tmp_path: Any) -> Iterator[Env]:
    e = Env(str(tmp_path))
    yield e
    e.store.close()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_create_inspect_list_remove(env: Env) -> None:
    vol = run(env.service.create("alpha", "", {}, {"k": "v"}))
    assert vol["Name"] == "alpha" and vol["Labels"] == {"k": "v"} and vol["Options"] is None
    assert os.path.isdir(vol["Mountpoint"])
    assert run(env.service.create("alpha")) == vol  # creating again returns the same volume
    assert run(env.service.inspect("alpha")) == vol
    run(env.service.create("beta"))
    names = [v["Name"] for v in run(env.service.list_volumes({}))["Volumes"]]
    assert names == ["alpha", "beta"]
    assert [v["Name"] for v in run(env.service.list_volumes({"name": ["alp"]}))["Volumes"]] == ["alpha"]
    assert [v["Name"] for v in run(env.service.list_volumes({"label": ["k=v"]}))["Volumes"]] == ["alpha"]
    with pytest.raises(errors.InvalidArgument, match="invalid filter"):
        run(env.service.list_volumes({"colour": ["x"]}))
    run(env.service.remove("alpha"))
    assert not os.path.exists(vol["Mountpoint"])
    with pytest.raises(errors.NotFound, match="no such volume"):
        run(env.service.inspect("alpha"))
    run(env.service.remove("alpha", force=True))  # force ignores a missing volume
    assert ("volume", "create") in env.seen and ("volume", "destroy") in env.seen


def test_unknown_driver_and_bad_options(env: Env) -> None:
    with pytest.raises(errors.NotFound, match="plugin"):
        run(env.service.create("x1", "nfs-plugin"))
    with pytest.raises(errors.InvalidArgument):
        run(env.service.create("x2", "local", {"type": "tmpfs"}))
    assert run(env.service.list_volumes({}))["Volumes"] == []


def test_in_use_refused_and_refs_released(env: Env) -> None:
    mounts = run(env.create_container("c1", {"HostConfig": {"Binds": ["data:/data"]}}, running=True))
    assert mounts[0]["Name"] == "data" and mounts[0]["Driver"] == "local"
    with pytest.raises(errors.InUse, match=r"remove data: volume is in use - \[c1\]"):
        run(env.service.remove("data"))
    with pytest.raises(errors.InUse):
        run(env.service.remove("data", force=True))  # never from under a running container
    dangling = run(env.service.list_volumes({"dangling": ["true"]}))["Volumes"]
    assert dangling == []
    env.containers.recs["c1"] = env.containers.recs["c1"].with_state(status="exited")
    run(env.service.remove("data", force=True))  # taken from a stopped container
    mounts = run(env.service.mounts_for_start(env.containers.get("c1"), "/nonexistent-rootfs"))
    assert mounts[0].source == run(env.service.inspect("data"))["Mountpoint"]  # started with a new one
    run(env.service.on_remove(env.containers.recs.pop("c1"), True))
    assert [v["Name"] for v in run(env.service.list_volumes({"dangling": ["1"]}))["Volumes"]] == ["data"]
    run(env.service.remove("data"))


def test_anonymous_volumes_and_prune(env: Env) -> None:
    mounts = run(env.create_container("c1", {"Volumes": {"/anon": {}}, "HostConfig": {"Binds": ["named:/n"]}}))
    anon = next(m["Name"] for m in mounts if m["Destination"] == "/anon")
    assert run(env.service.inspect(anon))["Labels"] == {ANONYMOUS_LABEL: ""}
    assert run(env.service.prune({}))["VolumesDeleted"] == []  # still in use
    run(env.service.on_remove(env.containers.recs.pop("c1"), False))
    run(env.service.create("other"))
    result = run(env.service.prune({}))
    assert result["VolumesDeleted"] == [anon]  # named volumes stay without all=true
    result = run(env.service.prune({"all": ["true"], "label!": ["keep"]}))
    assert sorted(result["VolumesDeleted"]) == ["named", "other"]


def test_rm_v_removes_only_unshared_anonymous_volumes(env: Env) -> None:
    mounts = run(env.create_container("c1", {"Volumes": {"/anon": {}}}))
    anon = mounts[0]["Name"]
    run(env.create_container("c2", {"HostConfig": {"VolumesFrom": ["c1:ro"]}}))
    c2 = env.store.users_of_container("c2")
    assert [(u.volume, u.data["rw"]) for u in c2] == [(anon, False)]
    run(env.service.on_remove(env.containers.recs.pop("c1"), True))
    assert run(env.service.inspect(anon))["Name"] == anon
    run(env.service.on_remove(env.containers.recs.pop("c2"), True))
    with pytest.raises(errors.NotFound):
        run(env.service.inspect(anon))


def test_failed_create_cleans_up_its_anonymous_volumes(env: Env) -> None:
    req = parse_create_request(
        {
            "Image": "busybox",
            "Volumes": {"/a": {}},
            "HostConfig": {"Mounts": [{"Type": "bind", "Source": "/nonexistent/x", "Target": "/b"}]},
        }
    )
    with pytest.raises(errors.InvalidArgument, match="bind source path does not exist"):
        run(env.service.on_create("c9", req.config, req.host_config, {}))
    assert run(env.service.list_volumes({}))["Volumes"] == []
    assert env.store.users_of_container("c9") == []


def test_start_mounts_with_copy_up_once(env: Env, tmp_path: Any) -> None:
    rootfs = os.path.join(str(tmp_path), "rootfs")
    os.makedirs(os.path.join(rootfs, "etc"))
    with open(os.path.join(rootfs, "etc", "conf"), "w") as f:
        f.write("from image")
    made = os.path.join(str(tmp_path), "made", "by", "v")
    run(env.create_container("c1", {"HostConfig": {"Binds": ["cfg:/etc", "raw:/etc2:nocopy", f"{made}:/x:ro"]}}))
    mounts = run(env.service.mounts_for_start(env.containers.get("c1"), rootfs))
    by_target = {m.target: m for m in mounts}
    cfg = run(env.service.inspect("cfg"))["Mountpoint"]
    assert by_target["/etc"].source == cfg and by_target["/etc"].options == ("rbind", "rprivate")
    assert by_target["/x"].options == ("rbind", "ro", "rprivate")
    with open(os.path.join(cfg, "conf")) as f:
        assert f.read() == "from image"
    paths = env.service.host_paths("c1")
    assert paths[0] == ("/etc", cfg, True) and ("/x", made, False) in paths
    assert os.listdir(run(env.service.inspect("raw"))["Mountpoint"]) == []
    assert os.path.isdir(made)  # a missing -v source is created at start
    # Copy-up happens once: emptied by the user, the volume stays empty at the next start.
    os.remove(os.path.join(cfg, "conf"))
    run(env.service.mounts_for_start(env.containers.get("c1"), rootfs))
    assert os.listdir(cfg) == []
    assert ("volume", "mount") in env.seen


def test_driver_options_mount_at_start_and_unmount_at_remove(env: Env, tmp_path: Any) -> None:
    run(env.service.create("tvol", "local", {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}))
    path = run(env.service.inspect("tvol"))["Mountpoint"]
    assert run(env.service.inspect("tvol"))["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    run(env.create_container("c1", {"HostConfig": {"Binds": ["tvol:/t"]}}, running=True))
    run(env.create_container("c2", {"HostConfig": {"Binds": ["tvol:/t", "tvol:/t2"]}}, running=True))
    run(env.service.mounts_for_start(env.containers.get("c1"), str(tmp_path)))
    run(env.service.mounts_for_start(env.containers.get("c2"), str(tmp_path)))
    assert env.mounter.mounted[path] == ("tmpfs", "tmpfs", ("size=1m",))
    run(env.service.on_stop(env.containers.get("c1")))
    assert path in env.mounter.mounted  # c2 still runs on it
    run(env.service.on_stop(env.containers.get("c2")))
    assert env.mounter.mounted == {}  # the last user stopped: unmounted, as Docker's local driver does
    assert env.seen.count(("volume", "unmount")) == 2
    run(env.service.mounts_for_start(env.containers.get("c1"), str(tmp_path)))
    assert path in env.mounter.mounted
    # A restarted daemon learns from the store which running containers hold the volume.
    fresh = VolumeService(
        store=env.store, drivers={"local": env.driver}, events=env.events, lookup_container=env.containers.get
    )
    fresh.reconcile(["c1", "c2"])
    run(fresh.on_stop(env.containers.get("c1")))
    assert path in env.mounter.mounted  # c2 is recorded as running
    run(fresh.on_stop(env.containers.get("c2")))
    assert env.mounter.mounted == {}
    for cid in ("c1", "c2"):
        run(env.service.on_remove(env.containers.recs.pop(cid), False))
    run(env.service.remove("tvol"))
    assert env.mounter.mounted == {}


def test_disk_usage_and_reconcile(env: Env) -> None:
    run(env.create_container("c1", {"HostConfig": {"Binds": ["sized:/d"]}}))
    path = run(env.service.inspect("sized"))["Mountpoint"]
    with open(os.path.join(path, "f"), "wb") as f:
        f.write(b"x" * 1000)
    os.link(os.path.join(path, "f"), os.path.join(path, "g"))
    (usage,) = run(env.service.disk_usage())
    assert usage["UsageData"] == {"Size": 1000, "RefCount": 1}
    env.service.reconcile([])  # c1 is gone (say, removed while the daemon was down)
    (usage,) = run(env.service.disk_usage())
    assert usage["UsageData"]["RefCount"] == 0


def test_store_survives_reopen(env: Env, tmp_path: Any) -> None:
    run(env.create_container("c1", {"HostConfig": {"Binds": ["persist:/d"]}}))
    env.store.close()
    env2 = Env(str(tmp_path))
    try:
        assert run(env2.service.inspect("persist"))["Name"] == "persist"
        assert env2.store.users_of_volume("persist") == ["c1"]
    finally:
        env2.store.close()
