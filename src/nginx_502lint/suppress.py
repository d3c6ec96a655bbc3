"""Suppression comments and per-file ignores, applied after every rule has run.

    proxy_read_timeout 2s;  # nginx-502lint: ignore T102 -- health check must fail fast
    # nginx-502lint: ignore timeout-too-short -- the line below, same meaning
    # nginx-502lint: ignore-file B -- vendored from the CDN's template

Rules are named by id, slug or family letter, separated by commas or spaces.
A suppression without a reason still suppresses (its intent is clear) but is
reported as X901; a rule named by a suppression that matched nothing is
reported as X902, but only when every rule it names actually ran on this
input: a pool or host rule skipped in CI cannot prove its suppression stale.
"""
from __future__ import annotations

import fnmatch
import os
import re
from typing import TYPE_CHECKING, Iterable

from .findings import Finding, Fix, Severity

if TYPE_CHECKING:
    from .engine import LintSettings, Registry
    from .findings import LintResult
    from .parse import SourceFile

WITHOUT_REASON, UNUSED = "X901", "X902"
META_RULES = frozenset({WITHOUT_REASON, UNUSED})
_MARKER = re.compile(r"^\s*nginx-502lint\s*:\s*(?P<verb>[\w-]*)(?P<rest>.*)$")
_MARKER_IN_LINE = re.compile(r"#\s*nginx-502lint\s*:")
_VERBS = ("ignore", "ignore-file")
_SEPARATOR = "--"


class Selector:
    # Plain classes, not dataclasses: see findings.py.
    __slots__ = ("text", "rules", "used")

    def __init__(self, text: str, rules: frozenset[str], used: bool = False) -> None:
        self.text = text
        self.rules = rules  # empty when the name is unknown
        self.used = used


class Suppression:
    __slots__ = ("file", "line", "column", "verb", "selectors", "reason", "target", "problem", "unseparated")

    def __init__(self, file: str, line: int, column: int, verb: str, selectors: list[Selector], reason: str,
                 target: int | None, problem: str = "", unseparated: str = "") -> None:
        self.file = file
        self.line = line
        self.column = column
        self.verb = verb
        self.selectors = selectors
        self.reason = reason
        self.target = target  # the line it covers; None for ignore-file
        self.problem = problem  # why it can never suppress anything
        self.unseparated = unseparated  # words after the rules that lack the ' -- '

    def covers(self, finding: Finding) -> Selector | None:
        if finding.file != self.file or self.problem:
            return None
        if self.verb == "ignore" and finding.line != self.target:
            return None
        return next((s for s in self.selectors if finding.rule in s.rules), None)


def read_suppressions(source: SourceFile, registry: Registry) -> list[Suppression]:
    found: list[Suppression] = []
    for line, comment in source.comments:
        match = _MARKER.match(comment)
        if match:
            found.append(_parse(source, line, match.group("verb"), match.group("rest"), registry))
    return found


def _parse(source: SourceFile, line: int, verb: str, rest: str, registry: Registry) -> Suppression:
    text = source.line_text(line)
    marker = list(_MARKER_IN_LINE.finditer(text))
    column = marker[-1].start() + 1 if marker else 1
    hash_at, separator_at = rest.find("#"), rest.find(_SEPARATOR)
    if hash_at >= 0 and (separator_at < 0 or hash_at < separator_at):
        rest = rest[:hash_at]  # another tool's comment follows the rules: not ours
    names, _, reason = rest.partition(_SEPARATOR)
    tokens = [t for t in re.split(r"[,\s]+", names.strip()) if t]
    unseparated = ""
    if _SEPARATOR not in rest:
        # "ignore T102 slow backend": the rules end where the words stop naming rules
        count = next((i for i, token in enumerate(tokens) if not _resolve(registry, token)), len(tokens))
        tokens, unseparated = tokens[:count], " ".join(tokens[count:])
    selectors = [Selector(token, frozenset(_resolve(registry, token))) for token in tokens]
    suppression = Suppression(source.path, line, column, verb, selectors, reason.strip(), None, unseparated=unseparated)
    if verb not in _VERBS:
        suppression.problem = f"'nginx-502lint: {verb}' is not a suppression (write 'ignore' or 'ignore-file')"
    elif not selectors:
        suppression.problem = "it names no rule (write the ids, slugs or family letters after 'ignore')"
    elif verb == "ignore":
        standalone = text.lstrip().startswith("#")
        suppression.target = _next_statement_line(source, line) if standalone else line
        if suppression.target is None:
            suppression.problem = "no directive follows it in this block"
    return suppression


def _resolve(registry: Registry, selector: str) -> list[str]:
    from .engine import RuleError

    try:
        return registry.resolve(selector)
    except RuleError:
        return []


def _next_statement_line(source: SourceFile, line: int) -> int | None:
    """The line a standalone suppression covers: the next one holding a directive."""
    total = source.text.count("\n") + 1
    for number in range(line + 1, total + 1):
        stripped = source.line_text(number).strip()
        if not stripped or stripped.startswith("#"):
            continue
        return None if stripped.startswith("}") else number
    return None


def rules_that_ran(registry: Registry, selected: Iterable[str], settings: LintSettings) -> set[str]:
    from .engine import _inputs_available

    return {rule_id for rule_id in selected if _inputs_available(registry.get(rule_id), settings)}


def ignored_by_file_pattern(path: str, patterns: dict[str, list[str]]) -> set[str]:
    """Rule ids that per-file-ignores turn off for `path` (globs are absolute or bare file names)."""
    if not patterns:
        return set()
    absolute = os.path.abspath(path)
    name = os.path.basename(absolute)
    ignored: set[str] = set()
    for pattern, rule_ids in patterns.items():
        subject = absolute if os.path.isabs(pattern) else name
        if fnmatch.fnmatchcase(subject, pattern):
            ignored.update(rule_ids)
    return ignored


class _Pass:
    __slots__ = ("registry", "ran", "settings", "suppressions", "by_file", "_file_ignores")

    def __init__(self, registry: Registry, ran: set[str], settings: LintSettings) -> None:
        self.registry = registry
        self.ran = ran
        self.settings = settings
        self.suppressions: list[Suppression] = []
        self.by_file: dict[str, list[Suppression]] = {}
        self._file_ignores: dict[str, set[str]] = {}

    def add(self, found: list[Suppression]) -> None:
        self.suppressions.extend(found)
        for suppression in found:
            self.by_file.setdefault(suppression.file, []).append(suppression)

    def keep(self, finding: Finding) -> bool:
        if finding.file not in self._file_ignores:
            self._file_ignores[finding.file] = ignored_by_file_pattern(finding.file, self.settings.per_file_ignores)
        if finding.rule in self._file_ignores[finding.file]:
            return False
        for suppression in self.by_file.get(finding.file, ()):
            selector = suppression.covers(finding)
            if selector is not None:
                selector.used = True
                return False
        return True

    def meta_findings(self) -> list[Finding]:
        findings: list[Finding] = []
        for s in self.suppressions:
            if WITHOUT_REASON in self.ran and not s.reason and not s.problem:
                findings.append(self._without_reason(s))
            if UNUSED in self.ran:
                findings.extend(self._unused(s))
        return findings

    def _without_reason(self, s: Suppression) -> Finding:
        names = ",".join(sel.text for sel in s.selectors)
        message = f"suppression of {names} gives no reason"
        if s.unseparated:
            message += f" after ' -- ' (found {s.unseparated!r} without the separator)"
        example = f"# nginx-502lint: {s.verb} {names} -- {s.unseparated or '<why this is safe here>'}"
        return self._meta(
            WITHOUT_REASON, s, message,
            "a suppressed 502/504 risk with no recorded reason cannot be re-checked when the backend or traffic changes.",
            Fix(f"Write the reason after ' -- ': `{example}`.", applicability="display_only"),
        )

    def _unused(self, s: Suppression) -> list[Finding]:
        mechanism = "a stale suppression hides the same problem without review if it ever comes back on this line."
        if s.problem:
            fix = Fix(f"Remove the comment at {s.file}:{s.line}, or fix it so it names rules and sits on or above a directive.",
                      applicability="display_only")
            return [self._meta(UNUSED, s, f"suppression suppresses nothing: {s.problem}", mechanism, fix)]
        findings: list[Finding] = []
        for selector in s.selectors:
            if selector.used:
                continue
            if not selector.rules:
                message = f"suppression names unknown rule {selector.text!r}"
            elif selector.rules <= META_RULES or not selector.rules <= self.ran:
                continue  # cannot tell: a rule it names did not run on this input
            elif s.verb == "ignore-file":
                message = f"suppression of {selector.text} is unused: no {selector.text} finding in this file"
            else:
                message = f"suppression of {selector.text} is unused: no {selector.text} finding on line {s.target}"
            rest = [sel.text for sel in s.selectors if sel is not selector]
            advice = f"drop {selector.text} from it" if rest else "remove it"
            if selector.rules:
                advice = f"The problem is gone or never was here: {advice} (comment at {s.file}:{s.line})."
            else:
                advice = f"Correct the name (see nginx-502lint --list-rules) or {advice} (comment at {s.file}:{s.line})."
            fix = Fix(advice, applicability="display_only")
            findings.append(self._meta(UNUSED, s, message, mechanism, fix))
        return findings

    def _meta(self, rule_id: str, s: Suppression, message: str, mechanism: str, fix: Fix) -> Finding:
        spec = self.registry.get(rule_id)
        severity: Severity = self.settings.severity_overrides.get(rule_id) or spec.severity
        return Finding(rule_id, spec.slug, severity, s.file, s.line, message, mechanism, fix, s.column)


def apply_suppressions(result: LintResult, registry: Registry, selected: Iterable[str], settings: LintSettings) -> None:
    """Drop suppressed findings from `result` and add the X901/X902 findings about suppressions."""
    state = _Pass(registry, rules_that_ran(registry, selected, settings), settings)
    for source in result.sources.values():
        if getattr(source, "analysed", False):
            state.add(read_suppressions(source, registry))  # type: ignore[arg-type]
    if not state.suppressions and not settings.per_file_ignores:
        return
    kept = [f for f in result.findings if state.keep(f)]
    kept.extend(f for f in state.meta_findings() if state.keep(f))
    result.findings = kept
