"""`--format json`: stable keys, one object per finding."""
from __future__ import annotations

import json

from . import Report


def render(report: Report) -> str:
    counts = {"error": 0, "warning": 0, "info": 0}
    for finding in report.findings:
        counts[str(finding.severity)] += 1
    payload = {
        "version": report.tool_version,
        "files": report.files,
        "summary": counts,
        "findings": [finding.to_dict() for finding in report.findings],
    }
    return json.dumps(payload, indent=2, sort_keys=True) + "\n"
