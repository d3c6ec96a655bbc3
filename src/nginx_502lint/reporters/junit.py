"""`--format junit`: JUnit XML for GitLab `reports: junit`, Jenkins and test dashboards.

One testsuite per file read, one failing testcase per finding, and one
passing testcase for a file with no findings, so clean files show as passed.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..findings import Finding
from . import TOOL_NAME, Report

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def render(report: Report) -> str:
    by_file: dict[str, list[Finding]] = {path: [] for path in report.files}
    for finding in report.findings:
        by_file.setdefault(finding.file, []).append(finding)
    root = ET.Element("testsuites", name=TOOL_NAME, tests="0", failures=str(len(report.findings)), errors="0")
    total = 0
    for file, findings in by_file.items():
        shown = _clean(report.relative_path(file) or file)
        suite = ET.SubElement(root, "testsuite", name=shown, tests=str(max(len(findings), 1)),
                              failures=str(len(findings)), errors="0", skipped="0")
        total += max(len(findings), 1)
        if not findings:
            ET.SubElement(suite, "testcase", classname=shown, name=f"{TOOL_NAME}: no problems", file=shown)
        for finding in findings:
            case = ET.SubElement(suite, "testcase", classname=shown, file=shown, line=str(finding.line),
                                 name=_clean(f"{finding.rule} {finding.slug} at line {finding.line}"))
            failure = ET.SubElement(case, "failure", type=finding.rule,
                                    message=_clean(f"{finding.severity}: {finding.message}"))
            failure.text = _clean(_details(finding, shown))
    root.set("tests", str(total))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _details(finding: Finding, shown: str) -> str:
    lines = [f"{shown}:{finding.line}:{finding.column}: {finding.severity} {finding.rule} [{finding.slug}] {finding.message}"]
    if finding.context:
        lines.append(f"where: {finding.context}")
    if finding.mechanism:
        lines.append(f"why: {finding.mechanism}")
    if finding.fix is not None:
        lines.append(f"fix: {finding.fix.description}")
    return "\n".join(lines)
