"""nginx config text with offsets, so a fix touches exactly the directive it means.

The parser gives rules a tree of directives with line numbers; to change a
file without rewriting it we need to know where each token starts and ends.
`tokenize` follows crossplane's lexer step by step (escapes, quotes, `#`
comments, `${var}`), keeping offsets into the text, and `ConfigText` groups
the tokens into statements. Text operations (`TextOp`) then replace or
insert exact spans, and everything outside them stays byte-for-byte.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Iterator

HORIZONTAL_SPACE = " \t"

Key = tuple[str, tuple[str, ...]]
Chain = tuple[Key, ...]
ShapeKey = tuple[Chain, str, tuple[str, ...]]


class TextError(ValueError):
    """The text cannot be edited safely (unbalanced, unterminated, overlapping edits)."""


@dataclass(frozen=True)
class Token:
    value: str  # as crossplane reads it: quotes removed, escapes as written
    start: int  # offset of the first character (the opening quote, if quoted)
    end: int  # offset just past the last character (the closing quote, if quoted)
    line: int
    quoted: bool = False
    comment: bool = False

    def is_special(self, char: str) -> bool:
        return not self.quoted and not self.comment and self.value == char


def _units(text: str) -> list[tuple[str, int, int]]:
    """(character or backslash pair, offset, line) exactly as crossplane iterates them."""
    units: list[tuple[str, int, int]] = []
    line = 1
    index = 0
    length = len(text)
    while index < length:
        unit = text[index]
        if unit == "\\":
            if index + 1 >= length:
                break  # crossplane drops a final lone backslash
            unit = text[index:index + 2]
        if unit.endswith("\n"):
            line += 1
        units.append((unit, index, line))
        index += len(unit)
    return units


def tokenize(text: str) -> list[Token]:
    """Tokens with offsets; mirrors crossplane.lexer._lex_file_object branch by branch."""
    units = _units(text)
    count = len(units)
    tokens: list[Token] = []
    word = ""
    word_start = word_line = 0
    i = 0
    while i < count:
        char, position, line = units[i]
        if char.isspace():
            if word:
                tokens.append(Token(word, word_start, position, word_line))
                word = ""
            while char.isspace():
                i += 1
                if i >= count:
                    return tokens
                char, position, line = units[i]
        if not word and char == "#":
            start, comment_line, comment = position, line, ""
            while not char.endswith("\n"):
                comment += char
                i += 1
                if i >= count:
                    return tokens  # crossplane drops a comment the text ends in
                char, position, _ = units[i]
            tokens.append(Token(comment, start, position, comment_line, comment=True))
            i += 1
            continue
        if not word:
            word_start, word_line = position, line
        if word and word[-1] == "$" and char == "{":
            while word[-1] != "}" and not char.isspace():
                word += char
                i += 1
                if i >= count:
                    return tokens
                char, position, line = units[i]
        if char in ('"', "'"):
            if word:
                word += char
                i += 1
                continue
            quote, start, value = char, position, ""
            i += 1
            while True:
                if i >= count:
                    raise TextError(f"unterminated quoted string on line {word_line}")
                char, position, line = units[i]
                if char == quote:
                    break
                value += quote if char == "\\" + quote else char
                i += 1
            tokens.append(Token(value, start, position + 1, word_line, quoted=True))
            i += 1
            continue
        if char in ("{", "}", ";"):
            if word:
                tokens.append(Token(word, word_start, position, word_line))
                word = ""
            tokens.append(Token(char, position, position + 1, line))
            i += 1
            continue
        word += char
        i += 1
    return tokens  # like crossplane, a word the text ends in is dropped: callers end texts with "\n"


def crossplane_args(name: str, args: list[str]) -> tuple[str, ...]:
    """Arguments as crossplane reports them: it strips the parentheses of `if (...)`."""
    if name == "if" and args and args[0].startswith("(") and args[-1].endswith(")"):
        args = list(args)
        args[0] = args[0][1:].lstrip()
        args[-1] = args[-1][:-1].rstrip()
        args = args[int(not args[0]):len(args) - int(not args[-1])]
    return tuple(args)


@dataclass(eq=False)
class Statement:
    name: Token
    args: list[Token]
    terminator: Token  # ";" or "{"
    parent: Statement | None = None
    children: list[Statement] = field(default_factory=list)
    close: Token | None = None  # the "}" that ends a block

    @property
    def is_block(self) -> bool:
        return self.terminator.value == "{"

    @property
    def start(self) -> int:
        return self.name.start

    @property
    def end(self) -> int:
        return (self.close or self.terminator).end

    @property
    def line(self) -> int:
        return self.name.line

    @property
    def depth(self) -> int:
        return sum(1 for _ in self.ancestors())

    def key(self) -> Key:
        return self.name.value, crossplane_args(self.name.value, [a.value for a in self.args])

    def ancestors(self) -> Iterator[Statement]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def chain(self) -> Chain:
        """Keys of the enclosing blocks, outermost first."""
        return tuple(reversed([block.key() for block in self.ancestors()]))

    def inner_chain(self) -> Chain:
        """The chain of a directive placed inside this block."""
        return (*self.chain(), self.key())


def parse_statements(tokens: Iterable[Token]) -> list[Statement]:
    """Group tokens into statements like crossplane's parser; raises TextError where nginx would fail."""
    top: list[Statement] = []
    stack: list[Statement] = []
    pending: Statement | None = None
    for token in tokens:
        if token.comment:
            continue
        siblings = stack[-1].children if stack else top
        if pending is None:
            if token.is_special("}"):
                if not stack:
                    raise TextError(f'unexpected "}}" on line {token.line}')
                stack.pop().close = token
                continue
            if token.is_special("{") or token.is_special(";"):
                raise TextError(f'unexpected "{token.value}" on line {token.line}')
            pending = Statement(token, [], token, parent=stack[-1] if stack else None)
            continue
        if token.is_special("}"):
            raise TextError(f'directive "{pending.name.value}" on line {pending.line} is not terminated by ";"')
        if token.is_special(";") or token.is_special("{"):
            pending.terminator = token
            siblings.append(pending)
            if token.value == "{":
                stack.append(pending)
            pending = None
            continue
        pending.args.append(token)
    if pending is not None:
        raise TextError(f'directive "{pending.name.value}" on line {pending.line} is not terminated by ";"')
    if stack:
        raise TextError(f'block "{stack[-1].name.value}" on line {stack[-1].line} is never closed')
    return top


def walk(statements: Iterable[Statement]) -> Iterator[Statement]:
    for statement in statements:
        yield statement
        yield from walk(statement.children)


def shape(statements: Iterable[Statement]) -> Counter[ShapeKey]:
    """Every directive with the blocks around it: what must survive an edit unchanged."""
    return Counter((s.chain(), *s.key()) for s in walk(statements))


def payload_shape(parsed: list[dict], chain: Chain = ()) -> Counter[ShapeKey]:
    """The same shape from crossplane's payload (comments left out)."""
    result: Counter[ShapeKey] = Counter()
    for stmt in parsed:
        if stmt.get("directive") == "#":
            continue
        key: Key = (stmt["directive"], tuple(stmt.get("args", ())))
        result[(chain, *key)] += 1
        if "block" in stmt:
            result.update(payload_shape(stmt["block"], (*chain, key)))
    return result


@dataclass(frozen=True)
class TextOp:
    """Replace text[start:end] with `text` (an insertion when start == end)."""

    start: int
    end: int
    text: str


def apply_ops(text: str, ops: Iterable[TextOp]) -> str:
    """Apply non-overlapping operations; insertions at one offset keep their given order."""
    ordered = sorted(enumerate(ops), key=lambda item: (item[1].start, item[1].end != item[1].start, item[0]))
    pieces: list[str] = []
    cursor = 0
    for _, op in ordered:
        if op.start < cursor:
            raise TextError("two edits overlap")
        pieces.append(text[cursor:op.start])
        pieces.append(op.text)
        cursor = op.end
    pieces.append(text[cursor:])
    return "".join(pieces)


@dataclass(frozen=True)
class NewDirective:
    """One directive of an edit's text, as written there."""

    name: str
    args: tuple[str, ...]
    arg_texts: tuple[str, ...]
    text: str
    inner: tuple[ShapeKey, ...] = ()  # for a block: what it holds, chains starting at the block itself

    def key(self) -> Key:
        return self.name, crossplane_args(self.name, list(self.args))

    def shape_keys(self, chain: Chain) -> list[ShapeKey]:
        """The directive and everything inside it, as they will sit under `chain`."""
        return [(chain, *self.key()), *(((*chain, *inner_chain), name, args) for inner_chain, name, args in self.inner)]


def parse_new_directives(text: str, allow_blocks: bool = False) -> list[NewDirective]:
    """The directives an edit adds; TextError unless `text` is exactly that (blocks only if allowed)."""
    tokens = tokenize(text + "\n")
    if any(t.comment for t in tokens):
        raise TextError(f"edit text {text!r} holds a comment")
    statements = parse_statements(tokens)
    if not statements:
        raise TextError("edit text is empty")
    result: list[NewDirective] = []
    for statement in statements:
        if statement.is_block and not allow_blocks:
            raise TextError(f"edit text {text!r} opens a block")
        result.append(NewDirective(
            statement.name.value,
            tuple(a.value for a in statement.args),
            tuple(text[a.start:a.end] for a in statement.args),
            text[statement.start:statement.end],
            tuple((s.chain(), *s.key()) for s in walk(statement.children)),
        ))
    return result


class ConfigText:
    """One file's text, its tokens and statements, and where lines and indentation are."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text if text.endswith("\n") else text + "\n")
        self.top = parse_statements(self.tokens)
        self.statements = list(walk(self.top))
        self._comment_starts = [t.start for t in self.tokens if t.comment]

    # finding things -------------------------------------------------------------
    def at_line(self, line: int, name: str) -> list[Statement]:
        return [s for s in self.statements if s.line == line and (not name or s.name.value == name)]

    def blocks_opening_on(self, line: int, name: str) -> list[Statement]:
        """Blocks whose name or whose `{` is on `line` (Allman style puts `{` on the next line)."""
        by_name = [s for s in self.at_line(line, name) if s.is_block]
        if by_name:
            return by_name
        return [s for s in self.statements if s.is_block and s.terminator.line == line
                and (not name or s.name.value == name)]

    def has_comment_within(self, start: int, end: int) -> bool:
        return any(start <= offset < end for offset in self._comment_starts)

    # lines ------------------------------------------------------------------------
    def line_start(self, offset: int) -> int:
        return self.text.rfind("\n", 0, offset) + 1

    def line_rest(self, offset: int) -> tuple[str, int, int]:
        """(text from offset to end of line without EOL, end of content, start of next line)."""
        newline = self.text.find("\n", offset)
        if newline < 0:
            return self.text[offset:], len(self.text), len(self.text)
        content_end = newline - 1 if newline > offset and self.text[newline - 1] == "\r" else newline
        return self.text[offset:content_end], content_end, newline + 1

    def eol_after(self, offset: int) -> str:
        newline = self.text.find("\n", offset)
        if newline < 0:
            return self.default_eol()
        return "\r\n" if newline > 0 and self.text[newline - 1] == "\r" else "\n"

    def default_eol(self) -> str:
        crlf = self.text.count("\r\n")
        return "\r\n" if crlf and crlf * 2 >= self.text.count("\n") else "\n"

    def begins_line(self, statement: Statement) -> bool:
        return self.text[self.line_start(statement.start):statement.start].strip(HORIZONTAL_SPACE) == ""

    def indentation(self, offset: int) -> str:
        start = self.line_start(offset)
        end = start
        while end < len(self.text) and self.text[end] in HORIZONTAL_SPACE:
            end += 1
        return self.text[start:end]

    def indent_unit(self) -> str:
        """The file's own indentation step, judged from statements that begin their line."""
        votes: Counter[str] = Counter()
        for statement in self.statements:
            depth = statement.depth
            if depth == 0 or not self.begins_line(statement):
                continue
            indent = self.indentation(statement.start)
            if indent and set(indent) == {"\t"} and len(indent) == depth:
                votes["\t"] += 1
            elif indent and set(indent) == {" "} and len(indent) % depth == 0:
                votes[" " * (len(indent) // depth)] += 1
        return votes.most_common(1)[0][0] if votes else "    "

    def child_indent(self, block: Statement | None) -> str:
        """Indentation for a new directive inside `block` (None: the file's top level)."""
        children = block.children if block is not None else self.top
        for child in children:
            if self.begins_line(child):
                return self.indentation(child.start)
        if block is None:
            return ""
        return self.indentation(block.start) + self.indent_unit()


# --- operations -------------------------------------------------------------------

def replace_ops(doc: ConfigText, old: Statement, new: list[NewDirective]) -> list[TextOp]:
    """Replace a simple directive; with the same name only the arguments that differ change."""
    if old.is_block:
        raise TextError(f'"{old.name.value}" on line {old.line} is a block; a fix may only replace simple directives')
    first, rest = new[0], new[1:]
    if first.name == old.name.value:
        ops = _argument_ops(doc, old, first)
    else:
        if doc.has_comment_within(old.start, old.end):
            raise TextError(f'"{old.name.value}" on line {old.line} holds a comment that replacing it would lose')
        ops = [TextOp(old.start, old.end, first.text)]
    if rest:
        ops.extend(insert_after_ops(doc, old, rest))
    return ops


def _argument_ops(doc: ConfigText, old: Statement, new: NewDirective) -> list[TextOp]:
    ops: list[TextOp] = []
    for token, value, text in zip(old.args, new.args, new.arg_texts):
        if token.value != value:
            ops.append(TextOp(token.start, token.end, text))
    if len(new.args) > len(old.args):
        anchor = old.args[-1].end if old.args else old.name.end
        ops.append(TextOp(anchor, anchor, "".join(" " + text for text in new.arg_texts[len(old.args):])))
    for token in old.args[len(new.args):]:
        start = token.start
        while start > 0 and doc.text[start - 1] in HORIZONTAL_SPACE:
            start -= 1
        ops.append(TextOp(start, token.end, ""))
    return ops


def insert_after_ops(doc: ConfigText, anchor: Statement, new: list[NewDirective]) -> list[TextOp]:
    """Directives right after `anchor`: on the following lines, or on its line if more follows there."""
    indent = doc.indentation(anchor.start) if doc.begins_line(anchor) else doc.child_indent(anchor.parent)
    return _insert_at(doc, anchor.end, indent, new)


def insert_into_ops(doc: ConfigText, block: Statement, new: list[NewDirective]) -> list[TextOp]:
    """Directives at the top of `block`, just after its `{`."""
    if not block.is_block:
        raise TextError(f'"{block.name.value}" on line {block.line} is not a block')
    return _insert_at(doc, block.terminator.end, doc.child_indent(block), new)


def _insert_at(doc: ConfigText, offset: int, indent: str, new: list[NewDirective]) -> list[TextOp]:
    rest, content_end, next_line = doc.line_rest(offset)
    stripped = rest.strip(HORIZONTAL_SPACE + "\r")
    if stripped and not stripped.startswith("#"):
        # More directives (or the block's `}`) follow on this line: stay on it.
        text = " " + " ".join(d.text for d in new)
        if doc.text[offset] not in HORIZONTAL_SPACE:
            text += " "
        return [TextOp(offset, offset, text)]
    eol = doc.eol_after(offset)
    lines = [indent + d.text for d in new]
    if next_line == content_end:  # last line of a file without a final newline
        return [TextOp(content_end, content_end, "".join(eol + line for line in lines))]
    return [TextOp(next_line, next_line, "".join(line + eol for line in lines))]


def delete_ops(doc: ConfigText, old: Statement) -> list[TextOp]:
    """Remove a directive; its line too when nothing else is on it."""
    if doc.has_comment_within(old.start, old.end):
        raise TextError(f'"{old.name.value}" on line {old.line} holds a comment that deleting it would lose')
    line_start = doc.line_start(old.start)
    before = doc.text[line_start:old.start]
    after, content_end, next_line = doc.line_rest(old.end)
    if not before.strip(HORIZONTAL_SPACE) and not after.strip(HORIZONTAL_SPACE + "\r"):
        return [TextOp(line_start, next_line, "")]
    end = old.end
    while end < content_end and doc.text[end] in HORIZONTAL_SPACE:
        end += 1
    if end == content_end or doc.text[end] == "#":
        start = old.start
        while start > line_start and doc.text[start - 1] in HORIZONTAL_SPACE:
            start -= 1
        return [TextOp(start, old.end, "")]
    return [TextOp(old.start, end, "")]
