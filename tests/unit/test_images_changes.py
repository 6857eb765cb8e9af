"""Dockerfile-like ``changes`` for import/commit."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.images import apply_changes, parse_change


def test_parse_change_normalises_and_refuses() -> None:
    assert parse_change('cmd ["sh"]') == ("CMD", '["sh"]')
    assert parse_change("  ENV A=b  ") == ("ENV", "A=b")
    for bad in ("RUN echo", "FROM x", ""):
        with pytest.raises(errors.InvalidArgument):
            parse_change(bad)


def test_json_and_shell_forms() -> None:
    cfg = apply_changes({}, ['CMD ["echo", "hi"]', "ENTRYPOINT /bin/run --x"])
    assert cfg["Cmd"] == ["echo", "hi"]
    assert cfg["Entrypoint"] == ["/bin/sh", "-c", "/bin/run --x"]


def test_env_label_expose_volume_user_workdir() -> None:
    base = {"Env": ["PATH=/bin", "A=old"]}
    cfg = apply_changes(
        base,
        [
            'ENV A=new B="two words"',
            "ENV LEGACY some value",
            'LABEL com.x=1 "y z"=2',
            "EXPOSE 80 53/udp",
            'VOLUME ["/data", "/logs"]',
            "VOLUME /cache",
            "USER nobody",
            "WORKDIR /srv",
        ],
    )
    assert cfg["Env"] == ["PATH=/bin", "A=new", "B=two words", "LEGACY=some value"]
    assert cfg["Labels"] == {"com.x": "1", "y z": "2"}
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert cfg["Volumes"] == {"/data": {}, "/logs": {}, "/cache": {}}
    assert cfg["User"] == "nobody" and cfg["WorkingDir"] == "/srv"
    assert base == {"Env": ["PATH=/bin", "A=old"]}  # pure: the input is untouched


def test_bad_values() -> None:
    with pytest.raises(errors.InvalidArgument):
        apply_changes({}, ["EXPOSE http"])
    with pytest.raises(errors.InvalidArgument):
        apply_changes({}, ["ENV =x"])
