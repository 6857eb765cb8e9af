"""Where a registry domain is reached: mirrors first, then the origin; HTTPS, or HTTP when allowed.

Docker's rules: loopback registries and those under ``insecure-registries`` (host names, ``host:port``
or CIDR ranges) may use plain HTTP; TLS trusts the system CAs plus ``<certs_dir>/<host[:port]>/*.crt``
(Docker's certs.d layout), with ``client.cert``/``client.key`` as a client certificate.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from dockyard import errors

__all__ = ["DOCKER_HUB_DOMAIN", "DOCKER_HUB_HOST", "Endpoint", "RegistryHosts"]

DOCKER_HUB_DOMAIN = "docker.io"
DOCKER_HUB_HOST = "registry-1.docker.io"
DEFAULT_CERTS_DIRS = ("/etc/dockyard/certs.d", "/etc/docker/certs.d")


@dataclass(frozen=True)
class Endpoint:
    """One base URL to try for a domain; ``mirror`` endpoints may be skipped on errors."""

    url: str  # scheme://host[:port], no trailing slash
    insecure: bool  # plain HTTP allowed (tried after HTTPS fails when the scheme was not given)
    mirror: bool = False

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or host.startswith("[") else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class RegistryHosts:
    """Endpoint lists and TLS contexts from the daemon's registry settings."""

    def __init__(
        self,
        mirrors: Sequence[str] = (),
        insecure: Sequence[str] = (),
        certs_dirs: Sequence[str] = DEFAULT_CERTS_DIRS,
    ) -> None:
        self._mirrors = [m.rstrip("/") for m in mirrors]
        self._insecure_hosts: set[str] = set()
        self._insecure_nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in insecure:
            text = item.strip()
            if "://" in text:
                text = urlsplit(text).netloc
            try:
                self._insecure_nets.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                self._insecure_hosts.add(text.rstrip("/"))
        self._certs_dirs = tuple(certs_dirs)
        self._tls: dict[str, ssl.SSLContext] = {}

    def is_insecure(self, host: str) -> bool:
        if _is_loopback(host) or host in self._insecure_hosts or host.rsplit(":", 1)[0] in self._insecure_hosts:
            return True
        name = host.rsplit(":", 1)[0].strip("[]")
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            return False
        return any(ip in net for net in self._insecure_nets)

    def endpoints(self, domain: str) -> list[Endpoint]:
        """Mirrors (for every registry, not only Docker Hub) and then the origin."""
        out: list[Endpoint] = []
        for m in self._mirrors:
            if "://" not in m:
                m = ("http://" if self.is_insecure(m) else "https://") + m
            out.append(Endpoint(m, self.is_insecure(urlsplit(m).netloc), mirror=True))
        host = DOCKER_HUB_HOST if domain == DOCKER_HUB_DOMAIN else domain
        out.append(Endpoint(f"https://{host}", self.is_insecure(host)))
        return out

    def tls_context(self, host: str) -> ssl.SSLContext:
        """The system CAs plus the host's certs.d CAs and client certificate, cached per host.

        Insecure registries are still tried over HTTPS first, but without verifying the certificate
        (Docker's meaning of ``insecure-registries``).
        """
        ctx = self._tls.get(host)
        if ctx is not None:
            return ctx
        ctx = ssl.create_default_context()
        if self.is_insecure(host):
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        for base in self._certs_dirs:
            d = os.path.join(base, host)
            if not os.path.isdir(d):
                continue
            for name in sorted(os.listdir(d)):
                path = os.path.join(d, name)
                try:
                    if name.endswith(".crt"):
                        ctx.load_verify_locations(cafile=path)
                    elif name.endswith(".cert"):
                        key = path[: -len(".cert")] + ".key"
                        if not os.path.exists(key):
                            raise errors.InvalidArgument(f"missing key {key} for client certificate {path}")
                        ctx.load_cert_chain(path, key)
                except (ssl.SSLError, OSError) as exc:
                    raise errors.InvalidArgument(f"invalid certificate {path}: {exc}") from None
        self._tls[host] = ctx
        return ctx
