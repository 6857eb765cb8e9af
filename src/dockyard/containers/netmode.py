"""The create options a network or UTS mode rules out (dockerd's checks on a create request)."""

from __future__ import annotations

from dockyard.containers.create_request import ContainerConfig, HostConfig
from dockyard.errors import InvalidArgument

__all__ = ["check_network_mode_conflicts"]


def check_network_mode_conflicts(config: ContainerConfig, hc: HostConfig) -> None:
    """Reject what a container sharing another's network namespace (``container:<ref>``), the
    host's network or the host's UTS namespace cannot have. Checked on the request only: the
    image's EXPOSE and the hostname the daemon fills in later are not the caller's choice."""
    joined = hc.network_mode.startswith("container:")
    if joined:
        if config.hostname:
            raise InvalidArgument("conflicting options: hostname and the network mode")
        if hc.links:
            raise InvalidArgument(
                "conflicting options: container type network can't be used with links. "
                "This would result in undefined behavior"
            )
        if hc.dns:
            raise InvalidArgument("conflicting options: dns and the network mode")
        if hc.extra_hosts:
            raise InvalidArgument("conflicting options: custom host-to-IP mapping and the network mode")
        if hc.port_bindings or hc.publish_all_ports:
            raise InvalidArgument("conflicting options: port publishing and the container type network mode")
        if config.exposed_ports:
            raise InvalidArgument("conflicting options: port exposing and the container type network mode")
    if (joined or hc.network_mode == "host") and config.mac_address:
        raise InvalidArgument("conflicting options: mac-address and the network mode")
    if hc.uts_mode == "host" and config.hostname:
        raise InvalidArgument("conflicting options: hostname and the UTS mode")
    if hc.network_mode == "host" and hc.links:
        raise InvalidArgument(
            "conflicting options: host type networking can't be used with links. "
            "This would result in undefined behavior"
        )
