"""dockyard: a Docker-compatible container engine written in Python."""

__all__ = ["API_VERSION", "MIN_API_VERSION", "__version__"]

__version__ = "0.1.0"
# The Engine API version advertised; requests may name 1.24 up to this.
API_VERSION = "1.44"
MIN_API_VERSION = "1.24"
