"""nginx-502lint through its library API, for what the CLI does not expose yet (cache, -j).

    python benchmarks/lint_api.py [--jobs N] [--cache-dir DIR] FILE...

Does what the CLI does (lint, render the text report, exit 0/1) without the
CLI framework, so it also shows the start-up cost of a lazy fast path.
"""
from __future__ import annotations

import argparse
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--cache-dir")
    parser.add_argument("--rules", default="all", help="comma-separated ids, or none: parse and model only")
    args = parser.parse_args()

    from nginx_502lint import __version__
    from nginx_502lint.engine import Registry
    from nginx_502lint.lint import Input, expand_paths, lint
    from nginx_502lint.reporters import Report, render

    cache = None
    if args.cache_dir:
        from nginx_502lint.cache import ResultCache

        cache = ResultCache(args.cache_dir)
    registry = Registry.default()
    rule_ids = registry.ids() if args.rules == "all" else [] if args.rules == "none" else args.rules.split(",")
    result = lint([Input(p) for p in expand_paths(args.paths)], registry=registry, rule_ids=rule_ids,
                  jobs=args.jobs, cache=cache)
    report = Report(findings=result.findings, files=result.files, rules={i: registry.get(i) for i in rule_ids},
                    color=False, tool_version=__version__, extras={"sources": result.sources})
    sys.stdout.write(render("text", report))
    return 1 if result.findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
