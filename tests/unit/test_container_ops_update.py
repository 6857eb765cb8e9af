"""`docker update` bodies: what changes in the cgroup and what is stored, with dockerd's refusals."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.engine.container_ops import parse_update


def test_zero_values_mean_unchanged() -> None:
    res, policy, stored = parse_update({"Memory": 0, "CpuShares": 0, "CpusetCpus": ""}, {})
    assert res.is_empty() and policy is None and stored == {}


def test_memory_and_swap() -> None:
    res, _, stored = parse_update({"Memory": 64 << 20, "MemorySwap": 128 << 20}, {})
    assert res.memory == 64 << 20 and res.memory_swap == 128 << 20
    assert stored == {"Memory": 64 << 20, "MemorySwap": 128 << 20}


@pytest.mark.parametrize(
    ("body", "host", "exc"),
    [
        ({"Memory": 1024}, {}, errors.InvalidArgument),
        ({"Memory": 64 << 20, "MemorySwap": 32 << 20}, {}, errors.InvalidArgument),
        ({"Memory": 256 << 20}, {"MemorySwap": 128 << 20}, errors.Conflict),
        ({"NanoCpus": 500_000_000}, {"CpuQuota": 50000}, errors.Conflict),
        ({"BlkioWeight": 5}, {}, errors.InvalidArgument),
        ({"Memory": "lots"}, {}, errors.InvalidArgument),
        ({"RestartPolicy": {"Name": "sometimes"}}, {}, errors.InvalidArgument),
        ({"RestartPolicy": {"Name": "always", "MaximumRetryCount": 3}}, {}, errors.InvalidArgument),
        ({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": -1}}, {}, errors.InvalidArgument),
        ({"RestartPolicy": {"Name": "always"}}, {"AutoRemove": True}, errors.Conflict),
    ],
)
def test_refusals(body: dict[str, object], host: dict[str, object], exc: type[Exception]) -> None:
    with pytest.raises(exc):
        parse_update(body, host)


def test_nano_cpus_become_a_quota() -> None:
    res, _, stored = parse_update({"NanoCpus": 1_500_000_000}, {})
    assert res.cpu_period == 100000 and res.cpu_quota == 150000
    assert stored == {"NanoCpus": 1_500_000_000}


def test_pids_limit_zero_means_unlimited_not_unchanged() -> None:
    res, _, stored = parse_update({"PidsLimit": 0}, {})
    assert res.pids_limit == 0 and stored == {"PidsLimit": 0}
    res, _, stored = parse_update({"PidsLimit": None}, {})
    assert res.pids_limit is None and stored == {}


def test_restart_policy() -> None:
    res, policy, _ = parse_update({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}}, {})
    assert res.is_empty()
    assert policy == {"Name": "on-failure", "MaximumRetryCount": 3}
    _, policy, _ = parse_update({"RestartPolicy": {"Name": "no"}}, {"AutoRemove": True})
    assert policy == {"Name": "no", "MaximumRetryCount": 0}


def test_empty_policy_name_leaves_the_policy_alone() -> None:
    _, policy, _ = parse_update({"RestartPolicy": {"Name": "", "MaximumRetryCount": 0}, "Memory": 8 << 20}, {})
    assert policy is None
