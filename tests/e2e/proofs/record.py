"""What each rule proof observed, kept for docs/proof.md.

Every proof test fills one `ProofRecord` step by step (failure reproduced, rule
reported, fix applied, request succeeds), so a test that stops half-way still
shows how far it got. At the end of the session the records go to a JSON file:
`$NGINX_502LINT_PROOF_RESULTS` if set, else pytest's cache folder.
scripts/gen_proof_table.py renders that file as the table.
"""
from __future__ import annotations

import json
import os
import platform
import re
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from ..harness import ToolMissing, find_php_fpm, nginx_version

RESULTS_ENV = "NGINX_502LINT_PROOF_RESULTS"
_RECORDS = pytest.StashKey[list["ProofRecord"]]()
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@dataclass
class ProofRecord:
    rule: str
    scenario: str
    test: str
    failure: str = ""  # what nginx did with the bad config: "504", "nginx -t rejects", ...
    log_line: str = ""  # the error.log (or nginx -t) line the rule's doc quotes, as observed
    reported: str = ""  # the finding, as the linter printed it
    fix: str = ""  # the rule's fix description
    fix_applicability: str = ""
    fixed: str = ""  # "yes", "no" or "" while unknown
    fixed_detail: str = ""  # what happened after the fix, or why it could not be applied
    notes: list[str] = field(default_factory=list)
    outcome: str = "not run"
    duration_s: float = 0.0


def open_proof(request: pytest.FixtureRequest) -> Iterator[ProofRecord]:
    """The record of the running test, from its `@pytest.mark.proof(rule, scenario)` marker."""
    marker = request.node.get_closest_marker("proof")
    if marker is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses the proof fixture without @pytest.mark.proof(rule, scenario)")
    rule, scenario = marker.args
    record = ProofRecord(rule=rule, scenario=scenario, test=request.node.nodeid)
    request.config.stash.setdefault(_RECORDS, []).append(record)
    started = time.monotonic()
    yield record
    record.duration_s = round(time.monotonic() - started, 2)
    reports = request.node.stash.get(_REPORTS, {})
    call = reports.get("call")
    setup = reports.get("setup")
    if setup is not None and setup.skipped:
        record.outcome = "skipped"
    elif call is not None:
        record.outcome = call.outcome


def remember_report(item: pytest.Item, report: pytest.TestReport) -> None:
    item.stash.setdefault(_REPORTS, {})[report.when] = report


def write_results(config: pytest.Config) -> Path | None:
    records = config.stash.get(_RECORDS, [])
    if not records:
        return None
    path = _results_path(config)
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"environment": environment(), "records": [asdict(r) for r in records]}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def _results_path(config: pytest.Config) -> Path | None:
    if os.environ.get(RESULTS_ENV):
        return Path(os.environ[RESULTS_ENV])
    cache = getattr(config, "cache", None)
    if cache is None:
        return None
    return Path(cache.mkdir("nginx-502lint")) / "proof-results.json"


def environment() -> dict[str, str]:
    """The versions the proofs ran against, for the table's header."""
    return {
        "nginx": ".".join(map(str, nginx_version())),
        "php-fpm": _php_fpm_version(),
        "openssl": ssl.OPENSSL_VERSION,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "date": time.strftime("%Y-%m-%d"),
    }


def _php_fpm_version() -> str:
    try:
        result = subprocess.run([find_php_fpm(), "-v"], capture_output=True, text=True, timeout=10, check=False)
    except (ToolMissing, OSError, subprocess.SubprocessError) as error:  # the php-fpm tests report it
        return f"unknown ({error})"
    match = re.search(r"PHP (\S+)", result.stdout)
    return match.group(1) if match else "unknown"
