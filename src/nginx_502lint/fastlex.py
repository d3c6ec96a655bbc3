"""A regex tokenizer that yields exactly the tokens of crossplane's lexer, about 10x faster.

crossplane stays the parser of record: its `parse()` still builds the tree
from these tokens (parse.py hands them in through its patched `lex`). Only
the character-by-character generator chain of `crossplane.lexer._lex_file_object`
is replaced, because it is most of crossplane's run time.

The output is `(token, line, quoted)` tuples equal to `_lex_file_object`'s,
including its quirks: a token starting with an escaped newline counts that
newline, `"a\\"b"` loses the backslash of the escaped quote but keeps every
other escape, a comment ends at an escaped newline, and end of input inside
a quote, a comment or an unterminated word silently ends the stream (the
brace check and crossplane's parser report what is missing).

Two features of crossplane's lexer are left to crossplane itself:
`${...}` parameter expansion and the external lexers (the Lua plugin's
`*_by_lua_block` bodies). `can_lex(text)` says whether a text is free of
both; when it is not, parse.py uses crossplane's own lexer for that file.
tests/test_fastlex.py proves the equality on every fixture, the corpus and
generated texts.
"""
from __future__ import annotations

import re
from typing import Iterable, Iterator

Token = tuple[str, int, bool]

# Leading whitespace is folded into every token, and each repetition is an
# "unrolled loop" (a run of plain characters, then escape + run, repeated) so
# that an unclosed quote fails in linear time instead of backtracking.
_TOKEN = re.compile(
    r"""
    \s*
    (?:
        (?P<special>[{};])
      | (?P<word>(?:\\[\s\S]|[^\s{};\\"'\#])[^\s{};\\]*(?:\\[\s\S][^\s{};\\]*)*)
      | (?P<dquoted>"(?P<dbody>[^"\\]*(?:\\[\s\S][^"\\]*)*)")
      | (?P<squoted>'(?P<sbody>[^'\\]*(?:\\[\s\S][^'\\]*)*)')
      | (?P<comment>(?P<ctext>\#[^\\\n]*(?:\\[^\n][^\\\n]*)*)(?P<cend>\\?\n)?)
    )
    """,
    re.VERBOSE,
)
_ESCAPED_DQUOTE = '\\"'
_ESCAPED_SQUOTE = "\\'"


def can_lex(text: str, external_directives: Iterable[str] = ()) -> bool:
    """True when `lex(text)` is exact: no `${` and no directive with an external lexer."""
    if "${" in text:
        return False
    return not any(name in text for name in external_directives)


def lex(text: str) -> Iterator[Token]:
    """Tokens of `text` as crossplane's `_lex_file_object` yields them (see `can_lex`)."""
    next_match = _TOKEN.scanner(text).match
    count = text.count
    end = len(text)
    line = 1
    counted_to = 0
    while True:
        match = next_match()
        if match is None:
            return  # end of input, inside an unclosed quote, or a lone backslash at the end
        kind = match.lastgroup
        start = match.start(kind)
        line += count("\n", counted_to, start)
        counted_to = start
        if kind == "special":
            yield match.group(kind), line, False
        elif kind == "word":
            stop = match.end()
            if stop == end or text[stop] == "\\":
                return  # crossplane yields a word only once whitespace or {;} ends it
            word = match.group(kind)
            yield word, line + 1 if word.startswith("\\\n") else line, False
        elif kind == "dquoted":
            body = match.group("dbody")
            yield (_unescape_quote(body, '"', _ESCAPED_DQUOTE) if "\\" in body else body), line, True
        elif kind == "squoted":
            body = match.group("sbody")
            yield (_unescape_quote(body, "'", _ESCAPED_SQUOTE) if "\\" in body else body), line, True
        else:
            if match.group("cend") is None:
                return  # crossplane drops a comment that the input ends inside
            yield match.group("ctext"), line, False


def _unescape_quote(body: str, quote: str, escaped: str) -> str:
    """Only an escaped closing quote loses its backslash; other escapes stay as written."""
    if escaped not in body:
        return body
    parts: list[str] = []
    index = 0
    length = len(body)
    while index < length:
        char = body[index]
        if char == "\\" and index + 1 < length:
            pair = body[index:index + 2]
            parts.append(quote if pair == escaped else pair)
            index += 2
        else:
            parts.append(char)
            index += 1
    return "".join(parts)
