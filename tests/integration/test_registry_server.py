"""The registry as a server: TLS, metrics, access log, the command line, concurrent pushes, hostile clients."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dockyard.registry import RegistryConfig, RunningRegistry
from dockyard.registry.config import TLSConfig

pytestmark = pytest.mark.registry


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RunningRegistry]:
    with RunningRegistry(RegistryConfig(root=str(tmp_path / "root"), access_log=True)) as reg:
        yield reg


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_tls(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    config = RegistryConfig(root=str(tmp_path / "root"), tls=TLSConfig(str(cert), str(key)), access_log=False)
    with RunningRegistry(config) as reg:
        assert reg.url.startswith("https://")
        r = requests.get(f"{reg.url}/v2/", verify=str(cert), timeout=30)
        assert r.status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{reg.url}/v2/", timeout=30)  # not trusted by default
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"http://127.0.0.1:{reg.port}/v2/", timeout=30)


def test_metrics_count_requests_bytes_and_uploads(registry: RunningRegistry) -> None:
    data = os.urandom(5000)
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    assert (
        requests.post(f"{registry.url}/v2/m/blobs/uploads/", params={"digest": d}, data=data, timeout=30).status_code
        == 201
    )
    assert requests.get(f"{registry.url}/v2/m/blobs/{d}", timeout=30).status_code == 200
    assert requests.get(f"{registry.url}/v2/m/blobs/sha256:bad", timeout=30).status_code == 400
    loc = requests.post(f"{registry.url}/v2/m/blobs/uploads/", timeout=30).headers["Location"]
    assert requests.delete(registry.url + loc, timeout=30).status_code == 204
    # Bytes sent are counted just after each response is on the wire: poll until the blob GET shows.
    deadline = time.monotonic() + 10
    while True:
        text = requests.get(f"{registry.url}/metrics", timeout=30).text
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                values[key] = float(value)
        if values.get("dockyard_registry_bytes_sent_total", 0) >= 5000 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert values['dockyard_registry_http_requests_total{method="POST",route="upload",status="201"}'] == 1
    assert values['dockyard_registry_http_requests_total{method="GET",route="blob",status="200"}'] == 1
    assert values['dockyard_registry_http_requests_total{method="GET",route="blob",status="400"}'] == 1
    assert values["dockyard_registry_bytes_received_total"] == 5000
    assert values["dockyard_registry_bytes_sent_total"] >= 5000
    assert values['dockyard_registry_uploads_total{outcome="started"}'] == 2
    assert values['dockyard_registry_uploads_total{outcome="completed"}'] == 1
    assert values['dockyard_registry_uploads_total{outcome="cancelled"}'] == 1
    assert "# TYPE dockyard_registry_http_requests_total counter" in text


def test_access_log_is_json_lines(registry: RunningRegistry, caplog: pytest.LogCaptureFixture) -> None:
    entries: list[dict[str, object]] = []
    with caplog.at_level(logging.INFO, logger="dockyard.registry.access"):
        requests.get(f"{registry.url}/v2/some/repo/tags/list", headers={"User-Agent": "probe/1"}, timeout=30)
        # The server logs just after the response is on the wire: poll for it.
        deadline = time.monotonic() + 10
        while not entries and time.monotonic() < deadline:
            entries = [json.loads(r.getMessage()) for r in caplog.records if r.name == "dockyard.registry.access"]
            time.sleep(0.02)
    assert entries, "no access log entries"
    e = entries[-1]
    assert e["method"] == "GET" and e["status"] == 404 and e["route"] == "tags"
    assert e["repository"] == "some/repo" and e["user_agent"] == "probe/1"
    assert e["path"] == "/v2/some/repo/tags/list"


def test_concurrent_pushes_of_the_same_blob(registry: RunningRegistry) -> None:
    data = os.urandom(2_000_000)
    d = "sha256:" + hashlib.sha256(data).hexdigest()

    def push(i: int) -> int:
        with requests.Session() as s:
            loc = s.post(f"{registry.url}/v2/c{i % 3}/blobs/uploads/", timeout=30).headers["Location"]
            mid = len(data) // 2
            s.patch(registry.url + loc, data=data[:mid], headers={"Content-Range": f"0-{mid - 1}"}, timeout=30)
            return s.put(registry.url + loc, params={"digest": d}, data=data[mid:], timeout=60).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(push, range(6))) == [201] * 6
    for i in range(3):
        r = requests.get(f"{registry.url}/v2/c{i}/blobs/{d}", timeout=30)
        assert r.content == data


def test_truncated_body_from_a_dropped_client(registry: RunningRegistry) -> None:
    data = os.urandom(100_000)
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    loc = requests.post(f"{registry.url}/v2/t/blobs/uploads/", timeout=30).headers["Location"]
    # Announce 100000 bytes, send 40000, hang up.
    with socket.create_connection(("127.0.0.1", registry.port), timeout=30) as sock:
        head = (
            f"PATCH {loc} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {len(data)}\r\nContent-Range: 0-{len(data) - 1}\r\n\r\n"
        )
        sock.sendall(head.encode() + data[:40_000])
        sock.shutdown(socket.SHUT_WR)
        sock.recv(65536)
    # The upload survives with what arrived; the client resumes from the reported offset.
    offset = 0
    for _ in range(100):
        r = requests.get(registry.url + loc, timeout=30)
        assert r.status_code == 204
        offset = int(r.headers["Range"].split("-")[1]) + 1
        if offset == 40_000:
            break
        time.sleep(0.05)
    assert offset == 40_000
    r = requests.put(
        registry.url + loc,
        params={"digest": d},
        data=data[offset:],
        headers={"Content-Range": f"{offset}-{len(data) - 1}"},
        timeout=30,
    )
    assert r.status_code == 201
    assert requests.get(f"{registry.url}/v2/t/blobs/{d}", timeout=30).content == data
    # A single-POST upload cut short stores nothing.
    with socket.create_connection(("127.0.0.1", registry.port), timeout=30) as sock:
        head = f"POST /v2/t2/blobs/uploads/?digest={d} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n"
        sock.sendall(head.encode() + data[:1000])
        sock.shutdown(socket.SHUT_WR)
        sock.recv(65536)
    assert requests.head(f"{registry.url}/v2/t2/blobs/{d}", timeout=30).status_code == 404
    assert 'status="500"' not in requests.get(f"{registry.url}/metrics", timeout=30).text


def test_command_line_serve(tmp_path: Path) -> None:
    cfg = tmp_path / "registry.yaml"
    cfg.write_text(f"root: {tmp_path / 'root'}\naddr: 127.0.0.1:0\ndelete: {{enabled: false}}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockyard.registry", "serve", "--config", str(cfg)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        url = ""
        for _ in range(50):
            line = proc.stderr.readline()
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                url = m.group(1)
                break
        assert url, "server did not report its address"
        assert requests.get(f"{url}/v2/", timeout=30).status_code == 200
        r = requests.delete(f"{url}/v2/a/manifests/sha256:{'0' * 64}", timeout=30)
        assert r.status_code == 405
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def test_abandoned_uploads_are_removed_in_the_background(tmp_path: Path) -> None:
    config = RegistryConfig(root=str(tmp_path / "root"), access_log=False, upload_ttl=0.3, purge_interval=0.1)
    with RunningRegistry(config) as reg:
        loc = requests.post(f"{reg.url}/v2/x/blobs/uploads/", timeout=30).headers["Location"]
        deadline = time.monotonic() + 15
        status, counted = 204, False
        while time.monotonic() < deadline:
            status = requests.get(reg.url + loc, timeout=30).status_code
            text = requests.get(f"{reg.url}/metrics", timeout=30).text
            counted = 'dockyard_registry_uploads_total{outcome="expired"} 1' in text
            if status == 404 and counted:
                break
            time.sleep(0.1)
        assert status == 404
        assert counted
        assert not list((tmp_path / "root" / "_uploads").iterdir())
