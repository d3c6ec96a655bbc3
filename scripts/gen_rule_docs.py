#!/usr/bin/env python3
"""Write docs/rules/<ID>.md and docs/rules/README.md from the rules' docstrings.

`--check` exits 1 when the pages on disk differ (the test suite runs it).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nginx_502lint.engine import Registry, RuleSpec

DOCS = Path(__file__).resolve().parent.parent / "docs" / "rules"


def page(spec: RuleSpec) -> str:
    title, _, body = spec.doc.partition("\n")
    options = spec.options_schema.get("properties", {})
    lines = [
        f"# {spec.id} {spec.slug}",
        "",
        f"**{title.strip()}**",
        "",
        f"Severity: `{spec.severity}` · needs: {', '.join(spec.needs)} · "
        f"explain locally: `nginx-502lint --explain {spec.id}`",
        "",
        body.strip(),
        "",
    ]
    if options:
        lines += ["## Option reference", "", "| option | type | default |", "|---|---|---|"]
        for name, schema in options.items():
            lines.append(f"| `{name}` | {schema.get('type', '')} | `{schema.get('default', '')}` |")
        lines.append("")
    return "\n".join(lines)


def index(specs: list[RuleSpec]) -> str:
    lines = ["# Rules", "", "Generated from the rule modules by `scripts/gen_rule_docs.py`.", "",
             "| id | slug | severity | summary |", "|---|---|---|---|"]
    for spec in specs:
        lines.append(f"| [{spec.id}]({spec.id}.md) | `{spec.slug}` | {spec.severity} | {spec.summary} |")
    return "\n".join(lines) + "\n"


def expected_pages() -> dict[Path, str]:
    specs = Registry.default(entry_points=False).all()
    pages = {DOCS / f"{spec.id}.md": page(spec) for spec in specs}
    pages[DOCS / "README.md"] = index(specs)
    return pages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args()
    pages = expected_pages()
    stale = [p for p, text in pages.items() if not p.exists() or p.read_text() != text]
    extra = [p for p in DOCS.glob("*.md") if p not in pages] if DOCS.exists() else []
    if args.check:
        for path in stale + extra:
            print(f"stale: {path} (run scripts/gen_rule_docs.py)")
        return 1 if stale or extra else 0
    DOCS.mkdir(parents=True, exist_ok=True)
    for path in stale:
        path.write_text(pages[path])
    for path in extra:
        path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
