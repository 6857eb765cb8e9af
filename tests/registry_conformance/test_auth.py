"""Authentication: htpasswd basic auth and Docker's token flow, with scopes."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from dockyard.registry.auth import hash_password
from dockyard.registry.config import AccessRule, AuthConfig
from registry_conformance.client import Client, error_codes, random_blob

Start = Callable[..., Client]
ALL = frozenset({"pull", "push", "delete"})


@pytest.fixture(scope="module")
def users() -> dict[str, str]:
    return {"alice": hash_password("wonderland"), "bob": hash_password("builder")}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def challenge(resp: requests.Response) -> dict[str, str]:
    scheme, _, rest = resp.headers["WWW-Authenticate"].partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    params["scheme"] = scheme
    return params


# -- htpasswd ----------------------------------------------------------------


def test_htpasswd_requires_credentials(start_registry: Start, users: dict[str, str], tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("".join(f"{u}:{h}\n" for u, h in users.items()))
    client = start_registry(auth=AuthConfig(mode="htpasswd", htpasswd=str(htpasswd)))
    r = client.request("GET", "/v2/")
    assert r.status_code == 401
    assert error_codes(r) == ["UNAUTHORIZED"]
    assert challenge(r)["scheme"] == "Basic"
    assert client.request("GET", "/v2/", headers=basic("alice", "wrong")).status_code == 401
    assert client.request("GET", "/v2/", headers=basic("nobody", "wonderland")).status_code == 401
    assert client.request("GET", "/v2/", headers={"Authorization": "Basic !!!"}).status_code == 401
    assert client.request("GET", "/v2/", headers=basic("alice", "wonderland")).status_code == 200
    data, d = random_blob()
    r = client.request("POST", "/v2/a/b/blobs/uploads/", params={"digest": d}, data=data)
    assert r.status_code == 401
    client.s.headers.update(basic("alice", "wonderland"))
    client.push_image("a/b", "v1")
    client.s.headers.clear()
    assert client.request("GET", "/v2/a/b/manifests/v1").status_code == 401
    assert client.request("GET", "/v2/a/b/manifests/v1", headers=basic("bob", "builder")).status_code == 200


def test_htpasswd_access_rules_answer_denied(start_registry: Start, users: dict[str, str]) -> None:
    rules = (AccessRule("alice", "*", ALL), AccessRule("bob", "public/*", frozenset({"pull"})))
    client = start_registry(auth=AuthConfig(mode="htpasswd", users=users, access=rules))
    client.s.headers.update(basic("alice", "wonderland"))
    client.push_image("public/img", "v1")
    client.s.headers.update(basic("bob", "builder"))
    assert client.request("GET", "/v2/public/img/manifests/v1").status_code == 200
    data, d = random_blob()
    r = client.request("POST", "/v2/public/img/blobs/uploads/", params={"digest": d}, data=data)
    assert r.status_code == 403
    assert error_codes(r) == ["DENIED"]
    r = client.request("GET", "/v2/private/img/tags/list")
    assert r.status_code == 403


# -- token -------------------------------------------------------------------


def get_token(client: Client, scope: str, creds: tuple[str, str] | None = None) -> requests.Response:
    r = client.request("GET", "/v2/")
    c = challenge(r)
    assert c["scheme"] == "Bearer"
    auth = creds if creds is not None else None
    return requests.get(c["realm"], params={"service": c["service"], "scope": scope}, auth=auth, timeout=30)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def token_registry(start_registry: Start, users: dict[str, str]) -> Client:
    rules = (
        AccessRule("alice", "*", ALL),
        AccessRule("bob", "bob/*", frozenset({"pull", "push"})),
        AccessRule("anonymous", "public/*", frozenset({"pull"})),
    )
    return start_registry(auth=AuthConfig(mode="token", users=users, access=rules))


def test_token_flow_challenge_and_scopes(token_registry: Client) -> None:
    client = token_registry
    r = client.request("GET", "/v2/bob/app/tags/list")
    assert r.status_code == 401
    assert error_codes(r) == ["UNAUTHORIZED"]
    c = challenge(r)
    assert c["realm"].endswith("/token")
    assert c["service"]
    assert c["scope"] == "repository:bob/app:pull"
    # Wrong credentials at the token endpoint.
    t = get_token(client, "repository:bob/app:pull,push", ("bob", "wrong"))
    assert t.status_code == 401
    # Right credentials: a token with exactly the granted actions.
    t = get_token(client, "repository:bob/app:pull,push repository:alice/x:pull", ("bob", "builder"))
    assert t.status_code == 200
    token = t.json()["token"]
    assert t.json()["access_token"] == token and t.json()["expires_in"] > 0
    client.s.headers.update(bearer(token))
    client.push_image("bob/app", "v1")
    assert client.request("GET", "/v2/bob/app/manifests/v1").status_code == 200
    # Not granted: another repository, and delete.
    r = client.request("GET", "/v2/alice/x/tags/list")
    assert r.status_code == 401
    assert challenge(r)["error"] == "insufficient_scope"
    r = client.request("DELETE", "/v2/bob/app/manifests/v1")
    assert r.status_code == 401
    assert challenge(r)["scope"] == "repository:bob/app:delete"
    assert client.request("GET", "/v2/bob/app/manifests/v1").status_code == 200


def test_invalid_and_foreign_tokens_are_rejected(
    token_registry: Client, start_registry: Start, users: dict[str, str]
) -> None:
    client = token_registry
    for value in ("Bearer garbage", "Bearer ", "Basic " + base64.b64encode(b"alice:wonderland").decode()):
        r = client.request("GET", "/v2/", headers={"Authorization": value})
        assert r.status_code == 401
    # A token signed by another registry's key.
    other = start_registry(auth=AuthConfig(mode="token", users=users))
    t = get_token(other, "repository:a/b:pull", ("alice", "wonderland"))
    r = client.request("GET", "/v2/a/b/tags/list", headers=bearer(t.json()["token"]))
    assert r.status_code == 401


def test_anonymous_token_gets_only_anonymous_rules(token_registry: Client) -> None:
    client = token_registry
    client.s.headers.update(
        bearer(get_token(client, "repository:public/img:pull,push", ("alice", "wonderland")).json()["token"])
    )
    client.push_image("public/img", "v1")
    client.s.headers.clear()
    anon = get_token(client, "repository:public/img:pull,push")
    assert anon.status_code == 200
    headers = bearer(anon.json()["token"])
    assert client.request("GET", "/v2/public/img/manifests/v1", headers=headers).status_code == 200
    data, d = random_blob()
    r = client.request("POST", "/v2/public/img/blobs/uploads/", params={"digest": d}, data=data, headers=headers)
    assert r.status_code == 401


def test_catalog_scope(token_registry: Client) -> None:
    client = token_registry
    r = client.request("GET", "/v2/_catalog")
    assert r.status_code == 401
    assert challenge(r)["scope"] == "registry:catalog:*"
    t = get_token(client, "registry:catalog:*", ("bob", "builder"))
    assert client.request("GET", "/v2/_catalog", headers=bearer(t.json()["token"])).status_code == 200


def test_oauth_password_grant(token_registry: Client) -> None:
    client = token_registry
    c = challenge(client.request("GET", "/v2/"))
    form = {
        "grant_type": "password",
        "username": "bob",
        "password": "builder",
        "service": c["service"],
        "scope": "repository:bob/x:pull",
        "client_id": "test",
    }
    r = requests.post(c["realm"], data=form, timeout=30)
    assert r.status_code == 200
    assert client.request("GET", "/v2/", headers=bearer(r.json()["access_token"])).status_code == 200
    r = requests.post(c["realm"], data={**form, "password": "nope"}, timeout=30)
    assert r.status_code == 401


def test_mount_needs_pull_on_source(token_registry: Client) -> None:
    client = token_registry
    alice = bearer(get_token(client, "repository:alice/src:pull,push", ("alice", "wonderland")).json()["token"])
    data, d = random_blob()
    r = client.request("POST", "/v2/alice/src/blobs/uploads/", params={"digest": d}, data=data, headers=alice)
    assert r.status_code == 201
    bob = bearer(
        get_token(client, "repository:bob/dst:pull,push repository:alice/src:pull", ("bob", "builder")).json()["token"]
    )
    r = client.request("POST", "/v2/bob/dst/blobs/uploads/", params={"mount": d, "from": "alice/src"}, headers=bob)
    assert r.status_code == 202  # bob cannot read alice/src: no mount, a plain upload instead
    assert client.request("HEAD", f"/v2/bob/dst/blobs/{d}", headers=bob).status_code == 404
