"""pause/unpause, top, stats, rename and update through docker-py against dockyardd."""

from __future__ import annotations

from typing import Any

import pytest

docker = pytest.importorskip("docker")

pytestmark = [pytest.mark.compat, pytest.mark.root]


@pytest.fixture
def box(client: Any) -> Any:
    return client.containers.run("busybox", ["sleep", "1000"], detach=True, name="opsbox")


def test_pause_unpause(box: Any) -> None:
    box.pause()
    box.reload()
    assert box.status == "paused" and box.attrs["State"]["Paused"] is True
    with pytest.raises(docker.errors.APIError) as exc:
        box.pause()
    assert exc.value.status_code == 409
    box.unpause()
    box.reload()
    assert box.status == "running"


def test_top(box: Any) -> None:
    top = box.top()
    assert "PID" in top["Titles"] and "CMD" in top["Titles"]
    assert [p[-1] for p in top["Processes"]] == ["sleep 1000"]
    top = box.top(ps_args="-o pid,args")
    assert top["Titles"] == ["PID", "COMMAND"]


def test_stats_once_and_streamed(box: Any) -> None:
    s = box.stats(stream=False)
    assert s["id"] == box.id and s["name"] == "/opsbox"
    assert s["cpu_stats"]["system_cpu_usage"] > s["precpu_stats"]["system_cpu_usage"] > 0
    assert s["memory_stats"]["usage"] > 0 and s["memory_stats"]["limit"] > 0
    assert s["pids_stats"]["current"] == 1
    one = box.stats(stream=False, one_shot=True)
    assert "system_cpu_usage" not in one["precpu_stats"]
    frames = box.stats(stream=True, decode=True)
    first, second = next(frames), next(frames)
    frames.close()
    assert second["precpu_stats"] == first["cpu_stats"]
    assert second["preread"] == first["read"]


def test_rename(client: Any, box: Any) -> None:
    box.rename("opsbox2")
    box.reload()
    assert box.name == "opsbox2"
    client.containers.create("busybox", ["true"], name="taken")
    with pytest.raises(docker.errors.APIError) as exc:
        box.rename("taken")
    assert exc.value.status_code == 409


def test_update(box: Any) -> None:
    res = box.update(mem_limit="40m", memswap_limit="80m", restart_policy={"Name": "unless-stopped"})
    assert res == {"Warnings": []}
    box.reload()
    hc = box.attrs["HostConfig"]
    assert hc["Memory"] == 40 << 20 and hc["RestartPolicy"]["Name"] == "unless-stopped"
    assert box.stats(stream=False)["memory_stats"]["limit"] == 40 << 20
    with pytest.raises(docker.errors.APIError) as exc:
        box.update(restart_policy={"Name": "sometimes"})
    assert exc.value.status_code == 400
