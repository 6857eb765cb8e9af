"""Content management: deleting tags, manifests and blobs."""

from __future__ import annotations

import os

import pytest

from registry_conformance.client import OCI_MANIFEST, Client, descriptor, error_codes, random_blob

pytestmark = pytest.mark.skipif(
    os.environ.get("DOCKYARD_REGISTRY_DELETE") == "0", reason="the registry under test has deletes switched off"
)


def test_delete_manifest_by_digest_removes_it_and_its_tags(client: Client, repo: str) -> None:
    img = client.push_image(repo, "a")
    assert client.put_manifest(repo, "b", img.manifest, OCI_MANIFEST).status_code == 201
    r = client.request("DELETE", f"/v2/{repo}/manifests/{img.digest}")
    assert r.status_code == 202
    for ref in (img.digest, "a", "b"):
        r = client.request("GET", f"/v2/{repo}/manifests/{ref}")
        assert r.status_code == 404
        assert error_codes(r) == ["MANIFEST_UNKNOWN"]
    assert client.request("GET", f"/v2/{repo}/tags/list").json()["tags"] == []


def test_delete_tag_keeps_manifest(client: Client, repo: str) -> None:
    img = client.push_image(repo, "a")
    assert client.put_manifest(repo, "b", img.manifest, OCI_MANIFEST).status_code == 201
    assert client.request("DELETE", f"/v2/{repo}/manifests/a").status_code == 202
    assert client.request("GET", f"/v2/{repo}/manifests/a").status_code == 404
    assert client.request("GET", f"/v2/{repo}/manifests/b").status_code == 200
    assert client.request("GET", f"/v2/{repo}/manifests/{img.digest}").status_code == 200


def test_delete_unknown_manifest_is_404(client: Client, repo: str) -> None:
    client.push_image(repo, "a")
    _, d = random_blob()
    for ref in (d, "nope"):
        r = client.request("DELETE", f"/v2/{repo}/manifests/{ref}")
        assert r.status_code == 404
        assert error_codes(r) == ["MANIFEST_UNKNOWN"]


def test_delete_referrer_removes_it_from_referrers(client: Client, repo: str) -> None:
    from registry_conformance.test_discovery import push_referrer

    img = client.push_image(repo, "v1")
    ref, _ = push_referrer(client, repo, descriptor(OCI_MANIFEST, img.manifest), "application/vnd.x")
    assert client.request("DELETE", f"/v2/{repo}/manifests/{ref}").status_code == 202
    assert client.request("GET", f"/v2/{repo}/referrers/{img.digest}").json()["manifests"] == []


def test_delete_blob(client: Client, repo: str) -> None:
    data, d = random_blob()
    client.push_blob(repo, data)
    r = client.request("DELETE", f"/v2/{repo}/blobs/{d}")
    assert r.status_code == 202
    r = client.request("GET", f"/v2/{repo}/blobs/{d}")
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UNKNOWN"]
    r = client.request("DELETE", f"/v2/{repo}/blobs/{d}")
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UNKNOWN"]


def test_delete_blob_malformed_digest_is_400(client: Client, repo: str) -> None:
    r = client.request("DELETE", f"/v2/{repo}/blobs/sha256:123")
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]
