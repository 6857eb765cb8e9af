"""Local images: the record, the service, and the pure conversions behind the Engine API views."""

from dockyard.images.changes import apply_changes, parse_change
from dockyard.images.record import ImageRecord
from dockyard.images.service import EventSink, ImageService, UsageFn

__all__ = ["EventSink", "ImageRecord", "ImageService", "UsageFn", "apply_changes", "parse_change"]
