"""Daemon addresses and the status -> error category mapping."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.client import APIError, Host, api_error, parse_host


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ("unix:///run/dockyard/dockyard.sock", Host("unix", path="/run/dockyard/dockyard.sock")),
        ("/tmp/x.sock", Host("unix", path="/tmp/x.sock")),
        ("tcp://127.0.0.1:2375", Host("tcp", hostname="127.0.0.1", port=2375)),
        ("127.0.0.1:2376", Host("tcp", hostname="127.0.0.1", port=2376)),
    ],
)
def test_parse_host(text: str, host: Host) -> None:
    assert parse_host(text) == host
    assert parse_host(str(host)) == host


@pytest.mark.parametrize("text", ["", "unix://", "tcp://127.0.0.1", "ftp://x:1", "tcp://h:notaport"])
def test_parse_host_rejects(text: str) -> None:
    with pytest.raises(errors.InvalidArgument):
        parse_host(text)


@pytest.mark.parametrize(
    ("status", "category"),
    [
        (400, errors.InvalidArgument),
        (401, errors.Unauthorized),
        (403, errors.Forbidden),
        (404, errors.NotFound),
        (409, errors.Conflict),
        (500, errors.Internal),
        (501, errors.NotImplementedYet),
        (503, errors.Unavailable),
        (502, errors.Internal),
        (418, errors.InvalidArgument),
    ],
)
def test_api_error_is_its_category(status: int, category: type[errors.DockyardError]) -> None:
    exc = api_error(status, "boom")
    assert isinstance(exc, APIError)
    assert isinstance(exc, category)
    assert (exc.status, exc.message, str(exc)) == (status, "boom", "boom")
