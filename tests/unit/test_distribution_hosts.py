"""Endpoint rules: loopback and listed registries may use HTTP; mirrors come first, for any registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.daemon.config import config_from_mapping
from dockyard.distribution.hosts import RegistryHosts
from dockyard.errors import InvalidArgument


def test_loopback_and_listed_registries_are_insecure() -> None:
    hosts = RegistryHosts(insecure=["myreg.local:5000", "10.1.0.0/16", "http://plain.example"])
    assert hosts.is_insecure("127.0.0.1:5000")
    assert hosts.is_insecure("127.3.2.1:80")
    assert hosts.is_insecure("localhost:5000")
    assert hosts.is_insecure("myreg.local:5000")
    assert hosts.is_insecure("10.1.200.3:443")
    assert hosts.is_insecure("plain.example")
    assert not hosts.is_insecure("10.2.0.1:5000")
    assert not hosts.is_insecure("registry.example.com")


def test_mirrors_first_then_origin_for_any_registry() -> None:
    hosts = RegistryHosts(mirrors=["https://mirror.example", "127.0.0.1:7000"])
    eps = hosts.endpoints("quay.io")
    assert [e.url for e in eps] == ["https://mirror.example", "http://127.0.0.1:7000", "https://quay.io"]
    assert [e.mirror for e in eps] == [True, True, False]
    assert hosts.endpoints("docker.io")[-1].url == "https://registry-1.docker.io"


def test_certs_dir_ca_is_loaded(tmp_path: Path) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "test-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    d = tmp_path / "reg.example:5000"
    d.mkdir()
    (d / "ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    hosts = RegistryHosts(certs_dirs=[str(tmp_path)])
    ctx = hosts.tls_context("reg.example:5000")
    subjects = [c.get("subject") for c in ctx.get_ca_certs()]
    assert ((("commonName", "test-ca"),),) in subjects
    (d / "bad.crt").write_text("not a certificate")
    with pytest.raises(InvalidArgument):
        RegistryHosts(certs_dirs=[str(tmp_path)]).tls_context("reg.example:5000")


def test_daemon_config_registry_keys() -> None:
    cfg = config_from_mapping(
        {
            "registry-mirrors": ["https://m.example"],
            "insecure-registries": ["10.0.0.0/8"],
            "max-concurrent-downloads": 5,
            "max-concurrent-uploads": 2,
        }
    )
    assert cfg.registry_mirrors == ("https://m.example",)
    assert cfg.insecure_registries == ("10.0.0.0/8",)
    assert (cfg.max_concurrent_downloads, cfg.max_concurrent_uploads) == (5, 2)
    assert config_from_mapping({}).max_concurrent_downloads == 3
    with pytest.raises(InvalidArgument):
        config_from_mapping({"max-concurrent-downloads": 0})
    with pytest.raises(InvalidArgument):
        config_from_mapping({"registry-mirrors": "https://m.example"})


def test_daemon_flags_add_mirrors_and_insecure_registries() -> None:
    from dockyard.daemon.main import build_config, parse_args

    cfg = build_config(
        parse_args(
            [
                "--registry-mirror",
                "http://127.0.0.1:9",
                "--insecure-registry",
                "10.0.0.0/8",
                "--max-concurrent-downloads",
                "4",
            ]
        )
    )
    assert cfg.registry_mirrors == ("http://127.0.0.1:9",)
    assert cfg.insecure_registries == ("10.0.0.0/8",)
    assert (cfg.max_concurrent_downloads, cfg.max_concurrent_uploads) == (4, 5)
