"""Output formats. Each module exposes `render(report: Report) -> str`; imported only when chosen."""
from __future__ import annotations

import importlib
import os
from typing import Any

from ..findings import Finding

FORMATS = ("text", "json", "sarif", "github", "gitlab", "junit")
TOOL_NAME = "nginx-502lint"
REPOSITORY_URL = "https://github.com/nginx-502lint/nginx-502lint"
RULE_DOCS_URL = REPOSITORY_URL + "/blob/main/docs/rules/{id}.md"


class Report:
    """What a format renders. A plain class, not a dataclass: see findings.py."""

    __slots__ = ("findings", "files", "rules", "color", "tool_version", "root", "sources", "notes", "extras")

    def __init__(
        self,
        findings: list[Finding],
        files: list[str],
        rules: dict[str, Any] | None = None,
        color: bool = False,
        tool_version: str = "",
        root: str = ".",
        sources: dict[str, Any] | None = None,
        notes: list[str] | None = None,
        extras: dict[str, Any] | None = None,
    ) -> None:
        self.findings = findings
        self.files = files
        self.rules: dict[str, Any] = {} if rules is None else rules  # id -> RuleSpec, for formats that describe rules
        self.color = color
        self.tool_version = tool_version
        self.root = root  # paths in SARIF, GitHub and GitLab reports are relative to it
        self.sources: dict[str, Any] = {} if sources is None else sources  # path -> parse.SourceFile
        # human lines for the summary (baseline, cut annotations)
        self.notes: list[str] = [] if notes is None else notes
        self.extras: dict[str, Any] = {} if extras is None else extras

    def replace(self, **changes: Any) -> Report:
        """A shallow copy with `changes`, as dataclasses.replace made."""
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update(changes)
        return Report(**values)

    def source(self, path: str) -> Any:
        return self.sources.get(path) or self.extras.get("sources", {}).get(path)

    def relative_path(self, path: str) -> str | None:
        """`path` relative to the report root with / separators, or None when it lies outside."""
        if not path:
            return None
        relative = os.path.relpath(os.path.abspath(path), os.path.abspath(self.root))
        if relative == ".." or relative.startswith(".." + os.sep):
            return None
        return relative.replace(os.sep, "/")


def find_repository_root(start: str | None = None) -> str:
    """The enclosing git work tree (what code scanning and GitLab resolve paths against), else `start`."""
    start = os.path.abspath(start or os.getcwd())
    directory = start
    while True:
        if os.path.exists(os.path.join(directory, ".git")):
            return directory
        parent = os.path.dirname(directory)
        if parent == directory:
            return start
        directory = parent


def render(format_name: str, report: Report) -> str:
    if format_name not in FORMATS:
        raise ValueError(f"unknown format {format_name!r} (choose from {', '.join(FORMATS)})")
    module = importlib.import_module(f"{__name__}.{format_name}")
    rendered: str = module.render(report)
    return rendered
