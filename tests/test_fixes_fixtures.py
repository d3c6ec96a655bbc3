"""Fix fixtures: each tests/fixtures/fixes/<case>/before tree, fixed, must equal after/ byte for byte.

`case.json` names the rules to run, whether unsafe fixes are included and,
optionally, that the real nginx rejects the `before` tree (`"before_nginx":
"rejects"`). Every `after` tree must pass the real `nginx -t`.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nginx_502lint.engine import LintSettings, Registry
from nginx_502lint.fixes import fix_until_stable
from nginx_tools import nginx_test, require_nginx

FIXTURES = Path(__file__).parent / "fixtures" / "fixes"


@dataclass
class FixCase:
    path: Path
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def rules(self) -> list[str]:
        return list(self.spec["rules"])


CASES = [FixCase(p, json.loads((p / "case.json").read_text())) for p in sorted(FIXTURES.iterdir()) if p.is_dir()]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _fix(case: FixCase, root: Path):  # type: ignore[no-untyped-def]
    return fix_until_stable([str(root / "nginx.conf")], LintSettings(), Registry.default(entry_points=False),
                            case.rules, include_unsafe=case.spec["unsafe"])


def _nginx_accepts(tree: Path, scratch: Path) -> tuple[bool, str]:
    shutil.copytree(tree, scratch)
    return nginx_test((tree / "nginx.conf").read_text(), scratch)


def test_every_rule_with_edits_has_a_fix_fixture() -> None:
    covered = {rule for case in CASES for rule in case.rules}
    assert {"T101", "T102", "T103", "T104", "T106", "B201", "B202", "B203"} <= covered


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_fixing_the_before_tree_gives_exactly_the_after_tree(case: FixCase, tmp_path: Path) -> None:
    work = tmp_path / "tree"
    shutil.copytree(case.path / "before", work)
    run = _fix(case, work)
    assert run.stable
    assert run.applied, "a fixture must apply at least one fix"
    assert _tree(work) == _tree(case.path / "after")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_fixed_findings_are_gone_and_a_second_fix_changes_nothing(case: FixCase, tmp_path: Path) -> None:
    work = tmp_path / "tree"
    shutil.copytree(case.path / "before", work)
    first = _fix(case, work)
    applied_rules = {f.rule for f in first.applied}
    left_with_fixes = {(f.rule, f.file, f.line) for f in first.result.findings if f.rule in applied_rules}
    refused = {(s.finding.rule, s.finding.file, s.finding.line) for s in first.skipped}
    assert left_with_fixes <= refused, "a finding whose fix was applied must be gone"
    after_first = _tree(work)
    second = _fix(case, work)
    assert second.rounds == 0 and second.changed == [] and second.applied == []
    assert _tree(work) == after_first


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_the_fixed_tree_passes_nginx_t(case: FixCase, tmp_path: Path) -> None:
    require_nginx()
    accepted, stderr = _nginx_accepts(case.path / "after", tmp_path / "after")
    assert accepted, stderr
    if case.spec.get("before_nginx") == "rejects":
        accepted, _ = _nginx_accepts(case.path / "before", tmp_path / "before")
        assert not accepted, "the before tree was meant to show a config nginx rejects"
