"""A tiny distribution-spec client for the conformance suite (requests only, no dockyard code)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import requests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def random_blob(size: int = 1024) -> tuple[bytes, str]:
    data = os.urandom(size)
    return data, digest_of(data)


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **extra}


def error_codes(resp: requests.Response) -> list[str]:
    body = resp.json()
    assert isinstance(body.get("errors"), list), body
    return [e["code"] for e in body["errors"]]


@dataclass
class Image:
    config: bytes
    layers: list[bytes]
    manifest: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)


class Client:
    def __init__(self, base: str, session: requests.Session) -> None:
        self.base = base.rstrip("/")
        self.s = session

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base + path

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 30)
        kw.setdefault("allow_redirects", False)
        return self.s.request(method, self.url(path), **kw)

    def push_blob(self, name: str, data: bytes) -> str:
        d = digest_of(data)
        r = self.request(
            "POST",
            f"/v2/{name}/blobs/uploads/",
            params={"digest": d},
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        if r.status_code == 202:  # a registry may ignore single-POST uploads
            r = self.request("PUT", r.headers["Location"], params={"digest": d}, data=data)
        assert r.status_code == 201, r.text
        return d

    def put_manifest(self, name: str, ref: str, body: bytes, media_type: str) -> requests.Response:
        return self.request("PUT", f"/v2/{name}/manifests/{ref}", data=body, headers={"Content-Type": media_type})

    def push_image(
        self,
        name: str,
        tag: str | None = None,
        *,
        media_type: str = OCI_MANIFEST,
        subject: dict[str, Any] | None = None,
        artifact_type: str | None = None,
        layers: int = 1,
        annotations: dict[str, str] | None = None,
    ) -> Image:
        docker = media_type == DOCKER_MANIFEST
        config = json.dumps(
            {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}, "n": os.urandom(4).hex()}
        ).encode()
        blobs = [os.urandom(256) for _ in range(layers)]
        self.push_blob(name, config)
        for b in blobs:
            self.push_blob(name, b)
        m: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": descriptor(DOCKER_CONFIG if docker else OCI_CONFIG, config),
            "layers": [descriptor(DOCKER_LAYER if docker else OCI_LAYER, b) for b in blobs],
        }
        if subject is not None:
            m["subject"] = subject
        if artifact_type is not None:
            m["artifactType"] = artifact_type
        if annotations:
            m["annotations"] = annotations
        body = json.dumps(m).encode()
        ref = tag or digest_of(body)
        r = self.put_manifest(name, ref, body, media_type)
        assert r.status_code == 201, r.text
        return Image(config, blobs, body, media_type)
