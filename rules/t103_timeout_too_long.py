"""An effective read/send timeout so long that hung backends hold connections and hide failures.

## What it does
Reports an effective `*_read_timeout` or `*_send_timeout` above
`max_read_timeout` / `max_send_timeout` (default 300s) at a pass location.
Locations that proxy WebSocket/streaming traffic (they set an `Upgrade`
header or are `grpc_pass` streams) are skipped by default, because there a
long read timeout is how idle sockets stay open.

## Why it causes 502/504
A hung backend is only detected when the timeout fires. With `3600s`, each
stuck request pins a client connection, an upstream connection and a
worker's memory for an hour; under a partial outage connections pile up
until `worker_connections` are exhausted and unrelated requests fail (500/
502), and the eventual 504 arrives long after the client gave up (499), so
the failure never shows in dashboards.

## Example
```nginx
location /api/ {
    proxy_pass http://app;
    proxy_read_timeout 3600s;
}
```

## Use instead
```nginx
location /api/ {
    proxy_pass http://app;
    proxy_read_timeout 300s;   # longest legitimate silence of this API
}
# long jobs: make them asynchronous, or give only that location more time
```

## When to ignore
Long-polling, server-sent events or large report downloads where the long
silence is expected; suppress on that location with a reason.

## Options
`max_read_timeout`, `max_send_timeout` (default `300s`),
`skip_streaming_locations` (default true).
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.model import PassSite
from nginx_502lint.parse import format_directive
from nginx_502lint.ruletools import TIMEOUT_MODULES, applies_to, sites_by_setting
from nginx_502lint.values import InvalidValue, format_time_ms, parse_time_ms

ID = "T103"
SLUG = "timeout-too-long"
SEVERITY = "warning"
SUMMARY = "Effective read/send timeout above 300s: hung backends hold connections and hide failures."
NEEDS = ("conf",)
_TIME = {"type": "string", "pattern": r"^\d+(ms|s|m|h|d)?$"}
OPTIONS = {
    "type": "object",
    "properties": {
        "max_read_timeout": {**_TIME, "default": "300s"},
        "max_send_timeout": {**_TIME, "default": "300s"},
        "skip_streaming_locations": {"type": "boolean", "default": True},
    },
}


def _streaming(site: PassSite) -> bool:
    if site.module == "grpc":
        return True
    headers = site.effective(f"{site.module}_set_header").nodes if site.module in ("proxy", "grpc") else ()
    return any(n.args and n.args[0].lower() == "upgrade" for n in headers)


def check(ctx: RuleContext) -> Iterator[None]:
    sites = [s for s in ctx.model.pass_sites if s.module in TIMEOUT_MODULES]
    if ctx.options["skip_streaming_locations"]:
        sites = [s for s in sites if not _streaming(s)]
    for kind in ("read_timeout", "send_timeout"):
        maximum = parse_time_ms(ctx.options[f"max_{kind}"])
        for node, users in sites_by_setting(sites, kind):
            try:
                value = parse_time_ms(node.args[0]) if node.args else None
            except InvalidValue:
                continue
            if value is None or value <= maximum:
                continue
            new_text = format_directive(node.name, [format_time_ms(maximum)])
            ctx.report(
                node,
                f"{node.name} {node.args[0]} at {node.where} applies to {applies_to(ctx.model, users)}: "
                f"above the {format_time_ms(maximum)} maximum",
                mechanism=f"a hung backend is noticed only after {node.args[0]}; stuck requests pile up connections until unrelated requests fail.",
                fix=Fix(f"Change it at {node.where} to {new_text} or less, and give only the locations that need it more time",
                        (ctx.replace(node, new_text),), "unsafe"),
            )
    yield from ()
