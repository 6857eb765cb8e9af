"""Whether the chosen cgroup driver can work on this host: systemd's needs a running systemd.

systemd runs when it booted the host (sd_booted: ``/run/systemd/system`` is a directory).
``DBUS_SYSTEM_BUS_ADDRESS`` names the system bus the runtime will talk to; when it is
set, that bus decides instead: systemd runs if ``org.freedesktop.systemd1`` has an
owner there. This is also how tests put a fake systemd in place on a host without one.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from typing import Any

from dockyard.containers.store import ContainerRecord
from dockyard.engine.cgroups import ResourceUpdate
from dockyard.errors import DockyardError, Unavailable
from dockyard.runtime.spec import Resources
from dockyard.runtime.systemd_units import limit_properties, parse_scope_path

__all__ = [
    "BUS_ENV",
    "SD_BOOTED_DIR",
    "SystemdUnitLimits",
    "check_cgroup_driver",
    "systemd_unavailable_reason",
    "update_resources",
]

BUS_ENV = "DBUS_SYSTEM_BUS_ADDRESS"
SD_BOOTED_DIR = "/run/systemd/system"
_SYSTEMD = "org.freedesktop.systemd1"


def _name_has_owner(address: str, name: str, timeout: float = 5.0) -> bool:
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    bus = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus")
    with open_dbus_connection(bus=address, auth_timeout=timeout) as conn:
        reply = conn.send_and_get_reply(new_method_call(bus, "NameHasOwner", "s", (name,)), timeout=timeout)
    return bool(reply.body and reply.body[0] is True)


def systemd_unavailable_reason(environ: Mapping[str, str], booted_dir: str = SD_BOOTED_DIR) -> str:
    """Why the systemd driver cannot be used here ("" when it can)."""
    address = environ.get(BUS_ENV, "")
    if address:
        try:
            if _name_has_owner(address, _SYSTEMD):
                return ""
        except (OSError, RuntimeError, ValueError) as e:  # includes jeepney's auth and timeout errors
            return f"the system bus at {address} ({BUS_ENV}) cannot be reached: {e}"
        return f"nothing answers as {_SYSTEMD} on the system bus at {address} ({BUS_ENV})"
    if os.path.isdir(booted_dir):
        return ""
    return f"systemd is not running on this host ({booted_dir} is not a directory)"


def check_cgroup_driver(driver: str, environ: Mapping[str, str], booted_dir: str = SD_BOOTED_DIR) -> None:
    """Refuse the systemd driver where no systemd would answer (the daemon then does not start)."""
    if driver != "systemd":
        return
    reason = systemd_unavailable_reason(environ, booted_dir)
    if reason:
        raise Unavailable(f"the systemd cgroup driver (native.cgroupdriver=systemd) needs systemd: {reason}")


def update_resources(update: ResourceUpdate) -> Resources:
    """``docker update``'s changes as the runtime's resources (PidsLimit <= 0: unlimited)."""
    pids = update.pids_limit
    return Resources(
        memory_limit=update.memory,
        memory_swap=update.memory_swap,
        memory_reservation=update.memory_reservation,
        cpu_shares=update.cpu_shares,
        cpu_period=update.cpu_period,
        cpu_quota=update.cpu_quota,
        pids_limit=None if pids is None else (pids if pids > 0 else -1),
        blkio_weight=update.blkio_weight,
    )


def _set_unit_properties(unit: str, properties: list[tuple[str, tuple[str, object]]], timeout: float = 10.0) -> None:
    from jeepney import DBusAddress, HeaderFields, MessageType, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    manager = DBusAddress("/org/freedesktop/systemd1", bus_name=_SYSTEMD, interface="org.freedesktop.systemd1.Manager")
    msg = new_method_call(manager, "SetUnitProperties", "sba(sv)", (unit, True, properties))
    try:
        with open_dbus_connection(bus="SYSTEM", auth_timeout=timeout) as conn:
            reply: Any = conn.send_and_get_reply(msg, timeout=timeout)
    except (OSError, RuntimeError, ValueError) as e:
        raise Unavailable(f"cannot reach systemd over the system D-Bus: {e}") from None
    if reply.header.message_type == MessageType.error:
        detail = reply.body[0] if reply.body else reply.header.fields.get(HeaderFields.error_name)
        raise Unavailable(f"systemd refused to change unit {unit}: {detail}")


class SystemdUnitLimits:
    """``docker update`` with the systemd driver: the scope's unit learns the new limits too.

    systemd keeps the limits it was given and writes them again when it reloads; without
    this, an update would last only until then (runc's update does the same).
    """

    def __init__(self, unified: bool) -> None:
        self._unified = unified

    async def __call__(self, rec: ContainerRecord, update: ResourceUpdate) -> None:
        try:
            with open(os.path.join(rec.bundle, "config.json"), "rb") as f:
                path = str((json.load(f).get("linux") or {}).get("cgroupsPath") or "")
            if ":" not in path:
                return  # a cgroupfs path: the container started before the driver changed
            unit = parse_scope_path(path, rec.id).unit
        except (OSError, ValueError, DockyardError):
            return  # no bundle, or not a scope path
        props = limit_properties(update_resources(update), self._unified)
        if props:
            await asyncio.to_thread(_set_unit_properties, unit, props)
