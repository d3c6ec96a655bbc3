"""Apply the fixes that findings carry: choose them, show them as a diff, write them safely.

`plan_fixes` decides which fixes apply (safe always, unsafe on request,
display-only never), resolves conflicts in a fixed order and computes each
file's new bytes without writing anything. `render_diff` shows the plan;
`apply_fixes` writes it atomically. `fix_until_stable` is the whole `--fix`
run: lint, fix, re-lint until nothing changes.

Safe by construction: an edit is applied only to a file that was linted,
that still holds exactly what was linted, and only if the edited file reads
back (with crossplane, the parser of record) as the original with precisely
the intended directives changed, in a context nginx allows them.
"""
from __future__ import annotations

import difflib
import os
import stat
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Literal, Mapping

from . import directives
from .engine import LintSettings, Registry
from .findings import Edit, Finding, LintResult
from .model import context_of_node
from .parse import EncodingProblem, Node, SourceFile, crossplane_parse_text, decode_config_bytes
from .textedit import (
    Chain,
    ConfigText,
    NewDirective,
    ShapeKey,
    Statement,
    TextError,
    TextOp,
    apply_ops,
    delete_ops,
    insert_after_ops,
    insert_into_ops,
    parse_new_directives,
    payload_shape,
    replace_ops,
    shape,
)

BOM = b"\xef\xbb\xbf"
SkipKind = Literal["unsafe", "display_only", "conflict", "refused"]


@dataclass(frozen=True)
class SkippedFix:
    """A finding whose fix was not applied, and why."""

    finding: Finding
    kind: SkipKind
    reason: str


@dataclass(frozen=True)
class FileChange:
    """One file's bytes before and after the planned fixes."""

    path: str  # as findings name it
    target: str | None  # the real file to write; None when the text did not come from disk
    before: bytes
    after: bytes


@dataclass
class FixPlan:
    applied: list[Finding] = field(default_factory=list)
    skipped: list[SkippedFix] = field(default_factory=list)
    changes: list[FileChange] = field(default_factory=list)

    def skipped_as(self, kind: SkipKind) -> list[SkippedFix]:
        return [s for s in self.skipped if s.kind == kind]


class FixError(Exception):
    """The plan cannot be written (file changed meanwhile, not on disk, no permission)."""


class _Refused(Exception):
    pass


# --- planning ---------------------------------------------------------------------

def plan_fixes(
    findings: Iterable[Finding],
    sources: Mapping[str, object],
    include_unsafe: bool = False,
    *,
    from_disk: bool = True,
    nginx_version: tuple[int, ...] | None = None,
) -> FixPlan:
    """Choose the fixes to apply and compute every changed file's new content (writes nothing).

    `sources` maps each linted file's path to its `SourceFile` (`LintResult.sources`);
    edits to any other file are refused. With `from_disk` (the default) each file is
    re-read and must still hold exactly the linted text; without it the linted text
    itself is the original (stdin, an nginx -T dump) and the plan can only be shown.
    With `nginx_version`, a fix that adds a directive this version lacks is refused.
    """
    plan = FixPlan()
    files = _Files(sources, from_disk, nginx_version)
    claims: dict[tuple[object, ...], tuple[Edit, Finding]] = {}
    for finding in sorted((f for f in findings if f.fix is not None), key=_priority):
        fix = finding.fix
        assert fix is not None
        if fix.applicability == "display_only" or not fix.edits:
            plan.skipped.append(SkippedFix(finding, "display_only", "the fix is advice, with no edit to apply"))
            continue
        if fix.applicability != "safe" and not include_unsafe:
            plan.skipped.append(SkippedFix(finding, "unsafe", "the fix changes behaviour; enable unsafe fixes to apply it"))
            continue
        try:
            located = [_locate(edit, files.get(edit.file)) for edit in fix.edits]
        except _Refused as refusal:
            plan.skipped.append(SkippedFix(finding, "refused", str(refusal)))
            continue
        conflict = _conflict(located, claims)
        if conflict is not None:
            plan.skipped.append(SkippedFix(finding, "conflict", conflict))
            continue
        fresh = [edit for edit in located if not _already_claimed(edit, claims)]
        try:
            files.accept(fresh)
        except _Refused as refusal:
            plan.skipped.append(SkippedFix(finding, "refused", str(refusal)))
            continue
        for edit in fresh:
            for key in edit.claims:
                claims[key] = (edit.edit, finding)
        plan.applied.append(finding)
    plan.changes = files.changes()
    plan.applied.sort(key=lambda f: f.sort_key)
    return plan


def _priority(finding: Finding) -> tuple[object, ...]:
    """Who wins a conflict: higher severity, then safe before unsafe, then rule id, then position."""
    assert finding.fix is not None
    return (-int(finding.severity), finding.fix.applicability != "safe", finding.rule,
            finding.file, finding.line, finding.column, finding.message)


@dataclass
class _Located:
    edit: Edit
    file: _File
    ops: list[TextOp]
    claims: list[tuple[object, ...]]
    removed: list[ShapeKey]
    added: list[ShapeKey]
    placed: list[tuple[ShapeKey, Statement | None]]  # each new top-level directive and the block it goes into


def _conflict(located: list[_Located], claims: Mapping[tuple[object, ...], tuple[Edit, Finding]]) -> str | None:
    for edit in located:
        for key in edit.claims:
            owner = claims.get(key)
            if owner is not None and owner[0] != edit.edit:
                other = owner[1]
                what = f'{key[-1]}' if key[0] == "sets" else f'"{edit.edit.directive}" at line {edit.edit.line}'
                return (f"conflicts with the fix of {other.rule} ({other.file}:{other.line}), which also changes "
                        f"{what} in {edit.edit.file} and goes first; lint again after fixing")
    return None


def _already_claimed(edit: _Located, claims: Mapping[tuple[object, ...], tuple[Edit, Finding]]) -> bool:
    """The same edit from another finding (B202 often reports one level twice): apply it once."""
    return bool(edit.claims) and all(key in claims and claims[key][0] == edit.edit for key in edit.claims)


def _locate(edit: Edit, file: _File) -> _Located:
    doc = file.doc
    where = f"{edit.file}:{edit.line}"
    try:
        new = parse_new_directives(edit.text, allow_blocks=edit.kind == "insert") if edit.kind != "delete" else []
    except TextError as error:
        raise _Refused(f"the edit for {where} is not complete directives: {error}") from None
    try:
        if edit.kind == "insert" and not edit.after:
            block = _one(doc.blocks_opening_on(edit.line, edit.directive), f'block "{edit.directive}"', where)
            return _Located(edit, file, insert_into_ops(doc, block, new),
                            _set_claims(file, [(block, d.name) for d in new]), [],
                            *_added(new, block.inner_chain(), block))
        target = _one(doc.at_line(edit.line, edit.directive), f'"{edit.directive}"', where)
        if edit.kind == "insert":
            return _Located(edit, file, insert_after_ops(doc, target, new),
                            _set_claims(file, [(target.parent, d.name) for d in new]), [],
                            *_added(new, target.chain(), target.parent))
        removed = [key for key in shape([target]).elements()]
        claims = [("directive", file.path, target.start), *_set_claims(file, [(target.parent, target.name.value)])]
        if edit.kind == "replace":
            claims += _set_claims(file, [(target.parent, d.name) for d in new])
            return _Located(edit, file, replace_ops(doc, target, new), claims, removed,
                            *_added(new, target.chain(), target.parent))
        if edit.kind == "delete":
            return _Located(edit, file, delete_ops(doc, target), claims, removed, [], [])
    except TextError as error:
        raise _Refused(f"cannot edit {where}: {error}") from None
    raise _Refused(f"unknown edit kind {edit.kind!r} for {where}")


def _added(new: list[NewDirective], chain: Chain, block: Statement | None) -> tuple[list[ShapeKey], list[tuple[ShapeKey, Statement | None]]]:
    """Every shape key the edit adds, and the new top-level directives with the block they go into."""
    added: list[ShapeKey] = []
    placed: list[tuple[ShapeKey, Statement | None]] = []
    for directive in new:
        keys = directive.shape_keys(chain)
        added.extend(keys)
        placed.append((keys[0], block))
    return added, placed


def _one(candidates: list[Statement], what: str, where: str) -> Statement:
    if not candidates:
        raise _Refused(f"{what} is not at {where} (the file differs from what the rule saw)")
    if len(candidates) > 1:
        raise _Refused(f"{what} appears {len(candidates)} times at {where}; which one is meant is ambiguous")
    return candidates[0]


def _set_claims(file: _File, sets: list[tuple[Statement | None, str]]) -> list[tuple[object, ...]]:
    return [("sets", file.path, block.start if block is not None else -1, name) for block, name in sets]


# --- files ------------------------------------------------------------------------

@dataclass
class _File:
    path: str
    target: str | None
    original: bytes
    bom: bool
    doc: ConfigText
    expected: Counter[ShapeKey]
    ops: list[TextOp] = field(default_factory=list)
    text: str = ""

    def encoded(self) -> bytes:
        return (BOM if self.bom else b"") + self.text.encode("utf-8", "surrogateescape")


class _Files:
    """The files fixes may touch, each loaded once; a file that cannot be edited is refused once."""

    def __init__(self, sources: Mapping[str, object], from_disk: bool, nginx_version: tuple[int, ...] | None) -> None:
        self.sources = sources
        self.from_disk = from_disk
        self.nginx_version = nginx_version
        self.loaded: dict[str, _File] = {}
        self.refused: dict[str, str] = {}

    def get(self, path: str) -> _File:
        if path in self.refused:
            raise _Refused(self.refused[path])
        if path not in self.loaded:
            try:
                self.loaded[path] = self._load(path)
            except _Refused as refusal:
                self.refused[path] = str(refusal)
                raise
        return self.loaded[path]

    def _load(self, path: str) -> _File:
        source = self.sources.get(path)
        if not isinstance(source, SourceFile):
            raise _Refused(f"{path} is not one of the linted files; fixes never write outside them")
        if not source.analysed:
            raise _Refused(f"{path} could not be parsed, so it is not edited")
        target: str | None = None
        if self.from_disk:
            target, original = _read_linted(path, source)
        else:
            original = source.text.encode("utf-8", "surrogateescape")
        bom = original.startswith(BOM)
        text = original[len(BOM):].decode("utf-8", "surrogateescape") if bom else original.decode("utf-8", "surrogateescape")
        if "_by_lua_block" in text:
            raise _Refused(f"{path} holds Lua blocks, whose code the fixer does not read; edit it by hand")
        try:
            doc = ConfigText(text)
        except TextError as error:
            raise _Refused(f"{path}: {error}") from None
        expected = shape(doc.top)
        if _reads_as(path, text) != expected:
            raise _Refused(f"{path} uses syntax the fixer does not read exactly like the parser; edit it by hand")
        return _File(path, target, original, bom, doc, expected, text=text)

    def accept(self, edits: list[_Located]) -> None:
        """Take these edits (all of one fix) if every file they touch still reads back as intended."""
        staged: dict[str, tuple[list[TextOp], Counter[ShapeKey], str]] = {}
        for file in {id(e.file): e.file for e in edits}.values():
            mine = [e for e in edits if e.file is file]
            ops = file.ops + [op for e in mine for op in e.ops]
            expected = Counter(file.expected)
            for edit in mine:
                for key in edit.removed:
                    if expected[key] <= 0:
                        raise _Refused(f"{file.path}: two edits remove the same directive")
                    expected[key] -= 1
                expected.update(edit.added)
                for key, block in edit.placed:
                    _check_context(file, key, block)
                    _check_version(file, key, self.nginx_version)
            expected = +expected
            try:
                text = apply_ops(file.doc.text, ops)
            except TextError as error:
                raise _Refused(f"{file.path}: {error}") from None
            actual = _reads_as(file.path, text)
            if actual != expected:
                raise _Refused(f"{file.path}: the edited file would not read back as intended; not applied")
            _check_no_new_duplicates(file, actual, [key for e in mine for key, _ in e.placed])
            staged[file.path] = (ops, expected, text)
        for path, (ops, expected, text) in staged.items():
            file = self.loaded[path]
            file.ops, file.expected, file.text = ops, expected, text

    def changes(self) -> list[FileChange]:
        result = []
        for path in sorted(self.loaded):
            file = self.loaded[path]
            after = file.encoded()
            if after != file.original:
                result.append(FileChange(path, file.target, file.original, after))
        return result


def _read_linted(path: str, source: SourceFile) -> tuple[str, bytes]:
    """The real file behind `path`, and its bytes, if it still holds exactly what was linted."""
    target = os.path.realpath(os.path.abspath(path))
    try:
        status = os.stat(target)
        if not stat.S_ISREG(status.st_mode):
            raise _Refused(f"{path} is not a regular file")
        if status.st_nlink > 1:
            raise _Refused(f"{path} has {status.st_nlink} hard links; replacing it would split them, so edit it by hand")
        with open(target, "rb") as handle:
            original = handle.read()
    except OSError as error:
        raise _Refused(f"{path} cannot be read: {error.strerror or error}") from None
    if _as_linted(original) != source.text:
        raise _Refused(f"{path} on disk is not the text that was linted (changed since, or read from stdin); lint again")
    return target, original


def _as_linted(data: bytes) -> str | None:
    try:
        return decode_config_bytes(data)
    except EncodingProblem as problem:
        return problem.text


def _reads_as(path: str, text: str) -> Counter[ShapeKey] | None:
    """What crossplane makes of `text` (read as nginx reads: LF lines, CR as a space), or None."""
    nginx_text = text.replace("\r\n", "\n").replace("\r", " ")
    try:
        parsed, errors, facts = crossplane_parse_text(path, nginx_text)
    except Exception:  # crossplane must never take a fix run down
        return None
    if errors or facts.brace_terminated or facts.unknown_lua:
        return None
    return payload_shape(parsed)


def _check_context(file: _File, key: ShapeKey, block: Statement | None) -> None:
    """Refuse a directive nginx would reject where the edit puts it: wrong context, wrong argument count."""
    chain, name, args = key
    if not directives.known(name):
        return
    where = f"{file.path}:{block.line}" if block is not None else file.path
    contexts = _contexts_inside(chain)
    allowed = {c for c in contexts if directives.check_context(name, c)}
    if not allowed:
        shown = " or ".join(sorted(contexts))
        inside = f'inside "{block.name.value}" ' if block is not None else ""
        raise _Refused(f'{where}: nginx does not allow "{name}" {inside}({shown} context); the fix would fail nginx -t')
    if all(directives.check_arg_count(name, c, len(args)) is False for c in allowed):
        raise _Refused(f'{where}: the fix writes "{name}" with {len(args)} argument(s), which nginx rejects '
                       f"(the rule's text is probably missing quotes); not applied")


def _check_version(file: _File, key: ShapeKey, version: tuple[int, ...] | None) -> None:
    name = key[1]
    if version is not None and directives.known(name) and not directives.known(name, version):
        shown = ".".join(map(str, version))
        raise _Refused(f'{file.path}: "{name}" does not exist in nginx {shown}; the fix would fail nginx -t')


# Where an included file's top level may sit: a file's text does not say who includes it.
_INCLUDE_SITES: tuple[tuple[str, ...], ...] = (
    (), ("http",), ("http", "server"), ("http", "server", "location"), ("http", "upstream"),
    ("stream",), ("stream", "server"), ("stream", "upstream"), ("mail",), ("mail", "server"),
)
_MAIN_BLOCKS = frozenset({"http", "events", "stream", "mail"})


def _contexts_inside(chain: Chain) -> set[str]:
    """The nginx contexts the innermost block of `chain` can stand for."""
    sites = [()] if chain and chain[0][0] in _MAIN_BLOCKS else _INCLUDE_SITES
    return {_context_inside(tuple((name, ()) for name in site) + chain) for site in sites}


def _context_inside(chain: Chain) -> str:
    """The nginx context inside the innermost block of `chain`, the chain starting at main."""
    parent = Node("", [], "", 0, block=[])
    for name, args in chain:
        parent = Node(name, list(args), "", 0, block=[], parent=parent)
    return context_of_node(Node("_", [], "", 0, parent=parent))


def _check_no_new_duplicates(file: _File, actual: Counter[ShapeKey], added: list[ShapeKey]) -> None:
    before = Counter((chain, name) for chain, name, _ in file.expected.elements())
    after = Counter((chain, name) for chain, name, _ in actual.elements())
    for chain, name, _ in added:
        if after[(chain, name)] > max(before[(chain, name)], 1) and _single_valued(name):
            raise _Refused(f'{file.path}: the fix would set "{name}" twice in one block (nginx: "is duplicate")')


def _single_valued(name: str) -> bool:
    """Directives nginx refuses to see twice in one block ("is duplicate"): one value, not an array."""
    return any(d.value is not None and not d.array for d in directives.definitions(name))


# --- showing and writing ------------------------------------------------------------

def render_diff(plan: FixPlan) -> str:
    """A unified diff (a/ and b/ paths) of every planned change; writes nothing."""
    chunks: list[str] = []
    for change in plan.changes:
        before = change.before.decode("utf-8", "replace").splitlines(keepends=True)
        after = change.after.decode("utf-8", "replace").splitlines(keepends=True)
        name = change.path.lstrip("/") if os.path.isabs(change.path) else change.path
        for line in difflib.unified_diff(before, after, f"a/{name}", f"b/{name}"):
            chunks.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(chunks)


def apply_fixes(plan: FixPlan) -> list[str]:
    """Write every planned change; returns the paths written (only files whose bytes change).

    Each file is replaced atomically (a temporary file in its folder, then
    os.replace), keeping its mode and, where permitted, its owner. Every file
    is checked unchanged since planning and staged before the first one is
    replaced, so a stale or unwritable file stops the run before any write.
    """
    changes = [c for c in plan.changes if c.after != c.before]
    for change in changes:
        if change.target is None:
            raise FixError(f"{change.path} was not read from disk (stdin or an nginx -T dump); it cannot be fixed in place")
    staged: list[tuple[FileChange, str]] = []
    written: list[str] = []
    try:
        for change in changes:
            assert change.target is not None
            staged.append((change, _stage(change)))
        for change, temporary in staged:
            assert change.target is not None
            os.replace(temporary, change.target)
            written.append(change.path)
            _sync_folder(os.path.dirname(change.target))
    except OSError as error:
        done = f" ({', '.join(written)} already written)" if written else " (nothing was written)"
        raise FixError(f"cannot write fixes: {error}{done}") from None
    finally:
        for _, temporary in staged:
            if os.path.lexists(temporary):
                os.unlink(temporary)
    return written


def _stage(change: FileChange) -> str:
    assert change.target is not None
    with open(change.target, "rb") as handle:
        if handle.read() != change.before:
            raise FixError(f"{change.path} changed since it was linted; nothing was written, lint again")
        status = os.fstat(handle.fileno())
    folder, name = os.path.split(change.target)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".502lint-tmp", dir=folder)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(change.after)
            out.flush()
            os.fchmod(out.fileno(), stat.S_IMODE(status.st_mode))
            try:
                os.fchown(out.fileno(), status.st_uid, status.st_gid)
            except PermissionError:
                pass  # only root may give a file away; the mode is kept either way
            os.fsync(out.fileno())
    except BaseException:
        os.unlink(temporary)
        raise
    return temporary


def _sync_folder(folder: str) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some filesystems cannot sync a folder; the rename itself is still atomic
    finally:
        os.close(descriptor)


# --- the --fix run --------------------------------------------------------------------

@dataclass
class FixRun:
    """What `fix_until_stable` did and what is left."""

    result: LintResult  # the lint after the last fix: the findings that remain
    applied: list[Finding]  # every fix applied, as reported in the round that applied it
    skipped: list[SkippedFix]  # fixes of the remaining findings that were not applied, and why
    changed: list[str]  # files written, in order of first write
    rounds: int  # rounds that wrote something
    stable: bool  # False when max_rounds ran out while fixes were still applicable


def fix_until_stable(
    paths: list[str],
    settings: LintSettings | None = None,
    registry: Registry | None = None,
    rule_ids: Iterable[str] | None = None,
    include_unsafe: bool = False,
    max_rounds: int = 3,
    fixable: Callable[[LintResult], list[Finding]] | None = None,
) -> FixRun:
    """Lint, apply the applicable fixes, lint again; repeat until a round changes nothing.

    A fix can make another rule's finding appear or disappear, and conflicting
    fixes wait for a later round, so a few rounds settle what one cannot.
    `fixable` picks the findings whose fixes may apply (e.g. those a baseline
    does not record); by default all of them.
    """
    from .lint import STDIN, Input, expand_paths, lint

    if STDIN in paths:
        raise FixError("fixes cannot be written to stdin; use --diff to see them")
    inputs = [Input(p) for p in expand_paths(paths)]
    selected = list(rule_ids) if rule_ids is not None else None

    def run() -> LintResult:
        return lint(inputs, settings, registry, selected)

    result = run()
    applied: list[Finding] = []
    changed: list[str] = []
    rounds = 0
    while True:
        candidates = fixable(result) if fixable is not None else result.findings
        plan = plan_fixes(candidates, result.sources, include_unsafe,
                          nginx_version=settings.nginx_version if settings is not None else None)
        if not plan.changes or rounds >= max_rounds:
            break
        for path in apply_fixes(plan):
            if path not in changed:
                changed.append(path)
        applied.extend(plan.applied)
        rounds += 1
        result = run()
    return FixRun(result, applied, plan.skipped, changed, rounds, stable=not plan.changes)


def describe_outcome(applied: list[Finding], skipped: list[SkippedFix], *, dry_run: bool = False,
                     stable: bool = True) -> str:
    """The few lines --fix and --diff print on stderr: what was (or would be) fixed, what was not and why."""
    lines: list[str] = []
    if applied:
        verb = "Would fix" if dry_run else "Fixed"
        lines.append(f"{verb} {len(applied)} finding{'' if len(applied) == 1 else 's'}.")
    for skip in skipped:
        if skip.kind in ("conflict", "refused"):
            lines.append(f"Not fixed: {skip.finding.rule} at {skip.finding.file}:{skip.finding.line}: {skip.reason}")
    hidden = sum(1 for skip in skipped if skip.kind == "unsafe")
    if hidden:
        lines.append(f"{hidden} more fix{'' if hidden == 1 else 'es'} available with --unsafe-fixes (they change behaviour: review them with --diff).")
    if not stable:
        lines.append("Fixes were still applicable after the last round; run --fix again and review the result.")
    return "".join(line + "\n" for line in lines)
