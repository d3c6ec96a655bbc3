"""The text layer of fixes: tokens exactly where crossplane sees them, and edits that touch only their span."""
from __future__ import annotations

import io
from pathlib import Path

import crossplane.lexer
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nginx_502lint.textedit import (
    ConfigText,
    TextError,
    TextOp,
    apply_ops,
    delete_ops,
    insert_after_ops,
    insert_into_ops,
    parse_new_directives,
    replace_ops,
    tokenize,
)

FIXTURES = Path(__file__).parent / "fixtures"
PIECES = ["a", "b", "$", "{", "}", ";", " ", "\t", "\n", "\r\n", "#", '"', "'", "\\", "x y", "${v}", '\\"', "(", ")"]


def _crossplane_tokens(text: str) -> list[tuple[str, int, bool]]:
    return list(crossplane.lexer._lex_file_object(io.StringIO(text)))


def _mine(text: str) -> list[tuple[str, int, bool]]:
    return [(t.value, t.line, t.quoted) for t in tokenize(text)]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=16))
def test_tokens_agree_with_crossplane_on_any_text(pieces: list[str]) -> None:
    text = "".join(pieces) + "\n"
    try:
        mine = _mine(text)
    except TextError:
        return  # an unterminated quote: such a file is never edited
    assert mine == _crossplane_tokens(text)


def test_tokens_agree_with_crossplane_on_every_fixture_config() -> None:
    compared = 0
    for path in sorted(FIXTURES.rglob("*.conf")):
        text = path.read_bytes().decode("utf-8", "replace").replace("\r\n", "\n") + "\n"
        if "_by_lua_block" in text:
            continue
        try:
            mine = _mine(text)
        except TextError:
            continue
        assert mine == _crossplane_tokens(text), path
        compared += 1
    assert compared > 50


def test_token_offsets_cover_the_text_as_written() -> None:
    text = 'add_header X-A "a;b" always; # c\nset $x ${y}z;\n'
    assert [text[t.start:t.end] for t in tokenize(text)] == [
        "add_header", "X-A", '"a;b"', "always", ";", "# c", "set", "$x", "${y}z", ";"]


def _edit(text: str, ops: list[TextOp]) -> str:
    return apply_ops(text, ops)


def _only(doc: ConfigText, line: int, name: str):  # type: ignore[no-untyped-def]
    (statement,) = doc.at_line(line, name)
    return statement


def test_replace_touches_only_the_argument_of_the_right_directive_on_a_shared_line() -> None:
    text = 'location / { proxy_pass x; proxy_read_timeout 1s; proxy_send_timeout 1s; }  # keep\n'
    doc = ConfigText(text)
    new = parse_new_directives("proxy_send_timeout 60s;")
    assert _edit(text, replace_ops(doc, _only(doc, 1, "proxy_send_timeout"), new)) == text.replace(
        "proxy_send_timeout 1s", "proxy_send_timeout 60s")


def test_replace_keeps_quoting_of_unchanged_arguments_and_adds_missing_ones() -> None:
    text = 'proxy_set_header "X-Real-IP"   $remote_addr;\n'
    doc = ConfigText(text)
    ops = replace_ops(doc, _only(doc, 1, "proxy_set_header"), parse_new_directives("proxy_set_header X-Real-IP $x always;"))
    assert _edit(text, ops) == 'proxy_set_header "X-Real-IP"   $x always;\n'


def test_replace_drops_surplus_arguments_but_not_comments_between_them() -> None:
    text = "proxy_buffers 8 # count\n    4k;\n"
    doc = ConfigText(text)
    ops = replace_ops(doc, _only(doc, 1, "proxy_buffers"), parse_new_directives("proxy_buffers 16;"))
    assert _edit(text, ops) == "proxy_buffers 16 # count\n;\n"


def test_replace_with_another_name_refuses_to_lose_a_comment_inside() -> None:
    text = "proxy_read_timeout # why\n 2s;\n"
    doc = ConfigText(text)
    with pytest.raises(TextError, match="comment"):
        replace_ops(doc, _only(doc, 1, "proxy_read_timeout"), parse_new_directives("proxy_send_timeout 2s;"))


def test_replace_of_a_block_is_refused() -> None:
    doc = ConfigText("location / { }\n")
    with pytest.raises(TextError, match="block"):
        replace_ops(doc, _only(doc, 1, "location"), parse_new_directives("return 404;"))


@pytest.mark.parametrize(("text", "expected"), [
    ("location / {}\n", "location / { a 1; b 2; }\n"),
    ("location / {proxy_pass x;}\n", "location / { a 1; b 2; proxy_pass x;}\n"),
    ("location / { proxy_pass x; }  # c\n", "location / { a 1; b 2; proxy_pass x; }  # c\n"),
    ("http {\n  location / {  # c\n      proxy_pass x;\n  }\n}\n",
     "http {\n  location / {  # c\n      a 1;\n      b 2;\n      proxy_pass x;\n  }\n}\n"),
    ("http {\n\tlocation / {\n\t}\n}\n", "http {\n\tlocation / {\n\t\ta 1;\n\t\tb 2;\n\t}\n}\n"),
    ("http {\r\n  location /\r\n  {\r\n  }\r\n}\r\n", "http {\r\n  location /\r\n  {\r\n    a 1;\r\n    b 2;\r\n  }\r\n}\r\n"),
])
def test_insert_into_a_block_follows_its_layout(text: str, expected: str) -> None:
    doc = ConfigText(text)
    (block,) = [s for s in doc.statements if s.name.value == "location"]
    assert _edit(text, insert_into_ops(doc, block, parse_new_directives("a 1; b 2;"))) == expected


def test_insert_after_the_last_directive_of_a_file_without_final_newline() -> None:
    text = "  proxy_read_timeout 2s;  # c"
    doc = ConfigText(text)
    ops = insert_after_ops(doc, _only(doc, 1, "proxy_read_timeout"), parse_new_directives("proxy_send_timeout 2s;"))
    assert _edit(text, ops) == "  proxy_read_timeout 2s;  # c\n  proxy_send_timeout 2s;"


def test_insert_after_a_directive_followed_by_others_on_its_line_stays_on_the_line() -> None:
    text = "a 1; b 2;\n"
    doc = ConfigText(text)
    assert _edit(text, insert_after_ops(doc, _only(doc, 1, "a"), parse_new_directives("c 3;"))) == "a 1; c 3; b 2;\n"


@pytest.mark.parametrize(("text", "expected"), [
    ("x {\n    a 1;\n    b 2;\n}\n", "x {\n    b 2;\n}\n"),
    ("x { a 1; b 2; }\n", "x { b 2; }\n"),
    ("x {\n    c 3; a 1;  # why\n}\n", "x {\n    c 3;  # why\n}\n"),
])
def test_delete_removes_the_directive_and_its_line_when_it_is_alone(text: str, expected: str) -> None:
    doc = ConfigText(text)
    assert _edit(text, delete_ops(doc, _only(doc, text.count("\n", 0, text.index("a 1")) + 1, "a"))) == expected


def test_indent_unit_is_read_from_the_file() -> None:
    assert ConfigText("a {\n  b {\n    c 1;\n  }\n}\n").indent_unit() == "  "
    assert ConfigText("a {\n\tb {\n\t\tc 1;\n\t}\n}\n").indent_unit() == "\t"
    assert ConfigText("a { b 1; }\n").indent_unit() == "    "


def test_overlapping_operations_are_refused() -> None:
    with pytest.raises(TextError, match="overlap"):
        apply_ops("abcdef", [TextOp(0, 3, "x"), TextOp(2, 4, "y")])


@pytest.mark.parametrize("text", ["a 1", "a {", "a 1; }", "}", "a \"1;"])
def test_unbalanced_or_unterminated_text_is_refused(text: str) -> None:
    with pytest.raises(TextError):
        ConfigText(text + "\n")
