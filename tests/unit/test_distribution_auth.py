"""X-Registry-Auth decoding, credential bodies and WWW-Authenticate parsing."""

from __future__ import annotations

import base64
import json

from dockyard.distribution.authconfig import AuthConfig, auth_from_json, decode_registry_auth
from dockyard.distribution.challenge import parse_challenges


def _header(obj: object, pad: bool = True) -> str:
    text = base64.urlsafe_b64encode(json.dumps(obj).encode()).decode()
    return text if pad else text.rstrip("=")


def test_registry_auth_header_decodes_with_and_without_padding() -> None:
    obj = {"username": "me", "password": "s3cr?t>", "serveraddress": "127.0.0.1:5000"}
    for pad in (True, False):
        auth = decode_registry_auth(_header(obj, pad))
        assert auth == AuthConfig("me", "s3cr?t>", "127.0.0.1:5000")


def test_registry_auth_header_garbage_or_empty_means_anonymous() -> None:
    for header in (None, "", "e30=", "%%%not-base64", _header(["a", "list"])):
        assert decode_registry_auth(header).empty


def test_identity_token_and_config_json_auth_field() -> None:
    assert decode_registry_auth(_header({"identitytoken": "tok"})).identity_token == "tok"
    basic = base64.b64encode(b"user:pa:ss").decode()
    auth = auth_from_json({"auth": basic, "ServerAddress": "reg"})
    assert (auth.username, auth.password, auth.server_address) == ("user", "pa:ss", "reg")


def test_bearer_challenge_with_quoted_commas() -> None:
    header = 'Bearer realm="https://auth.example/token",service="reg,1",scope="repository:a/b:pull,push"'
    (ch,) = parse_challenges(header)
    assert ch.scheme == "bearer"
    assert ch.realm == "https://auth.example/token"
    assert ch.params["service"] == "reg,1"
    assert ch.params["scope"] == "repository:a/b:pull,push"


def test_basic_challenge_and_several_challenges() -> None:
    chs = parse_challenges('Basic realm="Registry Realm", Bearer realm="https://t/x",service=s')
    assert [c.scheme for c in chs] == ["basic", "bearer"]
    assert chs[0].realm == "Registry Realm"
    assert chs[1].params == {"realm": "https://t/x", "service": "s"}
