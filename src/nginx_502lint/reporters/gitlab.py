"""`--format gitlab`: a GitLab Code Quality report (the Code Climate subset GitLab reads).

GitLab shows only the first of issues that share a fingerprint and matches
issues across pipelines by it, so the fingerprint is unique per finding and
built from what the finding is about, not its line.
"""
from __future__ import annotations

import json
from typing import Any

from ..findings import Severity
from ..fingerprints import digest, finding_key, with_occurrences
from . import Report

SEVERITIES = {Severity.INFO: "info", Severity.WARNING: "minor", Severity.ERROR: "major"}


def render(report: Report) -> str:
    paths = [report.relative_path(f.file) or f.file for f in report.findings]
    keys = with_occurrences(finding_key(f, path, report.source(f.file)) for f, path in zip(report.findings, paths, strict=True))
    issues: list[dict[str, Any]] = [
        {
            "description": f"{finding.rule} [{finding.slug}] {finding.message}",
            "check_name": finding.rule,
            "fingerprint": digest(key, length=32),
            "severity": SEVERITIES[finding.severity],
            "location": {"path": path, "lines": {"begin": max(finding.line, 1)}},
        }
        for finding, path, key in zip(report.findings, paths, keys, strict=True)
    ]
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"
