"""Fingerprints that identify a finding without its line number.

Baselines, SARIF's primaryLocationLineHash and GitLab's fingerprint must
survive edits elsewhere in the file, so they hash what the finding is about
(rule, file, the directive's text, the block it sits in), never where it is.
"""
from __future__ import annotations

import hashlib
import re
from typing import Iterable, Protocol

from .findings import Finding

_SPACE = re.compile(r"\s+")
_LINE_REFERENCE = re.compile(r":\d+\b")


class HasLines(Protocol):
    def line_text(self, line: int) -> str: ...


def strip_comment(text: str) -> str:
    """The line without its trailing `# comment` (quotes respected, as nginx reads them)."""
    quote = ""
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#":
            return text[:index]
    return text


def normalized_line(text: str) -> str:
    return _SPACE.sub(" ", strip_comment(text)).strip()


def finding_subject(finding: Finding, source: HasLines | None) -> str:
    """What the finding is about, in words that do not move when lines shift."""
    text = normalized_line(source.line_text(finding.line)) if source is not None else ""
    if not text:
        # nothing to anchor on (unreadable file): the message, minus its file:line references
        text = _LINE_REFERENCE.sub("", finding.message)
    return text


def digest(*parts: str, length: int = 16) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:length]


def finding_key(finding: Finding, path: str, source: HasLines | None) -> str:
    """Rule + file + directive text + enclosing block: the baseline's identity of a finding."""
    context = _LINE_REFERENCE.sub("", finding.context)
    return digest(finding.rule, path, finding_subject(finding, source), context)


def line_hash(finding: Finding, path: str, source: HasLines | None) -> str:
    """Rule + file + normalized line text, as SARIF's primaryLocationLineHash wants it."""
    return digest(finding.rule, path, finding_subject(finding, source))


def with_occurrences(keys: Iterable[str]) -> list[str]:
    """`key:N`, N counting repeats of the same key in order, so equal keys stay unique."""
    seen: dict[str, int] = {}
    result: list[str] = []
    for key in keys:
        seen[key] = seen.get(key, 0) + 1
        result.append(f"{key}:{seen[key]}")
    return result
