"""Merging an image's config into a container's (moby's ``merge`` and ``mergeAndVerifyConfig``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from dockyard.containers._decode import frozen_map
from dockyard.containers.create_request import ContainerConfig, Healthcheck, parse_container_config
from dockyard.errors import InvalidArgument

__all__ = ["merge_image_config", "process_args"]


def _env_key(entry: str) -> str:
    return entry.partition("=")[0]


def _merge_health(user: Healthcheck | None, image: Healthcheck | None) -> Healthcheck | None:
    if image is None:
        return user
    if user is None:
        return image
    return Healthcheck(
        test=user.test if user.test else image.test,
        interval=user.interval or image.interval,
        timeout=user.timeout or image.timeout,
        start_period=user.start_period or image.start_period,
        start_interval=user.start_interval or image.start_interval,
        retries=user.retries or image.retries,
    )


def merge_image_config(cfg: ContainerConfig, image_config: Mapping[str, Any] | None) -> ContainerConfig:
    """The container config after taking the image's defaults (the ``config`` object of an OCI image config).

    The request wins field by field: its Env entries win per key (the image's others,
    PATH included, are appended); labels and exposed ports are unions; an explicit
    Entrypoint drops the image's Cmd unless a Cmd is given too; an Entrypoint of
    ``[""]`` clears it. Raises ``InvalidArgument("No command specified")`` when no
    command is left.
    """
    image = parse_container_config(dict(image_config or {}))

    ports = cfg.exposed_ports
    if not ports:
        ports = image.exposed_ports
    elif image.exposed_ports:
        ports = tuple(dict.fromkeys(ports + image.exposed_ports))

    env = cfg.env
    if not env:
        env = image.env
    elif image.env:
        keys = {_env_key(e) for e in env}
        env = env + tuple(e for e in image.env if _env_key(e) not in keys)

    labels = dict(cfg.labels or {})
    for key, value in (image.labels or {}).items():
        labels.setdefault(key, value)

    cmd, entrypoint, args_escaped = cfg.cmd, cfg.entrypoint, cfg.args_escaped
    if not entrypoint:
        if not cmd:
            cmd, args_escaped = image.cmd, image.args_escaped
        if entrypoint is None:
            entrypoint = image.entrypoint
    if entrypoint == ("",):
        entrypoint = None
    if not entrypoint and not cmd:
        raise InvalidArgument("No command specified")

    volumes = cfg.volumes
    if not volumes:
        volumes = image.volumes
    elif image.volumes:
        volumes = tuple(dict.fromkeys(volumes + image.volumes))

    return replace(
        cfg,
        user=cfg.user or image.user,
        exposed_ports=ports,
        env=env,
        labels=frozen_map(labels),
        cmd=cmd,
        entrypoint=entrypoint,
        args_escaped=args_escaped,
        healthcheck=_merge_health(cfg.healthcheck, image.healthcheck),
        working_dir=cfg.working_dir or image.working_dir,
        volumes=volumes,
        stop_signal=cfg.stop_signal or image.stop_signal,
        shell=cfg.shell or image.shell,
        on_build=cfg.on_build if cfg.on_build is not None else image.on_build,
    )


def process_args(cfg: ContainerConfig) -> list[str]:
    """The argv of the container's process: Entrypoint then Cmd."""
    args = list(cfg.entrypoint or ()) + list(cfg.cmd or ())
    if not args:
        raise InvalidArgument("No command specified")
    return args
