"""Pure parts of the registry: names, HTTP helpers, error table, scopes, config, tokens, manifests."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dockyard import errors as e
from dockyard.oci import Digest
from dockyard.registry import errors as re_
from dockyard.registry.auth import AccessPolicy, Scope, TokenIssuer, TokenKey, UserDB, hash_password, parse_htpasswd
from dockyard.registry.auth.tokens import InvalidToken
from dockyard.registry.config import AccessRule, config_from_mapping, load_config
from dockyard.registry.http import next_link, paginate, parse_content_range, parse_n, parse_range, upload_range
from dockyard.registry.manifests import parse_manifest, referrer_descriptor
from dockyard.registry.names import check_name, check_tag, check_upload_id, parse_digest, parse_reference

D = Digest.from_bytes(b"x")


@pytest.mark.parametrize("name", ["a", "a/b", "a-b/c.d/e__f", "x0/y1", "a" * 255])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "a/", "/a", "a//b", "..", "a/../b", "./a", "a/.b", "-a", "a" * 256, "a\x00"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(re_.NameInvalid):
        check_name(name)


def test_references() -> None:
    assert parse_reference("v1.0") == "v1.0"
    assert parse_reference(str(D)) == D
    with pytest.raises(re_.DigestInvalid):
        parse_reference("sha256:short")
    with pytest.raises(re_.ManifestInvalid):
        check_tag(".hidden")
    with pytest.raises(re_.DigestInvalid):
        parse_digest("nonsense")
    with pytest.raises(re_.BlobUploadUnknown):
        check_upload_id("../x")


def test_content_range() -> None:
    assert parse_content_range("0-99") == (0, 99)
    assert parse_content_range("bytes 10-19/*") == (10, 19)
    assert parse_content_range("5-4") is None
    assert parse_content_range("x-y") is None


def test_range() -> None:
    assert parse_range("bytes=0-9", 100) == (0, 9)
    assert parse_range("bytes=90-", 100) == (90, 99)
    assert parse_range("bytes=-10", 100) == (90, 99)
    assert parse_range("bytes=95-200", 100) == (95, 99)
    for bad in ("bytes=100-", "bytes=5-1", "items=0-1", "bytes=-", "bytes=0-1,3-4"):
        with pytest.raises(re_.RangeUnsatisfiable):
            parse_range(bad, 100)


def test_pagination() -> None:
    items = ["a", "b", "c", "d"]
    assert paginate(items, None, None) == (items, False)
    assert paginate(items, 2, None) == (["a", "b"], True)
    assert paginate(items, 2, "b") == (["c", "d"], False)
    assert paginate(items, 0, None) == ([], True)
    assert parse_n("3") == 3 and parse_n(None) is None
    with pytest.raises(re_.SizeInvalid):
        parse_n("-1")
    assert next_link("/v2/x/tags/list", 2, "b") == '</v2/x/tags/list?n=2&last=b>; rel="next"'
    assert upload_range(0) == "0-0" and upload_range(10) == "0-9"


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (re_.BlobUnknown("x"), 404, "BLOB_UNKNOWN"),
        (re_.BlobUploadInvalid("x"), 400, "BLOB_UPLOAD_INVALID"),
        (re_.BlobUploadUnknown("x"), 404, "BLOB_UPLOAD_UNKNOWN"),
        (re_.DigestInvalid("x"), 400, "DIGEST_INVALID"),
        (re_.ManifestBlobUnknown("x"), 400, "MANIFEST_BLOB_UNKNOWN"),
        (re_.ManifestInvalid("x"), 400, "MANIFEST_INVALID"),
        (re_.ManifestUnknown("x"), 404, "MANIFEST_UNKNOWN"),
        (re_.NameInvalid("x"), 400, "NAME_INVALID"),
        (re_.NameUnknown("x"), 404, "NAME_UNKNOWN"),
        (re_.SizeInvalid("x"), 400, "SIZE_INVALID"),
        (re_.TooLarge("x"), 413, "SIZE_INVALID"),
        (re_.RangeInvalid("x", 3), 416, "BLOB_UPLOAD_INVALID"),
        (re_.Unauthorized("x"), 401, "UNAUTHORIZED"),
        (re_.Denied("x"), 403, "DENIED"),
        (re_.Unsupported("x"), 405, "UNSUPPORTED"),
        (re_.TooManyRequests("x"), 429, "TOOMANYREQUESTS"),
        (e.DigestMismatch("x"), 400, "DIGEST_INVALID"),
        (e.UnsafePath("x"), 400, "NAME_INVALID"),
        (RuntimeError("secret internals"), 500, "UNKNOWN"),
    ],
)
def test_error_table(exc: BaseException, status: int, code: str) -> None:
    w = re_.error_for(exc)
    assert (w.status, w.code) == (status, code)
    body = json.loads(re_.error_body(w))
    assert body["errors"][0]["code"] == code
    assert "secret" not in body["errors"][0]["message"]


def test_registry_errors_keep_their_category() -> None:
    assert isinstance(re_.BlobUnknown("x"), e.NotFound)
    assert isinstance(re_.DigestInvalid("x"), e.InvalidArgument)
    assert isinstance(re_.Denied("x"), e.Forbidden)


def test_scopes_and_policy() -> None:
    s = Scope.parse("repository:a/b:pull,push")
    assert s == Scope("repository", "a/b", frozenset({"pull", "push"}))
    assert str(s) == "repository:a/b:pull,push"
    assert Scope.parse("repository:host:5000/x:pull").name == "host:5000/x"
    with pytest.raises(e.InvalidArgument):
        Scope.parse("nonsense")
    assert s.covered_by(
        [Scope("repository", "a/b", frozenset({"pull"})), Scope("repository", "a/b", frozenset({"push"}))]
    )
    assert not s.covered_by([Scope("repository", "a/c", frozenset({"pull", "push"}))])
    open_policy = AccessPolicy()
    assert open_policy.grant("u", s) == s.actions
    assert open_policy.grant(None, s) == frozenset()
    policy = AccessPolicy(
        (AccessRule("bob", "bob/*", frozenset({"pull", "push"})), AccessRule("anonymous", "pub/*", frozenset({"pull"})))
    )
    assert policy.grant("bob", Scope.parse("repository:bob/x:pull,push,delete")) == {"pull", "push"}
    assert policy.grant("bob", Scope.parse("repository:other/x:pull")) == frozenset()
    assert policy.grant(None, Scope.parse("repository:pub/x:pull,push")) == {"pull"}
    assert policy.grant("bob", Scope.parse("repository:pub/x:pull")) == frozenset()


def test_users_and_htpasswd() -> None:
    h = hash_password("pw")
    users = parse_htpasswd(f"# comment\nalice:{h}\n\nbob:{h.replace('$2b$', '$2y$', 1)}\n")
    db = UserDB(users)
    assert db.check("alice", "pw") and db.check("alice", "pw")
    assert db.check("bob", "pw")
    assert not db.check("alice", "nope") and not db.check("carol", "pw")
    with pytest.raises(e.InvalidArgument):
        parse_htpasswd("alice:{SHA}plaintextish")


def test_tokens() -> None:
    issuer = TokenIssuer(TokenKey.generate(), issuer="iss", service="svc", expiration=60)
    tok = issuer.issue("bob", [Scope.parse("repository:a:pull"), Scope("repository", "b", frozenset())])
    account, scopes = issuer.verify(tok.token)
    assert account == "bob"
    assert scopes == (Scope.parse("repository:a:pull"),)
    expired = issuer.issue("bob", [], now=time.time() - 3600)
    with pytest.raises(InvalidToken):
        issuer.verify(expired.token)
    other_service = TokenIssuer(issuer.key, issuer="iss", service="other")
    with pytest.raises(InvalidToken):
        other_service.verify(tok.token)
    with pytest.raises(InvalidToken):
        TokenIssuer(TokenKey.generate(), issuer="iss", service="svc").verify(tok.token)
    assert len(issuer.key.kid.split(":")) == 12


def test_config_yaml_and_toml(tmp_path: Path) -> None:
    yml = tmp_path / "c.yaml"
    yml.write_text(
        "addr: 0.0.0.0:5001\nroot: data\ndelete: {enabled: false}\nlimits: {manifest_size: 100}\n"
        "auth:\n  mode: token\n  token: {service: s, key: key.pem}\n"
        "  access:\n    - {account: bob, repository: 'bob/*', actions: [pull, push]}\n"
        "tls: {certificate: c.pem, key: k.pem}\n"
    )
    c = load_config(yml)
    assert c.addr == "0.0.0.0:5001" and c.host_port == ("0.0.0.0", 5001)
    assert c.root == str(tmp_path / "data")
    assert not c.delete_enabled and c.max_manifest_size == 100
    assert c.auth.mode == "token" and c.auth.token.service == "s" and c.auth.token.key_file == str(tmp_path / "key.pem")
    assert c.auth.access == (AccessRule("bob", "bob/*", frozenset({"pull", "push"})),)
    assert c.tls is not None and c.tls.certificate == str(tmp_path / "c.pem")
    toml = tmp_path / "c.toml"
    toml.write_text('addr = "127.0.0.1:6000"\n[auth]\nmode = "htpasswd"\nhtpasswd = "h"\n')
    t = load_config(toml)
    assert t.addr == "127.0.0.1:6000" and t.auth.htpasswd == str(tmp_path / "h")
    with pytest.raises(e.InvalidArgument):
        config_from_mapping({"auth": {"mode": "magic"}})
    with pytest.raises(e.InvalidArgument):
        config_from_mapping({"auth": {"access": [{"actions": ["fly"]}]}})


def _manifest(**extra: object) -> bytes:
    m = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": str(D), "size": 1},
        "layers": [],
        **extra,
    }
    return json.dumps(m).encode()


def test_parse_manifest() -> None:
    data = _manifest(subject={"mediaType": "x", "digest": str(D), "size": 1}, annotations={"a": "b"})
    m = parse_manifest(data, "application/vnd.oci.image.manifest.v1+json", Digest.from_bytes(data))
    assert m.subject is not None and m.subject.digest == D
    assert m.artifact_type == "application/vnd.oci.image.config.v1+json"
    assert referrer_descriptor(m)["annotations"] == {"a": "b"}
    # Without mediaType in the body, the Content-Type decides.
    body = json.loads(_manifest())
    del body["mediaType"]
    raw = json.dumps(body).encode()
    assert parse_manifest(raw, "", Digest.from_bytes(raw)).media_type == "application/vnd.oci.image.manifest.v1+json"
    with pytest.raises(re_.ManifestInvalid):
        parse_manifest(data, "application/vnd.oci.image.index.v1+json", D)
