"""The seam between the build executor and the engine that runs its steps."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from dockyard.idmaps import IdMaps
from dockyard.oci.image import Descriptor

__all__ = ["BuildOptions", "ImageState", "Output", "RunResult", "Worker"]

Output = Callable[[dict[str, Any]], Awaitable[None]]  # one JSON message of the build stream


@dataclass(frozen=True)
class ImageState:
    """An image as the build sees it: its config JSON (bytes, canonical) and layer descriptors."""

    config: bytes
    layers: tuple[Descriptor, ...]

    @property
    def id(self) -> str:
        return "sha256:" + hashlib.sha256(self.config).hexdigest()


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    layer: Descriptor | None  # the container's changes as a layer (None when it failed)
    diff_id: str = ""


@dataclass(frozen=True)
class BuildOptions:
    dockerfile: str = "Dockerfile"
    tags: tuple[str, ...] = ()
    build_args: Mapping[str, str | None] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    target: str = ""
    nocache: bool = False
    pull: bool = False
    rm: bool = True
    forcerm: bool = False
    quiet: bool = False
    cache_from: tuple[str, ...] = ()
    platform: str = ""
    host_config: Mapping[str, Any] = field(default_factory=dict)  # NetworkMode, ExtraHosts, ShmSize, limits


class Worker(Protocol):
    """What the executor needs from the engine.

    ``base`` resolves (or pulls) an image; ``run`` runs argv in a container made from a state
    and returns its changes as a stored layer; ``rootfs`` mounts a state read-only;
    ``store_layer`` turns a directory into a stored layer; ``register`` makes the final image.
    Files seen through ``rootfs`` have their owners shifted by ``rootfs_ids`` (userns-remap).
    """

    rootfs_ids: IdMaps | None

    async def base(self, ref: str, pull: bool, platform: str) -> ImageState: ...

    async def run(self, state: ImageState, config: Mapping[str, Any], output: Output) -> RunResult: ...

    def rootfs(self, state: ImageState) -> AbstractAsyncContextManager[str]: ...

    async def store_layer(self, directory: str) -> tuple[Descriptor, str]: ...

    def has_blob(self, desc: Descriptor) -> bool: ...

    async def register(self, state: ImageState, tags: Sequence[str]) -> str: ...

    def staging_dir(self) -> AbstractAsyncContextManager[str]: ...
