"""Output formats. Each module exposes `render(report: Report) -> str`; imported only when chosen."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from ..findings import Finding

FORMATS = ("text", "json")


@dataclass
class Report:
    findings: list[Finding]
    files: list[str]
    rules: dict[str, Any] = field(default_factory=dict)  # id -> RuleSpec, for formats that describe rules
    color: bool = False
    tool_version: str = ""
    root: str = "."
    extras: dict[str, Any] = field(default_factory=dict)


def render(format_name: str, report: Report) -> str:
    if format_name not in FORMATS:
        raise ValueError(f"unknown format {format_name!r} (choose from {', '.join(FORMATS)})")
    module = importlib.import_module(f"{__name__}.{format_name}")
    return module.render(report)
