"""The Go-template subset behind --format."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.cli.templates import go_str, parse_template, render_table, tabulate

OBJ = {
    "Id": "abc",
    "State": {"Status": "exited", "ExitCode": 3, "Running": False, "Pid": 0.0},
    "Config": {"Env": ["A=1", "B=2"], "Labels": {"app": "demo", "tier x": "web"}, "Cmd": None},
}


@pytest.mark.parametrize(
    ("fmt", "out"),
    [
        ("{{.State.Status}}", "exited"),
        ("{{.State.ExitCode}} {{.State.Running}} {{.State.Pid}}", "3 false 0"),
        ("{{.Config.Env}}", "[A=1 B=2]"),
        ("{{.Config.Labels}}", "map[app:demo tier x:web]"),
        ("{{.Config.Cmd}}", "<no value>"),
        ("{{.Missing}}", "<no value>"),
        ("{{json .Config.Env}}", '["A=1","B=2"]'),
        ('{{index .Config.Labels "tier x"}}', "web"),
        ('{{join .Config.Env ","}}', "A=1,B=2"),
        ("{{.State.Status | upper}}", "EXITED"),
        ("id={{ .Id }}\\t!", "id=abc\t!"),
        ("a {{- .Id -}} b", "aabcb"),
    ],
)
def test_render(fmt: str, out: str) -> None:
    assert parse_template(fmt).render(OBJ) == out


@pytest.mark.parametrize("fmt", ["{{range .X}}{{end}}", "{{.Id", "{{nosuch .Id}}", "{{}}"])
def test_rejects(fmt: str) -> None:
    with pytest.raises(errors.InvalidArgument):
        parse_template(fmt).render(OBJ)


def test_go_str_of_nested_values() -> None:
    assert go_str({"b": [1, True], "a": None}) == "map[a:<no value> b:[1 true]]"


def test_tabulate_pads_like_tabwriter() -> None:
    # minimum cell width 10, padding 3, the last column is not padded
    assert tabulate(["CONTAINER ID\tIMAGE\tNAMES", "abc\tbusybox\tx"]).splitlines() == [
        "CONTAINER ID   IMAGE     NAMES",
        "abc            busybox   x",
    ]


def test_table_header_from_fields() -> None:
    text = render_table(parse_template("{{.ID}}\t{{.Other}}"), {"ID": "CONTAINER ID"}, [{"ID": "1", "Other": "o"}])
    assert text.splitlines() == ["CONTAINER ID   OTHER", "1              o"]
