"""Image references normalised the way Docker does.

``busybox`` -> ``docker.io/library/busybox:latest``; ``localhost:5000/a/b@sha256:..``
keeps its registry; ``familiar()`` gives back the short form Docker prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Digest

__all__ = ["DEFAULT_DOMAIN", "LEGACY_DOMAINS", "Reference", "parse_reference"]

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAINS = frozenset({"index.docker.io", "registry-1.docker.io"})
OFFICIAL_PREFIX = "library/"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DOMAIN_RE = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
    r"(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*"
    r"(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$"
)
_HEX64 = re.compile(r"^[a-f0-9]{64}$")


@dataclass(frozen=True)
class Reference:
    """A normalised reference: domain, path, and a tag and/or a digest."""

    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    @property
    def name(self) -> str:
        """``domain/path`` without tag or digest."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + str(self.digest)
        return s

    def familiar_name(self) -> str:
        """The repository as Docker prints it (``busybox``, ``me/app``, ``host:5000/x``)."""
        if self.domain == DEFAULT_DOMAIN:
            if self.path.startswith(OFFICIAL_PREFIX) and "/" not in self.path[len(OFFICIAL_PREFIX) :]:
                return self.path[len(OFFICIAL_PREFIX) :]
            return self.path
        return self.name

    def familiar(self) -> str:
        s = self.familiar_name()
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + str(self.digest)
        return s

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: Digest) -> Reference:
        return Reference(self.domain, self.path, None, digest)

    def tagged(self) -> Reference:
        """This reference with ``latest`` filled in when it has neither tag nor digest."""
        if self.tag is None and self.digest is None:
            return Reference(self.domain, self.path, "latest", None)
        return self

    def is_docker_hub(self) -> bool:
        return self.domain == DEFAULT_DOMAIN


def looks_like_id(text: str) -> bool:
    """A bare 64-hex string is an image ID, never a repository name (Docker's rule)."""
    return bool(_HEX64.match(text))


def parse_reference(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise ``text``; raise InvalidArgument with Docker's wording."""
    if not text:
        raise InvalidArgument("invalid reference format")
    if looks_like_id(text):
        raise InvalidArgument(f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    remainder = text
    digest: Digest | None = None
    if "@" in remainder:
        remainder, dpart = remainder.split("@", 1)
        try:
            digest = Digest.parse(dpart)
        except InvalidArgument:
            raise InvalidArgument("invalid reference format") from None
    tag: str | None = None
    slash = remainder.rfind("/")
    colon = remainder.rfind(":")
    if colon > slash:
        remainder, tag = remainder[:colon], remainder[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise InvalidArgument("invalid reference format")
    first, sep, rest = remainder.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = first, rest
        if not _DOMAIN_RE.match(domain):
            raise InvalidArgument("invalid reference format")
    else:
        domain, path = DEFAULT_DOMAIN, remainder
    if domain in LEGACY_DOMAINS:
        domain = DEFAULT_DOMAIN
    if path != path.lower():
        raise InvalidArgument("invalid reference format: repository name must be lowercase")
    if not _NAME_RE.match(path):
        raise InvalidArgument("invalid reference format")
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    if len(domain) + 1 + len(path) > 255:
        raise InvalidArgument("invalid reference format: repository name must not be more than 255 characters")
    ref = Reference(domain, path, tag, digest)
    return ref.tagged() if default_tag else ref
