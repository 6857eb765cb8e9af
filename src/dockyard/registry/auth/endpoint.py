"""The built-in token endpoint (Docker's token authentication spec, plus the OAuth2 password grant)."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from dockyard.errors import InvalidArgument
from dockyard.registry.accesslog import ROUTE_KEY
from dockyard.registry.auth.authorizer import parse_basic
from dockyard.registry.auth.scopes import AccessPolicy, Scope
from dockyard.registry.auth.tokens import TokenIssuer
from dockyard.registry.auth.users import UserDB
from dockyard.registry.errors import Unauthorized

__all__ = ["TokenService"]


def _scopes(values: Iterable[str]) -> list[Scope]:
    out = []
    for value in values:
        for text in value.split():
            try:
                out.append(Scope.parse(text))
            except InvalidArgument:
                continue  # unknown scope forms are ignored, as Docker's token servers do
    return out


class TokenService:
    def __init__(self, issuer: TokenIssuer, users: UserDB, policy: AccessPolicy) -> None:
        self.issuer = issuer
        self.users = users
        self.policy = policy

    def grant(self, account: str | None, requested: Iterable[Scope]) -> list[Scope]:
        return [Scope(s.type, s.name, self.policy.grant(account, s)) for s in requested]

    def _respond(self, account: str | None, requested: list[Scope], oauth: bool) -> web.Response:
        issued = self.issuer.issue(account, self.grant(account, requested))
        body: dict[str, object] = {
            "access_token": issued.token,
            "expires_in": issued.expires_in,
            "issued_at": issued.issued_at,
        }
        if not oauth:
            body["token"] = issued.token
        else:
            body["scope"] = " ".join(str(s) for s in requested)
        return web.json_response(body)

    def _check_service(self, service: str | None) -> None:
        if service and service != self.issuer.service:
            raise InvalidArgument(f"unknown service {service!r}")

    async def handle_get(self, request: web.Request) -> web.Response:
        request[ROUTE_KEY] = "token"
        self._check_service(request.query.get("service"))
        account: str | None = None
        auth = request.headers.get("Authorization", "")
        if auth:
            creds = parse_basic(auth)
            if creds is None or not self.users.check(*creds):
                raise Unauthorized("invalid username or password")
            account = creds[0]
        return self._respond(account, _scopes(request.query.getall("scope", [])), oauth=False)

    async def handle_post(self, request: web.Request) -> web.Response:
        request[ROUTE_KEY] = "token"
        form = await request.post()
        self._check_service(str(form.get("service", "")) or None)
        if form.get("grant_type") != "password":
            raise InvalidArgument("unsupported grant_type (only 'password')")
        user, password = str(form.get("username", "")), str(form.get("password", ""))
        if not self.users.check(user, password):
            raise Unauthorized("invalid username or password")
        return self._respond(user, _scopes(str(form.get("scope", "")).split()), oauth=True)
