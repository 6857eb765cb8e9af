"""An async client for the registry HTTP API v2: endpoints, auth challenges, tokens, retries.

One ``RegistryClient`` per daemon holds the HTTP session and a token cache; ``repository()``
gives a ``Repository`` bound to one name, credentials and the actions it needs (``pull`` or
``pull,push``). Requests that get ``401`` answer the challenge (Bearer token or Basic) and are
sent once more; connection errors and ``5xx`` are retried with back-off.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from dockyard import errors
from dockyard.distribution.authconfig import AuthConfig
from dockyard.distribution.challenge import Challenge, parse_challenges
from dockyard.distribution.hosts import Endpoint, RegistryHosts
from dockyard.oci.digest import Digest

__all__ = ["RegistryClient", "Repository", "Response", "registry_error"]

USER_AGENT = "dockyard/0.1.0"
_RETRIES = 3
_BACKOFF = 0.25  # seconds, doubled after each attempt
_TOKEN_SLACK = 10.0  # refresh tokens this many seconds before they expire


@dataclass(frozen=True)
class _Token:
    value: str
    expires: float


@dataclass
class Response:
    """A finished or streaming response; ``release()`` it when streaming."""

    status: int
    headers: Mapping[str, str]
    raw: aiohttp.ClientResponse
    url: str

    async def read(self) -> bytes:
        return await self.raw.read()

    async def iter_chunks(self, size: int = 1 << 20) -> AsyncIterator[bytes]:
        async for chunk in self.raw.content.iter_chunked(size):
            yield chunk

    def release(self) -> None:
        self.raw.release()


def registry_error(status: int, body: bytes) -> str:
    """``code: message`` of the first error in a registry's JSON error body (Docker's wording)."""
    try:
        obj = json.loads(body)
        errs = obj.get("errors") if isinstance(obj, dict) else None
        if isinstance(errs, list) and errs and isinstance(errs[0], dict):
            code = str(errs[0].get("code", "")).lower().replace("_", " ")
            message = str(errs[0].get("message", "")) or code
            return f"{code}: {message}" if code else message
        if isinstance(obj, dict) and "details" in obj:
            return str(obj["details"])
    except (ValueError, UnicodeDecodeError):
        pass
    text = body.decode(errors="replace").strip()
    return text[:200] or f"unexpected status {status}"


def _error_code(body: bytes) -> str:
    try:
        obj = json.loads(body)
        return str(obj["errors"][0]["code"])
    except (ValueError, UnicodeDecodeError, KeyError, IndexError, TypeError):
        return ""


class RegistryClient:
    """The daemon's registry client: one HTTP session, endpoint rules and a token cache."""

    def __init__(self, hosts: RegistryHosts | None = None, *, timeout: float = 60.0) -> None:
        self.hosts = hosts or RegistryHosts()
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._tokens: dict[tuple[str, str, str, str], _Token] = {}
        self._schemes: dict[str, str] = {}  # host -> "https" | "http", learnt for insecure hosts

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=32),
                timeout=aiohttp.ClientTimeout(total=None, connect=self._timeout, sock_read=self._timeout),
                headers={"User-Agent": USER_AGENT},
                auto_decompress=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def repository(self, domain: str, path: str, auth: AuthConfig, actions: str = "pull") -> Repository:
        return Repository(self, domain, path, auth, actions)

    # --- tokens ------------------------------------------------------------------

    async def token(self, challenge: Challenge, scope: str, auth: AuthConfig, ssl_ctx: Any) -> str:
        realm = challenge.realm
        if not realm:
            raise errors.Unavailable("registry sent a Bearer challenge without a realm")
        service = challenge.params.get("service", "")
        key = (realm, service, scope, auth.username + "\0" + auth.password + "\0" + auth.identity_token)
        cached = self._tokens.get(key)
        if cached is not None and cached.expires > time.monotonic() + _TOKEN_SLACK:
            return cached.value
        if auth.registry_token:
            return auth.registry_token
        params = [("service", service)] if service else []
        if scope:
            params.append(("scope", scope))
        headers: dict[str, str] = {}
        if auth.identity_token:
            form = {"grant_type": "refresh_token", "refresh_token": auth.identity_token, "client_id": "dockyard"}
            form.update({"service": service, "scope": scope})
            req = self.session().post(realm, data=form, ssl=ssl_ctx)
        else:
            if auth.username:
                headers["Authorization"] = _basic(auth)
            req = self.session().get(realm, params=params, headers=headers, ssl=ssl_ctx)
        try:
            async with req as resp:
                body = await resp.read()
                if resp.status in (401, 403):
                    raise errors.Unauthorized(f"unauthorized: {_token_error(body) or 'incorrect username or password'}")
                if resp.status != 200:
                    raise errors.Unavailable(
                        f"token server {realm} answered {resp.status}: {registry_error(resp.status, body)}"
                    )
        except aiohttp.ClientError as exc:
            raise errors.Unavailable(f'Get "{realm}": {exc}') from None
        try:
            obj = json.loads(body)
            value = str(obj.get("token") or obj.get("access_token") or "")
            expires_in = float(obj.get("expires_in") or 60)
        except (ValueError, AttributeError):
            raise errors.Unavailable(f"token server {realm} sent an invalid response") from None
        if not value:
            raise errors.Unavailable(f"token server {realm} sent no token")
        self._tokens[key] = _Token(value, time.monotonic() + expires_in)
        return value

    def forget_token(self, challenge: Challenge, scope: str, auth: AuthConfig) -> None:
        key = (
            challenge.realm,
            challenge.params.get("service", ""),
            scope,
            auth.username + "\0" + auth.password + "\0" + auth.identity_token,
        )
        self._tokens.pop(key, None)


def _basic(auth: AuthConfig) -> str:
    return "Basic " + base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()


def _token_error(body: bytes) -> str:
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    if isinstance(obj, dict):
        if obj.get("errors"):
            return registry_error(401, body).split(": ", 1)[-1]
        for k in ("details", "error_description", "error"):
            if obj.get(k):
                return str(obj[k])
    return ""


class Repository:
    """Requests against one repository with one set of credentials."""

    def __init__(self, client: RegistryClient, domain: str, path: str, auth: AuthConfig, actions: str) -> None:
        self.client = client
        self.domain = domain
        self.path = path
        self.auth = auth
        self.actions = actions
        self.endpoints = client.hosts.endpoints(domain)
        if "push" in actions:
            self.endpoints = [e for e in self.endpoints if not e.mirror]  # never push to a mirror
        self.endpoint: Endpoint = self.endpoints[-1]
        self._challenge: Challenge | None = None
        self._authz: dict[str, str] = {}  # scope -> Authorization header value

    @property
    def scope(self) -> str:
        """The token scope for this repository; none for registry-wide calls such as login's ``/v2/``."""
        return f"repository:{self.path}:{self.actions}" if self.path and self.actions else ""

    def _base(self, ep: Endpoint) -> str:
        host = ep.host
        scheme = self.client._schemes.get(host)
        if scheme is None:
            scheme = ep.url.split("://", 1)[0]
        return f"{scheme}://{host}"

    def _ssl(self, url: str) -> Any:
        if url.startswith("https://"):
            return self.client.hosts.tls_context(url.split("://", 1)[1].split("/", 1)[0])
        return None

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        params: Mapping[str, str] | None = None,
        endpoint: Endpoint | None = None,
        retry: bool = True,
        scope: str = "",
    ) -> Response:
        """One request to ``/v2/<path>`` (``path`` relative to ``/v2/``, or an absolute URL) on ``endpoint``.

        Returns the response unread (callers ``read()`` or stream it); answers auth challenges.
        """
        ep = endpoint or self.endpoint
        attempt = 0
        delay = _BACKOFF
        while True:
            try:
                return await self._request_once(method, path, headers, data, params, ep, scope or self.scope)
            except _Retryable as exc:
                attempt += 1
                if not retry or attempt >= _RETRIES or (data is not None and not isinstance(data, (bytes, str))):
                    raise errors.Unavailable(exc.message) from None
                await asyncio.sleep(delay)
                delay *= 2

    async def _request_once(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None,
        data: Any,
        params: Mapping[str, str] | None,
        ep: Endpoint,
        scope: str,
    ) -> Response:
        fell_back = False
        for round_ in range(2):  # the second round after answering a challenge
            url = path if "://" in path else f"{self._base(ep)}/v2/{path}"
            hdrs = dict(headers or {})
            authz = self._authz.get(scope)
            if authz:
                hdrs["Authorization"] = authz
            try:
                raw = await self.client.session().request(
                    method, url, headers=hdrs, data=data, params=params, ssl=self._ssl(url), allow_redirects=True
                )
            except (TimeoutError, aiohttp.ClientError) as exc:
                if not fell_back and self._fallback_to_http(ep, url):
                    fell_back = True
                    return await self._request_once(method, path, headers, data, params, ep, scope)
                if isinstance(exc, aiohttp.ClientConnectorError):
                    raise _Retryable(f'{method.capitalize()} "{url}": dial tcp {ep.host}: {_reason(exc)}') from None
                raise _Retryable(f'{method.capitalize()} "{url}": {exc or type(exc).__name__}') from None
            if raw.status == 401:
                body = await raw.read()
                raw.release()
                if round_ == 1:
                    raise errors.Unauthorized(f"unauthorized: {registry_error(401, body)}")
                if authz and self._challenge is not None:
                    # the cached token was refused (expired or revoked): fetch a fresh one
                    self.client.forget_token(self._challenge, scope, self.auth)
                challenges = parse_challenges(raw.headers.get("WWW-Authenticate", ""))
                if not challenges:
                    raise errors.Unauthorized(f"unauthorized: {registry_error(401, body)}")
                await self._answer(challenges, scope, url)
                continue
            if raw.status >= 500:
                body = await raw.read()
                raw.release()
                raise _Retryable(f'{method.capitalize()} "{url}": {raw.status}: {registry_error(raw.status, body)}')
            return Response(raw.status, raw.headers, raw, str(raw.url))
        raise errors.Internal("unreachable")

    def _fallback_to_http(self, ep: Endpoint, url: str) -> bool:
        """Insecure registries are tried over HTTPS first, then over plain HTTP (Docker's order)."""
        if ep.insecure and url.startswith("https://") and self.client._schemes.get(ep.host) is None:
            self.client._schemes[ep.host] = "http"
            return True
        return False

    async def _answer(self, challenges: list[Challenge], scope: str, url: str) -> None:
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        if bearer is not None:
            self._challenge = bearer
            token = await self.client.token(bearer, scope, self.auth, self._ssl(bearer.realm))
            self._authz[scope] = f"Bearer {token}"
            return
        if any(c.scheme == "basic" for c in challenges):
            if not self.auth.username:
                raise errors.Unauthorized("unauthorized: authentication required")
            self._authz[scope] = _basic(self.auth)
            return
        raise errors.Unauthorized(f"unsupported authentication scheme from {url}")

    # --- conveniences --------------------------------------------------------

    async def ping(self) -> None:
        """``GET /v2/``: checks that the endpoint speaks the v2 API and accepts our credentials."""
        resp = await self.request("GET", "", scope=self.scope)
        body = await resp.read()
        resp.release()
        if resp.status == 401:
            raise errors.Unauthorized(f"unauthorized: {registry_error(401, body)}")
        if resp.status != 200:
            raise errors.Unavailable(f"registry {self.endpoint.url} answered {resp.status} to /v2/")

    async def blob_exists(self, digest: Digest) -> bool:
        resp = await self.request("HEAD", f"{self.path}/blobs/{digest}")
        resp.release()
        return resp.status == 200


class _Retryable(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _reason(exc: aiohttp.ClientConnectorError) -> str:
    os_err = exc.os_error
    if isinstance(os_err, ConnectionRefusedError):
        return "connect: connection refused"
    return str(os_err.strerror or os_err) if os_err is not None else str(exc)
