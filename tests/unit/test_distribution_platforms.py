"""Choosing a manifest from an index by platform."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.distribution.platforms import select_manifest
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import sha256_of
from dockyard.oci.image import Descriptor, Platform


def _d(name: str, plat: Platform | None) -> Descriptor:
    return Descriptor(mt.OCI_MANIFEST, sha256_of(name.encode()), 1, platform=plat)


ENTRIES = [
    _d("amd64", Platform("linux", "amd64")),
    _d("armv6", Platform("linux", "arm", "v6")),
    _d("armv7", Platform("linux", "arm", "v7")),
    _d("arm64", Platform("linux", "arm64", "v8")),
    _d("attest", Platform("unknown", "unknown")),
    _d("noplat", None),
]


@pytest.mark.parametrize(
    ("want", "name"),
    [
        (Platform("linux", "amd64"), "amd64"),
        (Platform("linux", "arm", "v7"), "armv7"),
        (Platform("linux", "arm64", "v8"), "arm64"),
        (Platform("linux", "arm64"), "arm64"),
    ],
)
def test_selects_matching_entry(want: Platform, name: str) -> None:
    assert select_manifest(ENTRIES, want).digest == sha256_of(name.encode())


def test_no_match_is_not_found_with_dockers_message() -> None:
    with pytest.raises(errors.NotFound, match="no matching manifest for linux/s390x"):
        select_manifest(ENTRIES, Platform("linux", "s390x"))
