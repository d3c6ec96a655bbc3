"""A connect timeout above 75s does nothing: the kernel gives up first.

## What it does
Reports an effective `*_connect_timeout` above 75s (`max_connect_timeout`)
at a pass location.

## Why it causes 502/504
nginx's documentation: the connect timeout "usually cannot exceed 75
seconds". On Linux the kernel's own SYN retries (`net.ipv4.tcp_syn_retries`)
end a connect after about 130s (measured: 135s, then a **502** `connect()
failed (110: Connection timed out)`), so values beyond that do nothing, and
values above 75s only make every client wait longer for the **502/504** and
before `proxy_next_upstream` can try another server. A short connect timeout (2–10s) lets nginx fail over
quickly.

## Example
```nginx
proxy_connect_timeout 300s;
```

## Use instead
```nginx
proxy_connect_timeout 5s;
```

## When to ignore
Never useful; a backend that needs more than a few seconds to accept a TCP
connection is overloaded or unreachable.
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.parse import format_directive
from nginx_502lint.ruletools import TIMEOUT_MODULES, applies_to, sites_by_setting
from nginx_502lint.values import InvalidValue, format_time_ms, parse_time_ms

ID = "T104"
SLUG = "connect-timeout-ineffective"
SEVERITY = "warning"
SUMMARY = "Connect timeout above 75s: the kernel gives up first, the value does nothing."
NEEDS = ("conf",)
OPTIONS = {
    "type": "object",
    "properties": {
        "max_connect_timeout": {"type": "string", "pattern": r"^\d+(ms|s|m)?$", "default": "75s"},
        "suggested_connect_timeout": {"type": "string", "pattern": r"^\d+(ms|s)?$", "default": "5s"},
    },
}


def check(ctx: RuleContext) -> Iterator[None]:
    maximum = parse_time_ms(ctx.options["max_connect_timeout"])
    sites = [s for s in ctx.model.pass_sites if s.module in TIMEOUT_MODULES]
    for node, users in sites_by_setting(sites, "connect_timeout"):
        try:
            value = parse_time_ms(node.args[0]) if node.args else None
        except InvalidValue:
            continue
        if value is None or value <= maximum:
            continue
        suggested = min(parse_time_ms(ctx.options["suggested_connect_timeout"]), maximum)
        new_text = format_directive(node.name, [format_time_ms(suggested)])
        ctx.report(
            node,
            f"{node.name} {node.args[0]} at {node.where} applies to {applies_to(ctx.model, users)}: "
            f"above {format_time_ms(maximum)}: the kernel ends a hanging connect first (about 130s on Linux), so it only delays failover",
            mechanism="a dead or firewalled backend holds every client this long before the 502/504, and before the next server is tried.",
            fix=Fix(f"Change it at {node.where} to {new_text} so failover to the next server is quick",
                    (ctx.replace(node, new_text),), "unsafe"),
        )
    yield from ()
