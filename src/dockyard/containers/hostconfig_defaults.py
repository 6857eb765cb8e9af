"""What dockerd fills into a HostConfig before storing it (and showing it in inspect)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from dockyard.containers.create_request import HostConfig, LogConfig, RestartPolicy
from dockyard.containers.paths import DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS

__all__ = ["DEFAULT_SHM_SIZE", "DaemonDefaults", "apply_daemon_defaults"]

DEFAULT_SHM_SIZE = 64 * 1024 * 1024


@dataclass(frozen=True)
class DaemonDefaults:
    """The daemon-wide settings that a container's unset fields take.

    ``cgroupns_mode`` follows Docker: ``private`` on a cgroup v2 host, ``host`` on v1.
    """

    ipc_mode: str = "private"
    cgroupns_mode: str = "private"
    cgroup_v2: bool = True
    runtime: str = "runc"
    log_driver: str = "json-file"
    shm_size: int = DEFAULT_SHM_SIZE


def apply_daemon_defaults(hc: HostConfig, defaults: DaemonDefaults = DaemonDefaults()) -> HostConfig:
    """``hc`` with Docker's create-time defaults: network mode, restart policy, log driver,
    shm size, swap (twice the memory limit), IPC and cgroup namespace modes, runtime,
    masked/read-only paths (none when privileged), and a non-positive pids limit as unset."""
    r = hc.resources
    if r.memory > 0 and r.memory_swap == 0:
        r = replace(r, memory_swap=2 * r.memory)
    if r.oom_kill_disable is None:
        r = replace(r, oom_kill_disable=False)
    if r.pids_limit is not None and r.pids_limit <= 0:
        r = replace(r, pids_limit=None)

    cgroupns = hc.cgroupns_mode
    if not cgroupns:
        # Privileged containers keep the host's cgroup namespace on v1 (moby does the same).
        cgroupns = "host" if hc.privileged and not defaults.cgroup_v2 else defaults.cgroupns_mode

    masked, readonly = hc.masked_paths, hc.readonly_paths
    if not hc.privileged:
        masked = DEFAULT_MASKED_PATHS if masked is None else masked
        readonly = DEFAULT_READONLY_PATHS if readonly is None else readonly

    return replace(
        hc,
        network_mode=hc.network_mode or "default",
        restart_policy=hc.restart_policy if hc.restart_policy.name else RestartPolicy("no", 0),
        log_config=hc.log_config if hc.log_config.type else LogConfig(defaults.log_driver, hc.log_config.config),
        shm_size=hc.shm_size or defaults.shm_size,
        ipc_mode=hc.ipc_mode or defaults.ipc_mode,
        cgroupns_mode=cgroupns,
        runtime=hc.runtime or defaults.runtime,
        masked_paths=masked,
        readonly_paths=readonly,
        resources=r,
    )
