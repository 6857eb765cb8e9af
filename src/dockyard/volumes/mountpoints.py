"""A container's mount points, planned from its create request (pure: no I/O).

Order and precedence follow Docker: ``VolumesFrom`` first, then ``Binds`` and
``Mounts`` (which replace an inherited mount at the same destination), then
anonymous volumes for ``Config.Volumes`` destinations nothing else covers.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from dockyard.containers.binds import parse_bind
from dockyard.containers.create_request import ContainerConfig, HostConfig
from dockyard.containers.mountspec import MountSpec
from dockyard.errors import InvalidArgument, NotImplementedYet
from dockyard.volumes.names import validate_volume_name

__all__ = ["DEFAULT_PROPAGATION", "MountPoint", "parse_volumes_from", "plan_mounts"]

DEFAULT_PROPAGATION = "rprivate"


@dataclass(frozen=True)
class MountPoint:
    """One mount of a container. ``name`` is empty for an anonymous volume not yet created.

    ``create_source``: a ``-v`` bind whose missing host path is made at start; a
    ``--mount`` bind's source must exist. ``copy_data``: copy-up image content into
    the volume when it is empty (off for ``nocopy`` and inherited mounts).
    """

    type: str  # bind | volume | tmpfs
    destination: str
    source: str = ""
    name: str = ""
    driver: str = ""
    mode: str = ""
    rw: bool = True
    propagation: str = ""
    copy_data: bool = False
    create_source: bool = False
    anonymous: bool = False
    driver_options: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The entry of inspect's ``Mounts`` (Docker's ``types.MountPoint``)."""
        out: dict[str, Any] = {"Type": self.type}
        if self.type == "volume":
            out["Name"] = self.name
        out["Source"] = self.source
        out["Destination"] = self.destination
        if self.type == "volume":
            out["Driver"] = self.driver
        out.update({"Mode": self.mode, "RW": self.rw, "Propagation": self.propagation})
        return out

    def to_record(self) -> dict[str, Any]:
        d = asdict(self)
        d["driver_options"] = dict(self.driver_options)
        d["labels"] = dict(self.labels)
        return d

    @classmethod
    def from_record(cls, d: Mapping[str, Any]) -> MountPoint:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


def parse_volumes_from(entry: str) -> tuple[str, str]:
    """``container[:ro|rw]`` -> (container, mode)."""
    ref, sep, mode = entry.rpartition(":")
    if not sep:
        return entry, ""
    if mode not in ("ro", "rw") or not ref:
        raise InvalidArgument(f"invalid mode for volumes-from: {mode}" if ref else f"invalid volumes-from: {entry}")
    return ref, mode


def _bind_mode(raw: str) -> str:
    parts = raw.split(":", 3)
    return parts[2] if len(parts) == 3 else ""


def _from_bind(raw: str, volume_driver: str) -> MountPoint:
    spec = parse_bind(raw, volume_driver)
    mode = _bind_mode(raw)
    options = set(mode.split(",")) if mode else set()
    if spec.type == "bind":
        return MountPoint(
            type="bind",
            destination=spec.target,
            source=posixpath.normpath(spec.source),
            mode=mode,
            rw=not spec.read_only,
            propagation=(spec.bind_options.propagation if spec.bind_options else "") or DEFAULT_PROPAGATION,
            create_source=True,
        )
    driver = volume_driver or "local"
    if spec.source and driver == "local":
        validate_volume_name(spec.source)
    return MountPoint(
        type="volume",
        destination=spec.target,
        name=spec.source,
        driver=driver,
        mode=mode or "z",
        rw=not spec.read_only,
        copy_data="nocopy" not in options,
        anonymous=not spec.source,
    )


def _from_mount(m: MountSpec) -> MountPoint:
    target = posixpath.normpath(m.target)
    if m.type == "bind":
        return MountPoint(
            type="bind",
            destination=target,
            source=posixpath.normpath(m.source),
            rw=not m.read_only,
            propagation=(m.bind_options.propagation if m.bind_options else "") or DEFAULT_PROPAGATION,
        )
    if m.type == "volume":
        vo = m.volume_options
        if vo is not None and vo.subpath:
            raise NotImplementedYet("volume subpaths are not supported")
        driver = (vo.driver_name if vo else "") or "local"
        if m.source and driver == "local":
            validate_volume_name(m.source)
        return MountPoint(
            type="volume",
            destination=target,
            name=m.source,
            driver=driver,
            mode="z",
            rw=not m.read_only,
            copy_data=not (vo.no_copy if vo else False),
            anonymous=not m.source,
            driver_options=dict(vo.driver_options or {}) if vo else {},
            labels=dict(vo.labels or {}) if vo else {},
        )
    if m.type == "tmpfs":
        return MountPoint(type="tmpfs", destination=target, rw=not m.read_only)
    raise InvalidArgument(f'invalid mount config for type "{m.type}": mount type unknown')


def plan_mounts(
    config: ContainerConfig,
    host_config: HostConfig,
    inherited: Sequence[tuple[Sequence[MountPoint], str]] = (),
) -> list[MountPoint]:
    """The container's mount points in Docker's precedence; ``inherited`` holds, per ``VolumesFrom``
    entry, the other container's mount points and the mode (``""``, ``ro``, ``rw``) asked for."""
    by_dest: dict[str, MountPoint] = {}
    for points, mode in inherited:
        for p in points:
            if p.type == "tmpfs":
                continue  # a tmpfs is the other container's own, not shared data
            # "rw" never makes a read-only mount writable; copy-up was the owner's business.
            by_dest[p.destination] = replace(p, rw=p.rw and mode != "ro", copy_data=False, anonymous=False)
    explicit: set[str] = set()
    for raw in host_config.binds or ():
        p = _from_bind(raw, host_config.volume_driver)
        if p.destination in explicit:
            raise InvalidArgument(f"Duplicate mount point: {p.destination}")
        explicit.add(p.destination)
        by_dest[p.destination] = p
    for m in host_config.mounts or ():
        p = _from_mount(m)
        if p.destination in explicit:
            raise InvalidArgument(f"Duplicate mount point: {p.destination}")
        explicit.add(p.destination)
        by_dest[p.destination] = p
    tmpfs = {posixpath.normpath(t) for t in host_config.tmpfs or {}}
    for dest in config.volumes or ():
        dest = posixpath.normpath(dest)
        if not dest.startswith("/") or dest == "/":
            raise InvalidArgument(f"invalid volume destination: {dest!r} must be an absolute path other than /")
        if dest in by_dest or dest in tmpfs:
            continue
        by_dest[dest] = MountPoint(
            type="volume",
            destination=dest,
            driver=host_config.volume_driver or "local",
            copy_data=True,
            anonymous=True,
        )
    return list(by_dest.values())
