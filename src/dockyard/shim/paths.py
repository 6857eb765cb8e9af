"""Names of the files in a shim's state directory (import-free: read before the shim is ready)."""

__all__ = ["EXIT_FILE", "PID_FILE", "RUNTIME_LOG", "SHIM_LOG", "SOCKET_NAME", "SPEC_FILE"]

SOCKET_NAME = "shim.sock"
PID_FILE = "shim.pid"
SPEC_FILE = "spec.json"
EXIT_FILE = "exit.json"
RUNTIME_LOG = "runtime-log.json"
SHIM_LOG = "shim.log"
