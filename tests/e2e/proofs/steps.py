"""The three steps of a rule proof, each asserting and recording what it saw.

1. nginx with the bad config fails as the rule says (`failed`, or `rejected` by `nginx -t`);
2. the linter, run on the very files nginx runs, reports that rule (`reported`);
3. the rule's own fix, applied mechanically (`apply_own_fix`: fixes.plan_fixes with
   unsafe fixes allowed, then apply_fixes), gives a config nginx accepts and the same
   request succeeds (`succeeded`), or the row says why not (`not_fixed`).
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from nginx_502lint.engine import LintSettings
from nginx_502lint.findings import Finding, LintResult
from nginx_502lint.fixes import FixPlan, SkipKind, apply_fixes, plan_fixes, render_diff
from nginx_502lint.lint import lint_paths

from ..harness import NginxInstance, Response, make_private_dir, nginx_version
from .record import ProofRecord

PROOFS_DIR = Path(__file__).parent
_LOG_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (\[\w+\]) \d+#\d+: (?:\*\d+ )?")
_LOG_NOISE = re.compile(r", (?:client|server|request|host|referrer): (?:\"[^\"]*\"|[^,]*)")


@contextlib.contextmanager
def private_dir(prefix: str) -> Iterator[Path]:
    """A temp dir the nginx workers can traverse, removed afterwards (use with the `running` fixture)."""
    path = make_private_dir(prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def template(name: str) -> str:
    """A bad config from tests/e2e/proofs/<name>.conf (the body of `http {}`, with {placeholders})."""
    return (PROOFS_DIR / f"{name}.conf").read_text()


def log_message(line: str) -> str:
    """An error.log line without time, pid and the per-request fields, keeping level and upstream."""
    message = _LOG_PREFIX.sub(r"\1 ", line.strip())
    return _LOG_NOISE.sub("", message)


def lint_settings(pools: Iterable[Path] = (), *, host: bool = False, probe: bool = False) -> LintSettings:
    """What `nginx-502lint --nginx-version <the nginx under test> [--php-fpm POOL] [--host] [--probe]` runs with."""
    settings = LintSettings(nginx_version=nginx_version(), php_fpm=[str(p) for p in pools], host=host)
    if probe:
        # The CLI's --probe defaults (cli._enable_probe).
        settings.extras.update(probe=True, probe_all=False, probe_timeout=2.0, probe_concurrency=8,
                               probe_total_timeout=20.0)
    return settings


class Proof:
    def __init__(self, record: ProofRecord) -> None:
        self.record = record

    # -- 1. the failure ---------------------------------------------------------------

    def failed(self, nginx: NginxInstance, response: Response, status: int, log_needle: str | tuple[str, ...]) -> str:
        """The bad config's response has `status` and error.log holds `log_needle` (or one of them)."""
        assert response.status == status, (
            f"expected {status} from the bad config, got {response.status}:\n{nginx.error_log_text()}"
        )
        line = _wait_for_any(nginx, (log_needle,) if isinstance(log_needle, str) else log_needle)
        self.record.failure = str(status)
        self.record.log_line = log_message(line)
        return line

    def rejected(self, nginx: NginxInstance, needle: str) -> str:
        """`nginx -t` refuses the bad config with a line holding `needle`."""
        accepted, stderr = nginx.test_config()
        assert not accepted, f"nginx -t accepted the bad config:\n{stderr}"
        lines = [line for line in stderr.splitlines() if needle in line]
        assert lines, f"{needle!r} not in nginx -t output:\n{stderr}"
        self.record.failure = "nginx -t rejects"
        self.record.log_line = lines[0].strip()
        return lines[0]

    # -- 2. the linter ----------------------------------------------------------------

    def reported(
        self, nginx: NginxInstance, *, pools: Iterable[Path] = (), host: bool = False, probe: bool = False,
        line_has: str | None = None,
    ) -> tuple[LintResult, Finding]:
        """Lint the files nginx runs; exactly one finding of the proof's rule (on a line holding `line_has`)."""
        result = lint_paths([str(nginx.conf_path)], lint_settings(pools, host=host, probe=probe))
        findings = [f for f in result.findings if f.rule == self.record.rule and _on_line(f, line_has)]
        shown = "\n".join(f"  {f.rule} {f.file}:{f.line} {f.message}" for f in result.findings)
        assert len(findings) == 1, f"expected one {self.record.rule} finding, linter reported:\n{shown}"
        finding = findings[0]
        self.record.reported = f"{finding.rule} {finding.severity} at {os.path.basename(finding.file)}:{finding.line}: {finding.message}"
        if finding.fix is not None:
            self.record.fix = finding.fix.description
            self.record.fix_applicability = finding.fix.applicability
        return result, finding

    # -- 3. the fix -------------------------------------------------------------------

    def plan_own_fix(self, result: LintResult, finding: Finding) -> FixPlan:
        return plan_fixes([finding], result.sources, include_unsafe=True, nginx_version=nginx_version())

    def apply_own_fix(self, result: LintResult, finding: Finding) -> FixPlan:
        """Apply exactly this finding's fix to the linted files, as `--fix --unsafe-fixes` would."""
        plan = self.plan_own_fix(result, finding)
        reasons = "; ".join(f"{s.kind}: {s.reason}" for s in plan.skipped)
        assert plan.applied == [finding], f"the fix of {finding.rule} was not applied: {reasons}"
        written = apply_fixes(plan)
        assert written, "the fix changed no file"
        self.record.notes.append("diff:\n" + render_diff(plan))
        return plan

    def fix_not_applicable(self, result: LintResult, finding: Finding, kind: SkipKind) -> str:
        """The fixer skips this finding's fix (e.g. advice with no edit); returns why."""
        plan = self.plan_own_fix(result, finding)
        assert plan.applied == [], f"the fix of {finding.rule} now applies; turn this into a full proof"
        (skip,) = plan.skipped
        assert skip.kind == kind, f"expected the fix to be skipped as {kind}, got {skip.kind}: {skip.reason}"
        return skip.reason

    def accepted_after_fix(self, nginx: NginxInstance) -> None:
        accepted, stderr = nginx.test_config()
        assert accepted, f"nginx -t rejects the fixed config:\n{stderr}"

    def succeeded(self, response: Response, detail: str, *, status: int = 200, by_hand: bool = False) -> None:
        """The same request now succeeds; `by_hand` when the test followed a display-only fix's words."""
        assert response.status == status, f"the fixed config still fails: {response.status} {response.text[:300]}"
        self.record.fixed = "by hand" if by_hand else "yes"
        self.record.fixed_detail = detail

    def not_fixed(self, reason: str) -> None:
        self.record.fixed = "no"
        self.record.fixed_detail = reason

    def note(self, text: str) -> None:
        self.record.notes.append(text)


def _wait_for_any(nginx: NginxInstance, needles: tuple[str, ...], timeout_s: float = 3.0) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        for line in nginx.error_log_text().splitlines():
            if any(needle in line for needle in needles):
                return line
        if time.monotonic() >= deadline:
            raise AssertionError(f"none of {needles} in error.log after {timeout_s}s:\n{nginx.error_log_text()}")
        time.sleep(0.02)


def _on_line(finding: Finding, needle: str | None) -> bool:
    if needle is None:
        return True
    try:
        lines = Path(finding.file).read_text().splitlines()
    except OSError:
        return False
    return 0 < finding.line <= len(lines) and needle in lines[finding.line - 1]


def set_pool_settings(config_path: Path, settings: dict[str, str]) -> None:
    """Set `key = value` lines in the (single) pool section of a php-fpm config, as a user edits it."""
    lines = config_path.read_text().splitlines()
    pending = dict(settings)
    for index, line in enumerate(lines):
        key = line.split("=", 1)[0].strip()
        if "=" in line and key in pending:
            lines[index] = f"{key} = {pending.pop(key)}"
    lines += [f"{key} = {value}" for key, value in pending.items()]
    config_path.write_text("\n".join(lines) + "\n")


def pool_settings_in(fix_description: str) -> dict[str, str]:
    """The `key = value` settings a display-only php-fpm fix names, in its own words."""
    settings = dict(re.findall(r"`([\w.\[\]]+) = ([^`]+)`", fix_description))
    assert settings, f"no `key = value` pool setting in the fix: {fix_description}"
    return settings
