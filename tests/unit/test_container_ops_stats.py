"""Docker's stats JSON from cgroup files and /proc texts, checked the way `docker stats` reads it."""

from __future__ import annotations

from typing import Any

from dockyard.engine import stats
from dockyard.engine.cgroups import UNLIMITED_V1
from dockyard.engine.stats import HostSample
from dockyard.testing.fake_cgroups import FakeCgroup

HOST = HostSample(system_cpu_usage=10_000_000_000, online_cpus=2, machine_memory=8 << 30, clk_tck=100)

V1_FILES = {
    "cpuacct.usage": "3000000000\n",
    "cpuacct.usage_percpu": "1000000000 2000000000 \n",
    "cpuacct.stat": "user 150\nsystem 50\n",
    "cpu.stat": "nr_periods 10\nnr_throttled 2\nthrottled_time 5000\n",
    "memory.usage_in_bytes": "10485760\n",
    "memory.max_usage_in_bytes": "20971520\n",
    "memory.limit_in_bytes": f"{UNLIMITED_V1}\n",
    "memory.failcnt": "0\n",
    "memory.stat": "cache 4096\nrss 8192\ntotal_inactive_file 2097152\ntotal_rss 8192\n",
    "pids.current": "3\n",
    "pids.max": "max\n",
    "blkio.io_service_bytes_recursive": "",
    "blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\nTotal 12288\n",
    "blkio.throttle.io_serviced_recursive": "8:0 Read 1\n8:0 Write 2\nTotal 3\n",
}

V2_FILES = {
    "cpu.stat": "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 7\n",
    "memory.current": "5242880\n",
    "memory.max": "67108864\n",
    "memory.stat": "anon 1024\nfile 4096\ninactive_file 1048576\n",
    "pids.current": "2\n",
    "pids.max": "50\n",
    "io.stat": "8:16 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n",
}

NET_DEV = (
    "Inter-|   Receive                            |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier\n"
    "    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0  0  0\n"
    "  eth0:    1626      15    0    1    0     0          0         0      300       3    0    0    0     0  0  0\n"
)


def _cli_cpu_percent(s: dict[str, Any]) -> float:
    """What `docker stats` computes (calculateCPUPercentUnix)."""
    cpu_delta = s["cpu_stats"]["cpu_usage"]["total_usage"] - s["precpu_stats"]["cpu_usage"]["total_usage"]
    sys_delta = s["cpu_stats"].get("system_cpu_usage", 0) - s["precpu_stats"].get("system_cpu_usage", 0)
    online = s["cpu_stats"].get("online_cpus", 0) or len(s["cpu_stats"]["cpu_usage"].get("percpu_usage") or [])
    return cpu_delta / sys_delta * online * 100.0 if sys_delta > 0 and cpu_delta > 0 else 0.0


def _cli_mem(s: dict[str, Any]) -> float:
    m = s["memory_stats"]
    st = m["stats"]
    if "total_inactive_file" in st and st["total_inactive_file"] < m["usage"]:
        return float(m["usage"] - st["total_inactive_file"])
    if st.get("inactive_file", 0) < m["usage"]:
        return float(m["usage"] - st.get("inactive_file", 0))
    return float(m["usage"])


def test_v1_sample_has_dockers_shape() -> None:
    s = stats.sample_stats(FakeCgroup(1, V1_FILES), HOST, read="T", net_dev=NET_DEV, name="web", cid="abc")
    assert s["name"] == "/web" and s["id"] == "abc" and s["read"] == "T"
    cpu = s["cpu_stats"]
    assert cpu["cpu_usage"]["total_usage"] == 3_000_000_000
    assert cpu["cpu_usage"]["percpu_usage"] == [1_000_000_000, 2_000_000_000]
    assert cpu["cpu_usage"]["usage_in_usermode"] == 1_500_000_000  # 150 ticks at 100 Hz
    assert cpu["cpu_usage"]["usage_in_kernelmode"] == 500_000_000
    assert cpu["throttling_data"] == {"periods": 10, "throttled_periods": 2, "throttled_time": 5000}
    mem = s["memory_stats"]
    assert mem["limit"] == 8 << 30  # no limit: the machine's memory, as dockerd reports
    assert mem["max_usage"] == 20971520
    assert _cli_mem(s) == 10485760 - 2097152
    assert s["pids_stats"] == {"current": 3}
    ios = s["blkio_stats"]["io_service_bytes_recursive"]
    assert {(e["op"].lower(), e["value"]) for e in ios} >= {("read", 4096), ("write", 8192)}
    assert all(e["major"] == 8 and e["minor"] == 0 for e in ios)
    assert s["networks"] == {
        "eth0": {
            "rx_bytes": 1626,
            "rx_packets": 15,
            "rx_errors": 0,
            "rx_dropped": 1,
            "tx_bytes": 300,
            "tx_packets": 3,
            "tx_errors": 0,
            "tx_dropped": 0,
        }
    }


def test_v2_sample() -> None:
    s = stats.sample_stats(FakeCgroup(2, V2_FILES), HOST, read="T", net_dev=None, name="c", cid="id")
    assert s["cpu_stats"]["cpu_usage"]["total_usage"] == 2_500_000
    assert s["cpu_stats"]["throttling_data"]["throttled_time"] == 7000
    assert s["memory_stats"]["limit"] == 67108864
    assert _cli_mem(s) == 5242880 - 1048576
    assert s["pids_stats"] == {"current": 2, "limit": 50}
    ios = s["blkio_stats"]["io_service_bytes_recursive"]
    assert {(e["op"], e["value"]) for e in ios} == {("read", 100), ("write", 200)}
    assert "networks" not in s  # host network namespace: none reported


def test_cpu_percent_between_two_samples() -> None:
    files = dict(V1_FILES)
    first = stats.sample_stats(FakeCgroup(1, files), HOST, read="a", net_dev=None, name="c", cid="i")
    files["cpuacct.usage"] = str(3_000_000_000 + 500_000_000)
    later = HostSample(system_cpu_usage=HOST.system_cpu_usage + 2_000_000_000, online_cpus=2, machine_memory=1 << 33)
    second = stats.sample_stats(FakeCgroup(1, files), later, read="b", net_dev=None, name="c", cid="i")
    second["precpu_stats"] = first["cpu_stats"]
    # 0.5 s of CPU in 1 s of wall time on 2 CPUs (2 s of host CPU time) = 50 %
    assert abs(_cli_cpu_percent(second) - 50.0) < 1e-9


def test_system_cpu_usage_sums_the_cpu_line() -> None:
    text = "cpu  100 5 50 1000 10 0 5 0 0 0\ncpu0 50 2 25 500 5 0 2 0 0 0\nintr 1\n"
    assert stats.system_cpu_usage(text, 100) == (100 + 5 + 50 + 1000 + 10 + 0 + 5) * 10_000_000


def test_network_stats_skips_loopback_and_junk() -> None:
    assert set(stats.network_stats(NET_DEV)) == {"eth0"}
    assert stats.network_stats("") == {}


def test_empty_stats_for_a_stopped_container() -> None:
    s = stats.empty_stats("gone", "cid")
    assert s["name"] == "/gone" and s["id"] == "cid"
    assert s["memory_stats"] == {} and s["pids_stats"] == {}
    assert _cli_cpu_percent(s) == 0.0


def test_missing_files_give_zeros_not_errors() -> None:
    s = stats.sample_stats(FakeCgroup(1, {}), HOST, read="T", net_dev=None, name="c", cid="i")
    assert s["cpu_stats"]["cpu_usage"]["total_usage"] == 0
    assert s["memory_stats"]["usage"] == 0
    assert s["blkio_stats"]["io_service_bytes_recursive"] == []
