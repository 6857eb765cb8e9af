"""The Dockerfile parser: directives, continuations, comments, heredocs, JSON/shell forms, flags."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard import errors
from dockyard.build.dockerfile import DockerfileParseError, parse_dockerfile


def test_instructions_lines_and_forms() -> None:
    df = parse_dockerfile('FROM busybox AS base\n\n# a comment\nrun echo hi\nCMD ["sh", "-c", "x"]\nCMD [oops\n')
    cmds = [(i.cmd, i.line, i.json_form) for i in df.instructions]
    assert cmds == [("FROM", 1, False), ("RUN", 4, False), ("CMD", 5, True), ("CMD", 6, False)]
    assert df.instructions[2].args == ("sh", "-c", "x")
    assert df.instructions[3].text == "[oops"


def test_continuations_skip_comments_and_keep_start_line() -> None:
    df = parse_dockerfile("FROM a\nRUN echo a \\\n# inside\n    b \\\n  c\nUSER x\n")
    run = df.instructions[1]
    assert run.line == 2
    assert run.text == "echo a     b   c"
    assert df.instructions[2].line == 6


def test_escape_directive_backtick() -> None:
    df = parse_dockerfile("# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo x\n")
    assert df.escape == "`"
    assert df.instructions[1].text == "dir c:\\   && echo x"


def test_directives_only_at_top() -> None:
    df = parse_dockerfile("FROM a\n# escape=`\nRUN x \\\n y\n")
    assert df.escape == "\\"
    assert df.instructions[1].text == "x  y"


def test_duplicate_directive_is_an_error() -> None:
    with pytest.raises(DockerfileParseError, match="line 2"):
        parse_dockerfile("# escape=`\n# escape=\\\nFROM a\n")


def test_unknown_instruction_names_the_line() -> None:
    with pytest.raises(DockerfileParseError, match=r"line 3: unknown instruction: FOO"):
        parse_dockerfile("FROM a\nRUN x\nFOO bar\n")
    assert issubclass(DockerfileParseError, errors.InvalidArgument)


def test_flags() -> None:
    df = parse_dockerfile("FROM --platform=linux/amd64 a AS b\nCOPY --from=b --chown=1:2 --link x /y\n")
    frm, cp = df.instructions
    assert frm.flag("platform") == "linux/amd64" and frm.text == "a AS b"
    assert cp.flags == (("from", "b"), ("chown", "1:2"), ("link", "true"))
    assert cp.text == "x /y"


def test_heredocs_several_quoted_and_chomped() -> None:
    text = "FROM a\nRUN <<EOF\necho $HOME\nEOF\nCOPY <<-'ONE' <<TWO /dst/\n\tfirst $X\n\tONE\nsecond\nTWO\nUSER u\n"
    df = parse_dockerfile(text)
    run, cp, user = df.instructions[1:]
    assert run.heredocs[0].content == "echo $HOME\n" and run.heredocs[0].expand
    one, two = cp.heredocs
    assert (one.name, one.content, one.expand, one.chomp) == ("ONE", "first $X\n", False, True)
    assert (two.name, two.content, two.expand) == ("TWO", "second\n", True)
    assert user.line == 10


def test_heredoc_markers_inside_quotes_are_text() -> None:
    df = parse_dockerfile("FROM a\nRUN echo '<<EOF' \"<<X\" && cat <<<here\nUSER u\n")
    assert df.instructions[1].heredocs == ()
    assert df.instructions[2].cmd == "USER"


def test_unterminated_heredoc() -> None:
    with pytest.raises(DockerfileParseError, match="line 2"):
        parse_dockerfile("FROM a\nRUN <<EOF\necho\n")


# A leading "--word" is a flag (RUN --mount=..., COPY --from=...), not text: leave those out here.
_WORDS = st.text(alphabet="abcdefghij -_./=$", min_size=1, max_size=20).filter(
    lambda s: s.strip() != "" and not s.strip().startswith("--")
)


@given(st.lists(st.tuples(st.sampled_from(["RUN", "ENV", "LABEL", "USER", "WORKDIR"]), _WORDS), max_size=8))
def test_generated_dockerfiles_keep_order_and_lines(body: list[tuple[str, str]]) -> None:
    lines = ["FROM base"] + [f"{cmd} {arg.strip()}" for cmd, arg in body]
    df = parse_dockerfile("\n".join(lines) + "\n")
    assert [i.cmd for i in df.instructions] == ["FROM"] + [c for c, _ in body]
    assert [i.line for i in df.instructions] == list(range(1, len(lines) + 1))
    for inst, (_, arg) in zip(df.instructions[1:], body, strict=True):
        assert inst.text == arg.strip()


@given(st.lists(st.text(alphabet="abc xyz\"'$", max_size=10), min_size=1, max_size=5))
def test_json_form_round_trips(argv: list[str]) -> None:
    df = parse_dockerfile(f"FROM a\nCMD {json.dumps(argv)}\n")
    cmd = df.instructions[1]
    assert cmd.json_form and list(cmd.args) == argv


@given(st.lists(st.text(alphabet="abcdef ", min_size=1, max_size=8).filter(str.strip), min_size=1, max_size=5))
def test_continuation_joins_pieces(pieces: list[str]) -> None:
    text = "FROM a\nRUN " + " \\\n".join(pieces) + "\n"
    df = parse_dockerfile(text)
    assert len(df.instructions) == 2
    assert df.instructions[1].text == " ".join(pieces).strip()


_BODY_LINE = st.text(alphabet="abc $\"'\\t{}-", max_size=12).filter(lambda s: s.strip("\t") != "EOF")


@given(st.lists(_BODY_LINE, max_size=6), st.booleans())
def test_heredoc_bodies_round_trip(lines: list[str], quoted: bool) -> None:
    marker = "'EOF'" if quoted else "EOF"
    text = "FROM a\nRUN <<" + marker + "\n" + "".join(line + "\n" for line in lines) + "EOF\nUSER after\n"
    df = parse_dockerfile(text)
    run, user = df.instructions[1:]
    (doc,) = run.heredocs
    assert doc.content == "".join(line + "\n" for line in lines)
    assert doc.expand is not quoted
    assert user.line == 4 + len(lines)
