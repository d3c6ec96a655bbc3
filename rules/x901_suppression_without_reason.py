"""A suppression comment does not say why the finding is acceptable.

## What it does
Reports a `# nginx-502lint: ignore …` or `ignore-file …` comment that has no
reason after ` -- `. The suppression still takes effect (what it hides is
clear); this finding asks for the missing why. X9xx rules are the linter's
own: they are reported by the suppression pass after every other rule has
run, and their ids are outside the catalog's families.

## Why it causes 502/504
It does not by itself. But a suppressed 502/504 risk is a decision that was
true for one backend at one time: "the health check must fail fast", "this
backend answers in 100ms". Without the reason nobody can tell when the
decision stops holding, and the suppression outlives it.

## Example
```nginx
location /health {
    proxy_read_timeout 1s;  # nginx-502lint: ignore T102
    proxy_pass http://app;
}
```

## Use instead
```nginx
location /health {
    proxy_read_timeout 1s;  # nginx-502lint: ignore T102 -- load balancer probe must fail fast
    proxy_pass http://app;
}
```

## When to ignore
When your team does not want reasons: `ignore = ["X901"]` in the
configuration.
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.engine import RuleContext

ID = "X901"
SLUG = "suppression-without-reason"
SEVERITY = "warning"
SUMMARY = "A suppression comment gives no reason after ' -- '."
NEEDS = ("conf",)
OPTIONS = {"type": "object", "properties": {}}


def check(ctx: RuleContext) -> Iterator[None]:
    # Suppressions are judged after all rules ran: nginx_502lint.suppress reports this rule.
    yield from ()
