"""OCI / Docker schema 2 image objects as frozen values with JSON round-trips."""

from __future__ import annotations

import json
import platform as _platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidArgument
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest

__all__ = ["Descriptor", "Index", "Manifest", "Platform", "canonical_json", "host_platform"]


def canonical_json(obj: Any) -> bytes:
    """Compact, key-sorted JSON: the bytes dockyard writes for objects it creates."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``linux/arm64/v8`` -> Platform."""
        parts = [p for p in text.strip().lower().split("/")]
        if not parts or not parts[0] or len(parts) > 3:
            raise InvalidArgument(f"invalid platform {text!r}")
        if len(parts) == 1:
            return cls(parts[0], host_platform().architecture, "")
        return cls(parts[0], _norm_arch(parts[1]), parts[2] if len(parts) == 3 else "")

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Platform:
        return cls(str(obj.get("os", "")), str(obj.get("architecture", "")), str(obj.get("variant", "") or ""))

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            d["variant"] = self.variant
        return d

    def matches(self, other: Platform) -> bool:
        if self.os != other.os or self.architecture != other.architecture:
            return False
        return not self.variant or not other.variant or self.variant == other.variant

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "i386": "386"}


def _norm_arch(arch: str) -> str:
    return _ARCH.get(arch, arch)


def host_platform() -> Platform:
    machine = _platform.machine()
    arch = _norm_arch(machine)
    variant = "v8" if arch == "arm64" else ("v7" if machine == "armv7l" else "")
    return Platform("linux", arch, variant)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    platform: Platform | None = None
    urls: tuple[str, ...] = ()
    artifact_type: str = ""

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Descriptor:
        try:
            size = obj["size"]
            if not isinstance(size, int) or size < 0:
                raise InvalidArgument("descriptor size must be a non-negative integer")
            plat = obj.get("platform")
            return cls(
                media_type=str(obj.get("mediaType", "")),
                digest=Digest.parse(str(obj["digest"])),
                size=size,
                annotations=dict(obj.get("annotations") or {}),
                platform=Platform.from_json(plat) if isinstance(plat, Mapping) else None,
                urls=tuple(obj.get("urls") or ()),
                artifact_type=str(obj.get("artifactType", "") or ""),
            )
        except (KeyError, TypeError) as e:
            raise InvalidArgument(f"invalid descriptor: {e}") from None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        if self.platform is not None:
            d["platform"] = self.platform.to_json()
        if self.urls:
            d["urls"] = list(self.urls)
        if self.artifact_type:
            d["artifactType"] = self.artifact_type
        return d


def _load(data: bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(data, Mapping):
        return data
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidArgument(f"invalid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise InvalidArgument("manifest must be a JSON object")
    return obj


@dataclass(frozen=True)
class Manifest:
    """An image manifest (OCI or Docker schema 2)."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)
    subject: Descriptor | None = None
    artifact_type: str = ""

    @classmethod
    def from_json(cls, data: bytes | Mapping[str, Any], media_type: str = "") -> Manifest:
        obj = _load(data)
        mtype = str(obj.get("mediaType") or media_type or mt.OCI_MANIFEST)
        if mtype not in mt.MANIFEST_TYPES:
            raise InvalidArgument(f"unsupported manifest media type {mtype!r}")
        if obj.get("schemaVersion") != 2:
            raise InvalidArgument("manifest schemaVersion must be 2")
        if not isinstance(obj.get("config"), Mapping) or not isinstance(obj.get("layers", []), list):
            raise InvalidArgument("manifest needs a config descriptor and a layers list")
        subject = obj.get("subject")
        return cls(
            media_type=mtype,
            config=Descriptor.from_json(obj["config"]),
            layers=tuple(Descriptor.from_json(x) for x in obj.get("layers", [])),
            annotations=dict(obj.get("annotations") or {}),
            subject=Descriptor.from_json(subject) if isinstance(subject, Mapping) else None,
            artifact_type=str(obj.get("artifactType", "") or ""),
        )

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": self.config.to_json(),
            "layers": [x.to_json() for x in self.layers],
        }
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        if self.subject is not None:
            d["subject"] = self.subject.to_json()
        if self.artifact_type:
            d["artifactType"] = self.artifact_type
        return d


@dataclass(frozen=True)
class Index:
    """An OCI image index or a Docker manifest list."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)
    subject: Descriptor | None = None

    @classmethod
    def from_json(cls, data: bytes | Mapping[str, Any], media_type: str = "") -> Index:
        obj = _load(data)
        mtype = str(obj.get("mediaType") or media_type or mt.OCI_INDEX)
        if mtype not in mt.INDEX_TYPES:
            raise InvalidArgument(f"unsupported index media type {mtype!r}")
        if not isinstance(obj.get("manifests"), list):
            raise InvalidArgument("index needs a manifests list")
        subject = obj.get("subject")
        return cls(
            media_type=mtype,
            manifests=tuple(Descriptor.from_json(x) for x in obj["manifests"]),
            annotations=dict(obj.get("annotations") or {}),
            subject=Descriptor.from_json(subject) if isinstance(subject, Mapping) else None,
        )

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "manifests": [x.to_json() for x in self.manifests],
        }
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        if self.subject is not None:
            d["subject"] = self.subject.to_json()
        return d
