"""skopeo copies OCI images into and out of dockyard's registry, byte for byte, with and without auth."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.registry import RegistryConfig, RunningRegistry
from dockyard.registry.auth import hash_password
from dockyard.registry.config import AuthConfig, TLSConfig

pytestmark = [
    pytest.mark.registry,
    pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed"),
]

USER, PASSWORD = "alice", "s3cret-pass"


def _write_blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def make_oci_layout(path: Path, tag: str) -> None:
    """A one-layer image: a gzipped tar with a file and a directory."""
    (path / "blobs" / "sha256").mkdir(parents=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        d = tarfile.TarInfo("etc")
        d.type = tarfile.DIRTYPE
        d.mode = 0o755
        tar.addfile(d)
        content = b"hello from dockyard\n" * 100
        f = tarfile.TarInfo("etc/greeting")
        f.size = len(content)
        f.mode = 0o644
        tar.addfile(f, io.BytesIO(content))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **_write_blob(path, config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_write_blob(path, layer)}],
        }
    ).encode()
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **_write_blob(path, manifest)}
    desc["annotations"] = {"org.opencontainers.image.ref.name": tag}
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc]}))


def blobs(layout: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (layout / "blobs" / "sha256").iterdir()}


def skopeo(*args: str) -> None:
    proc = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(params=["none", "htpasswd", "token"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[RunningRegistry, list[str], list[str]]]:
    mode = str(request.param)
    auth = AuthConfig(mode=mode, users={USER: hash_password(PASSWORD)}) if mode != "none" else AuthConfig()
    with RunningRegistry(RegistryConfig(root=str(tmp_path / "registry"), auth=auth, access_log=False)) as reg:
        creds = ["--dest-creds", f"{USER}:{PASSWORD}"] if mode != "none" else []
        src_creds = ["--src-creds", f"{USER}:{PASSWORD}"] if mode != "none" else []
        yield reg, creds, src_creds


def test_skopeo_round_trip(registry: tuple[RunningRegistry, list[str], list[str]], tmp_path: Path) -> None:
    reg, dest_creds, src_creds = registry
    src, out = tmp_path / "src", tmp_path / "out"
    make_oci_layout(src, "v1")
    host = reg.url.removeprefix("http://")
    skopeo("copy", "--dest-tls-verify=false", *dest_creds, f"oci:{src}:v1", f"docker://{host}/demo/app:v1")
    skopeo("copy", "--src-tls-verify=false", *src_creds, f"docker://{host}/demo/app:v1", f"oci:{out}:v1")
    assert blobs(out) == blobs(src)
    assert (
        json.loads((out / "index.json").read_text())["manifests"][0]["digest"]
        == (json.loads((src / "index.json").read_text())["manifests"][0]["digest"])
    )
    # And registry to registry (cross-repository copy through skopeo).
    skopeo(
        "copy", "--src-tls-verify=false", "--dest-tls-verify=false", *src_creds, *dest_creds,
        f"docker://{host}/demo/app:v1", f"docker://{host}/demo/copy:v2",
    )  # fmt: skip
    out2 = tmp_path / "out2"
    skopeo("copy", "--src-tls-verify=false", *src_creds, f"docker://{host}/demo/copy:v2", f"oci:{out2}:v2")
    assert blobs(out2) == blobs(src)


def test_skopeo_without_credentials_is_refused(tmp_path: Path) -> None:
    auth = AuthConfig(mode="token", users={USER: hash_password(PASSWORD)})
    with RunningRegistry(RegistryConfig(root=str(tmp_path / "registry"), auth=auth, access_log=False)) as reg:
        src = tmp_path / "src"
        make_oci_layout(src, "v1")
        host = reg.url.removeprefix("http://")
        for creds in ([], ["--dest-creds", f"{USER}:wrong"]):
            proc = subprocess.run(
                ["skopeo", "copy", "--dest-tls-verify=false", *creds, f"oci:{src}:v1", f"docker://{host}/demo/app:v1"],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert proc.returncode != 0
        assert not list((tmp_path / "registry").glob("repositories/demo/app/_manifests/tags/*"))


def test_skopeo_over_tls_with_token_auth(tmp_path: Path) -> None:
    from integration.test_registry_server import self_signed

    cert, key = self_signed(tmp_path)
    certs = tmp_path / "certs.d"
    certs.mkdir()
    shutil.copy(cert, certs / "ca.crt")
    auth = AuthConfig(mode="token", users={USER: hash_password(PASSWORD)})
    config = RegistryConfig(
        root=str(tmp_path / "registry"), auth=auth, tls=TLSConfig(str(cert), str(key)), access_log=False
    )
    with RunningRegistry(config) as reg:
        src, out = tmp_path / "src", tmp_path / "out"
        make_oci_layout(src, "v1")
        host = reg.url.removeprefix("https://")
        creds = f"{USER}:{PASSWORD}"
        skopeo(
            "copy", "--dest-cert-dir", str(certs), "--dest-creds", creds, f"oci:{src}:v1", f"docker://{host}/s/app:v1"
        )
        skopeo("copy", "--src-cert-dir", str(certs), "--src-creds", creds, f"docker://{host}/s/app:v1", f"oci:{out}:v1")
        assert blobs(out) == blobs(src)
