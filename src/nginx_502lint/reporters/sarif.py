"""`--format sarif`: SARIF 2.1.0 as GitHub code scanning ingests it.

Paths are relative to the repository root (uriBaseId %SRCROOT%), and each
result carries a primaryLocationLineHash built from rule, file and the
normalized line text, so alerts survive edits that move lines.
"""
from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import quote, quote_from_bytes

from ..findings import Finding, Severity
from ..fingerprints import line_hash, with_occurrences
from . import REPOSITORY_URL, RULE_DOCS_URL, TOOL_NAME, Report

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"
LEVELS = {Severity.INFO: "note", Severity.WARNING: "warning", Severity.ERROR: "error"}
PROBLEM_SEVERITY = {Severity.INFO: "recommendation", Severity.WARNING: "warning", Severity.ERROR: "error"}
FAMILY_TAGS = {
    "E": "correctness", "T": "timeouts", "B": "buffers", "U": "upstreams", "F": "fastcgi",
    "K": "keepalive", "S": "tls", "H": "headers", "X": "suppressions",
}
_MAX_DESCRIPTION = 1024  # GitHub's limit for short and full descriptions


def render(report: Report) -> str:
    rule_ids = sorted(set(report.rules) | {f.rule for f in report.findings})
    index = {rule_id: position for position, rule_id in enumerate(rule_ids)}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": report.tool_version,
                "semanticVersion": report.tool_version,
                "informationUri": REPOSITORY_URL,
                "rules": [_descriptor(rule_id, report) for rule_id in rule_ids],
            }
        },
        "originalUriBaseIds": {SRCROOT: {"uri": _folder_uri(report.root)}},
        "results": _results(report, index),
        "columnKind": "unicodeCodePoints",
    }
    log = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _descriptor(rule_id: str, report: Report) -> dict[str, Any]:
    spec = report.rules.get(rule_id)
    if spec is None:  # a finding from a rule the report was not told about
        return {"id": rule_id, "shortDescription": {"text": rule_id}, "helpUri": RULE_DOCS_URL.format(id=rule_id)}
    doc = spec.doc or spec.summary
    full = _section(doc, "What it does") or spec.title
    return {
        "id": spec.id,
        "name": spec.slug,
        "shortDescription": {"text": _clip(spec.summary)},
        "fullDescription": {"text": _clip(full)},
        "help": {"text": doc, "markdown": doc},
        "helpUri": RULE_DOCS_URL.format(id=spec.id),
        "defaultConfiguration": {"level": LEVELS[spec.severity]},
        "properties": {
            "tags": ["nginx", FAMILY_TAGS.get(spec.family, spec.family)],
            "problem.severity": PROBLEM_SEVERITY[spec.severity],
        },
    }


def _results(report: Report, index: dict[str, int]) -> list[dict[str, Any]]:
    locations = [_artifact(report, f.file) for f in report.findings]
    hashes = with_occurrences(
        line_hash(f, location["uri"], report.source(f.file))
        for f, location in zip(report.findings, locations, strict=True)
    )
    return [
        _result(finding, index[finding.rule], location, fingerprint)
        for finding, location, fingerprint in zip(report.findings, locations, hashes, strict=True)
    ]


def _result(finding: Finding, rule_index: int, artifact: dict[str, Any], fingerprint: str) -> dict[str, Any]:
    text = finding.message
    if finding.mechanism:
        text += f"\n\nWhy: {finding.mechanism}"
    if finding.fix is not None:
        text += f"\n\nFix: {finding.fix.description}"
    properties: dict[str, Any] = {"slug": finding.slug}
    if finding.context:
        properties["context"] = finding.context
    if finding.fix is not None:
        properties["fix"] = {"description": finding.fix.description, "applicability": finding.fix.applicability}
    return {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": LEVELS[finding.severity],
        "message": {"text": text},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": artifact,
                "region": {"startLine": max(finding.line, 1), "startColumn": max(finding.column, 1)},
            }
        }],
        "partialFingerprints": {"primaryLocationLineHash": fingerprint},
        "properties": properties,
    }


def _artifact(report: Report, path: str) -> dict[str, Any]:
    relative = report.relative_path(path)
    if relative is not None:
        return {"uri": quote(relative), "uriBaseId": SRCROOT}
    if os.path.isabs(path):
        from pathlib import Path  # rare: only for files outside the repository

        return {"uri": Path(path).as_uri()}
    return {"uri": quote(path.replace(os.sep, "/"))}  # a name with no place on disk (<stdin>)


def _folder_uri(folder: str) -> str:
    """Path(os.path.abspath(folder)).as_uri() + "/", without importing pathlib on every SARIF run."""
    return "file://" + quote_from_bytes(os.fsencode(os.path.abspath(folder))) + "/"


def _section(doc: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\s*\n(.*?)(?=^## |\Z)", doc, re.S | re.M)
    return " ".join(match.group(1).split()) if match else ""


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_DESCRIPTION else text[: _MAX_DESCRIPTION - 1] + "…"
