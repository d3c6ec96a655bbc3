"""An `include` names a file that does not exist.

## What it does
Reports a non-glob `include` that matches no file. nginx refuses to start
or reload on it (`open() "…" failed (2: No such file or directory)`); a glob
that matches nothing is fine in nginx and is not reported.

Off the host (a repository linted in CI), absolute paths like
`/etc/nginx/mime.types` are normal and the linter first maps them into the
linted tree (`/etc/nginx/conf.d/x.conf` → `<prefix>/conf.d/x.conf`), so this
is `info` and the rest of the tree is still linted. With `--host` it is an
`error`, as nginx would not start.

## Why it causes 502/504
A config that does not load keeps the previous one running (so the fix you
deployed for a 502 is not live) or, on restart, leaves nginx down.
Directives in the missing file were not checked by any rule.

## Example
```nginx
include /etc/nginx/snippets/proxy-common.conf;   # file was renamed
```

## Use instead
```nginx
include /etc/nginx/snippets/proxy.conf;
# or, when the file is optional:
include /etc/nginx/snippets/proxy-*.conf;
```

## When to ignore
When the file is generated on the server at deploy time (certificates
snippets, Let's Encrypt options). Use `--prefix` to point the linter at the
folder that stands for nginx's prefix so the rest resolves.
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix

ID = "E006"
SLUG = "include-not-found"
SEVERITY = "info"
SUMMARY = "A non-glob include matches no file (info off the host, error with --host)."
NEEDS = ("conf", "host")
OPTIONS = {"type": "object", "properties": {}}


def check(ctx: RuleContext) -> Iterator[None]:
    for problem in ctx.model.config.problems:
        if problem.rule != ID:
            continue
        ctx.report(
            None,
            problem.message,
            file=problem.file,
            line=problem.line,
            column_word="include",
            severity="error" if ctx.settings.host else None,
            mechanism="nginx refuses a config whose include is missing: a reload keeps the old config, a restart leaves nginx down.",
            fix=Fix("Fix the include path, create the file, or use a glob (e.g. `include conf.d/*.conf;`) if it is optional.",
                    applicability="display_only"),
            context="",
        )
    yield from ()
