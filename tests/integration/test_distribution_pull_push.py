"""Pull and push through the distribution service against real registries on 127.0.0.1.

Registries: dockyard's own (no auth, htpasswd, token) and Debian's ``docker-registry``
(CNCF distribution 2.8; no auth, htpasswd). Images are made by the tests: a multi-platform
index, a zstd-compressed OCI image, a Docker schema 2 image. Each test owns a fresh image store
(content store + overlay snapshots) in a temp dir, removed afterwards.
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urljoin

import bcrypt
import pytest
import requests
import zstandard

from dockyard import errors
from dockyard.distribution import AuthConfig, RegistryClient, RegistryHosts
from dockyard.engine.distribution import DistributionService
from dockyard.images.service import ImageService
from dockyard.oci import mediatypes as mt
from dockyard.oci.image import host_platform
from dockyard.registry import RegistryConfig, RunningRegistry
from dockyard.registry.config import AuthConfig as RegAuth
from dockyard.registry.config import TokenConfig
from dockyard.snapshots.overlay import OverlaySnapshotter

pytestmark = [pytest.mark.root]
T = TypeVar("T")
USER, PASSWORD = "alice", "wonderland"


# --- images made by the tests ---------------------------------------------------------


def layer_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Blobs:
    manifest: bytes
    media_type: str
    blobs: list[bytes]  # config first, then layers
    config: bytes


def make_image(layers: list[dict[str, bytes]], *, compression: str = "gzip", oci: bool = True, arch: str = "") -> Blobs:
    arch = arch or host_platform().architecture
    tars = [layer_tar(f) for f in layers]
    if compression == "zstd":
        blobs = [zstandard.ZstdCompressor().compress(t) for t in tars]
        ltype = mt.OCI_LAYER_ZSTD
    elif compression == "gzip":
        blobs = [gzip.compress(t, mtime=0) for t in tars]
        ltype = mt.OCI_LAYER_GZIP if oci else mt.DOCKER_LAYER
    else:
        blobs, ltype = tars, mt.OCI_LAYER
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [sha(t) for t in tars]},
        }
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST if oci else mt.DOCKER_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG if oci else mt.DOCKER_CONFIG, "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": ltype, "digest": sha(b), "size": len(b)} for b in blobs],
    }
    body = json.dumps(manifest).encode()
    return Blobs(body, str(manifest["mediaType"]), [config, *blobs], config)


def upload_raw(url: str, repo: str, img: Blobs, tag: str, auth: Any = None) -> str:
    """Push blobs and a manifest with plain HTTP calls (the registry side of a test fixture)."""
    for blob in img.blobs:
        r = requests.post(f"{url}/v2/{repo}/blobs/uploads/", auth=auth, timeout=30)
        assert r.status_code == 202, r.text
        loc = urljoin(url, r.headers["Location"])
        r = requests.put(loc, params={"digest": sha(blob)}, data=blob, auth=auth, timeout=30)
        assert r.status_code == 201, r.text
    r = requests.put(
        f"{url}/v2/{repo}/manifests/{tag}",
        data=img.manifest,
        headers={"Content-Type": img.media_type},
        auth=auth,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return sha(img.manifest)


# --- registries -----------------------------------------------------------------------


@dataclass
class Registry:
    url: str
    host: str
    auth: tuple[str, str] | None  # credentials for raw uploads (htpasswd only)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _users() -> dict[str, str]:
    return {USER: bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()}


@pytest.fixture
def dockyard_registry(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Registry]:
    mode = getattr(request, "param", "none")
    cfg = RegistryConfig(root=str(tmp_path / "registry"), access_log=False, auth=RegAuth(mode=mode, users=_users()))
    with RunningRegistry(cfg) as reg:
        yield Registry(reg.url, f"127.0.0.1:{reg.port}", (USER, PASSWORD) if mode == "htpasswd" else None)


@pytest.fixture
def distribution_registry(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Registry]:
    """Debian's docker-registry (CNCF distribution 2.8.2) with filesystem storage in a temp dir."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("docker-registry is not installed")
    mode = getattr(request, "param", "none")
    port = _free_port()
    conf: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "error"},
        "storage": {"filesystem": {"rootdirectory": str(tmp_path / "dist")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    token_server: RunningRegistry | None = None
    if mode == "htpasswd":
        hp = tmp_path / "htpasswd"
        hp.write_text("".join(f"{u}:{h}\n" for u, h in _users().items()))
        conf["auth"] = {"htpasswd": {"realm": "test", "path": str(hp)}}
    elif mode == "token":
        # dockyard's registry serves only as the token server; distribution trusts its signing certificate
        key_file, cert_file = _signing_key(tmp_path)
        token_cfg = TokenConfig(service="dist-test", issuer="dockyard-test", key_file=key_file)
        token_server = RunningRegistry(
            RegistryConfig(
                root=str(tmp_path / "token-server"),
                access_log=False,
                auth=RegAuth(mode="token", users=_users(), token=token_cfg),
            )
        ).start()
        conf["auth"] = {
            "token": {
                "realm": f"{token_server.url}/token",
                "service": "dist-test",
                "issuer": "dockyard-test",
                "rootcertbundle": cert_file,
            }
        }
    (tmp_path / "config.yml").write_text(json.dumps(conf))  # JSON is YAML
    proc = subprocess.Popen(
        [binary, "serve", str(tmp_path / "config.yml")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{url}/v2/", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("docker-registry did not start")
                time.sleep(0.05)
        yield Registry(url, f"127.0.0.1:{port}", (USER, PASSWORD) if mode == "htpasswd" else None)
    finally:
        proc.kill()
        proc.wait(10)
        if token_server is not None:
            token_server.stop()


def _signing_key(tmp_path: Any) -> tuple[str, str]:
    """An EC P-256 key and a self-signed certificate for it (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "dockyard-test-token")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = tmp_path / "token.key", tmp_path / "token.crt"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(key_file), str(cert_file)


# --- image stores ---------------------------------------------------------------------


@dataclass
class Store:
    root: str
    images: ImageService

    hosts: RegistryHosts | None = None

    def run(self, fn: Callable[[DistributionService], Awaitable[T]], **kw: Any) -> T:
        async def main() -> T:
            svc = DistributionService(self.images, RegistryClient(self.hosts), **kw)
            try:
                return await fn(svc)
            finally:
                await svc.close()

        return asyncio.run(main())

    def pull(self, ref: str, tag: str = "", platform: str = "", auth: AuthConfig | None = None) -> list[dict[str, Any]]:
        async def go(svc: DistributionService) -> list[dict[str, Any]]:
            job = await svc.prepare_pull(ref, tag, platform, auth or AuthConfig())
            return [m async for m in svc.run_pull(job)]

        return self.run(go)

    def push(
        self, ref: str, tag: str = "", auth: AuthConfig | None = None, compression: str = "gzip"
    ) -> list[dict[str, Any]]:
        async def go(svc: DistributionService) -> list[dict[str, Any]]:
            job = await svc.prepare_push(ref, tag, auth or AuthConfig())
            return [m async for m in svc.run_push(job, compression)]

        return self.run(go)

    def rootfs_file(self, ref: str, path: str) -> bytes:
        rec = self.images.resolve(ref)
        assert rec.top_chain_id is not None
        for key in self._chain(rec.top_chain_id):
            p = os.path.join(self.images.snapshotter.upper_dir(key), path)
            if os.path.exists(p):
                with open(p, "rb") as f:
                    return f.read()
        raise FileNotFoundError(path)

    def _chain(self, top: str) -> list[str]:
        rec_chains = []
        from dockyard.oci.digest import Digest
        from dockyard.snapshots.chain import chain_ids

        for rec in self.images.records():
            ids = [str(c) for c in chain_ids([Digest.parse(d) for d in rec.diff_ids])]
            if ids and ids[-1] == top:
                rec_chains = list(reversed(ids))
        return rec_chains

    def blob_count(self) -> int:
        return sum(1 for _ in self.images.content.walk())


def new_store() -> Store:
    root = tempfile.mkdtemp(prefix="dockyard-dist-")
    snaps = OverlaySnapshotter(os.path.join(root, "snapshots"))
    return Store(root, ImageService(root, snaps))


@pytest.fixture
def store() -> Iterator[Store]:
    s = new_store()
    try:
        yield s
    finally:
        shutil.rmtree(s.root, ignore_errors=True)


@pytest.fixture
def store2() -> Iterator[Store]:
    s = new_store()
    try:
        yield s
    finally:
        shutil.rmtree(s.root, ignore_errors=True)


def statuses(msgs: list[dict[str, Any]]) -> list[str]:
    return [str(m.get("status", "")) for m in msgs]


# --- tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["dockyard_registry", "distribution_registry"])
def test_push_then_pull_round_trip(fixture: str, request: pytest.FixtureRequest, store: Store, store2: Store) -> None:
    reg: Registry = request.getfixturevalue(fixture)
    img = make_image([{"etc/hello": b"hello\n"}, {"etc/world": b"world\n", "bin/x": b"x" * 5000}], compression="none")
    # register the image locally (uncompressed layers, as a build makes them)
    _load_local(store, img, f"{reg.host}/app:v1")
    pushed = store.push(f"{reg.host}/app", "v1")
    st = statuses(pushed)
    assert st[0] == f"The push refers to repository [{reg.host}/app]"
    assert st.count("Pushed") == 2
    aux = [m["aux"] for m in pushed if "aux" in m]
    assert aux and aux[0]["Tag"] == "v1"
    # the registry serves what we pushed, as gzip layers
    r = requests.get(f"{reg.url}/v2/app/manifests/v1", headers={"Accept": mt.OCI_MANIFEST}, timeout=10)
    assert sha(r.content) == aux[0]["Digest"]
    assert all(lay["mediaType"] == mt.OCI_LAYER_GZIP for lay in r.json()["layers"])

    msgs = store2.pull(f"{reg.host}/app", "v1")
    st = statuses(msgs)
    assert st[0] == "Pulling from app"
    assert st.count("Pull complete") == 2
    assert st[-2] == f"Digest: {aux[0]['Digest']}"
    assert st[-1] == f"Status: Downloaded newer image for {reg.host}/app:v1"
    assert store2.images.resolve(f"{reg.host}/app:v1").id == store.images.resolve(f"{reg.host}/app:v1").id
    assert store2.rootfs_file(f"{reg.host}/app:v1", "etc/hello") == b"hello\n"
    assert store2.rootfs_file(f"{reg.host}/app:v1", "bin/x") == b"x" * 5000
    assert f"{reg.host}/app@{aux[0]['Digest']}" in store2.images.resolve(f"{reg.host}/app:v1").repo_digests

    by_digest = statuses(store2.pull(f"{reg.host}/app", aux[0]["Digest"]))
    assert by_digest[-1] == f"Status: Image is up to date for {reg.host}/app@{aux[0]['Digest']}"
    assert (
        store2.images.resolve(f"{reg.host}/app@{aux[0]['Digest']}").id == store2.images.resolve(f"{reg.host}/app:v1").id
    )
    again = statuses(store2.pull(f"{reg.host}/app", "v1"))
    assert again.count("Already exists") == 2
    assert again[-1] == f"Status: Image is up to date for {reg.host}/app:v1"


def _load_local(store: Store, img: Blobs, ref: str) -> str:
    from dockyard.oci.image import Manifest

    man = Manifest.from_json(img.manifest)
    for blob in img.blobs[1:]:
        store.images.content.write_bytes(blob)

    async def add() -> str:
        return await store.images.add_image(img.config, man.layers, [ref])

    return asyncio.run(add())


def test_second_push_skips_blobs_and_mounts_across_repositories(dockyard_registry: Registry, store: Store) -> None:
    reg = dockyard_registry
    img = make_image([{"a": b"1"}, {"b": b"2"}], compression="none")
    _load_local(store, img, f"{reg.host}/one:1")
    assert statuses(store.push(f"{reg.host}/one", "1")).count("Pushed") == 2
    st = statuses(store.push(f"{reg.host}/one", "1"))
    assert st.count("Layer already exists") == 2 and "Pushed" not in st
    store.images.tag(f"{reg.host}/one:1", f"{reg.host}/two", "1")
    st = statuses(store.push(f"{reg.host}/two", "1"))
    assert st.count("Mounted from one") == 2, st


@pytest.mark.parametrize("dockyard_registry", ["htpasswd", "token"], indirect=True)
def test_auth_pull_push_login_dockyard_registry(dockyard_registry: Registry, store: Store, store2: Store) -> None:
    _auth_flow(dockyard_registry, store, store2)


@pytest.mark.parametrize("distribution_registry", ["htpasswd", "token"], indirect=True)
def test_auth_pull_push_login_distribution_registry(
    distribution_registry: Registry, store: Store, store2: Store
) -> None:
    _auth_flow(distribution_registry, store, store2)


def _auth_flow(reg: Registry, store: Store, store2: Store) -> None:
    good = AuthConfig(USER, PASSWORD, reg.host)
    bad = AuthConfig(USER, "nope", reg.host)
    img = make_image([{"f": b"secret"}])
    _load_local(store, img, f"{reg.host}/priv:1")
    with pytest.raises(errors.Unauthorized):
        store.push(f"{reg.host}/priv", "1")
    with pytest.raises(errors.Unauthorized):
        store.push(f"{reg.host}/priv", "1", auth=bad)
    assert statuses(store.push(f"{reg.host}/priv", "1", auth=good)).count("Pushed") == 1
    with pytest.raises(errors.NotFound, match=r"pull access denied for .*/priv, repository does not exist"):
        store2.pull(f"{reg.host}/priv", "1")
    with pytest.raises(errors.Unauthorized):
        store2.pull(f"{reg.host}/priv", "1", auth=bad)
    assert store2.blob_count() == 0
    store2.pull(f"{reg.host}/priv", "1", auth=good)
    assert store2.rootfs_file(f"{reg.host}/priv:1", "f") == b"secret"
    assert store.run(lambda svc: svc.login(good))["Status"] == "Login Succeeded"
    with pytest.raises(errors.Unauthorized):
        store.run(lambda svc: svc.login(bad))


def test_multi_platform_index_selects_by_platform(distribution_registry: Registry, store: Store) -> None:
    reg = distribution_registry
    host_arch = host_platform().architecture
    other = "arm64" if host_arch != "arm64" else "amd64"
    entries = []
    for arch in (host_arch, other):
        img = make_image([{"arch": arch.encode()}], arch=arch)
        digest = upload_raw(reg.url, "multi", img, f"only-{arch}")
        entries.append(
            {
                "mediaType": img.media_type,
                "digest": digest,
                "size": len(img.manifest),
                "platform": {"os": "linux", "architecture": arch},
            }
        )
    index = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}).encode()
    r = requests.put(
        f"{reg.url}/v2/multi/manifests/latest", data=index, headers={"Content-Type": mt.OCI_INDEX}, timeout=10
    )
    assert r.status_code == 201, r.text

    msgs = store.pull(f"{reg.host}/multi")
    assert statuses(msgs)[-2] == f"Digest: {sha(index)}"
    assert store.rootfs_file(f"{reg.host}/multi:latest", "arch") == host_arch.encode()
    store.pull(f"{reg.host}/multi", "latest", platform=f"linux/{other}")
    assert store.rootfs_file(f"{reg.host}/multi:latest", "arch") == other.encode()
    with pytest.raises(errors.NotFound, match="no matching manifest for linux/s390x"):
        store.pull(f"{reg.host}/multi", "latest", platform="linux/s390x")
    # a single-platform image pulled for another platform
    with pytest.raises(errors.NotFound, match=f"does not match the specified platform: wanted linux/{other}"):
        store.pull(f"{reg.host}/multi", f"only-{host_arch}", platform=f"linux/{other}")
    store.pull(f"{reg.host}/multi", f"only-{host_arch}", platform=f"linux/{host_arch}")


def test_zstd_and_docker_schema2_images(dockyard_registry: Registry, store: Store) -> None:
    reg = dockyard_registry
    upload_raw(reg.url, "z", make_image([{"z/file": b"zstd!" * 100}, {"z/two": b"2"}], compression="zstd"), "1")
    upload_raw(reg.url, "d", make_image([{"d/file": b"docker"}], oci=False), "1")
    store.pull(f"{reg.host}/z", "1")
    assert store.rootfs_file(f"{reg.host}/z:1", "z/file") == b"zstd!" * 100
    store.pull(f"{reg.host}/d", "1")
    assert store.rootfs_file(f"{reg.host}/d:1", "d/file") == b"docker"
    # zstd on request when pushing an uncompressed local image
    _load_local(store, make_image([{"p": b"plain"}], compression="none"), f"{reg.host}/pz:1")
    store.push(f"{reg.host}/pz", "1", compression="zstd")
    r = requests.get(f"{reg.url}/v2/pz/manifests/1", headers={"Accept": mt.OCI_MANIFEST}, timeout=10)
    assert r.json()["layers"][0]["mediaType"] == mt.OCI_LAYER_ZSTD


def test_unknown_image_and_tag_and_unreachable_registry(dockyard_registry: Registry, store: Store) -> None:
    reg = dockyard_registry
    upload_raw(reg.url, "exists", make_image([{"a": b"a"}]), "1")
    with pytest.raises(errors.NotFound, match=f"manifest for {reg.host}/exists:2 not found"):
        store.pull(f"{reg.host}/exists", "2")
    with pytest.raises(errors.NotFound):
        store.pull(f"{reg.host}/missing", "1")
    with pytest.raises(errors.Unavailable, match="connection refused"):
        store.pull(f"127.0.0.1:{_free_port()}/x", "1")
    assert store.blob_count() == 0


def test_mirror_is_tried_first_and_origin_after(tmp_path: Any, store: Store) -> None:
    with (
        RunningRegistry(RegistryConfig(root=str(tmp_path / "origin"), access_log=False)) as origin,
        RunningRegistry(RegistryConfig(root=str(tmp_path / "mirror"), access_log=False)) as mirror,
    ):
        origin_host = f"127.0.0.1:{origin.port}"
        # the mirror holds its own copy (different content), the origin has another image only
        upload_raw(mirror.url, "app", make_image([{"who": b"mirror"}]), "1")
        upload_raw(origin.url, "app", make_image([{"who": b"origin"}]), "1")
        upload_raw(origin.url, "only-origin", make_image([{"who": b"origin-only"}]), "1")
        store.hosts = RegistryHosts(mirrors=[mirror.url])
        store.pull(f"{origin_host}/app", "1")
        assert store.rootfs_file(f"{origin_host}/app:1", "who") == b"mirror"
        store.pull(f"{origin_host}/only-origin", "1")  # the mirror lacks it: the origin answers
        assert store.rootfs_file(f"{origin_host}/only-origin:1", "who") == b"origin-only"
    # a mirror that is down is skipped too
    with RunningRegistry(RegistryConfig(root=str(tmp_path / "origin2"), access_log=False)) as origin2:
        upload_raw(origin2.url, "app", make_image([{"who": b"origin2"}]), "1")
        store.hosts = RegistryHosts(mirrors=[f"http://127.0.0.1:{_free_port()}"])
        store.pull(f"127.0.0.1:{origin2.port}/app", "1")
        assert store.rootfs_file(f"127.0.0.1:{origin2.port}/app:1", "who") == b"origin2"


@pytest.mark.parametrize("dockyard_registry", ["token"], indirect=True)
def test_tokens_are_cached_across_requests_and_operations(dockyard_registry: Registry, store: Store) -> None:
    import aiohttp

    reg = dockyard_registry
    good = AuthConfig(USER, PASSWORD, reg.host)
    _load_local(store, make_image([{"t": b"token"}]), f"{reg.host}/cached:1")
    token_calls: list[str] = []

    async def count(_s: Any, _ctx: Any, params: aiohttp.TraceRequestEndParams) -> None:
        if params.url.path == "/token":
            token_calls.append(params.url.query.get("scope", ""))

    async def go(svc: DistributionService) -> None:
        tc = aiohttp.TraceConfig()
        tc.on_request_end.append(count)
        svc.client._session = aiohttp.ClientSession(trace_configs=[tc], auto_decompress=False)
        job = await svc.prepare_push(f"{reg.host}/cached", "1", good)
        [m async for m in svc.run_push(job)]
        job2 = await svc.prepare_push(f"{reg.host}/cached", "1", good)
        [m async for m in svc.run_push(job2)]

    store.run(go)
    # one token for the repository's pull,push scope, reused by every request of both pushes
    assert token_calls == ["repository:cached:pull,push"], token_calls


def _ca_and_server_cert(tmp_path: Any) -> tuple[str, str, str]:
    """A test CA and a server certificate it signed for 127.0.0.1 and reg.example: (ca, cert, key) paths."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "dockyard test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "reg.example")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("reg.example"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = (tmp_path / "ca.crt", tmp_path / "server.crt", tmp_path / "server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(paths[0]), str(paths[1]), str(paths[2])


def test_https_registry_and_certs_d(tmp_path: Any, store: Store) -> None:
    import ssl

    from dockyard.registry.config import TLSConfig

    ca, cert, key = _ca_and_server_cert(tmp_path)
    cfg = RegistryConfig(root=str(tmp_path / "tls-reg"), access_log=False, tls=TLSConfig(cert, key))
    with RunningRegistry(cfg) as reg:
        assert reg.url.startswith("https://")
        host = f"127.0.0.1:{reg.port}"
        # a loopback registry is insecure: HTTPS without verification, no fallback to HTTP needed
        _load_local(store, make_image([{"tls": b"over https"}], compression="none"), f"{host}/secure:1")
        assert statuses(store.push(f"{host}/secure", "1")).count("Pushed") == 1
        fresh = new_store()
        try:
            fresh.pull(f"{host}/secure", "1")
            assert fresh.rootfs_file(f"{host}/secure:1", "tls") == b"over https"
        finally:
            shutil.rmtree(fresh.root, ignore_errors=True)

        # a secure registry is verified against the system CAs plus certs.d/<host>/*.crt
        certs_d = tmp_path / "certs.d"
        (certs_d / "reg.example").mkdir(parents=True)
        shutil.copy(ca, certs_d / "reg.example" / "ca.crt")

        def handshake(ctx: ssl.SSLContext) -> None:
            with (
                socket.create_connection(("127.0.0.1", reg.port), timeout=10) as raw,
                ctx.wrap_socket(raw, server_hostname="reg.example"),
            ):
                pass

        handshake(RegistryHosts(certs_dirs=[str(certs_d)]).tls_context("reg.example"))
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(RegistryHosts(certs_dirs=[str(tmp_path / "empty")]).tls_context("reg.example"))


def test_removing_a_pulled_image_keeps_content_other_images_share(dockyard_registry: Registry, store: Store) -> None:
    from dockyard.oci.digest import Digest

    reg = dockyard_registry
    base = {"base/lib": b"shared" * 1000}
    one = make_image([base, {"one": b"1"}])
    two = make_image([base, {"two": b"2"}])
    upload_raw(reg.url, "one", one, "1")
    upload_raw(reg.url, "two", two, "1")
    store.pull(f"{reg.host}/one", "1")
    st = statuses(store.pull(f"{reg.host}/two", "1"))
    assert st.count("Already exists") == 1  # the shared base layer
    shared, only_one = Digest.parse(sha(one.blobs[1])), Digest.parse(sha(one.blobs[2]))

    asyncio.run(store.images.remove(f"{reg.host}/one:1"))
    assert store.images.content.exists(shared)
    assert not store.images.content.exists(only_one)
    assert store.rootfs_file(f"{reg.host}/two:1", "base/lib") == b"shared" * 1000
    asyncio.run(store.images.remove(f"{reg.host}/two:1"))
    assert store.blob_count() == 0
    assert [k for k in store.images.snapshotter.all_keys()] == []


def test_concurrent_pulls_of_shared_layers(dockyard_registry: Registry, store: Store) -> None:
    reg = dockyard_registry
    base = {"base/big": bytes(range(256)) * 4000}
    for name in ("c1", "c2", "c3"):
        upload_raw(reg.url, name, make_image([base, {name: name.encode()}]), "1")

    async def go(svc: DistributionService) -> list[list[dict[str, Any]]]:
        async def one(name: str) -> list[dict[str, Any]]:
            job = await svc.prepare_pull(f"{reg.host}/{name}", "1", "", AuthConfig())
            return [m async for m in svc.run_pull(job)]

        return list(await asyncio.gather(*(one(n) for n in ("c1", "c2", "c3"))))

    results = store.run(go)
    for name, msgs in zip(("c1", "c2", "c3"), results, strict=True):
        assert statuses(msgs)[-1] == f"Status: Downloaded newer image for {reg.host}/{name}:1"
        assert store.rootfs_file(f"{reg.host}/{name}:1", name) == name.encode()
        assert store.rootfs_file(f"{reg.host}/{name}:1", "base/big") == bytes(range(256)) * 4000
    # one snapshot for the shared base and one per image on top of it
    assert len([k for k in store.images.snapshotter.all_keys() if k.startswith("sha256:")]) == 4
    assert not [n for n in os.listdir(store.images.tmp_dir) if n.startswith("unpack-")]
