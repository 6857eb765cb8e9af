"""A small synchronous client for the Docker Engine API that dockyardd serves."""

from dockyard.client.api import Client, PendingResponse
from dockyard.client.errors import APIError, DaemonUnreachable, ProtocolError, api_error
from dockyard.client.hijack import HijackedStream
from dockyard.client.streams import FrameDecoder, JSONStreamDecoder, encode_frame, iter_frames, iter_json_messages
from dockyard.client.transport import DEFAULT_HOST, Host, parse_host

__all__ = [
    "DEFAULT_HOST",
    "APIError",
    "Client",
    "DaemonUnreachable",
    "FrameDecoder",
    "HijackedStream",
    "Host",
    "JSONStreamDecoder",
    "PendingResponse",
    "ProtocolError",
    "api_error",
    "encode_frame",
    "iter_frames",
    "iter_json_messages",
    "parse_host",
]
