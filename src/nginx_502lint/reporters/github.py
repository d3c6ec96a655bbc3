"""`--format github`: GitHub Actions annotations, then the full text report.

GitHub keeps 10 annotations per level (error, warning, notice) per step and 50
per job, and drops the rest silently. So at most 10 per level are printed,
one notice says how many were left out, and the plain report that follows in
the step's log always has every finding.
"""
from __future__ import annotations

from ..findings import Finding, Severity
from . import Report, text

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
PER_LEVEL_LIMIT = 10


def escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def annotation(finding: Finding, path: str) -> str:
    properties = {
        "file": path,
        "line": str(max(finding.line, 1)),
        "col": str(max(finding.column, 1)),
        "title": f"{finding.rule} {finding.slug}",
    }
    body = finding.message
    if finding.fix is not None:
        body += f"\nfix: {finding.fix.description}"
    joined = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    return f"::{COMMANDS[finding.severity]} {joined}::{escape_data(body)}"


def render(report: Report) -> str:
    by_level: dict[Severity, list[Finding]] = {level: [] for level in Severity}
    for finding in report.findings:
        by_level[finding.severity].append(finding)
    limits = {level: PER_LEVEL_LIMIT for level in Severity}
    if any(len(group) > PER_LEVEL_LIMIT for group in by_level.values()):
        limits[Severity.INFO] -= 1  # the notice about the cut takes one notice slot itself
    chosen = {id(f) for level, group in by_level.items() for f in group[: limits[level]]}
    lines = [
        annotation(f, report.relative_path(f.file) or f.file) for f in report.findings if id(f) in chosen
    ]
    cut = len(report.findings) - len(chosen)
    if cut:
        message = (
            f"{len(report.findings)} findings, {len(chosen)} shown as annotations: GitHub keeps only "
            f"{PER_LEVEL_LIMIT} per level in a step. Every finding is listed in this step's log."
        )
        lines.append(f"::notice title={escape_property('nginx-502lint: annotations cut')}::{escape_data(message)}")
    return "".join(line + "\n" for line in lines) + text.render(report)
