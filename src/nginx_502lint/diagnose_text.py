"""The terminal rendering of a log diagnosis (the CLI prints it after the findings)."""
from __future__ import annotations

from .diagnose import Diagnosis, GroupDiagnosis, SiteLink, headline
from .logs import LogReport


def _paint(text: str, code: str, color: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if color else text


MAX_GROUPS_SHOWN = 30


def render_diagnosis_text(diagnosis: Diagnosis, *, color: bool = False, max_groups: int | None = MAX_GROUPS_SHOWN) -> str:
    """One block per failure group, most frequent first:

        142 × 502 upstream sent too big header from 127.0.0.1:8000 (server example.com, /api)
              2026-11-21 10:00:01 to 10:42:13; first at /var/log/nginx/error.log:1234
              served by location /api (server example.com): proxy_pass http://127.0.0.1:8000 at api.conf:20
              → B201 at api.conf:22: proxy_buffer_size 4k … below 8k
                fix: At api.conf:22 (location /api …), set: proxy_buffer_size 16k; …
    """
    out = [_summary(diagnosis.log, diagnosis, color)]
    shown = diagnosis.groups if max_groups is None else diagnosis.groups[:max_groups]
    for group in shown:
        out.extend(_group_lines(group, color))
    hidden = diagnosis.groups[len(shown):]
    if hidden:
        counted = f"{_plural(len(hidden), 'smaller group')} ({_plural(sum(g.group.count for g in hidden), 'line')})"
        out.extend(["", f"… and {counted}; --format json lists every group."])
    for warning in diagnosis.log.warnings:
        out.append(f"warning: {warning}")
    return "\n".join(out) + "\n"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _summary(log: LogReport, diagnosis: Diagnosis, color: bool) -> str:
    failures = sum(g.group.count for g in diagnosis.client_errors)
    parts = [f"{_plural(log.lines, 'line')} read",
             f"{_plural(log.classified, 'upstream failure line')} in {_plural(len(diagnosis.groups), 'group')}",
             f"{failures} answered 5xx"]
    if log.non_upstream:
        parts.append(_plural(log.non_upstream, "other nginx line"))
    if log.unknown:
        samples = ", ".join(log.unknown_samples)
        parts.append(f"{_plural(log.unknown, 'line')} not in nginx's error-log format (e.g. {samples})")
    if log.since is not None:
        parts.append(f"{_plural(log.skipped, 'line')} before {log.since.isoformat(sep=' ')} skipped")
    title = _paint("error.log diagnosis:", "1", color)
    return f"{title} {'; '.join(parts)}."


def _group_lines(diagnosed: GroupDiagnosis, color: bool) -> list[str]:
    group = diagnosed.group
    status = group.signature.status
    status_text = f"{status} " if status is not None else ""
    source = f" from {group.upstream_address}" if group.upstream_address else ""
    request = ", ".join(p for p in (f"server {group.server}" if group.server else "", group.path or "") if p)
    first = f"{group.count} × {status_text}{headline(group)}{source}{f' ({request})' if request else ''}"
    code = "31;1" if status is not None and status >= 500 else "33;1"
    indent = "      "
    when = group.first_time.isoformat(sep=" ")
    if group.last_time != group.first_time:
        when += f" to {group.last_time.isoformat(sep=' ')}"
    lines = ["", _paint(first, code, color),
             f"{indent}{when}; first at {group.sample} [{group.signature.id}]"]
    for link in diagnosed.links:
        lines.extend(_link_lines(link, indent))
    for note in diagnosed.notes:
        lines.append(f"{indent}note: {note}")
    if diagnosed.verdict != "explained":
        lines.append(f"{indent}→ {diagnosed.explanation}")
    if diagnosed.unchecked:
        reasons = "; ".join(f"{rule} {why}" for rule, why in diagnosed.unchecked.items())
        lines.append(f"{indent}  not checked in this run: {reasons}")
    return lines


def _link_lines(link: SiteLink, indent: str) -> list[str]:
    via = f" (via {'; '.join(link.via)})" if link.via else ""
    lines = [f"{indent}served by {link.describe()}{via}"]
    for setting in link.settings:
        lines.append(f"{indent}  in effect: {setting.text}")
    for finding in link.findings:
        lines.append(f"{indent}→ {finding.rule} at {finding.file}:{finding.line}: {finding.message}")
        if finding.fix is not None:
            lines.append(f"{indent}  fix: {finding.fix.description}")
    return lines

