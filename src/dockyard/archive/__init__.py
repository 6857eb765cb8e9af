"""Layer tars: apply with whiteouts and path safety, and make them from overlay upper dirs."""

from dockyard.archive.apply import ApplyResult, WhiteoutStyle, apply_layer
from dockyard.archive.compression import decompressed, detect
from dockyard.archive.diff import write_layer
from dockyard.archive.paths import clean_name

__all__ = ["ApplyResult", "WhiteoutStyle", "apply_layer", "clean_name", "decompressed", "detect", "write_layer"]
