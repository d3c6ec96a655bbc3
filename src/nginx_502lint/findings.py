"""What a rule reports: findings, their severity and the fix that goes with them.

The records are NamedTuples, not dataclasses: every lint imports them, and
the dataclasses module (with the inspect module it loads) and the code it
generates for each class cost a plain lint of a small config a fifth of its time.
"""
from __future__ import annotations

import enum
from typing import Literal, NamedTuple


class Severity(enum.IntEnum):
    INFO = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (expected error, warning or info)") from None

    def __str__(self) -> str:
        return self.name.lower()


Applicability = Literal["safe", "unsafe", "display_only"]
EditKind = Literal["replace", "insert", "delete"]


class Edit(NamedTuple):
    """One textual change to one directive, anchored to a file and line.

    replace: the directive `directive` that starts at `line` becomes `text`.
    insert:  `text` goes into the block whose directive name (`location`,
             `server`, …) is on `line` — its `{` may be on a later line in
             Allman style — or, with `after=True`, right after the simple
             directive on `line`, in `file`.
    delete:  the directive `directive` at `line` is removed.
    `text` is one or more complete directives, e.g. "proxy_read_timeout 60s;".
    """

    kind: EditKind
    file: str
    line: int
    text: str = ""
    directive: str = ""
    after: bool = False


class Fix(NamedTuple):
    """A concrete change that removes the problem.

    `description` says what to change and where, with the exact directives;
    `edits` is the same change in machine-applicable form (may be empty when
    the change is outside nginx's config, e.g. a php-fpm pool setting).
    """

    description: str
    edits: tuple[Edit, ...] = ()
    applicability: Applicability = "unsafe"


class Finding(NamedTuple):
    rule: str
    slug: str
    severity: Severity
    file: str
    line: int
    message: str
    mechanism: str = ""
    fix: Fix | None = None
    column: int = 1
    context: str = ""

    @property
    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line, self.column, self.rule, self.message)

    def to_dict(self) -> dict[str, object]:
        fix: dict[str, object] | None = None
        if self.fix is not None:
            fix = {
                "description": self.fix.description,
                "applicability": self.fix.applicability,
                "edits": [
                    {
                        "kind": e.kind,
                        "file": e.file,
                        "line": e.line,
                        "directive": e.directive,
                        "text": e.text,
                        "after": e.after,
                    }
                    for e in self.fix.edits
                ],
            }
        return {
            "rule": self.rule,
            "slug": self.slug,
            "severity": str(self.severity),
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "context": self.context,
            "message": self.message,
            "mechanism": self.mechanism,
            "fix": fix,
        }


class LintResult:
    """Everything one run produced: findings plus the files that were read."""

    __slots__ = ("findings", "files", "sources")

    def __init__(self, findings: list[Finding] | None = None, files: list[str] | None = None,
                 sources: dict[str, object] | None = None) -> None:
        self.findings: list[Finding] = [] if findings is None else findings
        self.files: list[str] = [] if files is None else files
        self.sources: dict[str, object] = {} if sources is None else sources  # path -> parse.SourceFile
