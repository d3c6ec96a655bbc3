"""The default human format: one clickable `file:line:col:` line per finding,
the offending source line, the mechanism and the fix."""
from __future__ import annotations

from typing import Any, Iterator

from ..findings import Finding, Severity
from . import Report

_COLORS = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "36"}


def _paint(text: str, code: str, color: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if color else text


def render(report: Report) -> str:
    return "".join(iter_render(report))


def iter_render(report: Report) -> Iterator[str]:
    """The report line by line, so the CLI writes it as it is made: on a big tree
    the whole text (and the list of its lines) would otherwise sit in memory at
    the peak, next to the tree and the findings."""
    color = report.color
    probe = report.extras.get("probe")
    diagnosis = report.extras.get("diagnosis")
    wrote = False
    if report.files or diagnosis is None:  # `--log` alone lints nothing: no "0 files" line
        for finding in report.findings:
            for line in _finding_lines(finding, report.source(finding.file), color, probe):
                yield line + "\n"
        yield summary_line(report.findings, len(report.files), color) + "\n"
        wrote = True
    for note in report.notes:
        yield note + "\n"
        wrote = True
    if probe is not None:
        from ..probe import render_probe_text

        yield "\n" + render_probe_text(probe).rstrip("\n") + "\n"
        wrote = True
    if diagnosis is not None:
        from ..diagnose_text import render_diagnosis_text

        yield ("\n" if wrote else "") + render_diagnosis_text(diagnosis, color=color).rstrip("\n") + "\n"
        wrote = True
    if not wrote:
        yield "\n"


def statistics(findings: list[Finding]) -> str:
    """`--statistics`: how many findings each rule produced, most first."""
    counts: dict[tuple[str, str, Severity], int] = {}
    for finding in findings:
        key = (finding.rule, finding.slug, finding.severity)
        counts[key] = counts.get(key, 0) + 1
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0][0]))
    return "".join(f"{count:>6}  {rule}  {slug:<34} {severity}\n" for (rule, slug, severity), count in rows)


def _finding_lines(finding: Finding, source: Any, color: bool, probe: Any = None) -> list[str]:
    level = _paint(str(finding.severity), _COLORS[finding.severity] + ";1", color)
    location = _paint(f"{finding.file}:{finding.line}:{finding.column}:", "1", color)
    lines = [f"{location} {level} {_paint(finding.rule, '1', color)} [{finding.slug}] {finding.message}"]
    text = source.line_text(finding.line) if source is not None else ""
    if text.strip():
        gutter = f"{finding.line:>6} | "
        lines.append(_paint(gutter, "2", color) + text.rstrip())
        caret_pad = " " * (len(gutter) + max(finding.column - 1, 0))
        width = max(1, len(text.rstrip()) - (finding.column - 1))
        lines.append(caret_pad + _paint("^" * min(width, 60), _COLORS[finding.severity], color))
    if finding.mechanism:
        lines.append(f"       {_paint('why:', '1', color)} {finding.mechanism}")
    if finding.fix is not None:
        lines.append(f"       {_paint('fix:', '32;1', color)} {finding.fix.description}")
    evidence = probe.evidence_for(finding.rule, finding.file, finding.line) if probe is not None else None
    if evidence is not None:  # what --probe saw: "confirmed: probe: [::1]:8000 refused …"
        lines.append(f"       {_paint(evidence.verdict + ':', '1', color)} {evidence.text}")
    lines.append("")
    return lines


def summary_line(findings: list[Finding], file_count: int, color: bool) -> str:
    if not findings:
        return _paint(f"No problems found in {file_count} file{'s' if file_count != 1 else ''}.", "32", color)
    counts = {s: 0 for s in Severity}
    for finding in findings:
        counts[finding.severity] += 1
    parts = [f"{counts[s]} {str(s) + ('s' if counts[s] != 1 and s != Severity.INFO else '')}" for s in reversed(Severity)]
    total = len(findings)
    return f"Found {total} problem{'s' if total != 1 else ''} ({', '.join(parts)}) in {file_count} file{'s' if file_count != 1 else ''}."
