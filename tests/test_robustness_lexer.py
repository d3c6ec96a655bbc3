"""The fast lexer is token-identical to crossplane's, so crossplane stays the parser of record.

fastlex.lex replaces only crossplane's character-by-character tokenizer; these
tests compare it with `crossplane.lexer._lex_file_object` (and, downstream, the
whole crossplane payload) on every fixture, every corpus file, the benchmark
generator's output and generated texts full of the lexer's corner cases.
"""
from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import crossplane.lexer as cp_lexer
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nginx_502lint.parse as parse
from nginx_502lint import fastlex
from nginx_502lint.parse import EncodingProblem, crossplane_parse_text, decode_config_bytes

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("NGINX_502LINT_CORPUS", REPO.parent / "shared" / "corpus" / "clean"))
EXTERNAL = cp_lexer.EXTERNAL_LEXERS


def crossplane_tokens(text: str) -> list[tuple[str, int, bool]]:
    return list(cp_lexer._lex_file_object(io.StringIO(text)))


def balanced(tokens: object) -> tuple[list[tuple[str, int, bool]], tuple[str, str, int | None] | None]:
    """Tokens after crossplane's brace check, and the error it raised (type, text, line)."""
    seen: list[tuple[str, int, bool]] = []
    try:
        for token in cp_lexer._balance_braces(tokens, "t.conf"):
            seen.append(token)
    except Exception as error:
        return seen, (type(error).__name__, str(error), getattr(error, "lineno", None))
    return seen, None


def adapter_text(path: Path) -> str | None:
    """The text our adapter hands to the lexer for this file (None if it refuses the file)."""
    try:
        return decode_config_bytes(path.read_bytes())
    except EncodingProblem as problem:
        return problem.text


def sample_files() -> list[Path]:
    roots = [REPO / "tests" / "fixtures", CORPUS]
    return sorted(p for root in roots if root.is_dir() for p in root.rglob("*") if p.is_file())


FILES = sample_files()


def test_there_are_enough_real_files_to_compare() -> None:
    comparable = [p for p in FILES if (text := adapter_text(p)) is not None and fastlex.can_lex(text, EXTERNAL)]
    assert len(comparable) >= 300, f"only {len(comparable)} files: is the corpus ({CORPUS}) present?"


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(p.parents[2])) for p in FILES])
def test_tokens_match_crossplane_on_every_fixture_and_corpus_file(path: Path) -> None:
    for text in {adapter_text(path), path.read_bytes().decode("utf-8", errors="replace")}:
        if text is None or not fastlex.can_lex(text, EXTERNAL):
            continue
        assert list(fastlex.lex(text)) == crossplane_tokens(text)
        assert balanced(fastlex.lex(text)) == balanced(cp_lexer._lex_file_object(io.StringIO(text)))


@pytest.mark.parametrize("text", [
    "",
    "a",
    "a;",
    "a b\\",
    "a 'b",
    'a "b\\',
    "# only a comment",
    "a;\n# trailing comment\\",
    "a \\\nb;\n",
    "\\\na;",
    'a "x\\"y" \'p\\\'q\' "r\\\'s" \'t\\"u\';\n',
    "a#b c;#d\n",
    '"a"b "c"\'d\';\n',
    "a { b } c }}\n",
    "{{{{\n",
    "a\x0bb\x1cc\xa0d\u2028e;\n",
    "a\r\nb\rc;\r\n",
    "if ($a ~* \"(x|y)\") { return 1; }\n",
    'location ~ "^/(?<x>[a-z]{2,3})/" { }\n',
    "log_format f '$a \"$b\"\n    $c';\n",
])
def test_tokens_match_crossplane_on_the_lexer_corner_cases(text: str) -> None:
    assert fastlex.can_lex(text, EXTERNAL)
    assert list(fastlex.lex(text)) == crossplane_tokens(text)
    assert balanced(fastlex.lex(text)) == balanced(cp_lexer._lex_file_object(io.StringIO(text)))


PIECES = st.sampled_from([
    "a", "b", "$x", "{", "}", ";", '"', "'", "\\", "#", " ", "\n", "\t", "\r", "\x0b", "\x1c", "\xa0",
    "\u2028", "é", "\ufffd", "\x00", "\\\n", "\\\"", "\\'", '"q"', "'q'", "# c\n", "if", "(", ")",
    "proxy_pass", "http://u", "location", "~*", "^/a{2,3}$", "=",
])
TEXTS = st.lists(PIECES, max_size=40).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(TEXTS)
def test_tokens_match_crossplane_on_generated_texts(text: str) -> None:
    if fastlex.can_lex(text, EXTERNAL):
        assert list(fastlex.lex(text)) == crossplane_tokens(text)
        assert balanced(fastlex.lex(text)) == balanced(cp_lexer._lex_file_object(io.StringIO(text)))


FIXTURE_TEXTS = [t for p in FILES if p.suffix == ".conf" and (t := adapter_text(p)) is not None][:200]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(st.sampled_from(FIXTURE_TEXTS), st.integers(0, 10_000), st.integers(0, 10_000), st.sampled_from(["", "\\", '"', "'", "#", "{", "}", ";", "\n", " "]))
def test_tokens_match_crossplane_on_mutated_fixtures(text: str, cut: int, keep: int, insert: str) -> None:
    cut %= len(text) + 1
    mutated = text[:cut] + insert + text[cut + keep % 40:]
    if fastlex.can_lex(mutated, EXTERNAL):
        assert list(fastlex.lex(mutated)) == crossplane_tokens(mutated)


def test_an_unclosed_quote_in_a_large_file_is_lexed_in_linear_time() -> None:
    # A backtracking pattern would take years here; the unrolled one takes milliseconds.
    text = 'a "' + "x\\y" * 100_000
    assert list(fastlex.lex(text)) == [("a", 1, False)]


@pytest.mark.parametrize("text", ["set $a ${b}c;\n", "content_by_lua_block { ngx.say('}') }\n"])
def test_texts_the_fast_lexer_does_not_cover_are_left_to_crossplane(text: str) -> None:
    assert not fastlex.can_lex(text, EXTERNAL)


def test_the_crossplane_payload_is_the_same_with_either_lexer(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [t for p in FILES if p.suffix == ".conf" and (t := adapter_text(p)) is not None]
    fast = [crossplane_parse_text("t.conf", t) for t in texts]
    monkeypatch.setattr(parse, "_fast_lexer_checked", False)
    slow = [crossplane_parse_text("t.conf", t) for t in texts]
    for (fast_tree, fast_errors, fast_facts), (slow_tree, slow_errors, slow_facts) in zip(fast, slow):
        assert (fast_tree, fast_errors) == (slow_tree, slow_errors)
        assert (fast_facts.last_line, fast_facts.brace_terminated) == (slow_facts.last_line, slow_facts.brace_terminated)


def test_a_crossplane_whose_lexer_differs_keeps_its_own_lexer(monkeypatch: pytest.MonkeyPatch) -> None:
    original = cp_lexer._lex_file_object

    def other_lexer(file_obj: io.StringIO) -> object:
        # A fork that lexes differently, e.g. one that reports a missing ";" at end of file.
        yield from original(file_obj)
        yield from [("EOF", 99, False), (";", 99, False)]

    monkeypatch.setattr(cp_lexer, "_lex_file_object", other_lexer)
    monkeypatch.setattr(parse, "_fast_lexer_checked", None)
    tree, _, _ = crossplane_parse_text("t.conf", "events {}\n")
    assert parse._fast_lexer_checked is False
    assert [stmt["directive"] for stmt in tree] == ["events", "EOF"]


def test_the_fast_lexer_is_used_for_the_installed_crossplane() -> None:
    agrees = parse._fast_lexer_agrees(cp_lexer._lex_file_object)
    assert agrees is True, f"fast lexer disagrees with {cp_lexer.__file__} ({sys.version})"


def test_tokens_match_crossplane_on_a_generated_benchmark_tree(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from generate import generate
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    generate(tmp_path / "tree", 0.15, seed=7)
    files = sorted((tmp_path / "tree").rglob("*.conf"))
    assert len(files) > 20
    for path in files:
        text = path.read_text()
        assert fastlex.can_lex(text, EXTERNAL) and list(fastlex.lex(text)) == crossplane_tokens(text), path
