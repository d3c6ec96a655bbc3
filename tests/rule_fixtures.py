"""Rule fixtures: real .conf files that say which findings they must produce.

Layout: tests/fixtures/rules/<RULE ID>/<case>.conf, or <case>/nginx.conf for a
tree with includes. A case named bad* must produce exactly the findings its
`# expect: ID[, ID]` comments mark (on the line of the finding, in whichever
file of the tree); a case named good* must produce none of the rule's.
An optional first-line header `# lint: {"nginx_version": "1.24.0",
"options": {...}, "php_fpm": ["pool.conf"], "host": false, "prefix": "."}`
sets the run (paths relative to the case).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nginx_502lint.cli import parse_version_option
from nginx_502lint.engine import LintSettings, Registry
from nginx_502lint.findings import Finding
from nginx_502lint.lint import lint_paths

FIXTURES = Path(__file__).parent / "fixtures" / "rules"
_EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9, ]+)")
_HEADER = re.compile(r"^#\s*lint:\s*(\{.*\})\s*$")


@dataclass
class Case:
    rule: str
    path: Path
    entry: Path
    header: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "bad" if self.path.name.startswith("bad") else "good"

    @property
    def id(self) -> str:
        return f"{self.rule}/{self.path.name}"


def discover() -> list[Case]:
    cases: list[Case] = []
    for rule_dir in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        for path in sorted(rule_dir.iterdir()):
            if not path.name.startswith(("bad", "good")):
                continue
            entry = path / "nginx.conf" if path.is_dir() else path
            header_line = entry.read_bytes().split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff")
            match = _HEADER.match(header_line)
            header = json.loads(match.group(1)) if match else {}
            cases.append(Case(rule_dir.name, path, entry, header))
    return cases


def expected(case: Case) -> set[tuple[str, int, str]]:
    files = [case.entry] if case.path.is_file() else sorted(p for p in case.path.rglob("*") if p.is_file())
    marks: set[tuple[str, int, str]] = set()
    for file in files:
        for number, line in enumerate(file.read_bytes().decode("utf-8", "replace").split("\n"), start=1):
            match = _EXPECT.search(line)
            if match:
                for rule in filter(None, (r.strip() for r in match.group(1).split(","))):
                    marks.add((str(file.resolve()), number, rule))
    return marks


def settings_for(case: Case) -> LintSettings:
    header = case.header
    base = case.path if case.path.is_dir() else case.path.parent
    settings = LintSettings(host=bool(header.get("host", False)))
    if "nginx_version" in header:
        settings.nginx_version = parse_version_option(header["nginx_version"])
        settings.version_source = "fixture"
    if "prefix" in header:
        settings.prefix = str((base / header["prefix"]).resolve())
    settings.php_fpm = [str(base / p) for p in header.get("php_fpm", [])]
    settings.rule_options = {case.rule: header.get("options", {})}
    settings.extras.update(header.get("extras", {}))
    return settings


def run(case: Case, registry: Registry | None = None) -> list[Finding]:
    registry = registry or Registry.default(entry_points=False)
    result = lint_paths([str(case.entry)], settings_for(case), registry=registry, rule_ids=[case.rule])
    return result.findings


def found(findings: list[Finding]) -> set[tuple[str, int, str]]:
    return {(os.path.realpath(f.file), f.line, f.rule) for f in findings}
