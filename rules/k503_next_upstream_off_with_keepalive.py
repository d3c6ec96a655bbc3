"""`proxy_next_upstream off` where requests reuse pooled keepalive connections.

## What it does
Reports an effective `proxy_next_upstream off` (likewise `fastcgi_`, `grpc_`)
at a pass location whose upstream block pools connections that the location
really reuses: `keepalive N;` (or the `keepalive 32 local` default since nginx
1.29.7) with HTTP/1.1 and no `Connection: close` for proxy, `fastcgi_keep_conn
on` for FastCGI, always for gRPC. The finding sits on the `*_next_upstream`
directive and names every location it applies to.

## Why it causes 502/504
A pooled connection can be closed by the backend while it sits idle. nginx
normally hides that: an error on a reused connection gives the try back and
the request is sent again on a fresh connection. With `proxy_next_upstream
off` that retry is forbidden, so every stale pooled connection becomes a
**502** (`upstream prematurely closed connection while reading response header
from upstream`, `recv() failed (104: Connection reset by peer)`) for GET
requests too.

## Example
```nginx
upstream api {
    server 10.0.0.7:8080;
    keepalive 16;
}
location /api/ {
    proxy_pass http://api;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_next_upstream off;
}
```

## Use instead
```nginx
location /api/ {
    proxy_pass http://api;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_next_upstream error;
}
```
`error` is the narrowest setting that keeps the silent retry of a dead
pooled connection. It does not re-send POST, PATCH or LOCK requests once they
reached the backend (that needs `non_idempotent`), nor timed-out requests.

## When to ignore
Endpoints where even a GET must never reach the backend twice and a rare 502
is the accepted price; or drop `keepalive` for that upstream instead.
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.keepalive import Pool, reuses_pool
from nginx_502lint.model import PassSite
from nginx_502lint.parse import Node, format_directive
from nginx_502lint.ruletools import applies_to

ID = "K503"
SLUG = "next-upstream-off-with-keepalive"
SEVERITY = "warning"
SUMMARY = ("'proxy_next_upstream off' with upstream keepalive: every stale pooled connection becomes a 502 "
           "instead of a silent retry.")
NEEDS = ("conf",)

_MODULES = ("proxy", "fastcgi", "grpc")


def check(ctx: RuleContext) -> Iterator[None]:
    groups: dict[int, tuple[Node, list[PassSite], list[Pool]]] = {}
    for site in ctx.model.pass_sites:
        if site.module not in _MODULES:
            continue
        node = site.setting("next_upstream").node
        if node is None or "off" not in (arg.lower() for arg in node.args):
            continue
        pool = reuses_pool(ctx, site)
        if pool is None:
            continue
        group = groups.setdefault(id(node), (node, [], []))
        group[1].append(site)
        if pool not in group[2]:
            group[2].append(pool)
    for node, sites, pools in groups.values():
        upstreams = ", ".join(f"{pool.upstream.name} ({pool.describe()})" for pool in pools)
        replacement = format_directive(node.name, ["error"])
        ctx.report(
            node,
            f"{node.text().rstrip(';')} at {node.where} applies to {applies_to(ctx.model, sites)}, which reuse "
            f"pooled connections of upstream {upstreams}: a pooled connection the backend has closed is no longer "
            "retried",
            mechanism="a request sent on a connection the backend closed while idle fails with 'upstream prematurely "
                      "closed connection' or 'recv() failed (104: Connection reset by peer)'; with next_upstream off "
                      "nginx answers 502 instead of retrying on a fresh connection.",
            fix=Fix(f"At {node.where} use {replacement} (retries only connection errors; POST/PATCH/LOCK already "
                    "sent are still not re-sent), or drop keepalive from the upstream",
                    (ctx.replace(node, replacement),), "unsafe"),
        )
    yield from ()
