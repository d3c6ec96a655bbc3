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
    probe = report.extras.get("probe")
    if probe is not None:
        payload["probe"] = probe.to_dict()
        for entry, finding in zip(payload["findings"], report.findings):
            evidence = probe.evidence_for(finding.rule, finding.file, finding.line)
            if evidence is not None:
                entry["probe"] = evidence.to_dict()
    diagnosis = report.extras.get("diagnosis")
    if diagnosis is not None:
        payload["diagnosis"] = diagnosis.to_dict()
    return json.dumps(payload, indent=2, sort_keys=True) + "\n"
