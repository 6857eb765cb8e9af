"""The registry client: v2 API, auth challenges and tokens, endpoints and mirrors, pull and push primitives."""

from dockyard.distribution.authconfig import AuthConfig, auth_from_json, decode_registry_auth
from dockyard.distribution.client import RegistryClient, Repository
from dockyard.distribution.fetch import Resolved, download_blob, resolve
from dockyard.distribution.hosts import Endpoint, RegistryHosts
from dockyard.distribution.platforms import select_manifest
from dockyard.distribution.upload import put_manifest, upload_blob

__all__ = [
    "AuthConfig",
    "Endpoint",
    "RegistryClient",
    "RegistryHosts",
    "Repository",
    "Resolved",
    "auth_from_json",
    "decode_registry_auth",
    "download_blob",
    "put_manifest",
    "resolve",
    "select_manifest",
    "upload_blob",
]
