"""The systemd cgroup driver (``--systemd-cgroup``): a container's cgroup is a transient scope unit.

systemd creates ``<prefix>-<name>.scope`` in the requested slice and moves the
container's init into it (``StartTransientUnit`` with the limits systemd knows);
the cgroupfs manager then writes everything else in the directories systemd made.
``delete`` stops the unit.

D-Bus goes through ``jeepney``, imported only here: the cgroupfs start path pays
nothing. The shim runs the runtime in a lean interpreter (``python -S -I``) without
site-packages on ``sys.path``; :func:`_jeepney` adds the interpreter's own
site-packages directories then, and only then.
"""

from __future__ import annotations

import posixpath
import sys
import time
from types import ModuleType
from typing import Any

from dockyard.errors import Unavailable
from dockyard.runtime.linux.cgroups import CgroupManager, manager_for, manager_from_paths
from dockyard.runtime.mountinfo import CgroupLayout
from dockyard.runtime.spec import Resources
from dockyard.runtime.systemd_units import (
    ScopePath,
    expand_slice,
    limit_properties,
    parse_scope_path,
    unit_properties,
)

__all__ = ["SystemdBus", "SystemdCgroups", "existing_systemd_cgroups", "new_systemd_cgroups"]

_JOB_TIMEOUT = 30.0  # seconds: systemd runs scope jobs at once; this only bounds a wedged manager
_CALL_TIMEOUT = 10.0
_SYSTEMD = "org.freedesktop.systemd1"
_MANAGER_PATH = "/org/freedesktop/systemd1"
_MANAGER = "org.freedesktop.systemd1.Manager"
_NO_SUCH_UNIT = "org.freedesktop.systemd1.NoSuchUnit"


def _jeepney() -> ModuleType:
    """``jeepney``, importable even in the shim's site-less interpreter."""
    try:
        import jeepney
    except ImportError:
        import site  # with -S, importing site only defines its functions; it changes nothing

        for directory in site.getsitepackages():
            if directory not in sys.path:
                sys.path.append(directory)
        try:
            import jeepney
        except ImportError:
            raise Unavailable("the systemd cgroup driver needs the jeepney package (D-Bus)") from None
    module: ModuleType = jeepney
    return module


class SystemdBus:
    """A connection to systemd's manager on the system bus (``DBUS_SYSTEM_BUS_ADDRESS`` or the default socket)."""

    def __init__(self) -> None:
        jeepney = _jeepney()
        from jeepney.io.blocking import open_dbus_connection

        self._j = jeepney
        try:
            self._conn: Any = open_dbus_connection(bus="SYSTEM", auth_timeout=_CALL_TIMEOUT)
        except (OSError, RuntimeError, ValueError) as e:
            raise Unavailable(f"cannot connect to systemd over the system D-Bus: {e}") from None
        self._manager = jeepney.DBusAddress(_MANAGER_PATH, bus_name=_SYSTEMD, interface=_MANAGER)
        self._jobs: Any = None

    def __enter__(self) -> SystemdBus:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._jobs is not None:
            self._jobs.close()
            self._jobs = None
        self._conn.close()

    def _call(self, address: Any, method: str, signature: str | None = None, body: tuple[Any, ...] = ()) -> Any:
        j = self._j
        msg = j.new_method_call(address, method, signature, body)
        try:
            reply = self._conn.send_and_get_reply(msg, timeout=_CALL_TIMEOUT)
        except TimeoutError:
            raise Unavailable(f"systemd did not answer {method} within {_CALL_TIMEOUT:.0f}s") from None
        except OSError as e:
            raise Unavailable(f"lost the D-Bus connection to systemd: {e}") from None
        if reply.header.message_type == j.MessageType.error:
            name = reply.header.fields.get(j.HeaderFields.error_name, "")
            text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
            raise _BusError(str(name), text or str(name))
        return reply.body

    def _subscribe(self) -> Any:
        """Receive JobRemoved (before any job starts, so none is missed)."""
        if self._jobs is None:
            j = self._j
            from jeepney.bus_messages import message_bus

            rule = j.MatchRule(type="signal", interface=_MANAGER, member="JobRemoved", path=_MANAGER_PATH)
            self._call(message_bus, "AddMatch", "s", (rule.serialise(),))
            self._jobs = self._conn.filter(rule, bufsize=64)
            self._call(self._manager, "Subscribe")  # systemd sends its signals only to subscribed clients
        return self._jobs

    def control_group(self, unit: str) -> str:
        """The unit's cgroup below the hierarchies' roots (systemd's ControlGroup property)."""
        (path,) = self._call(self._manager, "GetUnit", "s", (unit,))
        interface = "org.freedesktop.systemd1." + ("Slice" if unit.endswith(".slice") else "Scope")
        address = self._j.DBusAddress(path, bus_name=_SYSTEMD, interface="org.freedesktop.DBus.Properties")
        ((_sig, value),) = self._call(address, "Get", "ss", (interface, "ControlGroup"))
        return str(value) or "/"

    def _wait_job(self, job: str, unit: str, what: str) -> None:
        jobs = self._jobs
        deadline = time.monotonic() + _JOB_TIMEOUT
        while True:
            while jobs.queue:
                _id, path, _unit, result = jobs.queue.popleft().body
                if path == job:
                    if result != "done":
                        raise Unavailable(f"systemd could not {what} unit {unit}: job {result}")
                    return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Unavailable(f"systemd did not {what} unit {unit} within {_JOB_TIMEOUT:.0f}s")
            try:
                self._conn.recv_messages(timeout=remaining)
            except TimeoutError:
                continue

    def start_transient_unit(self, unit: str, properties: list[tuple[str, tuple[str, object]]]) -> None:
        self._subscribe()
        try:
            (job,) = self._call(
                self._manager, "StartTransientUnit", "ssa(sv)a(sa(sv))", (unit, "replace", properties, [])
            )
        except _BusError as e:
            raise Unavailable(f"systemd refused to start unit {unit}: {e.text}") from None
        self._wait_job(job, unit, "start")

    def set_unit_properties(self, unit: str, properties: list[tuple[str, tuple[str, object]]]) -> None:
        """Change a running unit's properties (runtime only: they do not outlive the unit)."""
        try:
            self._call(self._manager, "SetUnitProperties", "sba(sv)", (unit, True, properties))
        except _BusError as e:
            raise Unavailable(f"systemd refused to change unit {unit}: {e.text}") from None

    def stop_unit(self, unit: str) -> bool:
        """Stop the unit and wait for it; False when systemd has no such unit (e.g. collected once empty)."""
        self._subscribe()
        try:
            (job,) = self._call(self._manager, "StopUnit", "ss", (unit, "replace"))
        except _BusError as e:
            if e.name == _NO_SUCH_UNIT:
                return False
            raise Unavailable(f"systemd refused to stop unit {unit}: {e.text}") from None
        self._wait_job(job, unit, "stop")
        return True


class _BusError(Unavailable):
    """systemd's error reply; ``name`` is the D-Bus error name (one not handled is reported as it is)."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(f"systemd: {text}")
        self.name = name
        self.text = text


class SystemdCgroups:
    """A :class:`CgroupManager` whose cgroup is a systemd scope; ``paths`` are the directories systemd makes.

    systemd needs the scope's first process to create it, so ``create`` only records the
    limits; the first ``join`` starts the unit and then lets the cgroupfs manager finish.
    """

    def __init__(
        self,
        unit: str,
        inner: CgroupManager,
        scope: ScopePath | None = None,
        relpath: str = "",
        unified: bool = False,
        started: bool = True,
    ) -> None:
        self.unit = unit
        self._inner = inner
        self._scope = scope
        self._relpath = relpath
        self._unified = unified
        self._started = started
        self._resources = Resources()

    @property
    def paths(self) -> dict[str, str]:
        return self._inner.paths

    def create(self, resources: Resources) -> None:
        self._resources = resources

    def apply(self, resources: Resources) -> None:
        """``update``: systemd learns the limits it keeps (else it would restore the old ones), then the files."""
        props = limit_properties(resources, self._unified)
        if props:
            with SystemdBus() as bus:
                bus.set_unit_properties(self.unit, props)
        self._inner.apply(resources)

    def join(self, pid: int) -> None:
        if not self._started:
            self._start(pid)
        self._inner.join(pid)

    def _start(self, pid: int) -> None:
        scope = self._scope
        if scope is None:
            raise Unavailable(f"unit {self.unit}: cannot start a scope that was not created here")
        with SystemdBus() as bus:
            # Not ours until systemd made it: a refused start (e.g. the name is taken) must not stop another's unit.
            bus.start_transient_unit(self.unit, unit_properties(scope, (pid,), self._resources, self._unified))
            self._started = True
            made = bus.control_group(self.unit)
        if made.rstrip("/") != self._relpath:
            raise Unavailable(f"systemd made unit {self.unit} at {made}, not at {self._relpath}")
        self._inner.create(self._resources)

    def pids(self) -> list[int]:
        return self._inner.pids()

    def freeze(self) -> None:
        self._inner.freeze()

    def thaw(self) -> None:
        self._inner.thaw()

    def frozen(self) -> bool:
        return self._inner.frozen()

    def destroy(self) -> None:
        if not self._started:
            return  # systemd made nothing for us: directories there, if any, are another unit's
        try:
            with SystemdBus() as bus:
                bus.stop_unit(self.unit)
        finally:
            self._inner.destroy()  # what systemd does not manage (v1 cpuset, freezer) is ours to remove


def new_systemd_cgroups(layout: CgroupLayout, cgroups_path: str, container_id: str) -> SystemdCgroups:
    """The manager for a new container: ``slice:prefix:name`` placed where systemd will put the scope.

    The directories are known before the scope exists (the container's init needs them for
    its /sys/fs/cgroup mounts): systemd's root cgroup (its ``-.slice``) + the slice path + the unit.
    """
    scope = parse_scope_path(cgroups_path, container_id)
    with SystemdBus() as bus:
        root = bus.control_group("-.slice")
    relpath = posixpath.join("/", root.strip("/"), expand_slice(scope.slice).strip("/"), scope.unit)
    return SystemdCgroups(
        scope.unit, manager_for(layout, relpath), scope, relpath, unified=bool(layout.unified), started=False
    )


def existing_systemd_cgroups(unit: str, paths: dict[str, str]) -> SystemdCgroups:
    """The manager of a created container, from its state (unit name and directories)."""
    return SystemdCgroups(unit, manager_from_paths(paths), unified="" in paths)
