"""Content discovery: tag listing, catalog, referrers."""

from __future__ import annotations

import json
import os
from urllib.parse import parse_qs, urlsplit

from registry_conformance.client import OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, Client, descriptor, error_codes


def next_page(link: str) -> dict[str, list[str]]:
    assert link.endswith('rel="next"'), link
    url = link[link.index("<") + 1 : link.index(">")]
    return parse_qs(urlsplit(url).query)


def test_tags_sorted(client: Client, repo: str) -> None:
    for tag in ("b", "a", "c10", "c2"):
        client.push_image(repo, tag)
    r = client.request("GET", f"/v2/{repo}/tags/list")
    assert r.status_code == 200
    assert r.json() == {"name": repo, "tags": ["a", "b", "c10", "c2"]}
    assert "Link" not in r.headers


def test_tags_pagination_with_link(client: Client, repo: str) -> None:
    tags = [f"t{i:02d}" for i in range(5)]
    img = client.push_image(repo, tags[0])
    for t in tags[1:]:
        assert client.put_manifest(repo, t, img.manifest, OCI_MANIFEST).status_code == 201
    seen: list[str] = []
    params: dict[str, str] = {"n": "2"}
    for _ in range(5):
        r = client.request("GET", f"/v2/{repo}/tags/list", params=params)
        assert r.status_code == 200
        page = r.json()["tags"]
        assert len(page) <= 2
        seen += page
        if "Link" not in r.headers:
            break
        q = next_page(r.headers["Link"])
        params = {"n": q["n"][0], "last": q["last"][0]}
    assert seen == tags
    r = client.request("GET", f"/v2/{repo}/tags/list", params={"n": "10", "last": "t02"})
    assert r.json()["tags"] == ["t03", "t04"]
    r = client.request("GET", f"/v2/{repo}/tags/list", params={"n": "0"})
    assert r.json()["tags"] == []


def test_tags_of_unknown_repository_is_name_unknown(client: Client, repo: str) -> None:
    r = client.request("GET", f"/v2/{repo}/tags/list")
    assert r.status_code == 404
    assert error_codes(r) == ["NAME_UNKNOWN"]


def test_parent_of_nested_repositories_is_not_a_repository(client: Client, repo: str) -> None:
    client.push_image(f"{repo}/child", "x")
    r = client.request("GET", f"/v2/{repo}/tags/list")
    assert r.status_code == 404
    assert error_codes(r) == ["NAME_UNKNOWN"]


def test_bad_page_size_is_400(client: Client, repo: str) -> None:
    client.push_image(repo, "x")
    r = client.request("GET", f"/v2/{repo}/tags/list", params={"n": "-1"})
    assert r.status_code == 400
    assert error_codes(r)


def test_catalog_lists_and_paginates(client: Client, repo: str) -> None:
    names = [f"{repo}/r{i}" for i in range(3)]
    for n in names:
        client.push_image(n, "x")
    r = client.request("GET", "/v2/_catalog")
    assert r.status_code == 200
    assert set(names) <= set(r.json()["repositories"])
    assert r.json()["repositories"] == sorted(r.json()["repositories"])
    # Walk the catalog from just before our names, one at a time.
    seen: list[str] = []
    params = {"n": "1", "last": repo}
    while True:
        r = client.request("GET", "/v2/_catalog", params=params)
        page = r.json()["repositories"]
        seen += page
        if not page or not page[0].startswith(repo) or "Link" not in r.headers:
            break
        q = next_page(r.headers["Link"])
        params = {"n": q["n"][0], "last": q["last"][0]}
    assert [s for s in seen if s.startswith(repo + "/")] == names


def push_referrer(client: Client, repo: str, subject: dict[str, object], artifact_type: str) -> tuple[str, bytes]:
    empty = b"{}"
    client.push_blob(repo, empty)
    layer = os.urandom(64)
    client.push_blob(repo, layer)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": descriptor(OCI_EMPTY, empty),
            "layers": [descriptor("application/octet-stream", layer)],
            "subject": subject,
            "annotations": {"org.example.kind": artifact_type},
        }
    ).encode()
    r = client.put_manifest(repo, descriptor(OCI_MANIFEST, body)["digest"], body, OCI_MANIFEST)
    assert r.status_code == 201, r.text
    assert r.headers["OCI-Subject"] == subject["digest"]
    return r.headers["Docker-Content-Digest"], body


def test_referrers_api_with_artifact_type_filter(client: Client, repo: str) -> None:
    img = client.push_image(repo, "v1")
    subject = descriptor(OCI_MANIFEST, img.manifest)
    sig, _ = push_referrer(client, repo, subject, "application/vnd.example.signature")
    sbom, sbom_body = push_referrer(client, repo, subject, "application/vnd.example.sbom")
    r = client.request("GET", f"/v2/{repo}/referrers/{img.digest}")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == OCI_INDEX
    body = r.json()
    assert body["schemaVersion"] == 2 and body["mediaType"] == OCI_INDEX
    by_digest = {m["digest"]: m for m in body["manifests"]}
    assert set(by_digest) == {sig, sbom}
    assert by_digest[sbom] == {
        "mediaType": OCI_MANIFEST,
        "digest": sbom,
        "size": len(sbom_body),
        "artifactType": "application/vnd.example.sbom",
        "annotations": {"org.example.kind": "application/vnd.example.sbom"},
    }
    r = client.request(
        "GET", f"/v2/{repo}/referrers/{img.digest}", params={"artifactType": "application/vnd.example.sbom"}
    )
    assert [m["digest"] for m in r.json()["manifests"]] == [sbom]
    assert r.headers["OCI-Filters-Applied"] == "artifactType"


def test_referrers_of_unknown_subject_is_empty_index(client: Client, repo: str) -> None:
    client.push_image(repo, "v1")
    r = client.request("GET", f"/v2/{repo}/referrers/sha256:{'0' * 64}")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == OCI_INDEX
    assert r.json()["manifests"] == []


def test_subject_may_be_pushed_after_its_referrer(client: Client, repo: str) -> None:
    subject = descriptor(OCI_MANIFEST, b'{"not":"pushed yet"}')
    d, _ = push_referrer(client, repo, subject, "application/vnd.example.early")
    r = client.request("GET", f"/v2/{repo}/referrers/{subject['digest']}")
    assert [m["digest"] for m in r.json()["manifests"]] == [d]


def test_index_with_subject_is_a_referrer(client: Client, repo: str) -> None:
    img = client.push_image(repo, "v1")
    child = client.push_image(repo, None)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "artifactType": "application/vnd.example.bundle",
            "manifests": [descriptor(OCI_MANIFEST, child.manifest)],
            "subject": descriptor(OCI_MANIFEST, img.manifest),
        }
    ).encode()
    r = client.put_manifest(repo, descriptor(OCI_INDEX, index)["digest"], index, OCI_INDEX)
    assert r.status_code == 201
    assert r.headers["OCI-Subject"] == img.digest
    refs = client.request("GET", f"/v2/{repo}/referrers/{img.digest}").json()["manifests"]
    assert refs == [
        {
            "mediaType": OCI_INDEX,
            "digest": descriptor(OCI_INDEX, index)["digest"],
            "size": len(index),
            "artifactType": "application/vnd.example.bundle",
        }
    ]
