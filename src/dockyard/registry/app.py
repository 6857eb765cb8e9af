"""The OCI distribution API over aiohttp: routing, auth, headers. State lives in ``RegistryStore``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientPayloadError, web

from dockyard.oci import Digest
from dockyard.oci import mediatypes as mt
from dockyard.registry.accesslog import (
    ACCESS_LOG_ENABLED_KEY,
    ACCOUNT_KEY,
    METRICS_KEY,
    REPOSITORY_KEY,
    ROUTE_KEY,
    UPLOAD_LOCATION_KEY,
)
from dockyard.registry.auth import (
    CATALOG,
    AccessPolicy,
    Authorizer,
    BasicAuth,
    NoAuth,
    Scope,
    TokenAuth,
    TokenIssuer,
    TokenKey,
    UserDB,
)
from dockyard.registry.auth.endpoint import TokenService
from dockyard.registry.config import AuthConfig, RegistryConfig
from dockyard.registry.errors import (
    BlobUploadInvalid,
    DigestInvalid,
    RangeInvalid,
    RangeUnsatisfiable,
    RouteUnknown,
    TooLarge,
    TooManyRequests,
    Unauthorized,
    Unsupported,
    error_body,
    error_for,
)
from dockyard.registry.http import next_link, paginate, parse_content_range, parse_n, parse_range, upload_range
from dockyard.registry.metrics import Metrics
from dockyard.registry.names import check_name, check_upload_id, parse_digest, parse_reference
from dockyard.registry.storage import Driver, FilesystemDriver
from dockyard.registry.store import RegistryStore

__all__ = ["STORE_KEY", "build_app", "build_auth"]

log = logging.getLogger("dockyard.registry")

STORE_KEY = web.AppKey("store", RegistryStore)
_PURGE_KEY = web.AppKey("purge_task", asyncio.Task)  # type: ignore[type-arg]
_CHUNK = 1 << 20
_API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")

Handler = Callable[[web.Request, dict[str, str]], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class _Route:
    name: str
    pattern: re.Pattern[str]
    methods: dict[str, tuple[str, frozenset[str]]]
    """HTTP method -> (handler attribute, actions needed on the repository)."""


_PULL, _PUSH, _DELETE = frozenset({"pull"}), frozenset({"push"}), frozenset({"delete"})
_ROUTES = (
    _Route("upload", re.compile(r"^(?P<name>.+)/blobs/uploads/?$"), {"POST": ("start_upload", _PUSH)}),
    _Route(
        "upload",
        re.compile(r"^(?P<name>.+)/blobs/uploads/(?P<id>[^/]+)$"),
        {
            "GET": ("upload_status", _PUSH),
            "PATCH": ("patch_upload", _PUSH),
            "PUT": ("put_upload", _PUSH),
            "DELETE": ("cancel_upload", _PUSH),
        },
    ),
    _Route(
        "blob",
        re.compile(r"^(?P<name>.+)/blobs/(?P<digest>[^/]+)$"),
        {"GET": ("get_blob", _PULL), "HEAD": ("get_blob", _PULL), "DELETE": ("delete_blob", _DELETE)},
    ),
    _Route(
        "manifest",
        re.compile(r"^(?P<name>.+)/manifests/(?P<reference>[^/]+)$"),
        {
            "GET": ("get_manifest", _PULL),
            "HEAD": ("get_manifest", _PULL),
            "PUT": ("put_manifest", _PUSH),
            "DELETE": ("delete_manifest", _DELETE),
        },
    ),
    _Route("tags", re.compile(r"^(?P<name>.+)/tags/list$"), {"GET": ("list_tags", _PULL)}),
    _Route("referrers", re.compile(r"^(?P<name>.+)/referrers/(?P<digest>[^/]+)$"), {"GET": ("referrers", _PULL)}),
)


def _realm_base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


class RegistryAPI:
    """Request handlers; each parses, authorizes, makes one store call and answers."""

    def __init__(self, store: RegistryStore, config: RegistryConfig, authorizer: Authorizer, metrics: Metrics) -> None:
        self.store = store
        self.config = config
        self.authorizer = authorizer
        self.metrics = metrics
        self._streaming = 0  # request bodies being received now (this process)

    # -- plumbing ----------------------------------------------------------

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            resp = await handler(request)
        except web.HTTPException:
            raise
        except Exception as exc:
            wire = error_for(exc)
            if wire.status >= 500:
                log.exception("error serving %s %s", request.method, request.path)
            resp = web.Response(status=wire.status, body=error_body(wire), content_type="application/json")
            if isinstance(exc, Unauthorized) and exc.challenge:
                resp.headers["WWW-Authenticate"] = exc.challenge
            if isinstance(exc, RangeInvalid):
                resp.headers["Range"] = upload_range(exc.offset)
                if UPLOAD_LOCATION_KEY in request:
                    resp.headers["Location"] = request[UPLOAD_LOCATION_KEY]
            if isinstance(exc, TooManyRequests):
                resp.headers["Retry-After"] = "1"
            if isinstance(exc, RangeUnsatisfiable):
                resp.headers["Content-Range"] = f"bytes */{exc.size}"
        return resp

    def _authorize(self, request: web.Request, needs: Sequence[Scope]) -> None:
        account = self.authorizer.authorize(request.headers.get("Authorization", ""), needs, _realm_base(request))
        if account is not None:
            request[ACCOUNT_KEY] = account

    @contextlib.contextmanager
    def _receiving(self) -> Iterator[None]:
        """One slot of ``max_concurrent_uploads`` while a request body is read."""
        limit = self.config.max_concurrent_uploads
        if limit and self._streaming >= limit:
            raise TooManyRequests(f"more than {limit} uploads in progress; retry later")
        self._streaming += 1
        try:
            yield
        finally:
            self._streaming -= 1

    async def _body(self, request: web.Request) -> AsyncIterator[bytes]:
        try:
            async for chunk in request.content.iter_chunked(_CHUNK):
                self.metrics.inc("dockyard_registry_bytes_received_total", len(chunk))
                yield chunk
        except (ConnectionError, ClientPayloadError):
            # The client went away mid-body: what arrived is kept for a resume.
            raise BlobUploadInvalid("request body incomplete") from None

    def _has_body(self, request: web.Request) -> bool:
        return bool(request.content_length) or request.headers.get("Transfer-Encoding", "").lower() == "chunked"

    # -- top-level endpoints ------------------------------------------------

    async def base(self, request: web.Request) -> web.StreamResponse:
        request[ROUTE_KEY] = "base"
        if request.method not in ("GET", "HEAD"):
            raise Unsupported("method not allowed")
        self._authorize(request, ())
        return web.json_response({})

    async def catalog(self, request: web.Request) -> web.StreamResponse:
        request[ROUTE_KEY] = "catalog"
        if request.method != "GET":
            raise Unsupported("method not allowed")
        self._authorize(request, (CATALOG,))
        n = parse_n(request.query.get("n"))
        page, more = paginate(self.store.repositories(), n, request.query.get("last"))
        resp = web.json_response({"repositories": page})
        if more and n:
            resp.headers["Link"] = next_link("/v2/_catalog", n, page[-1])
        return resp

    async def metrics_endpoint(self, request: web.Request) -> web.StreamResponse:
        request[ROUTE_KEY] = "metrics"
        return web.Response(text=self.metrics.render(), content_type="text/plain", charset="utf-8")

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        for route in _ROUTES:
            m = route.pattern.match(tail)
            if not m:
                continue
            request[ROUTE_KEY] = route.name
            name = check_name(m.group("name"))
            request[REPOSITORY_KEY] = name
            entry = route.methods.get(request.method)
            if entry is None:
                raise Unsupported(f"{request.method} not allowed here")
            attr, actions = entry
            self._authorize(request, (Scope("repository", name, actions),))
            handler: Handler = getattr(self, attr)
            return await handler(request, m.groupdict())
        request[ROUTE_KEY] = "other"
        raise RouteUnknown("no such endpoint")

    # -- blobs -------------------------------------------------------------

    async def get_blob(self, request: web.Request, p: dict[str, str]) -> web.StreamResponse:
        name, d = p["name"], parse_digest(p["digest"])
        size = self.store.blob_size(name, d)
        start, end = 0, size - 1
        status = 200
        resp = web.StreamResponse()
        if "Range" in request.headers:
            start, end = parse_range(request.headers["Range"], size)
            status = 206
            resp.headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        resp.set_status(status)
        resp.headers.update(
            {"Docker-Content-Digest": str(d), "ETag": f'"{d}"', "Accept-Ranges": "bytes"},
        )
        resp.content_type = "application/octet-stream"
        resp.content_length = max(end - start + 1, 0)
        await resp.prepare(request)
        if request.method == "HEAD" or size == 0:
            await resp.write_eof()
            return resp
        remaining = end - start + 1
        with self.store.open_blob(name, d, start) as f:
            while remaining > 0:
                block = f.read(min(_CHUNK, remaining))
                if not block:
                    break
                remaining -= len(block)
                await resp.write(block)
        await resp.write_eof()
        return resp

    async def delete_blob(self, request: web.Request, p: dict[str, str]) -> web.StreamResponse:
        if not self.config.delete_enabled:
            raise Unsupported("deletes are disabled")
        d = parse_digest(p["digest"])
        self.store.delete_blob(p["name"], d)
        return web.Response(status=202, headers={"Docker-Content-Digest": str(d)})

    # -- uploads -----------------------------------------------------------

    def _upload_headers(self, name: str, upload_id: str, offset: int) -> dict[str, str]:
        return {
            "Location": f"/v2/{name}/blobs/uploads/{upload_id}",
            "Range": upload_range(offset),
            "Docker-Upload-UUID": upload_id,
        }

    def _blob_created(self, name: str, d: Digest) -> web.Response:
        return web.Response(
            status=201,
            headers={"Location": f"/v2/{name}/blobs/{d}", "Docker-Content-Digest": str(d)},
        )

    def _upload(self, request: web.Request, p: dict[str, str]) -> tuple[str, str]:
        name, upload_id = p["name"], check_upload_id(p["id"])
        request[UPLOAD_LOCATION_KEY] = f"/v2/{name}/blobs/uploads/{upload_id}"
        return name, upload_id

    async def start_upload(self, request: web.Request, p: dict[str, str]) -> web.StreamResponse:
        name = p["name"]
        mount, source = request.query.get("mount"), request.query.get("from")
        if mount is not None:
            d = parse_digest(mount)
            if source and self._may_mount_from(request, source) and self.store.mount_blob(name, source, d):
                self.metrics.inc("dockyard_registry_uploads_total", outcome="mounted")
                return self._blob_created(name, d)
            # Unknown or unreadable source: the spec says fall back to a normal upload.
        digest = request.query.get("digest")
        if digest is not None:
            d = parse_digest(digest)
            return await self._monolithic(request, name, d)
        if self.config.max_blob_size and (request.content_length or 0) > self.config.max_blob_size:
            raise TooLarge(f"blob larger than the limit of {self.config.max_blob_size} bytes")
        upload_id = self.store.start_upload(name)
        self.metrics.inc("dockyard_registry_uploads_total", outcome="started")
        return web.Response(status=202, headers=self._upload_headers(name, upload_id, 0))

    def _may_mount_from(self, request: web.Request, source: str) -> bool:
        try:
            check_name(source)
        except Exception:
            return False
        scope = Scope("repository", source, frozenset({"pull"}))
        return self.authorizer.allows(request.headers.get("Authorization", ""), scope)

    async def _monolithic(self, request: web.Request, name: str, d: Digest) -> web.StreamResponse:
        upload_id = self.store.start_upload(name)
        self.metrics.inc("dockyard_registry_uploads_total", outcome="started")
        try:
            self.store.begin_hash(upload_id, d.algorithm)
            with self._receiving():
                await self.store.append_upload(
                    name,
                    upload_id,
                    self._body(request),
                    length=request.content_length,
                    max_size=self.config.max_blob_size,
                )
            await asyncio.to_thread(self.store.finish_upload, name, upload_id, d)
        except BaseException:
            with contextlib.suppress(Exception):
                self.store.cancel_upload(name, upload_id)
            self.metrics.inc("dockyard_registry_uploads_total", outcome="failed")
            raise
        self.metrics.inc("dockyard_registry_uploads_total", outcome="completed")
        return self._blob_created(name, d)

    async def upload_status(self, request: web.Request, p: dict[str, str]) -> web.StreamResponse:
        name, upload_id = self._upload(request, p)
        offset = self.store.upload_offset(name, upload_id)
        return web.Response(status=204, headers=self._upload_headers(name, upload_id, offset))

    async def _append(self, request: web.Request, name: str, upload_id: str) -> int:
        start: int | None = None
        length = request.content_length
        header = request.headers.get("Content-Range")
        if header is not None:
            parsed = parse_content_range(header)
            if parsed is None:
                raise RangeInvalid(f"invalid Content-Range {header[:60]!r}", self.store.upload_offset(name, upload_id))
            start = parsed[0]
            span = parsed[1] - parsed[0] + 1
            if length is not None and length != span:
                raise BlobUploadInvalid(f"Content-Length {length} does not match Content-Range {header!r}")
            length = span
        with self._receiving():
            return await self.store.append_upload(
                name, upload_id, self._body(request), start=start, length=length, max_size=self.config.max_blob_size
            )

    async def patch_upload(self, request: web.Request, p: dict[str, str]) -> web.StreamResponse:
        name, upload_id = self._upload(request, p)
        offset = await self._append(request, name, upload_id)
        return web.Response(status=202, headers=self._upload_headers(name, upload_id, offset))

    async def put_upload(self, request: web.Request, p: dict[str, str]) -> web.StreamResponse:
        name, upload_id = self._upload(request, p)
        digest = request.query.get("digest")
        if not digest:
            raise DigestInvalid("digest parameter missing")
        d = parse_digest(digest)
        self.store.upload_offset(name, upload_id)
        if self._has_body(request) or "Content-Range" in request.headers:
            await self._append(request, name, upload_id)
        try:
            await asyncio.to_thread(self.store.finish_upload, name, upload_id, d)
        except DigestInvalid:
            self.metrics.inc("dockyard_registry_uploads_total", outcome="failed")
            raise
        self.metrics.inc("dockyard_registry_uploads_total", outcome="completed")
        return self._blob_created(name, d)

    async def cancel_upload(self, request: web.Request, p: dict[str, str]) -> web.StreamResponse:
        name, upload_id = self._upload(request, p)
        self.store.cancel_upload(name, upload_id)
        self.metrics.inc("dockyard_registry_uploads_total", outcome="cancelled")
        return web.Response(status=204)

    # -- manifests ---------------------------------------------------------

    async def get_manifest(self, request: web.Request, p: dict[str, str]) -> web.StreamResponse:
        record = self.store.get_manifest(p["name"], parse_reference(p["reference"]))
        headers = {"Docker-Content-Digest": str(record.digest), "ETag": f'"{record.digest}"'}
        return web.Response(body=record.data, headers={**headers, "Content-Type": record.media_type})

    async def _read_manifest(self, request: web.Request) -> bytes:
        limit = self.config.max_manifest_size
        if request.content_length is not None and request.content_length > limit:
            raise TooLarge(f"manifest larger than the limit of {limit} bytes")
        buf = bytearray()
        with self._receiving():
            async for chunk in self._body(request):
                buf += chunk
                if len(buf) > limit:
                    raise TooLarge(f"manifest larger than the limit of {limit} bytes")
        return bytes(buf)

    async def put_manifest(self, request: web.Request, p: dict[str, str]) -> web.StreamResponse:
        name, reference = p["name"], parse_reference(p["reference"])
        data = await self._read_manifest(request)
        m = self.store.put_manifest(name, reference, data, request.headers.get("Content-Type", ""))
        headers = {"Location": f"/v2/{name}/manifests/{m.digest}", "Docker-Content-Digest": str(m.digest)}
        if m.subject is not None:
            headers["OCI-Subject"] = str(m.subject.digest)
        return web.Response(status=201, headers=headers)

    async def delete_manifest(self, request: web.Request, p: dict[str, str]) -> web.StreamResponse:
        if not self.config.delete_enabled:
            raise Unsupported("deletes are disabled")
        name, reference = p["name"], parse_reference(p["reference"])
        if isinstance(reference, Digest):
            self.store.delete_manifest(name, reference)
        else:
            self.store.delete_tag(name, reference)
        return web.Response(status=202)

    # -- content discovery -------------------------------------------------

    async def list_tags(self, request: web.Request, p: dict[str, str]) -> web.StreamResponse:
        name = p["name"]
        n = parse_n(request.query.get("n"))
        page, more = paginate(self.store.tags_or_unknown(name), n, request.query.get("last"))
        resp = web.json_response({"name": name, "tags": page})
        if more and n:
            resp.headers["Link"] = next_link(f"/v2/{name}/tags/list", n, page[-1])
        return resp

    async def referrers(self, request: web.Request, p: dict[str, str]) -> web.StreamResponse:
        d = parse_digest(p["digest"])
        found = self.store.referrers(p["name"], d)
        artifact_type = request.query.get("artifactType")
        headers = {}
        if artifact_type is not None:
            found = [x for x in found if x.get("artifactType") == artifact_type]
            headers["OCI-Filters-Applied"] = "artifactType"
        found.sort(key=lambda x: str(x.get("digest")))
        body: dict[str, Any] = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": found}
        return web.Response(body=json.dumps(body).encode(), content_type=mt.OCI_INDEX, headers=headers)


def build_auth(config: AuthConfig) -> tuple[Authorizer, TokenService | None]:
    """The authorizer for ``config.mode`` and, in token mode, the token endpoint."""
    if config.mode == "none":
        return NoAuth(), None
    users = UserDB.load(config.htpasswd, config.users)
    policy = AccessPolicy(config.access)
    if config.mode == "htpasswd":
        return BasicAuth(users, policy, config.realm), None
    key = TokenKey.load(config.token.key_file) if config.token.key_file else TokenKey.generate()
    issuer = TokenIssuer(
        key, issuer=config.token.issuer, service=config.token.service, expiration=config.token.expiration
    )
    return TokenAuth(issuer, config.token.realm), TokenService(issuer, users, policy)


async def _purge_loop(store: RegistryStore, metrics: Metrics, ttl: float, interval: float) -> None:
    while True:
        try:
            removed = await asyncio.to_thread(store.purge_uploads, ttl)
            if removed:
                metrics.inc("dockyard_registry_uploads_total", len(removed), outcome="expired")
                log.info("removed %d abandoned uploads", len(removed))
        except Exception:
            log.exception("purging abandoned uploads failed")
        await asyncio.sleep(interval)


def build_app(config: RegistryConfig, *, driver: Driver | None = None) -> web.Application:
    """The registry as an aiohttp application (storage defaults to the filesystem at ``config.root``)."""
    store = RegistryStore(driver if driver is not None else FilesystemDriver(config.root))
    authorizer, token_service = build_auth(config.auth)
    metrics = Metrics()
    api = RegistryAPI(store, config, authorizer, metrics)
    app = web.Application(middlewares=[api.middleware])
    app[STORE_KEY] = store
    app[METRICS_KEY] = metrics
    app[ACCESS_LOG_ENABLED_KEY] = config.access_log
    app.router.add_route("*", "/v2", api.base)
    app.router.add_route("*", "/v2/", api.base)
    app.router.add_route("*", "/v2/_catalog", api.catalog)
    app.router.add_route("*", "/v2/{tail:.+}", api.dispatch)
    app.router.add_get("/metrics", api.metrics_endpoint)
    if token_service is not None:
        app.router.add_get("/token", token_service.handle_get)
        app.router.add_post("/token", token_service.handle_post)

    async def start_purge(app: web.Application) -> None:
        app[_PURGE_KEY] = asyncio.create_task(_purge_loop(store, metrics, config.upload_ttl, config.purge_interval))

    async def stop_purge(app: web.Application) -> None:
        task = app.get(_PURGE_KEY)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        response.headers[_API_VERSION[0]] = _API_VERSION[1]
        metrics.inc(
            "dockyard_registry_http_requests_total",
            route=request.get(ROUTE_KEY, "other"),
            method=request.method,
            status=str(response.status),
        )

    app.on_response_prepare.append(on_prepare)
    app.on_startup.append(start_purge)
    app.on_cleanup.append(stop_purge)
    return app
