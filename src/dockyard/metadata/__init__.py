"""Metadata in SQLite (WAL): a migration-aware database helper and the image tables."""

from dockyard.metadata.db import Database, open_db
from dockyard.metadata.images import IMAGE_MIGRATIONS, ImageMeta, ImageMetadata, RefMeta

__all__ = ["IMAGE_MIGRATIONS", "Database", "ImageMeta", "ImageMetadata", "RefMeta", "open_db"]
