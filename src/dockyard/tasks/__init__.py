"""Tasks: containers held by per-container shims (``api`` holds the Protocols, ``shim_client`` the implementation)."""

from dockyard.tasks.api import STDERR, STDOUT, AttachStream, ExitStatus, Task, TaskManager, TaskSpec

__all__ = ["STDERR", "STDOUT", "AttachStream", "ExitStatus", "Task", "TaskManager", "TaskSpec"]
