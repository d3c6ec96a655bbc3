"""A suppression comment suppresses nothing.

## What it does
Reports a `# nginx-502lint: ignore …` comment when a rule it names found
nothing on the line it covers (the comment's own line when it trails a
directive, else the next line holding a directive), an `ignore-file` whose
rule found nothing in the file, a rule name that does not exist, and a
`nginx-502lint:` comment that cannot suppress anything (unknown verb, no
rule named, no directive after it in the block). A rule that did not run on
this input (not selected, or needing `--php-fpm`/`--host` input that was not
given) is never called unused: its suppression may be needed where it runs.

## Why it causes 502/504
It does not by itself. A stale suppression is a blind spot: when the problem
it once covered comes back on that line (a timeout shortened again, a buffer
shrunk), nobody is told.

## Example
```nginx
location /api/ {
    # nginx-502lint: ignore T102 -- legacy backend, fixed in 2024
    proxy_read_timeout 60s;
    proxy_pass http://app;
}
```

## Use instead
```nginx
location /api/ {
    proxy_read_timeout 60s;
    proxy_pass http://app;
}
```

## When to ignore
Configs shared between hosts where the suppressed rule fires on only some of
them: `# nginx-502lint: ignore-file X902 -- shared by hosts a and b`.
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.engine import RuleContext

ID = "X902"
SLUG = "unused-suppression"
SEVERITY = "warning"
SUMMARY = "A suppression comment suppresses nothing: the problem is gone, or the rule name is wrong."
NEEDS = ("conf",)
OPTIONS = {"type": "object", "properties": {}}


def check(ctx: RuleContext) -> Iterator[None]:
    # Suppressions are judged after all rules ran: nginx_502lint.suppress reports this rule.
    yield from ()
