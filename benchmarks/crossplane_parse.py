"""The baseline: what crossplane alone does with a tree, as its own CLI would (`crossplane parse`).

    python benchmarks/crossplane_parse.py nginx.conf

Same flags as nginx-502lint's adapter (comments on, crossplane's stale context
and argument checks off, errors caught), following includes the way
crossplane does it (single=False: each file parsed once). No JSON output: only
the parse is timed.
"""
from __future__ import annotations

import sys

import crossplane


def main() -> int:
    payload = crossplane.parse(
        sys.argv[1], comments=True, strict=False, check_ctx=False, check_args=False, catch_errors=True, single=False,
    )
    print(f"{len(payload['config'])} files, status {payload['status']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
