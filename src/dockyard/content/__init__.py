"""Content-addressed blobs: verified on the way in, renamed into place atomically."""

from dockyard.content.api import BlobInfo, Ingester, Provider, Writer
from dockyard.content.local import BlobWriter, LocalStore

__all__ = ["BlobInfo", "BlobWriter", "Ingester", "LocalStore", "Provider", "Writer"]
