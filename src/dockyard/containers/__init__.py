"""Containers as values: create requests, image-config merging, users, names, signals, the OCI spec.

Everything here is pure except ``rootfs``/``user.read_user_files`` (read-only file
access inside a rootfs) and ``store`` (the container records' SQLite store).
"""

from dockyard.containers.binds import parse_bind
from dockyard.containers.cgroup_parent import cgroups_path, validate_cgroup_parent
from dockyard.containers.create_request import (
    ContainerConfig,
    CreateRequest,
    HostConfig,
    NetworkingConfig,
    config_to_json,
    host_config_to_json,
    parse_create_request,
)
from dockyard.containers.exitcodes import StartFailure, classify_start_error
from dockyard.containers.hostconfig_defaults import DaemonDefaults, apply_daemon_defaults
from dockyard.containers.merge import merge_image_config, process_args
from dockyard.containers.naming import generate_name, new_container_id, validate_name
from dockyard.containers.signals import parse_signal
from dockyard.containers.specgen import SpecInput, generate_spec, standard_file_mounts
from dockyard.containers.user import ResolvedUser, resolve_user, resolve_user_in_rootfs

__all__ = [
    "ContainerConfig",
    "CreateRequest",
    "DaemonDefaults",
    "HostConfig",
    "NetworkingConfig",
    "ResolvedUser",
    "SpecInput",
    "StartFailure",
    "apply_daemon_defaults",
    "cgroups_path",
    "classify_start_error",
    "config_to_json",
    "generate_name",
    "generate_spec",
    "host_config_to_json",
    "merge_image_config",
    "new_container_id",
    "parse_bind",
    "parse_create_request",
    "parse_signal",
    "process_args",
    "resolve_user",
    "resolve_user_in_rootfs",
    "standard_file_mounts",
    "validate_cgroup_parent",
    "validate_name",
]
