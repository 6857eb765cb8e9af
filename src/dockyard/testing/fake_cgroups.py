"""An in-memory cgroup (``dockyard.engine.cgroups.CgroupFiles``) that behaves like the kernel's
where the engine depends on it: the v1 freezer passes through FREEZING, v2 reports
``frozen`` in ``cgroup.events``, missing files read as None and refuse writes."""

from __future__ import annotations

from dockyard import errors

__all__ = ["FakeCgroup"]


class FakeCgroup:
    def __init__(self, version: int = 1, files: dict[str, str] | None = None, freezing_reads: int = 0) -> None:
        self._version = version
        self.files: dict[str, str] = dict(files or {})
        self.writes: list[tuple[str, str]] = []
        # how many reads of freezer.state still say FREEZING after a FROZEN write (v1's transition)
        self._freezing_reads = freezing_reads
        self._pending = 0
        self.refuse: set[str] = set()  # files whose writes the "kernel" rejects (EINVAL)

    @property
    def version(self) -> int:
        return self._version

    def read(self, name: str) -> str | None:
        if name == "freezer.state" and name in self.files and self._pending > 0:
            self._pending -= 1
            return "FREEZING\n"
        return self.files.get(name)

    def write(self, name: str, value: str) -> None:
        if name not in self.files:
            raise errors.NotFound(f"cgroup file {name} is not available")
        if name in self.refuse:
            raise errors.InvalidArgument(f"cannot set {name} to {value}: Invalid argument")
        self.writes.append((name, value))
        if name == "freezer.state":
            if value == "FROZEN" and self.files[name].strip() != "FROZEN" and self._pending == 0:
                self._pending = self._freezing_reads
            self.files[name] = value + "\n"
        elif name == "cgroup.freeze":
            self.files[name] = value + "\n"
            self.files["cgroup.events"] = f"populated 1\nfrozen {value.strip()}\n"
        else:
            self.files[name] = value + "\n"

    @property
    def frozen(self) -> bool:
        if self._version == 2:
            return "frozen 1" in self.files.get("cgroup.events", "")
        return self.files.get("freezer.state", "").strip() == "FROZEN"
