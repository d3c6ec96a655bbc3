"""An effective read/send timeout is so short that ordinary slow requests get 504.

## What it does
Computes the effective `*_read_timeout` and `*_send_timeout` at every pass
location (proxy, fastcgi, uwsgi, scgi, grpc, memcached), following
inheritance from http and server, and reports a value below
`min_read_timeout` / `min_send_timeout` (default 5s); likewise a
`*_connect_timeout` below `min_connect_timeout` (default 1s). The finding is
placed on the directive that sets the value and names every location it
applies to.

## Why it causes 502/504
nginx answers **504** when the backend is silent longer than the read
timeout: `upstream timed out (110: Connection timed out) while reading
response header from upstream`. A 2s read timeout turns every slow query,
cold cache or GC pause into a 504. A sub-second connect timeout fails
healthy backends under load (SYN backlog, TLS to far regions).

## Example
```nginx
server {
    proxy_read_timeout 2s;
    location /api/ { proxy_pass http://app; }
}
```

## Use instead
```nginx
server {
    proxy_read_timeout 60s;
    location /api/ { proxy_pass http://app; }
}
```

## When to ignore
Health-check or fail-fast endpoints that must never wait (then set the
short value only in that location and suppress this rule there).

## Options
`min_read_timeout`, `min_send_timeout` (default `5s`), `min_connect_timeout`
(default `1s`), `suggested_timeout` (default `60s`, what the fix proposes
for read/send), `suggested_connect_timeout` (default `5s`).
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.parse import format_directive
from nginx_502lint.ruletools import TIMEOUT_MODULES, applies_to, sites_by_setting
from nginx_502lint.values import InvalidValue, format_time_ms, parse_time_ms

ID = "T102"
SLUG = "timeout-too-short"
SEVERITY = "warning"
SUMMARY = "Effective read/send timeout below 5s or connect timeout below 1s: premature 504s on ordinary slow requests."
NEEDS = ("conf",)
_TIME = {"type": "string", "pattern": r"^\d+(ms|s|m|h)?$"}
OPTIONS = {
    "type": "object",
    "properties": {
        "min_read_timeout": {**_TIME, "default": "5s"},
        "min_send_timeout": {**_TIME, "default": "5s"},
        "min_connect_timeout": {**_TIME, "default": "1s"},
        "suggested_timeout": {**_TIME, "default": "60s"},
        "suggested_connect_timeout": {**_TIME, "default": "5s"},
    },
}


def check(ctx: RuleContext) -> Iterator[None]:
    sites = [s for s in ctx.model.pass_sites if s.module in TIMEOUT_MODULES]
    for kind in ("read_timeout", "send_timeout", "connect_timeout"):
        minimum = parse_time_ms(ctx.options[f"min_{kind}"])
        for node, users in sites_by_setting(sites, kind):
            try:
                value = parse_time_ms(node.args[0]) if node.args else None
            except InvalidValue:
                continue  # T106 reports unparsable values
            if value is None or value >= minimum:
                continue
            suggested_text = ctx.options["suggested_connect_timeout" if kind == "connect_timeout" else "suggested_timeout"]
            suggested = format_time_ms(max(parse_time_ms(suggested_text), minimum))
            new_text = format_directive(node.name, [suggested])
            phase = "connecting to" if kind == "connect_timeout" else ("reading response header from" if kind == "read_timeout" else "sending request to")
            ctx.report(
                node,
                f"{node.name} {node.args[0]} at {node.where} applies to {applies_to(ctx.model, users)}: "
                f"below the {format_time_ms(minimum)} minimum",
                mechanism=f"nginx answers 504 (upstream timed out (110) while {phase} upstream) as soon as the backend takes longer than {node.args[0]}.",
                fix=Fix(f"Change it at {node.where} to {new_text} (at least {format_time_ms(minimum)})",
                        (ctx.replace(node, new_text),), "unsafe"),
            )
    yield from ()
