"""A pass location runs on nginx's default 60s timeouts by omission.

## What it does
For every `proxy_pass`, `fastcgi_pass`, `uwsgi_pass`, `scgi_pass`,
`grpc_pass` and `memcached_pass`, looks at the effective
`*_connect_timeout`, `*_read_timeout` and `*_send_timeout` (inherited from
location, server and http). When none of them is set anywhere on the way,
the location runs on nginx's defaults (60s each) without anyone having
decided so. Explicit values, even `60s`, count as a decision and silence it.

## Why it causes 502/504
`*_read_timeout` is the longest gap nginx waits between two reads from the
backend: a report, export or long PHP script that is silent for more than
60s gets a **504** (`upstream timed out (110: Connection timed out) while
reading response header from upstream`). A 60s connect timeout to a dead or
firewalled backend makes clients wait a minute before failover to the next
server.

## Example
```nginx
location /reports/ {
    proxy_pass http://app;
}
```

## Use instead
```nginx
location /reports/ {
    proxy_pass http://app;
    proxy_connect_timeout 5s;
    proxy_read_timeout 60s;   # the longest silence this backend may need
    proxy_send_timeout 60s;
}
```
Setting them once in `http {}` or `server {}` covers every location below.

## When to ignore
When the defaults were chosen on purpose; then set them explicitly once at
`http` level and this rule goes quiet.
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.ruletools import TIMEOUT_MODULES, directives_text, settings_block

ID = "T101"
SLUG = "timeout-implicit"
SEVERITY = "info"
SUMMARY = "A pass location's connect/read/send timeouts are nginx's 60s defaults by omission, not by decision."
NEEDS = ("conf",)
OPTIONS = {
    "type": "object",
    "properties": {
        "suggested_connect_timeout": {"type": "string", "default": "5s", "description": "Connect timeout the fix suggests."},
        "suggested_read_timeout": {"type": "string", "default": "60s", "description": "Read timeout the fix suggests."},
        "suggested_send_timeout": {"type": "string", "default": "60s", "description": "Send timeout the fix suggests."},
    },
}

_KINDS = ("connect_timeout", "read_timeout", "send_timeout")


def check(ctx: RuleContext) -> Iterator[None]:
    for site in ctx.model.pass_sites:
        if site.module not in TIMEOUT_MODULES:
            continue
        implicit = [kind for kind in _KINDS if not site.setting(kind).explicit]
        if len(implicit) < len(_KINDS):
            continue  # someone decided on timeouts here; T102/T103 judge the values
        names = [f"{site.module}_{kind}" for kind in implicit]
        wanted = [(name, [ctx.options[f"suggested_{kind}"]]) for name, kind in zip(names, implicit)]
        text = directives_text(wanted)
        target = settings_block(site)
        edit = ctx.insert_into(target, text)
        ctx.report(
            site.node,
            f"{site.node.name} in {site.describe()} uses nginx's default 60s {', '.join(names)} by omission",
            mechanism="a backend silent for more than 60s gets a 504; a dead backend holds each client 60s before failover.",
            fix=Fix(
                f"Decide the timeouts explicitly in {ctx.model.describe(target)} (or once in http/server): {text}",
                tuple(e for e in (edit,) if e is not None),
                "unsafe",
            ),
        )
    yield from ()
