"""The crossplane adapter: turns nginx config files into one tree of `Node`s.

crossplane is the parser of record, but we own everything around it:
we open every file ourselves (regular files only, size-capped, so a FIFO or
/dev/zero can never hang or exhaust us), decode it the way nginx reads it,
resolve `include` like nginx does (per include site, so a snippet included
from two contexts is checked in both), and turn every crossplane trap
(empty error texts, BOM, `}`-terminated directives, runaway nesting, Lua
blocks it does not know) into a `ParseProblem` with a file, a line and a text.
"""
from __future__ import annotations

import _thread  # threading.Lock without importing threading (~1.5 ms) on every lint
import fnmatch
import gc
import glob
import io
import os
import stat
import re
from array import array
from contextlib import contextmanager
from typing import Callable, Iterator, NamedTuple

from . import fastlex

MAX_DEPTH = 200
DEFAULT_MAX_FILE_SIZE = 128 * 1024 * 1024
MAX_INCLUDE_EXPANSIONS = 200_000
_NEWLINE = re.compile("\n")


class Node:
    """One directive. `block` is None for simple directives, a list for blocks.

    `context` is the nginx context it sits in (main, http, server, location_if …),
    set when a `Model` indexes the tree; read it through `Model.context_of`.
    """

    __slots__ = ("name", "args", "file", "line", "block", "parent", "synthetic", "context")

    def __init__(
        self,
        name: str,
        args: list[str],
        file: str,
        line: int,
        block: list[Node] | None = None,
        parent: Node | None = None,
        synthetic: bool = False,
    ) -> None:
        self.name = name
        self.args = args
        self.file = file
        self.line = line
        self.block = block
        self.parent = parent
        self.synthetic = synthetic
        self.context: str | None = None

    def __repr__(self) -> str:
        return f"Node({self.name!r}, {self.args!r}, {self.file}:{self.line})"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def text(self) -> str:
        """The directive as nginx-valid text, e.g. `proxy_read_timeout 60s;`."""
        return format_directive(self.name, self.args)

    def ancestors(self) -> Iterator[Node]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def walk(self) -> Iterator[Node]:
        """Every node below this one, depth first, in file order."""
        stack = list(reversed(self.block or ()))
        while stack:
            node = stack.pop()
            yield node
            if node.block:
                stack.extend(reversed(node.block))


def quote_arg(arg: str) -> str:
    """Quote an argument when nginx would otherwise split or end it there.

    crossplane keeps backslashes as written and only unescapes quotes, so
    only quotes are escaped again; `$var` arguments with spaces need quoting too.
    """
    if arg == "" or any(c in arg for c in " \t\n;{}\"'#"):
        return '"' + arg.replace('"', '\\"') + '"'
    return arg


def format_directive(name: str, args: list[str] | tuple[str, ...]) -> str:
    return " ".join([name, *(quote_arg(a) for a in args)]) + ";"


class SourceFile:
    # Plain classes and NamedTuples, not dataclasses, here and in every module a
    # lint imports: see findings.py.
    __slots__ = ("path", "text", "comments", "analysed", "_line_starts")

    def __init__(self, path: str, text: str, comments: list[tuple[int, str]] | None = None,
                 analysed: bool = True) -> None:
        self.path = path
        self.text = text
        self.comments: list[tuple[int, str]] = [] if comments is None else comments
        self.analysed = analysed
        self._line_starts: array | None = None

    def __repr__(self) -> str:
        return f"SourceFile(path={self.path!r}, {len(self.text)} characters, analysed={self.analysed})"

    def line_text(self, line: int) -> str:
        # Offsets, not a list of line strings: reporters ask for a few lines of
        # big files, and a split copy would double the memory of every file.
        starts = self._line_starts
        if starts is None:
            starts = self._line_starts = array("q", [0])
            starts.extend(match.end() for match in _NEWLINE.finditer(self.text))
        if 1 <= line <= len(starts):
            end = starts[line] - 1 if line < len(starts) else len(self.text)
            return self.text[starts[line - 1]:end]
        return ""

    def column_of(self, line: int, word: str) -> int:
        index = self.line_text(line).find(word) if word else -1
        return index + 1 if index >= 0 else 1


class ParseProblem(NamedTuple):
    """A fact the parser found; rules E001 and E006 turn these into findings."""

    rule: str  # "E001" or "E006"
    file: str
    line: int
    message: str
    detail: str = ""


class ParsedConfig:
    __slots__ = ("root", "main_file", "files", "problems", "fragment_context", "includes", "digests", "resolutions",
                 "complete")

    def __init__(
        self,
        root: Node,
        main_file: str,
        files: dict[str, SourceFile],
        problems: list[ParseProblem],
        fragment_context: str | None = None,
        includes: list[tuple[Node, list[str]]] | None = None,
        digests: dict[str, tuple[str, str]] | None = None,
        resolutions: list[tuple[str, str, tuple[str, ...] | None]] | None = None,
        complete: bool = True,
    ) -> None:
        self.root = root
        self.main_file = main_file
        self.files = files
        self.problems = problems
        self.fragment_context = fragment_context
        self.includes: list[tuple[Node, list[str]]] = [] if includes is None else includes
        # What the result depends on, for the result cache: every file read
        # (shown path -> (real path, digest); the digest is "" unless the Loader
        # was asked for digests) and every include pattern's resolution;
        # `complete` is False when some file could not be read at all.
        self.digests: dict[str, tuple[str, str]] = {} if digests is None else digests
        self.resolutions: list[tuple[str, str, tuple[str, ...] | None]] = [] if resolutions is None else resolutions
        self.complete = complete

    def source(self, path: str) -> SourceFile | None:
        return self.files.get(path)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a tree is built.

    A big config becomes hundreds of thousands of long-lived objects; the
    collector would rescan them again and again (a third of the load time on
    a 10 MB tree) to find almost nothing, as the builders leave little cyclic
    garbage. It is switched back on (if it was on) when the tree is done.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class InputError(Exception):
    """The input cannot be read at all (usage-level error, exit 2)."""


# --- reading ---------------------------------------------------------------------

class FileSystem:
    """Where file contents come from: the disk, or a map of virtual files (nginx -T, stdin)."""

    def __init__(self, virtual: dict[str, str] | None = None, allow_disk: bool = True) -> None:
        self.virtual = virtual or {}
        self.allow_disk = allow_disk

    def exists(self, path: str) -> bool:
        if path in self.virtual:
            return True
        return self.allow_disk and os.path.lexists(path)

    def glob(self, pattern: str) -> list[str]:
        found = {p for p in self.virtual if fnmatch.fnmatchcase(p, pattern)}
        if self.allow_disk:
            found.update(glob.glob(pattern))
        return sorted(p for p in found if not os.path.basename(p).startswith("."))

    def read(self, path: str, max_size: int) -> str:
        """Return decoded text or raise OSError/ValueError with an nginx-style reason."""
        if path in self.virtual:
            return reject_bom(self.virtual[path])
        if not self.allow_disk:
            raise FileNotFoundError(2, "No such file or directory", path)
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(21, "Is a directory", path)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file (FIFO, socket or device); not read")
        if st.st_size > max_size:
            raise ValueError(f"file is larger than {_size_text(max_size)}; not read")
        with open(path, "rb") as handle:
            data = handle.read(max_size + 1)  # the file may have grown since stat()
        if len(data) > max_size:
            raise ValueError(f"file is larger than {_size_text(max_size)}; not read")
        return decode_config_bytes(data)


def _size_text(size: int) -> str:
    mib = 1024 * 1024
    return f"{size // mib} MiB" if size % mib == 0 else f"{size:,} bytes"


class EncodingProblem(ValueError):
    def __init__(self, message: str, line: int = 1, text: str | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.text = text  # analysable text, when the problem still lets us read the file


def decode_config_bytes(data: bytes) -> str:
    """Decode like nginx reads: bytes as they are, lines on LF only.

    Raises EncodingProblem for what nginx would reject outright (UTF-16, NUL
    bytes) or misread (a UTF-8 BOM, which nginx glues to the first directive).
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise EncodingProblem("file is UTF-16 encoded; nginx reads configuration as ASCII/UTF-8 bytes")
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise EncodingProblem("file contains a NUL byte (binary file?); nginx cannot read it as configuration", line)
    text = data.decode("utf-8", errors="replace")
    # nginx counts only LF as a line break; a lone CR is plain whitespace to it.
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", " ")
    return reject_bom(text)


def file_digest(text: str, problem: EncodingProblem | None = None) -> str:
    """Identifies what the linter saw of a file: its text, and a BOM or other reading problem."""
    import hashlib

    marker = f"{type(problem).__name__}:{problem}:{problem.line}" if problem is not None else ""
    data = f"{marker}\0{text}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def reject_bom(text: str) -> str:
    if text.startswith("\ufeff"):
        raise EncodingProblem(
            "file starts with a UTF-8 byte order mark: nginx reads it as part of the first "
            'directive and fails with "unknown directive"; save the file without BOM',
            1,
            text[1:],
        )
    return text


# --- crossplane ------------------------------------------------------------------

class _TokenFacts:
    """What we learn while tokens stream past, at no extra lexing cost."""

    def __init__(self) -> None:
        self.last_line = 1
        self.brace_terminated: list[tuple[int, str]] = []
        self.unknown_lua: list[tuple[int, str]] = []


class _AdapterSyntaxError(Exception):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.strerror = message
        self.lineno = line


_LUA_SUFFIXES = ("_by_lua_block",)
_patch_lock = _thread.allocate_lock()


def _known_lua_blocks() -> frozenset[str]:
    try:
        from crossplane.ext.lua import LuaBlockPlugin

        return frozenset(LuaBlockPlugin.directives)
    except Exception:  # a fork without the plugin: every Lua block is unknown
        return frozenset()


# Texts on which the fast lexer must match the installed crossplane lexer
# before it is used: every quirk fastlex.py reproduces (a fork that lexes
# differently, e.g. with proper end-of-file errors, keeps its own lexer).
_LEXER_PROBES = (
    'a b;\n# c\nd "e\\"f" \'g\\\'h\' i\\ j { k#l "m\nn";}\n\\\no p\\\n#q\\\nr;\n',
    "a 'b",
    "a b",
    "a;\n# c",
    "a b\\",
)


def _fast_lexer_agrees(lex_file_object: Callable[..., Iterator[tuple[str, int, bool]]]) -> bool:
    global _fast_lexer_checked
    if _fast_lexer_checked is None:
        try:
            _fast_lexer_checked = all(
                list(fastlex.lex(probe)) == list(lex_file_object(io.StringIO(probe))) for probe in _LEXER_PROBES
            )
        except Exception:
            _fast_lexer_checked = False
    return _fast_lexer_checked


_fast_lexer_checked: bool | None = None


def _raw_tokens(text: str, name: str) -> Iterator[tuple[str, int, bool]]:
    import crossplane.lexer as cp_lexer

    lex_file_object: Callable[..., Iterator[tuple[str, int, bool]]] | None = getattr(
        cp_lexer, "_lex_file_object", None
    )
    balance = getattr(cp_lexer, "_balance_braces", None)
    if lex_file_object is not None and balance is not None:
        external = getattr(cp_lexer, "EXTERNAL_LEXERS", None)
        if external is not None and fastlex.can_lex(text, external) and _fast_lexer_agrees(lex_file_object):
            return balance(fastlex.lex(text), name)
        return balance(lex_file_object(io.StringIO(text)), name)
    # A fork without the private entry points: lex a temporary copy instead.
    import tempfile

    handle = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False, encoding="utf-8")
    with handle:
        handle.write(text)

    def from_temp() -> Iterator[tuple[str, int, bool]]:
        try:
            yield from cp_lexer.lex(handle.name)
        finally:
            os.unlink(handle.name)

    return from_temp()


def _observed(tokens: Iterator[tuple[str, int, bool]], facts: _TokenFacts) -> Iterator[tuple[str, int, bool]]:
    known_lua = _known_lua_blocks()
    depth = 0
    previous = ";"
    previous_quoted = False
    at_directive = True
    directive = ""
    for token, line, quoted in tokens:
        facts.last_line = line
        if not quoted and token.startswith("#"):
            yield token, line, quoted
            continue
        if not quoted and token == "}":
            if not previous_quoted and previous not in ("{", ";", "}"):
                facts.brace_terminated.append((line, directive))
            depth -= 1
        elif not quoted and token == "{":
            depth += 1
            if depth > MAX_DEPTH:
                raise _AdapterSyntaxError(f"blocks nested deeper than {MAX_DEPTH} levels", line)
        if at_directive:
            directive = token
        if at_directive and not quoted and token.endswith(_LUA_SUFFIXES) and token not in known_lua:
            raise _AdapterSyntaxError(
                f'"{token}" holds Lua code the parser cannot read', line
            )
        at_directive = not quoted and token in ("{", ";", "}")
        previous, previous_quoted = token, quoted
        yield token, line, quoted


def crossplane_parse_text(name: str, text: str) -> tuple[list[dict], list[tuple[int | None, str]], _TokenFacts]:
    """Parse one file's text with crossplane, without following includes."""
    import crossplane
    import crossplane.parser as cp_parser

    facts = _TokenFacts()
    if not text.endswith("\n"):
        text += "\n"  # crossplane drops a final comment without a newline

    def lex(filename: str) -> Iterator[tuple[str, int, bool]]:
        return _observed(_raw_tokens(text, name), facts)

    with _patch_lock:
        original = cp_parser.lex
        cp_parser.lex = lex
        try:
            payload = crossplane.parse(
                name, single=True, comments=True, strict=False,
                check_ctx=False, check_args=False, catch_errors=True,
            )
        finally:
            cp_parser.lex = original
    config = payload["config"][0] if payload.get("config") else {"parsed": [], "errors": []}
    errors = [(e.get("line"), str(e.get("error") or "")) for e in config.get("errors", [])]
    return config.get("parsed", []), errors, facts


def find_unclosed_quote(text: str) -> int | None:
    """Line where a quote opens that never closes (crossplane reports it as a missing "}")."""
    line = 1
    quote = ""
    quote_line = 0
    in_comment = False
    escaped = False
    for char in text:
        if char == "\n":
            line += 1
            in_comment = False
        if escaped:
            escaped = False
            continue
        if char == "\\":
            escaped = True
            continue
        if in_comment:
            continue
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote, quote_line = char, line
        elif char == "#":
            in_comment = True
    return quote_line if quote else None


def _clean_error(message: str, file: str) -> str:
    message = message.strip()
    if not message or message == "StopIteration":
        return "unexpected end of file (a directive is missing its \";\" or a quote or brace is not closed)"
    marker = message.rfind(" in ")
    if marker > 0 and ":" in message[marker:]:
        message = message[:marker]
    if message.startswith("maximum recursion depth"):
        return f"blocks nested too deeply to analyse ({message})"
    return message


# --- loader ----------------------------------------------------------------------

class _Parsed:
    """One file, parsed once per Loader however often it is included.

    `nodes` is the file's own tree. The first include site adopts those very
    nodes (most files are included once, so the tree is never copied); later
    sites get a copy without what the first site spliced in from includes.
    """

    __slots__ = ("nodes", "source", "problems", "digest", "placed")

    def __init__(self, nodes: list[Node], source: SourceFile, problems: list[tuple[int, str]], digest: str) -> None:
        self.nodes = nodes
        self.source = source
        self.problems = problems
        self.digest = digest
        self.placed = False


class _Unreadable(NamedTuple):
    reason: str
    problem: tuple[int, str] | None = None  # a reading problem about the file itself (UTF-16, NUL)


class Loader:
    """Builds a `ParsedConfig` from a main file, following includes like nginx."""

    def __init__(
        self,
        prefix: str | None = None,
        host: bool = False,
        fs: FileSystem | None = None,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        display: Callable[[str], str] | None = None,
        digests: bool = False,
    ) -> None:
        self.prefix = prefix
        self.host = host
        self.fs = fs or FileSystem()
        self.max_file_size = max_file_size
        self.display = display or display_path
        self.record_digests = digests  # for the result cache: hashing costs only when it is used
        self._cache: dict[str, _Parsed | _Unreadable] = {}
        self._shown: dict[str, str] = {}
        self._strings: dict[str, str] = {}  # one copy of each name and short argument
        self._files: dict[str, SourceFile] = {}
        self._problems: list[ParseProblem] = []
        self._reported: set[str] = set()
        self._digests: dict[str, tuple[str, str]] = {}
        self._resolutions: list[tuple[str, str, tuple[str, ...] | None]] = []
        self._resolved: dict[tuple[str, str], list[str] | None] = {}
        self._complete = True
        self._expansions = 0
        self._includes: list[tuple[Node, list[str]]] = []

    # public --------------------------------------------------------------------
    def load(self, path: str, infer_context: bool = True) -> ParsedConfig:
        with gc_paused():
            return self._load(path, infer_context)

    def _load(self, path: str, infer_context: bool) -> ParsedConfig:
        self._files = {}
        self._problems = []
        self._reported = set()
        self._digests = {}
        self._resolutions = []
        self._resolved = {}
        self._complete = True
        self._expansions = 0
        self._includes = []
        real = self._real(path)
        prefix = self.prefix or os.path.dirname(real)
        root = Node("", [], self._show(real), 0, block=[], synthetic=True)
        parsed = self._use_file(real, include_line=None, including_file=None)
        fragment = None
        if parsed is not None:
            statements = self._place(parsed, real, root, prefix, stack=(real,))
            fragment = infer_fragment_context(statements) if infer_context else None
            attach = _wrap_fragment(root, fragment, self._show(real)) if fragment else root
            for node in statements:
                node.parent = attach
            attach.block = statements  # type: ignore[assignment]
        return ParsedConfig(
            root=root,
            main_file=self._show(real),
            files=self._files,
            problems=self._problems,
            fragment_context=fragment,
            includes=self._includes,
            digests=self._digests,
            resolutions=self._resolutions,
            complete=self._complete,
        )

    def reread(self, path: str) -> tuple[str, str] | None:
        """(text, digest) of a file as `load` would read it now; None if it cannot be read."""
        try:
            text, problem = self._read(path)
        except (OSError, ValueError):
            return None
        return text, file_digest(text, problem)

    def resolve_include(self, pattern: str, prefix: str) -> tuple[str, ...] | None:
        """The files an include pattern names now, as `load` resolves it."""
        found = self._resolve_include(pattern, prefix)
        return None if found is None else tuple(found)

    # internals -----------------------------------------------------------------
    def _real(self, path: str) -> str:
        if path in self.fs.virtual:
            return path
        return os.path.abspath(path)

    def _show(self, real: str) -> str:
        shown = self._shown.get(real)
        if shown is None:
            shown = self._shown[real] = self.display(real)
        return shown

    def _problem(self, rule: str, file: str, line: int | None, message: str) -> None:
        self._problems.append(ParseProblem(rule, self._show(file) if file else "", line or 1, message))

    def _use_file(self, real: str, include_line: int | None, including_file: str | None) -> _Parsed | None:
        """The parsed file, reporting its problems once in each load (the cache outlives a load)."""
        entry = self._cache.get(real)
        if entry is None:
            entry = self._cache[real] = self._read_and_parse(real)
        first_use = real not in self._reported
        self._reported.add(real)
        if isinstance(entry, _Unreadable):
            self._complete = False
            if entry.problem is not None:
                self._files.setdefault(self._show(real), SourceFile(self._show(real), "", analysed=False))
                if first_use:
                    self._problem("E001", real, *entry.problem)
            elif first_use and including_file:
                self._problem("E001", including_file, include_line, f'cannot include "{self._show(real)}": {entry.reason}')
            elif first_use:
                self._problem("E001", real, 1, f"cannot read file: {entry.reason}")
            return None
        self._files.setdefault(entry.source.path, entry.source)
        self._digests[entry.source.path] = (real, entry.digest)
        if first_use:
            for line, message in entry.problems:
                self._problem("E001", real, line, message)
        return entry

    def _read(self, real: str) -> tuple[str, EncodingProblem | None]:
        """The text to analyse and the encoding problem that came with it, if any."""
        try:
            return self.fs.read(real, self.max_file_size), None
        except EncodingProblem as problem:
            if problem.text is None:
                raise
            return problem.text, problem

    def _read_and_parse(self, real: str) -> _Parsed | _Unreadable:
        shown = self._show(real)
        problems: list[tuple[int, str]] = []
        try:
            text, encoding_problem = self._read(real)
        except EncodingProblem as problem:
            return _Unreadable(str(problem), (problem.line, str(problem)))
        except (OSError, ValueError) as error:
            return _Unreadable(getattr(error, "strerror", None) or str(error))
        if encoding_problem is not None:
            problems.append((encoding_problem.line, str(encoding_problem)))
        try:
            statements, errors, facts = crossplane_parse_text(shown, text)
        except Exception as error:  # crossplane must never take the linter down
            statements, errors, facts = [], [(None, f"{type(error).__name__}: {error}")], _TokenFacts()
        payload_statements = statements
        source = SourceFile(shown, text)
        for line, message in errors:
            cleaned = _clean_error(message, shown)
            if cleaned.startswith("unexpected end of file"):
                quote_line = find_unclosed_quote(text)
                if quote_line is not None:
                    line, cleaned = quote_line, "unterminated quoted string: the quote opened here is never closed"
            problems.append((line if line is not None else facts.last_line, cleaned + "; the file was not analysed"))
        for line, name in facts.brace_terminated:
            problems.append((line, f'unexpected "}}": directive "{name}" is not terminated by ";"; the file was not analysed'))
        if errors or facts.brace_terminated:
            # nginx rejects the file; crossplane's tree for it is empty or mis-nested
            source.analysed = False
            statements = []
        comments: list[tuple[int, str]] = []
        nodes = _to_nodes(statements, shown, comments, problems, self._strings)
        # crossplane's parse() leaves a reference cycle (its recursive inner
        # function) that holds the payload until the cyclic GC runs; emptying
        # the list frees the file's statement dicts right now instead.
        payload_statements.clear()
        source.comments = comments
        digest = file_digest(text, encoding_problem) if self.record_digests else ""
        return _Parsed(nodes, source, problems, digest)

    def _place(self, parsed: _Parsed, real: str, parent: Node, prefix: str, stack: tuple[str, ...]) -> list[Node]:
        if parsed.placed:
            nodes = _copy_own_nodes(parsed.nodes, parsed.source.path)
        else:
            parsed.placed = True
            nodes = parsed.nodes
        return self._link(nodes, real, parent, prefix, stack)

    def _link(self, nodes: list[Node], real: str, parent: Node, prefix: str, stack: tuple[str, ...]) -> list[Node]:
        """Attach nodes under `parent`, splicing in what their includes name."""
        result: list[Node] = []
        for node in nodes:
            node.parent = parent
            result.append(node)
            if node.block is not None:
                node.block = self._link(node.block, real, node, prefix, stack)
            elif node.name == "include" and len(node.args) == 1:
                result.extend(self._expand_include(node, real, parent, prefix, stack))
        return result

    def _expand_include(self, node: Node, real: str, parent: Node, prefix: str, stack: tuple[str, ...]) -> list[Node]:
        pattern = node.args[0]
        targets = self._resolved_include(pattern, prefix)
        shown_targets: list[str] = []
        if targets is None:
            return []
        if not targets and not glob.has_magic(pattern):
            self._include_not_found(node, real, pattern)
            self._includes.append((node, []))
            return []
        expanded: list[Node] = []
        for target in targets:
            shown_targets.append(self._show(target))
            if target in stack:
                chain = " -> ".join(self._show(p) for p in (*stack[stack.index(target):], target))
                self._problem("E001", real, node.line, f"include loop: {chain}")
                continue
            self._expansions += 1
            if self._expansions > MAX_INCLUDE_EXPANSIONS:
                if self._expansions == MAX_INCLUDE_EXPANSIONS + 1:
                    self._problem("E001", real, node.line, f"more than {MAX_INCLUDE_EXPANSIONS} includes; the rest were not read")
                break
            parsed = self._use_file(target, node.line, real)
            if parsed is None:
                continue
            expanded.extend(self._place(parsed, target, parent, prefix, (*stack, target)))
        self._includes.append((node, shown_targets))
        return expanded

    def _resolved_include(self, pattern: str, prefix: str) -> list[str] | None:
        """Each pattern is resolved once per load: a snippet included from every
        location costs one look at the disk, as it does for nginx."""
        key = (pattern, prefix)
        if key not in self._resolved:
            targets = self._resolve_include(pattern, prefix)
            self._resolved[key] = targets
            self._resolutions.append((pattern, prefix, None if targets is None else tuple(targets)))
        return self._resolved[key]

    def _include_not_found(self, node: Node, real: str, pattern: str) -> None:
        if self.host:
            message = f'include "{pattern}" matches no file: nginx refuses to start ("open() failed (2: No such file or directory)")'
        elif os.path.isabs(pattern):
            message = (
                f'include "{pattern}" was not found in the linted tree; its directives were not checked '
                "(use --prefix to map the tree to its install path, or --host to read the host's files)"
            )
        else:
            message = f'include "{pattern}" matches no file; nginx would refuse to start if it is missing on the server'
        self._problem("E006", real, node.line, message)

    def _resolve_include(self, pattern: str, prefix: str) -> list[str] | None:
        if not os.path.isabs(pattern):
            return self._match(os.path.join(prefix, pattern))
        under_prefix = os.path.normpath(pattern).startswith(os.path.normpath(prefix) + os.sep)
        if under_prefix or pattern in self.fs.virtual or (self.fs.virtual and self._match(pattern)):
            return self._match(pattern)
        mapped = self._map_into_tree(pattern, prefix)
        if mapped is not None:
            return mapped
        if self.host:
            return self._match(pattern)
        return []

    def _map_into_tree(self, pattern: str, prefix: str) -> list[str] | None:
        """Map an absolute include (/etc/nginx/conf.d/*.conf) onto the linted tree.

        Repositories keep /etc/nginx's layout under some folder; the longest
        tail of the path that exists below the prefix is the file meant.
        """
        parts = _path_parts(pattern)[1:]
        for start in range(len(parts)):
            tail = parts[start:]
            if len(tail) == 1 and glob.has_magic(tail[0]):
                break  # a bare "*.conf" would match the main file itself
            candidate = os.path.join(prefix, *tail)
            matches = self._match(candidate)
            if matches:
                return matches
            directory = os.path.dirname(candidate)
            if glob.has_magic(tail[-1]) and not glob.has_magic(directory) and os.path.isdir(directory):
                return []  # the folder is there and simply holds no match, as nginx allows
        return None

    def _match(self, pattern: str) -> list[str]:
        if glob.has_magic(pattern):
            return self.fs.glob(pattern)
        return [pattern] if self.fs.exists(pattern) else []


def _path_parts(path: str) -> list[str]:
    """PurePosixPath(path).parts, without importing pathlib (and urllib, ipaddress) on every lint."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    return ["/", *parts] if path.startswith("/") else parts


def _to_nodes(statements: list[dict], file: str, comments: list[tuple[int, str]],
              problems: list[tuple[int, str]], strings: dict[str, str]) -> list[Node]:
    """crossplane's statements as Nodes; comments and impossible names go to their lists.

    Names and short arguments repeat all over a config (proxy_set_header,
    $host, on, 60s): every Node shares one copy of each via `strings`.
    """
    nodes: list[Node] = []
    share = strings.setdefault
    for stmt in statements:
        name = stmt["directive"]
        line = stmt.get("line") or 1
        if name == "#":
            comments.append((line, stmt.get("comment", "")))
            continue
        block = stmt.get("block")
        if name in ("{", ";", "}") or name.endswith(("{", ";")):
            problems.append((line, f'unexpected "{name[-1]}"'))
            if block:
                _collect_comments(block, comments)
            continue
        args = [share(arg, arg) if len(arg) <= 64 else arg for arg in stmt["args"]] if stmt.get("args") else []
        node = Node(share(name, name), args, file, line)
        if block is not None:
            node.block = _to_nodes(block, file, comments, problems, strings)
        nodes.append(node)
    return nodes


def _collect_comments(statements: list[dict], comments: list[tuple[int, str]]) -> None:
    for stmt in statements:
        if stmt["directive"] == "#":
            comments.append((stmt.get("line") or 1, stmt.get("comment", "")))
        elif stmt.get("block"):
            _collect_comments(stmt["block"], comments)


def _copy_own_nodes(nodes: list[Node], file: str) -> list[Node]:
    """A fresh copy of a placed file's tree, leaving out nodes spliced in from other files."""
    copies: list[Node] = []
    for node in nodes:
        if node.file != file:
            continue
        copy = Node(node.name, list(node.args), file, node.line)
        if node.block is not None:
            copy.block = _copy_own_nodes(node.block, file)
        copies.append(copy)
    return copies


_FRAGMENT_CANDIDATES = ("main", "http", "server", "location", "upstream", "events", "stream", "stream_server")
_WRAPPERS: dict[str, tuple[tuple[str, list[str]], ...]] = {
    "http": (("http", []),),
    "server": (("http", []), ("server", [])),
    "location": (("http", []), ("server", []), ("location", ["/"])),
    "upstream": (("http", []), ("upstream", ["fragment"])),
    "events": (("events", []),),
    "stream": (("stream", []),),
    "stream_server": (("stream", []), ("server", [])),
}


def infer_fragment_context(statements: list[Node]) -> str | None:
    """The outermost context in which every top-level directive is valid.

    pre-commit hands us files such as sites-available/app.conf (bare
    `server {}` blocks) or snippets (bare `proxy_*` lines); nginx reads them
    inside http/server/location through an include, so we do too.
    """
    from . import directives

    names = [(n.name, n.block is not None) for n in statements if n.name != "include"]
    if not names:
        return None
    best: tuple[int, str] = (-1, "main")
    for context in _FRAGMENT_CANDIDATES:
        fits = 0
        for name, is_block in names:
            if not directives.known(name):
                fits += 1  # unknown names are E002's business, not a context hint
                continue
            if directives.check_context(name, context) and directives.is_block(name, context) in (is_block, None):
                fits += 1
        if fits == len(names):
            return None if context == "main" else context
        if fits > best[0]:
            best = (fits, context)
    return None if best[1] == "main" else best[1]


def _wrap_fragment(root: Node, context: str, file: str) -> Node:
    parent = root
    for name, args in _WRAPPERS.get(context, ()):
        wrapper = Node(name, list(args), file, 0, block=[], parent=parent, synthetic=True)
        parent.block.append(wrapper)  # type: ignore[union-attr]
        parent = wrapper
    return parent


def display_path(path: str) -> str:
    """Paths as the user knows them: relative to the working directory when inside it."""
    if not os.path.isabs(path):
        return path
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative
