"""Symptom to cause: summarise an nginx error.log by upstream failure signature.

The library entry point for `--log`: `analyze_logs(paths)` streams the files,
classifies each line (logclassify.SIGNATURES) and groups the failures by
signature, upstream, server and request path. Counts are of logged failed
tries: nginx logs each peer it tried, so one client 502 can be several lines.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Iterable

from .logclassify import SIGNATURES, Classification, Signature, classify, signature_by_id
from .logread import (
    LogLine,
    LogRecord,
    ProgressCallback,
    Request,
    Upstream,
    iter_log_lines,
    parse_line,
)

__all__ = [
    "SIGNATURES",
    "Classification",
    "FailureGroup",
    "LogLine",
    "LogRecord",
    "LogReport",
    "ProgressCallback",
    "Request",
    "Signature",
    "Upstream",
    "aggregate",
    "analyze_logs",
    "classify",
    "iter_log_lines",
    "parse_line",
    "signature_by_id",
]

UNKNOWN_SAMPLES_KEPT = 5

GroupKey = tuple[str, "str | None", "str | None", "str | None", "str | None"]


@dataclass
class FailureGroup:
    """Failures with one signature, against one upstream, for one server and path."""

    signature: Signature
    rules: tuple[str, ...]
    upstream_scheme: str | None
    upstream_address: str | None
    server: str | None
    path: str | None
    count: int
    first_time: datetime
    last_time: datetime
    sample: str
    """`file:lineno` of the first line seen."""
    sample_message: str

    def add(self, when: datetime) -> None:
        self.count += 1
        # Files may be given in any order (error.log before error.log.1), so no monotonic time.
        if when < self.first_time:
            self.first_time = when
        if when > self.last_time:
            self.last_time = when

    def to_dict(self) -> dict[str, object]:
        return {
            "signature": self.signature.id,
            "status": self.signature.status,
            "cause": self.signature.cause,
            "rules": list(self.rules),
            "upstream_scheme": self.upstream_scheme,
            "upstream_address": self.upstream_address,
            "server": self.server,
            "path": self.path,
            "count": self.count,
            "first_time": self.first_time.isoformat(),
            "last_time": self.last_time.isoformat(),
            "sample": self.sample,
            "sample_message": self.sample_message,
        }


@dataclass
class LogReport:
    """Every line read lands in exactly one of: a group, non_upstream, unknown, skipped."""

    groups: list[FailureGroup] = field(default_factory=list)
    lines: int = 0
    classified: int = 0
    non_upstream: int = 0
    """nginx lines that are no upstream failure (client errors, notices, startup …)."""
    unknown: int = 0
    """Lines not in nginx's error-log format: continuation lines, other programs' output."""
    skipped: int = 0
    """nginx lines older than `since`."""
    since: datetime | None = None
    unknown_samples: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "since": self.since.isoformat() if self.since is not None else None,
            "lines": self.lines,
            "classified": self.classified,
            "non_upstream": self.non_upstream,
            "unknown": self.unknown,
            "skipped": self.skipped,
            "unknown_samples": list(self.unknown_samples),
            "warnings": list(self.warnings),
            "groups": [group.to_dict() for group in self.groups],
        }


def analyze_logs(
    paths: Iterable[str],
    *,
    since: datetime | None = None,
    progress: ProgressCallback | None = None,
    stdin: BinaryIO | None = None,
) -> LogReport:
    """Read error logs (`-` = stdin, gzip detected) and group their upstream failures."""
    warnings: list[str] = []
    lines = iter_log_lines(paths, progress=progress, on_warning=warnings.append, stdin=stdin)
    report = aggregate(lines, since=since)
    report.warnings.extend(warnings)
    return report


def aggregate(lines: Iterable[LogLine], *, since: datetime | None = None) -> LogReport:
    """Group the upstream failures in `lines`; lines before `since` are only counted.

    nginx logs local time without a zone, so `since` is compared as local time
    (an aware `since` is converted to local time first).
    """
    since = _as_local_naive(since)
    report = LogReport(since=since)
    groups: dict[GroupKey, FailureGroup] = {}
    for line in lines:
        report.lines += 1
        record = parse_line(line.text)
        if record is None:
            report.unknown += 1
            if len(report.unknown_samples) < UNKNOWN_SAMPLES_KEPT:
                report.unknown_samples.append(f"{line.source}:{line.lineno}")
            continue
        if since is not None and record.time < since:
            report.skipped += 1
            continue
        found = classify(record)
        if found is None:
            report.non_upstream += 1
            continue
        report.classified += 1
        _add_to_group(groups, found, record, line)
    report.groups = sorted(groups.values(), key=_most_frequent_first)
    return report


def _add_to_group(
    groups: dict[GroupKey, FailureGroup], found: Classification, record: LogRecord, line: LogLine
) -> None:
    path = record.request.path if record.request is not None else None
    key: GroupKey = (found.signature.id, found.upstream_scheme, found.upstream_address, record.server, path)
    group = groups.get(key)
    if group is not None:
        group.add(record.time)
        return
    groups[key] = FailureGroup(
        signature=found.signature,
        rules=found.rules,
        upstream_scheme=found.upstream_scheme,
        upstream_address=found.upstream_address,
        server=record.server,
        path=path,
        count=1,
        first_time=record.time,
        last_time=record.time,
        sample=f"{line.source}:{line.lineno}",
        sample_message=record.message,
    )


def _most_frequent_first(group: FailureGroup) -> tuple[int, datetime, str]:
    return (-group.count, group.first_time, group.signature.id)


def _as_local_naive(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone().replace(tzinfo=None)
