"""Pure OCI/Docker formats: digests, media types, references, manifests."""

from dockyard.oci.digest import Digest, Hasher, sha256_of
from dockyard.oci.image import Descriptor, Index, Manifest, Platform, canonical_json, host_platform
from dockyard.oci.reference import Reference, parse_reference

__all__ = [
    "Descriptor",
    "Digest",
    "Hasher",
    "Index",
    "Manifest",
    "Platform",
    "Reference",
    "canonical_json",
    "host_platform",
    "parse_reference",
    "sha256_of",
]
