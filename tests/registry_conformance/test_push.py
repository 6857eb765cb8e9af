"""Push: monolithic and chunked uploads, resume, cancel, mount, and manifest validation."""

from __future__ import annotations

import json
import os

import pytest
import requests

from registry_conformance.client import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    Client,
    descriptor,
    digest_of,
    error_codes,
    random_blob,
)


def blob_exists(client: Client, repo: str, d: str) -> bool:
    return client.request("HEAD", f"/v2/{repo}/blobs/{d}").status_code == 200


def start(client: Client, repo: str) -> str:
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    assert r.headers["Location"]
    return r.headers["Location"]


# -- monolithic -------------------------------------------------------------


def test_single_post_upload(client: Client, repo: str) -> None:
    data, d = random_blob(5000)
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/", params={"digest": d}, data=data)
    assert r.status_code == 201
    assert r.headers["Location"].endswith(f"/v2/{repo}/blobs/{d}")
    assert r.headers["Docker-Content-Digest"] == d
    assert client.request("GET", r.headers["Location"]).content == data


def test_post_then_put_upload(client: Client, repo: str) -> None:
    data, d = random_blob(5000)
    loc = start(client, repo)
    r = client.request(
        "PUT", loc, params={"digest": d}, data=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert r.status_code == 201
    assert r.headers["Docker-Content-Digest"] == d
    assert client.request("GET", f"/v2/{repo}/blobs/{d}").content == data


def test_empty_blob(client: Client, repo: str) -> None:
    d = client.push_blob(repo, b"")
    r = client.request("GET", f"/v2/{repo}/blobs/{d}")
    assert r.status_code == 200
    assert r.content == b""


def test_wrong_digest_is_400_and_stores_nothing(client: Client, repo: str) -> None:
    data, _ = random_blob()
    _, other = random_blob()
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/", params={"digest": other}, data=data)
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]
    assert not blob_exists(client, repo, other)
    assert not blob_exists(client, repo, digest_of(data))
    loc = start(client, repo)
    r = client.request("PUT", loc, params={"digest": other}, data=data)
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]
    assert not blob_exists(client, repo, other)


def test_malformed_or_missing_digest_on_put_is_400(client: Client, repo: str) -> None:
    loc = start(client, repo)
    r = client.request("PUT", loc, params={"digest": "sha256:nothex"}, data=b"x")
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]
    r = client.request("PUT", loc, data=b"x")
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]


def test_truncated_upload_does_not_verify(client: Client, repo: str) -> None:
    data, d = random_blob(4000)
    loc = start(client, repo)
    r = client.request("PUT", loc, params={"digest": d}, data=data[:3000])
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]
    assert not blob_exists(client, repo, d)


# -- chunked ----------------------------------------------------------------


def patch(client: Client, loc: str, chunk: bytes, start_at: int | None) -> requests.Response:
    headers = {"Content-Type": "application/octet-stream"}
    if start_at is not None:
        headers["Content-Range"] = f"{start_at}-{start_at + len(chunk) - 1}"
    return client.request("PATCH", loc, data=chunk, headers=headers)


def test_chunked_upload_with_content_range(client: Client, repo: str) -> None:
    data, d = random_blob(10_000)
    loc = start(client, repo)
    for off in range(0, 10_000, 3000):
        chunk = data[off : off + 3000]
        r = patch(client, loc, chunk, off)
        assert r.status_code == 202, r.text
        assert r.headers["Range"] == f"0-{off + len(chunk) - 1}"
        loc = r.headers["Location"]
    r = client.request("PUT", loc, params={"digest": d})
    assert r.status_code == 201
    assert client.request("GET", f"/v2/{repo}/blobs/{d}").content == data


def test_streamed_chunks_without_content_range(client: Client, repo: str) -> None:
    data, d = random_blob(8000)
    loc = start(client, repo)
    for off in (0, 4000):
        r = patch(client, loc, data[off : off + 4000], None)
        assert r.status_code == 202
        loc = r.headers["Location"]
    assert client.request("PUT", loc, params={"digest": d}).status_code == 201


def test_final_chunk_in_put(client: Client, repo: str) -> None:
    data, d = random_blob(6000)
    loc = start(client, repo)
    loc = patch(client, loc, data[:4000], 0).headers["Location"]
    r = client.request("PUT", loc, params={"digest": d}, data=data[4000:], headers={"Content-Range": "4000-5999"})
    assert r.status_code == 201
    assert client.request("GET", f"/v2/{repo}/blobs/{d}").content == data


def test_out_of_order_chunk_is_416_and_retry_at_last_location_works(client: Client, repo: str) -> None:
    data, d = random_blob(6000)
    loc = start(client, repo)
    r1 = patch(client, loc, data[:3000], 0)
    assert r1.status_code == 202
    last = r1.headers["Location"]
    # A chunk from the future, and a replay of the previous chunk: both refused.
    for chunk, at in ((data[4000:], 4000), (data[:3000], 0)):
        r = patch(client, last, chunk, at)
        assert r.status_code == 416
        assert error_codes(r) == ["BLOB_UPLOAD_INVALID"]
        assert r.headers["Range"] == "0-2999"
        assert r.headers["Location"].endswith(last.rsplit("/", 1)[1])
    # The right next chunk at the last Location is accepted.
    r = patch(client, last, data[3000:], 3000)
    assert r.status_code == 202
    r = client.request("PUT", r.headers["Location"], params={"digest": d})
    assert r.status_code == 201


def test_malformed_content_range_is_416(client: Client, repo: str) -> None:
    loc = start(client, repo)
    r = client.request("PATCH", loc, data=b"abc", headers={"Content-Range": "garbage"})
    assert r.status_code == 416
    assert error_codes(r) == ["BLOB_UPLOAD_INVALID"]


def test_content_length_disagreeing_with_content_range_is_400(client: Client, repo: str) -> None:
    loc = start(client, repo)
    r = client.request("PATCH", loc, data=b"abcdef", headers={"Content-Range": "0-2"})
    assert r.status_code == 400
    assert error_codes(r) == ["BLOB_UPLOAD_INVALID"]


def test_upload_status_reports_offset_and_resume_works(client: Client, repo: str) -> None:
    data, d = random_blob(5000)
    loc = start(client, repo)
    r = client.request("GET", loc)
    assert r.status_code == 204
    assert r.headers["Range"] == "0-0"
    patch(client, loc, data[:2000], 0)
    r = client.request("GET", loc)
    assert r.status_code == 204
    assert r.headers["Range"] == "0-1999"
    # Resume with a new session (as another client or after a restart would).
    r = patch(client, r.headers["Location"], data[2000:], 2000)
    assert r.status_code == 202
    assert client.request("PUT", loc, params={"digest": d}).status_code == 201


def test_cancel_upload(client: Client, repo: str) -> None:
    loc = start(client, repo)
    patch(client, loc, b"partial", 0)
    assert client.request("DELETE", loc).status_code == 204
    for method in ("GET", "DELETE", "PATCH"):
        r = client.request(method, loc, data=b"x" if method == "PATCH" else None)
        assert r.status_code == 404, method
        assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]


@pytest.mark.parametrize("upload_id", ["nonexistent", "%2e%2e", "a.b", "x" * 100])
def test_unknown_upload_is_404(client: Client, repo: str, upload_id: str) -> None:
    r = client.request("GET", f"/v2/{repo}/blobs/uploads/{upload_id}")
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]


def test_upload_is_bound_to_its_repository(client: Client, repo: str) -> None:
    loc = start(client, repo)
    upload_id = loc.rstrip("/").rsplit("/", 1)[1]
    r = client.request("GET", f"/v2/{repo}-other/blobs/uploads/{upload_id}")
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]


# -- cross-repository mount -------------------------------------------------


def test_mount_from_other_repository(client: Client, repo: str) -> None:
    data, d = random_blob()
    client.push_blob(repo, data)
    target = repo + "-mounted"
    r = client.request("POST", f"/v2/{target}/blobs/uploads/", params={"mount": d, "from": repo})
    assert r.status_code == 201
    assert r.headers["Location"].endswith(f"/v2/{target}/blobs/{d}")
    assert r.headers["Docker-Content-Digest"] == d
    assert client.request("GET", f"/v2/{target}/blobs/{d}").content == data


@pytest.mark.parametrize("source", ["exists", "missing-repo", "INVALID//name"])
def test_mount_of_unknown_blob_falls_back_to_upload(client: Client, repo: str, source: str) -> None:
    _, d = random_blob()
    src = repo if source == "exists" else source
    r = client.request("POST", f"/v2/{repo}-t/blobs/uploads/", params={"mount": d, "from": src})
    assert r.status_code == 202
    assert client.request("GET", r.headers["Location"]).status_code == 204


def test_mount_with_malformed_digest_is_400(client: Client, repo: str) -> None:
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/", params={"mount": "sha256:bad", "from": repo})
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]


# -- manifests --------------------------------------------------------------


def test_push_by_digest_returns_location_and_digest(client: Client, repo: str) -> None:
    img = client.push_image(repo, None)
    r = client.request("GET", f"/v2/{repo}/manifests/{img.digest}")
    assert r.status_code == 200
    assert r.content == img.manifest


def test_put_manifest_headers(client: Client, repo: str) -> None:
    cfg = b'{"a":1}'
    client.push_blob(repo, cfg)
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, cfg), "layers": []}
    ).encode()
    r = client.put_manifest(repo, "t", body, OCI_MANIFEST)
    assert r.status_code == 201
    assert r.headers["Docker-Content-Digest"] == digest_of(body)
    assert r.headers["Location"].endswith(f"/v2/{repo}/manifests/{digest_of(body)}")
    assert "OCI-Subject" not in r.headers


def test_manifest_digest_mismatch_is_400(client: Client, repo: str) -> None:
    img = client.push_image(repo, "a")
    r = client.put_manifest(repo, digest_of(b"other"), img.manifest, OCI_MANIFEST)
    assert r.status_code == 400
    assert error_codes(r) == ["DIGEST_INVALID"]


def test_manifest_referencing_unknown_blob_is_manifest_blob_unknown(client: Client, repo: str) -> None:
    cfg = b"{}"
    client.push_blob(repo, cfg)
    _, missing = random_blob()
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, cfg),
            "layers": [{"mediaType": OCI_LAYER, "digest": missing, "size": 10}],
        }
    ).encode()
    r = client.put_manifest(repo, "bad", body, OCI_MANIFEST)
    assert r.status_code == 400
    assert error_codes(r) == ["MANIFEST_BLOB_UNKNOWN"]
    assert client.request("GET", f"/v2/{repo}/manifests/bad").status_code == 404


def test_manifest_with_wrong_blob_size_is_invalid(client: Client, repo: str) -> None:
    cfg = b"{}"
    client.push_blob(repo, cfg)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {**descriptor(OCI_CONFIG, cfg), "size": 3},
            "layers": [],
        }
    ).encode()
    r = client.put_manifest(repo, "bad", body, OCI_MANIFEST)
    assert r.status_code == 400
    assert error_codes(r) == ["MANIFEST_INVALID"]


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (b"{not json", OCI_MANIFEST),
        (b"[1,2]", OCI_MANIFEST),
        (b'{"schemaVersion": 1, "mediaType": "application/vnd.oci.image.manifest.v1+json"}', OCI_MANIFEST),
        (b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}', OCI_MANIFEST),
        (b'{"schemaVersion": 2, "mediaType": "text/plain", "layers": []}', "text/plain"),
        (b'{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v1+json"}', OCI_MANIFEST),
        (
            b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}',
            OCI_MANIFEST,
        ),
        (b'{"schemaVersion": 2, "config": {"digest": "sha256:nope", "size": 1}, "layers": []}', OCI_MANIFEST),
        (b"\xff\xfe", OCI_MANIFEST),
    ],
)
def test_invalid_manifests_are_400_manifest_invalid(client: Client, repo: str, body: bytes, ctype: str) -> None:
    r = client.put_manifest(repo, "bad", body, ctype)
    assert r.status_code == 400, r.text
    assert error_codes(r) == ["MANIFEST_INVALID"]
    assert client.request("GET", f"/v2/{repo}/manifests/bad").status_code == 404


@pytest.mark.parametrize(("index_type", "child_type"), [(OCI_INDEX, OCI_MANIFEST), (DOCKER_LIST, DOCKER_MANIFEST)])
def test_index_and_manifest_list(client: Client, repo: str, index_type: str, child_type: str) -> None:
    children = [client.push_image(repo, None, media_type=child_type) for _ in range(2)]
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": index_type,
            "manifests": [
                descriptor(child_type, c.manifest, platform={"os": "linux", "architecture": arch})
                for c, arch in zip(children, ("amd64", "arm64"), strict=True)
            ],
        }
    ).encode()
    r = client.put_manifest(repo, "multi", index, index_type)
    assert r.status_code == 201, r.text
    g = client.request("GET", f"/v2/{repo}/manifests/multi")
    assert g.content == index
    assert g.headers["Content-Type"] == index_type


def test_index_with_unknown_child_is_rejected(client: Client, repo: str) -> None:
    child = os.urandom(10)
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor(OCI_MANIFEST, child)]}
    ).encode()
    r = client.put_manifest(repo, "multi", index, OCI_INDEX)
    assert r.status_code == 400
    assert error_codes(r) == ["MANIFEST_BLOB_UNKNOWN"]


def test_retagging_moves_the_tag(client: Client, repo: str) -> None:
    a = client.push_image(repo, "t")
    b = client.push_image(repo, "t")
    assert a.digest != b.digest
    r = client.request("GET", f"/v2/{repo}/manifests/t")
    assert r.headers["Docker-Content-Digest"] == b.digest
    assert client.request("GET", f"/v2/{repo}/manifests/{a.digest}").status_code == 200


def test_manifest_without_media_type_takes_it_from_content_type_or_shape(client: Client, repo: str) -> None:
    cfg = b"{}"
    client.push_blob(repo, cfg)
    body = json.dumps({"schemaVersion": 2, "config": descriptor(OCI_CONFIG, cfg), "layers": []}).encode()
    for ctype in (OCI_MANIFEST, "application/octet-stream"):
        r = client.put_manifest(repo, "plain", body, ctype)
        assert r.status_code == 201, r.text
        assert client.request("GET", f"/v2/{repo}/manifests/plain").headers["Content-Type"] == OCI_MANIFEST
