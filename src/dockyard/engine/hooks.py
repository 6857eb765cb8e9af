"""Seams where volumes and networks join the container lifecycle.

The container service calls these at create, start, exit and removal; the
volume and network services implement them. The no-op versions here keep
containers working with no volumes and a loopback-only network (``none``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from dockyard import errors
from dockyard.containers.create_request import ContainerConfig, HostConfig, NetworkingConfig
from dockyard.containers.store import ContainerRecord
from dockyard.mount.types import Mount

__all__ = ["NetworkHooks", "NoNetworks", "NoVolumes", "VolumeHooks", "endpoint_settings", "none_network_settings"]


class VolumeHooks(Protocol):
    async def on_create(
        self, container_id: str, config: ContainerConfig, host_config: HostConfig, image_config: Mapping[str, Any]
    ) -> tuple[Mapping[str, Any], ...]:
        """Validate Binds/Mounts/Volumes/VolumesFrom, create anonymous and named volumes;
        return inspect's ``Mounts`` entries (kept in the record)."""
        ...

    async def mounts_for_start(self, rec: ContainerRecord, rootfs: str) -> tuple[Mount, ...]:
        """The mounts (targets set) to add to the spec; ``rootfs`` is mounted, for copy-up."""
        ...

    async def on_stop(self, rec: ContainerRecord) -> None:
        """The container exited: release what its run held (volume filesystems nobody else uses)."""
        ...

    async def on_remove(self, rec: ContainerRecord, remove_volumes: bool) -> None:
        """Release the container's volumes; remove its anonymous ones when asked."""
        ...


class NetworkHooks(Protocol):
    async def on_create(
        self,
        container_id: str,
        name: str,
        config: ContainerConfig,
        host_config: HostConfig,
        networking: NetworkingConfig,
    ) -> Mapping[str, Any]:
        """Validate the network mode and endpoints; return the initial NetworkSettings."""
        ...

    async def on_start(self, rec: ContainerRecord) -> tuple[str | None, Mapping[str, Any]]:
        """Set up the network namespace; return (its path, or None for a new loopback-only
        one made by the runtime) and the NetworkSettings to store. May rewrite the
        container's hosts and resolv.conf files."""
        ...

    async def on_stop(self, rec: ContainerRecord) -> Mapping[str, Any]:
        """Tear the namespace down after exit; return the NetworkSettings to store."""
        ...

    async def on_remove(self, rec: ContainerRecord) -> None: ...

    def settings(self, rec: ContainerRecord) -> dict[str, Any]:
        """inspect's NetworkSettings."""
        ...

    def link_env(self, rec: ContainerRecord) -> list[str]:
        """Environment variables for the container's ``--link`` targets (called after on_start)."""
        ...


def endpoint_settings(
    network_id: str = "",
    *,
    ipam_config: Mapping[str, Any] | None = None,
    links: list[str] | None = None,
    aliases: list[str] | None = None,
    mac_address: str = "",
) -> dict[str, Any]:
    """One entry of ``NetworkSettings.Networks`` before the endpoint has an address (as Docker shows it)."""
    return {
        "IPAMConfig": dict(ipam_config) if ipam_config is not None else None,
        "Links": links,
        "Aliases": aliases,
        "MacAddress": mac_address,
        "NetworkID": network_id,
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DriverOpts": None,
        "DNSNames": None,
    }


def none_network_settings() -> dict[str, Any]:
    """A loopback-only namespace, as Docker shows ``--network none``."""
    return {
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": "",
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": {},
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": "",
        "Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "MacAddress": "",
        "Networks": {"none": endpoint_settings()},
    }


class NoVolumes:
    """Until volumes exist: image VOLUMEs stay in the rootfs; binds and mounts are refused."""

    async def on_create(
        self, container_id: str, config: ContainerConfig, host_config: HostConfig, image_config: Mapping[str, Any]
    ) -> tuple[Mapping[str, Any], ...]:
        if host_config.binds or host_config.mounts or host_config.volumes_from:
            raise errors.NotImplementedYet("volumes and bind mounts are not supported by this daemon yet")
        return ()

    async def mounts_for_start(self, rec: ContainerRecord, rootfs: str) -> tuple[Mount, ...]:
        return ()

    async def on_stop(self, rec: ContainerRecord) -> None:
        return None

    async def on_remove(self, rec: ContainerRecord, remove_volumes: bool) -> None:
        return None


class NoNetworks:
    """Every container gets its own loopback-only network namespace (``--network none``)."""

    async def on_create(
        self,
        container_id: str,
        name: str,
        config: ContainerConfig,
        host_config: HostConfig,
        networking: NetworkingConfig,
    ) -> Mapping[str, Any]:
        return none_network_settings()

    async def on_start(self, rec: ContainerRecord) -> tuple[str | None, Mapping[str, Any]]:
        return None, rec.network_settings or none_network_settings()

    async def on_stop(self, rec: ContainerRecord) -> Mapping[str, Any]:
        return rec.network_settings or none_network_settings()

    async def on_remove(self, rec: ContainerRecord) -> None:
        return None

    def settings(self, rec: ContainerRecord) -> dict[str, Any]:
        return dict(rec.network_settings or none_network_settings())

    def link_env(self, rec: ContainerRecord) -> list[str]:
        return []
