"""Baselines: adopt the linter on a big tree and fail only on new findings.

Like ESLint's bulk suppressions, the file counts findings per file and rule,
split by a fingerprint of what each finding is about (the directive's text and
its block, see fingerprints.py), never by line: edits that move lines keep
the baseline valid. More findings with one fingerprint than counted are new;
fewer leave a stale entry, reported so the file can be rewritten.

E001 is never baselined: a file that does not parse is not linted at all.
"""
from __future__ import annotations

import json
import os
from typing import Any, Mapping, NamedTuple

from .findings import Finding
from .fingerprints import HasLines, finding_key, finding_subject

FORMAT_VERSION = 1
NEVER_BASELINED = frozenset({"E001"})


class BaselineError(Exception):
    """The baseline file is missing or malformed (exit 2)."""


class Entry(NamedTuple):  # not a dataclass, as --baseline is a plain lint: see findings.py
    file: str
    rule: str
    fingerprint: str
    count: int  # shadows tuple.count, which nothing here calls
    text: str = ""


class Outcome:
    __slots__ = ("findings", "matched", "stale")

    def __init__(self, findings: list[Finding], matched: int = 0, stale: list[Entry] | None = None) -> None:
        self.findings = findings  # what is left to report: new findings
        self.matched = matched
        self.stale: list[Entry] = [] if stale is None else stale  # entries with fewer findings than counted


def baseline_path_of(file: str, folder: str) -> str:
    """A finding's file as the baseline names it: relative to the baseline's folder when inside it."""
    absolute = os.path.abspath(file)
    relative = os.path.relpath(absolute, folder) if os.path.isabs(absolute) else file
    return file if relative.startswith("..") else relative.replace(os.sep, "/")


def _keyed(findings: list[Finding], sources: Mapping[str, Any], folder: str) -> list[tuple[tuple[str, str, str], Finding]]:
    keyed = []
    for finding in findings:
        path = baseline_path_of(finding.file, folder)
        source: HasLines | None = sources.get(finding.file)
        keyed.append(((path, finding.rule, finding_key(finding, path, source)), finding))
    return keyed


def entries_for(findings: list[Finding], sources: Mapping[str, Any], folder: str) -> list[Entry]:
    counts: dict[tuple[str, str, str], list[Finding]] = {}
    for key, finding in _keyed([f for f in findings if f.rule not in NEVER_BASELINED], sources, folder):
        counts.setdefault(key, []).append(finding)
    entries = []
    for (path, rule, fingerprint), group in sorted(counts.items()):
        first = group[0]
        text = finding_subject(first, sources.get(first.file))
        if first.context:
            text += f" in {first.context}"
        entries.append(Entry(path, rule, fingerprint, len(group), text))
    return entries


def write_baseline(path: str, findings: list[Finding], sources: Mapping[str, Any]) -> list[Entry]:
    folder = os.path.dirname(os.path.abspath(path))
    entries = entries_for(findings, sources, folder)
    tree: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for entry in entries:
        tree.setdefault(entry.file, {}).setdefault(entry.rule, []).append(
            {"fingerprint": entry.fingerprint, "count": entry.count, "text": entry.text}
        )
    payload = {"tool": "nginx-502lint", "version": FORMAT_VERSION, "findings": tree}
    try:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2, sort_keys=True, ensure_ascii=False)
            handle.write("\n")
    except OSError as error:
        raise BaselineError(f"cannot write baseline {path}: {error.strerror or error}") from None
    return entries


def read_baseline(path: str) -> list[Entry]:
    try:
        with open(path, encoding="utf-8") as handle:
            payload = json.load(handle)
    except FileNotFoundError:
        raise BaselineError(f"baseline {path} not found (create it with --write-baseline {path})") from None
    except (OSError, ValueError) as error:
        raise BaselineError(f"baseline {path} is unreadable: {error}") from None
    try:
        if payload.get("version") != FORMAT_VERSION:
            raise BaselineError(f"baseline {path}: version {payload.get('version')!r} is not {FORMAT_VERSION}; rewrite it with --write-baseline")
        return [
            Entry(file, rule, str(item["fingerprint"]), int(item["count"]), str(item.get("text", "")))
            for file, rules in payload["findings"].items()
            for rule, items in rules.items()
            for item in items
        ]
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise BaselineError(f"baseline {path} is malformed ({type(error).__name__}: {error}); rewrite it with --write-baseline") from None


def apply_baseline(path: str, findings: list[Finding], sources: Mapping[str, Any]) -> Outcome:
    entries = read_baseline(path)
    folder = os.path.dirname(os.path.abspath(path))
    allowance = {(e.file, e.rule, e.fingerprint): e.count for e in entries}
    seen: dict[tuple[str, str, str], int] = {}
    outcome = Outcome(findings=[])
    for key, finding in _keyed(findings, sources, folder):
        seen[key] = seen.get(key, 0) + 1
        if finding.rule not in NEVER_BASELINED and seen[key] <= allowance.get(key, 0):
            outcome.matched += 1
        else:
            outcome.findings.append(finding)
    outcome.stale = [e for e in entries if seen.get((e.file, e.rule, e.fingerprint), 0) < e.count]
    return outcome
