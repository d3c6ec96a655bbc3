"""Every rule against its fixtures: bad cases produce exactly the marked findings, good cases none."""
from __future__ import annotations

import pytest

from rule_fixtures import Case, discover, expected, found, run

CASES = discover()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fixture_produces_exactly_the_marked_findings(case: Case) -> None:
    findings = run(case)
    want = {mark for mark in expected(case) if mark[2] == case.rule}
    if case.kind == "bad":
        assert want, f"{case.id}: a bad fixture must mark at least one '# expect: {case.rule}' line"
    else:
        assert not want, f"{case.id}: a good fixture must not expect findings"
    assert found(findings) == want, "\n".join(f"{f.file}:{f.line} {f.rule} {f.message}" for f in findings)


@pytest.mark.parametrize("case", [c for c in CASES if c.kind == "bad"], ids=lambda c: c.id)
def test_every_finding_carries_a_concrete_message_and_fix(case: Case) -> None:
    for finding in run(case):
        assert finding.message.strip(), finding
        assert finding.fix is not None and finding.fix.description.strip(), finding
        assert finding.line >= 1 and finding.column >= 1, finding
