"""Pull: the base endpoint, blobs (with Range) and manifests by tag and digest."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from registry_conformance.client import DOCKER_MANIFEST, OCI_MANIFEST, Client, digest_of, error_codes, random_blob


def test_base_endpoint_answers_200_with_api_version(client: Client) -> None:
    r = client.request("GET", "/v2/")
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"


@pytest.mark.parametrize("media_type", [OCI_MANIFEST, DOCKER_MANIFEST])
def test_manifest_by_tag_and_digest_round_trips(client: Client, repo: str, media_type: str) -> None:
    img = client.push_image(repo, "v1", media_type=media_type)
    for ref in ("v1", img.digest):
        r = client.request("GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": media_type})
        assert r.status_code == 200
        assert r.content == img.manifest
        assert r.headers["Docker-Content-Digest"] == img.digest
        assert r.headers["Content-Type"] == media_type
        h = client.request("HEAD", f"/v2/{repo}/manifests/{ref}")
        assert h.status_code == 200
        assert h.content == b""
        assert int(h.headers["Content-Length"]) == len(img.manifest)
        assert h.headers["Docker-Content-Digest"] == img.digest


def test_blob_get_and_head(client: Client, repo: str) -> None:
    data, d = random_blob(3000)
    client.push_blob(repo, data)
    r = client.request("GET", f"/v2/{repo}/blobs/{d}")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["Docker-Content-Digest"] == d
    h = client.request("HEAD", f"/v2/{repo}/blobs/{d}")
    assert h.status_code == 200
    assert int(h.headers["Content-Length"]) == 3000
    assert h.content == b""


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-99", 0, 99), ("bytes=100-", 100, 2999), ("bytes=-50", 2950, 2999), ("bytes=2990-5000", 2990, 2999)],
)
def test_blob_range_requests(client: Client, repo: str, header: str, start: int, end: int) -> None:
    data, d = random_blob(3000)
    client.push_blob(repo, data)
    r = client.request("GET", f"/v2/{repo}/blobs/{d}", headers={"Range": header})
    assert r.status_code == 206
    assert r.content == data[start : end + 1]
    assert r.headers["Content-Range"] == f"bytes {start}-{end}/3000"


def test_unsatisfiable_range_is_416(client: Client, repo: str) -> None:
    data, d = random_blob(100)
    client.push_blob(repo, data)
    r = client.request("GET", f"/v2/{repo}/blobs/{d}", headers={"Range": "bytes=500-600"})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == "bytes */100"


def test_unknown_blob_is_404_blob_unknown(client: Client, repo: str) -> None:
    _, d = random_blob()
    r = client.request("GET", f"/v2/{repo}/blobs/{d}")
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UNKNOWN"]
    assert client.request("HEAD", f"/v2/{repo}/blobs/{d}").status_code == 404


def test_blob_of_another_repository_is_unknown_here(client: Client, repo: str) -> None:
    data, d = random_blob()
    client.push_blob(repo, data)
    r = client.request("GET", f"/v2/{repo}-other/blobs/{d}")
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UNKNOWN"]


def test_unknown_manifest_is_404_manifest_unknown(client: Client, repo: str) -> None:
    client.push_image(repo, "exists")
    for ref in ("nope", digest_of(b"nope")):
        r = client.request("GET", f"/v2/{repo}/manifests/{ref}")
        assert r.status_code == 404
        assert error_codes(r) == ["MANIFEST_UNKNOWN"]
        assert client.request("HEAD", f"/v2/{repo}/manifests/{ref}").status_code == 404


@pytest.mark.parametrize("bad", ["sha256:xyz", "sha256:" + "A" * 64, "md5:abcd", "sha256:" + "a" * 63, "nodigest:"])
def test_malformed_digest_is_400_digest_invalid(client: Client, repo: str, bad: str) -> None:
    for path in (f"/v2/{repo}/blobs/{bad}", f"/v2/{repo}/referrers/{bad}"):
        r = client.request("GET", path)
        assert r.status_code == 400, path
        assert error_codes(r) == ["DIGEST_INVALID"]


def test_malformed_tag_is_400(client: Client, repo: str) -> None:
    r = client.request("GET", f"/v2/{repo}/manifests/-bad-tag")
    assert r.status_code == 400
    assert error_codes(r) == ["MANIFEST_INVALID"]


@pytest.mark.parametrize(
    "name",
    ["UPPER/case", "a/../b", "..", "../../../tmp/x", "./a", "a//b", "-lead", "a/%2e%2e/b", "%2e%2e", "a/b/", "x" * 300],
)
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_invalid_repository_names_are_400_name_invalid(client: Client, name: str, method: str) -> None:
    # Raw request: HTTP libraries would normalise the dot segments away before sending.
    status, body = raw_request(client.base, method, f"/v2/{name}/manifests/latest", b"{}")
    assert status == 400, body
    assert [e["code"] for e in json.loads(body)["errors"]] == ["NAME_INVALID"]


def test_unknown_endpoint_is_404_json(client: Client) -> None:
    r = client.request("GET", "/v2/foo/nothing-here")
    assert r.status_code == 404
    assert error_codes(r)


def test_wrong_method_is_405_unsupported(client: Client, repo: str) -> None:
    r = client.request("POST", f"/v2/{repo}/tags/list")
    assert r.status_code == 405
    assert error_codes(r) == ["UNSUPPORTED"]


def raw_request(base: str, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=30)
    try:
        conn.request(
            method, path, body=body or None, headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
        )
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()
