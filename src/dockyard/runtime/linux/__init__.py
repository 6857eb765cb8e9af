"""Kernel-touching parts of the runtime: syscalls, mounts, namespaces, cgroups, capabilities, console."""

__all__: list[str] = []
