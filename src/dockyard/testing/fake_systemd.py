"""A behavioural fake of systemd's manager on a private D-Bus system bus, for the systemd cgroup driver's tests.

``PrivateSystemBus`` runs a ``dbus-daemon`` with a system-bus-like configuration of
its own; ``FakeSystemd`` runs this module as a process on it that owns
``org.freedesktop.systemd1`` and does what systemd does for transient scopes, below a
root cgroup the test owns instead of the hierarchies' roots:

- ``StartTransientUnit`` makes ``<root>/<expanded slice>/<unit>`` in each hierarchy systemd
  manages (v1: name=systemd, cpu, cpuacct, blkio, memory, devices, pids; and cgroup2),
  writes the limits it was given, moves the PIDs in, and announces ``JobRemoved``;
- ``SetUnitProperties`` changes a running scope's limits (and writes them);
- ``StopUnit`` signals what is left in the scope (SIGTERM, then SIGKILL), removes the
  scope's directories and announces ``JobRemoved``;
- ``GetUnit`` and ``org.freedesktop.DBus.Properties.Get`` answer for loaded units
  (``ControlGroup``, ``Slice``, ``Description``, the limits …); ``-.slice`` is the root;
- signals go out only after a client called ``Subscribe``, as with systemd.

Run it with ``python -m dockyard.testing.fake_systemd --bus ADDRESS --root /NAME``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidArgument
from dockyard.runtime.mountinfo import parse_mountinfo
from dockyard.runtime.systemd_units import DEFAULT_SLICE, INFINITY, expand_slice
from dockyard.testing.daemon import remove_cgroup_tree

__all__ = [
    "BusError",
    "FakeSystemd",
    "PrivateSystemBus",
    "ScopeManager",
    "bus_path_escape",
    "managed_hierarchies",
    "serve",
]

_SYSTEMD = "org.freedesktop.systemd1"
_MANAGER_PATH = "/org/freedesktop/systemd1"
_MANAGER = "org.freedesktop.systemd1.Manager"
_PROPS = "org.freedesktop.DBus.Properties"
_ERR = "org.freedesktop.DBus.Error."
# the v1 controllers systemd puts units in (it leaves cpuset, freezer, hugetlb … to whoever delegates)
_V1_MANAGED = {"name=systemd", "cpu", "cpuacct", "blkio", "memory", "devices", "pids"}
_BOOL_PROPS = {
    "Delegate",
    "DefaultDependencies",
    "MemoryAccounting",
    "CPUAccounting",
    "TasksAccounting",
    "IOAccounting",
    "BlockIOAccounting",
}
_LIMIT_PROPS = {
    "MemoryLimit",
    "MemoryMax",
    "MemoryLow",
    "MemorySwapMax",
    "CPUShares",
    "CPUWeight",
    "CPUQuotaPerSecUSec",
    "CPUQuotaPeriodUSec",
    "TasksMax",
    "BlockIOWeight",
    "IOWeight",
}
_STOP_WAIT = 5.0  # seconds between SIGTERM and SIGKILL (systemd's TimeoutStopSec, shortened)


def bus_path_escape(name: str) -> str:
    """systemd's object path label for a unit name: anything but [A-Za-z0-9] (and a leading digit) as _xx."""
    out = []
    for i, ch in enumerate(name):
        if ch.isascii() and (ch.isalpha() or (ch.isdigit() and i > 0)):
            out.append(ch)
        else:
            out.append(f"_{ord(ch):02x}")
    return "".join(out) or "_"


def managed_hierarchies(mountinfo: str) -> list[str]:
    """Mount points of the cgroup hierarchies systemd would put a unit in."""
    points: list[str] = []
    seen: set[tuple[str, str]] = set()  # a hierarchy mounted twice has the same type and options
    for m in parse_mountinfo(mountinfo):
        key = (m.fstype, m.super_options)
        if m.root != "/" or key in seen:
            continue
        if m.fstype == "cgroup2" or (
            m.fstype == "cgroup" and any(o in _V1_MANAGED for o in m.super_options.split(","))
        ):
            points.append(m.mount_point)
            seen.add(key)
    return points


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _procs(path: str) -> list[int]:
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except (FileNotFoundError, ValueError):
        return []


def _enable_controllers(hierarchy: str, cgroup: str) -> None:
    """cgroup2: turn on the controllers systemd manages in the scope's ancestors, so the scope has their files."""
    if not os.path.exists(os.path.join(hierarchy, "cgroup.subtree_control")):
        return  # a v1 hierarchy
    current = hierarchy
    for part in ["", *cgroup.strip("/").split("/")[:-1]]:
        current = os.path.join(current, part) if part else current
        try:
            with open(os.path.join(current, "cgroup.controllers")) as f:
                available = set(f.read().split())
        except OSError:
            continue
        for controller in ("cpu", "io", "memory", "pids"):
            if controller in available:
                with contextlib.suppress(OSError):  # e.g. a cgroup with processes of its own
                    _write(os.path.join(current, "cgroup.subtree_control"), f"+{controller}")


@dataclass
class _Unit:
    name: str
    cgroup: str  # below the hierarchy roots, e.g. /root/system.slice/x.scope
    properties: dict[str, tuple[str, Any]] = field(default_factory=dict)
    active: bool = True


class BusError(Exception):
    """A D-Bus error reply: ``name`` is the error name systemd would send."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(text)
        self.name = name


def _checked(props: list[tuple[str, tuple[str, Any]]], others: dict[str, str]) -> dict[str, tuple[str, Any]]:
    """Unit properties by name, refused as systemd refuses unknown ones and wrong types."""
    values: dict[str, tuple[str, Any]] = {}
    for key, (sig, value) in props:
        expected = "b" if key in _BOOL_PROPS else "t" if key in _LIMIT_PROPS else others.get(key)
        if expected is None:
            raise BusError(_ERR + "PropertyReadOnly", f"Cannot set property {key}, or unknown property.")
        if sig != expected:
            raise BusError(_ERR + "InvalidArgs", f"Property {key} has type {sig}, expected {expected}.")
        values[key] = (sig, value)
    return values


class ScopeManager:
    """systemd's behaviour for scopes and slices, without the bus (``serve`` connects it)."""

    def __init__(self, root: str, hierarchies: list[str]) -> None:
        self.root = "/" + root.strip("/")
        self.hierarchies = hierarchies
        self.units: dict[str, _Unit] = {"-.slice": _Unit("-.slice", self.root)}
        self.units[DEFAULT_SLICE] = _Unit(DEFAULT_SLICE, self._slice_cgroup(DEFAULT_SLICE))
        self._jobs = 0
        for h in hierarchies:
            os.makedirs(h + self.units[DEFAULT_SLICE].cgroup, exist_ok=True)

    def _slice_cgroup(self, slice_: str) -> str:
        return (self.root + expand_slice(slice_)).rstrip("/") or "/"

    def next_job(self) -> tuple[int, str]:
        self._jobs += 1
        return self._jobs, f"{_MANAGER_PATH}/job/{self._jobs}"

    def get_unit(self, name: str) -> _Unit:
        unit = self.units.get(name)
        if unit is None or not unit.active:
            raise BusError("org.freedesktop.systemd1.NoSuchUnit", f"Unit {name} not loaded.")
        return unit

    def start_transient(self, name: str, mode: str, props: list[tuple[str, tuple[str, Any]]]) -> _Unit:
        if mode not in ("replace", "fail", "isolate", "ignore-dependencies", "ignore-requirements"):
            raise BusError(_ERR + "InvalidArgs", f"Job mode {mode} invalid.")
        if not name.endswith(".scope"):
            raise BusError(_ERR + "NotSupported", "this fake systemd makes scope units only")
        if name in self.units and self.units[name].active:
            raise BusError("org.freedesktop.systemd1.UnitExists", f"Unit {name} already exists.")
        values = _checked(props, {"Description": "s", "Slice": "s", "PIDs": "au"})
        pids = list(values.get("PIDs", ("au", []))[1])
        if not pids:
            raise BusError(_ERR + "InvalidArgs", "Scope has no PIDs. Refusing.")
        slice_ = str(values.get("Slice", ("s", DEFAULT_SLICE))[1])
        try:
            cgroup = f"{self._slice_cgroup(slice_).rstrip('/')}/{name}"
        except InvalidArgument as e:
            raise BusError(_ERR + "InvalidArgs", e.message) from None
        values.setdefault("Slice", ("s", slice_))
        unit = _Unit(name, cgroup, values)
        made: list[str] = []
        try:
            for h in self.hierarchies:
                path = h + cgroup
                os.makedirs(path, exist_ok=True)
                made.append(path)
                _enable_controllers(h, cgroup)
                self._apply_limits(path, values)
                for pid in pids:
                    _write(os.path.join(path, "cgroup.procs"), str(pid))
        except OSError as e:
            for path in made:
                remove_cgroup_tree(path)
            raise BusError(_ERR + "Failed", f"Failed to set up scope {name}: {e}") from None
        self.units[name] = unit
        if slice_ not in self.units:  # a slice is loaded when a unit goes into it
            self.units[slice_] = _Unit(slice_, self._slice_cgroup(slice_))
        return unit

    def set_properties(self, name: str, props: list[tuple[str, tuple[str, Any]]]) -> None:
        """SetUnitProperties: limits of a running scope (where it is and who is in it stay)."""
        unit = self.get_unit(name)
        values = _checked(props, {"Description": "s"})
        for h in self.hierarchies:
            if os.path.isdir(h + unit.cgroup):
                try:
                    self._apply_limits(h + unit.cgroup, values)
                except OSError as e:
                    raise BusError(_ERR + "Failed", f"Failed to set properties of {name}: {e}") from None
        unit.properties.update(values)

    @staticmethod
    def _apply_limits(path: str, props: dict[str, tuple[str, Any]]) -> None:
        def has(key: str) -> bool:
            return key in props

        def num(key: str) -> int:
            return int(props[key][1])

        def opt(file: str, value: str) -> None:
            if os.path.exists(os.path.join(path, file)):
                _write(os.path.join(path, file), value)

        period = num("CPUQuotaPeriodUSec") if has("CPUQuotaPeriodUSec") else 100_000
        if has("MemoryLimit"):
            opt("memory.limit_in_bytes", "-1" if num("MemoryLimit") == INFINITY else str(num("MemoryLimit")))
        if has("MemoryMax"):
            opt("memory.max", "max" if num("MemoryMax") == INFINITY else str(num("MemoryMax")))
        if has("MemorySwapMax"):
            opt("memory.swap.max", "max" if num("MemorySwapMax") == INFINITY else str(num("MemorySwapMax")))
        if has("MemoryLow"):
            opt("memory.low", str(num("MemoryLow")))
        if has("CPUShares"):
            opt("cpu.shares", str(num("CPUShares")))
        if has("CPUWeight"):
            opt("cpu.weight", str(num("CPUWeight")))
        if has("CPUQuotaPerSecUSec") or has("CPUQuotaPeriodUSec"):
            per_sec = num("CPUQuotaPerSecUSec") if has("CPUQuotaPerSecUSec") else INFINITY
            quota = -1 if per_sec == INFINITY else per_sec * period // 1_000_000
            opt("cpu.cfs_period_us", str(period))
            opt("cpu.cfs_quota_us", str(quota))
            opt("cpu.max", f"{'max' if quota < 0 else quota} {period}")
        if has("TasksMax"):
            opt("pids.max", "max" if num("TasksMax") == INFINITY else str(num("TasksMax")))
        if has("BlockIOWeight"):
            opt("blkio.weight", str(num("BlockIOWeight")))
        if has("IOWeight"):
            opt("io.weight", f"default {num('IOWeight')}")

    def stop(self, name: str) -> None:
        unit = self.get_unit(name)
        if not name.endswith(".scope"):
            raise BusError(_ERR + "NotSupported", "this fake systemd stops scope units only")
        paths = [h + unit.cgroup for h in self.hierarchies]
        for sig, wait in ((signal.SIGTERM, _STOP_WAIT), (signal.SIGKILL, _STOP_WAIT)):
            deadline = time.monotonic() + wait
            while any(_procs(p) for p in paths) and time.monotonic() < deadline:
                for p in paths:
                    for pid in _procs(p):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, sig)
                time.sleep(0.02)
        for p in paths:
            remove_cgroup_tree(p)
        unit.active = False
        del self.units[name]

    def unit_property(self, unit: _Unit, interface: str, name: str) -> tuple[str, Any]:
        if interface == "org.freedesktop.systemd1.Unit":
            simple = {"Id": unit.name, "ActiveState": "active", "LoadState": "loaded"}
            if name in simple:
                return ("s", simple[name])
            if name == "Description":
                return unit.properties.get("Description", ("s", unit.name))
        elif interface in ("org.freedesktop.systemd1.Scope", "org.freedesktop.systemd1.Slice"):
            if name == "ControlGroup":
                return ("s", unit.cgroup)
            if name in unit.properties and name != "PIDs":
                return unit.properties[name]
        raise BusError(_ERR + "UnknownProperty", f"Unknown property {interface}.{name}")

    def close(self) -> None:
        for name in [n for n in self.units if n.endswith(".scope")]:
            with contextlib.suppress(BusError):
                self.stop(name)
        for h in self.hierarchies:
            remove_cgroup_tree(h + self.root)


def serve(address: str, root: str, ready: Any = None) -> None:
    """Own org.freedesktop.systemd1 on the bus at ``address`` and answer until SIGTERM."""
    import jeepney
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection

    with open("/proc/self/mountinfo") as f:
        manager = ScopeManager(root, managed_hierarchies(f.read()))
    stopping = False

    def on_term(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    conn = open_dbus_connection(bus=address)
    subscribers: set[str] = set()
    try:
        (owned,) = conn.send_and_get_reply(message_bus.RequestName(_SYSTEMD, 4)).body  # DO_NOT_QUEUE
        if owned != 1:
            raise RuntimeError(f"{_SYSTEMD} is taken on {address}")
        owner_rule = jeepney.MatchRule(type="signal", interface="org.freedesktop.DBus", member="NameOwnerChanged")
        conn.send_and_get_reply(message_bus.AddMatch(owner_rule))
        if ready is not None:
            ready()
        manager_addr = jeepney.DBusAddress(_MANAGER_PATH, interface=_MANAGER)
        while not stopping:
            try:
                msg = conn.receive(timeout=0.2)
            except TimeoutError:
                continue
            h = msg.header
            if h.message_type == jeepney.MessageType.signal:
                if h.fields.get(jeepney.HeaderFields.member) == "NameOwnerChanged" and msg.body[2] == "":
                    subscribers.discard(msg.body[0])  # a subscriber that left gets no more signals
                continue
            if h.message_type != jeepney.MessageType.method_call:
                continue
            done: list[tuple[int, str, str]] = []
            try:
                sig, body = _dispatch(manager, msg, subscribers, done)
                conn.send(jeepney.new_method_return(msg, sig, body))
            except BusError as e:
                conn.send(jeepney.new_error(msg, e.name, "s", (str(e),)))
            for job_id, job_path, unit_name in done:
                if subscribers:
                    conn.send(
                        jeepney.new_signal(manager_addr, "JobRemoved", "uoss", (job_id, job_path, unit_name, "done"))
                    )
    finally:
        manager.close()
        conn.close()


def _dispatch(
    manager: ScopeManager, msg: Any, subscribers: set[str], done: list[tuple[int, str, str]]
) -> tuple[str | None, tuple[Any, ...]]:
    """One method call -> (reply signature, reply body); jobs that finished go to ``done``."""
    from jeepney import HeaderFields

    f = msg.header.fields
    path, interface, member = f.get(HeaderFields.path), f.get(HeaderFields.interface), f.get(HeaderFields.member)
    body = msg.body
    if path == _MANAGER_PATH and interface in (_MANAGER, None):
        if member == "Subscribe":
            subscribers.add(str(f.get(HeaderFields.sender)))
            return None, ()
        if member == "Unsubscribe":
            subscribers.discard(str(f.get(HeaderFields.sender)))
            return None, ()
        if member == "GetUnit":
            unit = manager.get_unit(body[0])
            return "o", (f"{_MANAGER_PATH}/unit/{bus_path_escape(unit.name)}",)
        if member == "StartTransientUnit":
            unit = manager.start_transient(body[0], body[1], list(body[2]))
            job_id, job = manager.next_job()
            done.append((job_id, job, unit.name))
            return "o", (job,)
        if member == "SetUnitProperties":
            manager.set_properties(body[0], list(body[2]))
            return None, ()
        if member == "StopUnit":
            manager.stop(body[0])
            job_id, job = manager.next_job()
            done.append((job_id, job, body[0]))
            return "o", (job,)
    if interface == _PROPS and member == "Get" and str(path).startswith(f"{_MANAGER_PATH}/unit/"):
        label = str(path).rsplit("/", 1)[1]
        for unit in manager.units.values():
            if bus_path_escape(unit.name) == label:
                return "v", (manager.unit_property(unit, body[0], body[1]),)
        raise BusError(_ERR + "UnknownObject", f"No such object {path}")
    raise BusError(_ERR + "UnknownMethod", f"Unknown method {interface}.{member} on {path}")


# --- test harness: the private bus and the fake as processes -------------------------------

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="root"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
"""


def _read_line(proc: subprocess.Popen[bytes], timeout: float, what: str) -> str:
    """The first line a child prints, waiting at most ``timeout`` seconds."""
    import select

    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise RuntimeError(f"{what} did not report ready within {timeout}s")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise RuntimeError(f"{what} exited with {proc.wait()} before it was ready")
        data += chunk
    return data.decode().strip()


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


class PrivateSystemBus:
    """A ``dbus-daemon`` with a system-bus configuration, listening in a temporary directory."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="dockyard-bus-")
        self.address = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15) -> str:
        conf = os.path.join(self.dir, "system.conf")
        with open(conf, "w") as f:
            f.write(_BUS_CONFIG.format(socket=os.path.join(self.dir, "system_bus_socket")))
        self._proc = subprocess.Popen(
            ["dbus-daemon", f"--config-file={conf}", "--print-address", "--nofork"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        self.address = _read_line(self._proc, timeout, "dbus-daemon")
        return self.address

    def stop(self) -> None:
        _stop(self._proc)
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class FakeSystemd:
    """This module's fake as a process on ``bus_address``; its units go below the cgroup ``root``."""

    def __init__(self, bus_address: str, root: str) -> None:
        self.bus_address = bus_address
        self.root = "/" + root.strip("/")
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15) -> None:
        package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")])),
        }
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "dockyard.testing.fake_systemd", "--bus", self.bus_address, "--root", self.root],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        line = _read_line(self._proc, timeout, "fake systemd")
        if line != "ready":
            raise RuntimeError(f"fake systemd: {line}")

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """Stop the fake (it stops its units) and remove whatever is left below ``root`` in any hierarchy."""
        _stop(self._proc)
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()
        from dockyard.testing.daemon import cleanup_cgroups

        cleanup_cgroups(self.root)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fake_systemd", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--bus", required=True, help="D-Bus address (unix:path=...)")
    p.add_argument("--root", required=True, help="cgroup below each hierarchy's root that stands for systemd's root")
    ns = p.parse_args(argv)

    def ready() -> None:
        sys.stdout.write("ready\n")
        sys.stdout.flush()

    serve(ns.bus, ns.root, ready)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
