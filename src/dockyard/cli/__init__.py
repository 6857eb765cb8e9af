"""The ``dockyard`` command-line client (a client of the Engine API only)."""

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point; see ``dockyard.cli.main``."""
    from dockyard.cli.main import main as _main

    return _main(argv)
