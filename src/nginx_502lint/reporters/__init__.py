"""Output formats. Each module exposes `render(report: Report) -> str`; imported only when chosen."""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import Any

from ..findings import Finding

FORMATS = ("text", "json", "sarif", "github", "gitlab", "junit")
TOOL_NAME = "nginx-502lint"
REPOSITORY_URL = "https://github.com/nginx-502lint/nginx-502lint"
RULE_DOCS_URL = REPOSITORY_URL + "/blob/main/docs/rules/{id}.md"


@dataclass
class Report:
    findings: list[Finding]
    files: list[str]
    rules: dict[str, Any] = field(default_factory=dict)  # id -> RuleSpec, for formats that describe rules
    color: bool = False
    tool_version: str = ""
    root: str = "."  # paths in SARIF, GitHub and GitLab reports are relative to it
    sources: dict[str, Any] = field(default_factory=dict)  # path -> parse.SourceFile
    notes: list[str] = field(default_factory=list)  # human lines for the summary (baseline, cut annotations)
    extras: dict[str, Any] = field(default_factory=dict)

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
