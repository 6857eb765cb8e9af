"""Behaviour that depends on server settings: deletes switched off, size limits."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from registry_conformance.client import OCI_CONFIG, OCI_MANIFEST, Client, descriptor, error_codes, random_blob

Start = Callable[..., Client]


def test_deletes_can_be_switched_off(start_registry: Start) -> None:
    client = start_registry(delete_enabled=False)
    repo = "x/y"
    img = client.push_image(repo, "a")
    data, d = random_blob()
    client.push_blob(repo, data)
    for path in (f"/v2/{repo}/manifests/{img.digest}", f"/v2/{repo}/manifests/a", f"/v2/{repo}/blobs/{d}"):
        r = client.request("DELETE", path)
        assert r.status_code == 405
        assert error_codes(r) == ["UNSUPPORTED"]
    assert client.request("GET", f"/v2/{repo}/manifests/a").status_code == 200
    assert client.request("GET", f"/v2/{repo}/blobs/{d}").status_code == 200


def test_oversized_manifest_is_413_and_not_stored(start_registry: Start) -> None:
    client = start_registry(max_manifest_size=1024)
    repo = "x/y"
    cfg = b"{}"
    client.push_blob(repo, cfg)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, cfg),
            "layers": [],
            "annotations": {"pad": "x" * 2000},
        }
    ).encode()
    r = client.put_manifest(repo, "big", body, OCI_MANIFEST)
    assert r.status_code == 413
    assert error_codes(r) == ["SIZE_INVALID"]
    # Also when the size is not announced up front (chunked transfer encoding).
    r = client.request(
        "PUT", f"/v2/{repo}/manifests/big", data=iter([body[:600], body[600:]]), headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 413
    assert client.request("GET", f"/v2/{repo}/manifests/big").status_code == 404


def test_oversized_blob_is_413_and_not_stored(start_registry: Start) -> None:
    client = start_registry(max_blob_size=1000)
    repo = "x/y"
    data, d = random_blob(1500)
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/", params={"digest": d}, data=data)
    assert r.status_code == 413
    assert error_codes(r) == ["SIZE_INVALID"]
    loc = client.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    assert client.request("PATCH", loc, data=data[:800], headers={"Content-Range": "0-799"}).status_code == 202
    r = client.request("PATCH", loc, data=data[800:], headers={"Content-Range": "800-1499"})
    assert r.status_code == 413
    assert client.request("HEAD", f"/v2/{repo}/blobs/{d}").status_code == 404


def test_too_many_concurrent_uploads_is_429(start_registry: Start) -> None:
    client = start_registry(max_concurrent_uploads=1)
    repo = "x/y"
    held = client.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    u = urlsplit(client.base)
    # One upload whose body never finishes keeps the only slot busy.
    with socket.create_connection((u.hostname or "127.0.0.1", u.port or 80), timeout=30) as sock:
        sock.sendall(f"PATCH {held} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n".encode() + b"x" * 10)
        r = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            loc = client.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
            r = client.request("PATCH", loc, data=b"abc", headers={"Content-Range": "0-2"})
            if r.status_code == 429:
                break
            time.sleep(0.02)
        assert r is not None and r.status_code == 429
        assert error_codes(r) == ["TOOMANYREQUESTS"]
        assert r.headers["Retry-After"] == "1"
        assert client.request("GET", loc).headers["Range"] == "0-0"  # the refused chunk left no trace
    # The slot frees once the stalled client is gone.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = client.request("PATCH", loc, data=b"abc", headers={"Content-Range": "0-2"})
        if r.status_code == 202:
            break
        time.sleep(0.02)
    assert r.status_code == 202
