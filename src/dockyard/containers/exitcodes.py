"""Exit codes for containers whose process could not be started.

Docker records 127 when the command is missing, 126 when it cannot be run, and
the ``docker run`` CLI exits 125 for every other daemon-side failure.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "EXIT_CANNOT_INVOKE",
    "EXIT_DAEMON_ERROR",
    "EXIT_NOT_FOUND",
    "EXIT_START_FAILED",
    "StartFailure",
    "classify_start_error",
    "cli_exit_status",
]

EXIT_DAEMON_ERROR = 125
EXIT_CANNOT_INVOKE = 126
EXIT_NOT_FOUND = 127
# What the daemon stores when a start fails for any other reason (Docker 20.10's choice).
EXIT_START_FAILED = 128

_NOT_FOUND = ("executable file not found", "no such file or directory", "system cannot find the file specified")
_MOUNT_HINT = (
    ": Are you trying to mount a directory onto a file (or vice-versa)?"
    " Check if the specified host path exists and is the expected type"
)


@dataclass(frozen=True)
class StartFailure:
    """How a failed start is recorded: the container's exit code and the message shown.

    ``invalid_config`` says the user's configuration is at fault (HTTP 400) rather
    than the daemon (HTTP 500).
    """

    exit_code: int
    message: str
    invalid_config: bool


def classify_start_error(message: str, command: str) -> StartFailure:
    """Docker's reading of a runtime's start error for the process ``command``."""
    text = message.lower()
    failure = StartFailure(EXIT_START_FAILED, message, invalid_config=False)
    if command.lower() in text and any(s in text for s in _NOT_FOUND):
        failure = StartFailure(EXIT_NOT_FOUND, message, invalid_config=True)
    if "permission denied" in text:
        failure = StartFailure(EXIT_CANNOT_INVOKE, message, invalid_config=True)
    if "not a directory" in text:
        failure = StartFailure(EXIT_NOT_FOUND, message + _MOUNT_HINT, invalid_config=True)
    return failure


def cli_exit_status(error_message: str) -> int:
    """The status ``docker run`` exits with when starting the container failed."""
    text = error_message.removeprefix("Error response from daemon: ")
    if any(s in text for s in _NOT_FOUND):
        return EXIT_NOT_FOUND
    if "permission denied" in text or "is a directory" in text:
        return EXIT_CANNOT_INVOKE
    return EXIT_DAEMON_ERROR
