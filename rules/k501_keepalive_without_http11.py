"""Upstream keepalive is configured, but the location makes nginx close every connection.

## What it does
For every `proxy_pass` to an `upstream{}` block whose connection pool is on
(`keepalive N;`, or the `keepalive 32 local` default every upstream block gets
since nginx 1.29.7), checks what the location sends for an ordinary request:

* the effective `proxy_http_version` (default **1.0** before 1.29.7, 1.1 since);
* the effective `Connection` request header (nginx's default is `close` before
  1.29.7, none since). A `proxy_set_header Connection $connection_upgrade;`
  is followed into its `map`: the common WebSocket map
  (`map $http_upgrade $connection_upgrade { default upgrade; '' close; }`,
  e.g. nginxconfig.io's) sends `close` for every request without an `Upgrade`
  header, which turns the pool off just as well.

It reports a site that sends HTTP/1.0 or `Connection: close`. With an explicit
`keepalive` it is a **warning**; with only the 1.29.7 default pool it is
**info** (the config asked for no pool, it just does not get the one nginx now
offers). Without a known nginx version the rule assumes a release before
1.29.7 and says so; the `$connection_upgrade` idiom alone, with no pool in
effect, is never reported.

## Why it causes 502/504
With HTTP/1.0 or `Connection: close` the backend closes each connection after
one response, so `keepalive` silently does nothing: every request opens a new
TCP connection and leaves a socket in TIME_WAIT. Under load the local ports
run out and nginx logs `connect() to 10.0.0.5:80 failed (99: Cannot assign
requested address) while connecting to upstream` and answers **502**.

## Example
```nginx
map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
}
upstream app {
    server 10.0.0.5:8080;
    keepalive 16;
}
server {
    location / {
        proxy_pass http://app;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
    }
}
```

## Use instead
```nginx
map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      "";
}
upstream app {
    server 10.0.0.5:8080;
    keepalive 16;
}
server {
    location / {
        proxy_pass http://app;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
    }
}
```
Without WebSockets: `proxy_http_version 1.1; proxy_set_header Connection "";`.
From nginx 1.29.7 on, HTTP/1.1 without `Connection: close` is the default.

## When to ignore
A backend that must not keep connections open (then drop `keepalive` from the
upstream instead, so the config says what happens).
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Edit, Fix
from nginx_502lint.header_arrays import add_entries, dropped_at, entry_key
from nginx_502lint.keepalive import DEFAULTS_CHANGED, SitePooling, assumption, site_pooling, version_text
from nginx_502lint.parse import Node, quote_arg
from nginx_502lint.ruletools import block_label, set_directives

ID = "K501"
SLUG = "keepalive-without-http11"
SEVERITY = "warning"
SUMMARY = ("Upstream keepalive used from a location that sends HTTP/1.0 or 'Connection: close': pool unused, "
           "port exhaustion (99) under load.")
NEEDS = ("conf", "ver")


def check(ctx: RuleContext) -> Iterator[None]:
    for site in ctx.model.pass_sites:
        pooling = site_pooling(ctx, site)
        if pooling is None or not pooling.pool.on or pooling.reuses:
            continue
        reasons = []
        if not pooling.version.keeps_alive:
            reasons.append(pooling.version.describe())
        if pooling.connection.closes:
            reasons.append(pooling.connection.describe() + _lost_connection_header(ctx, pooling))
        guessed = pooling.version.node is None or pooling.connection.node is None
        note = assumption(ctx) if guessed else ""
        ctx.report(
            site.node,
            f"proxy_pass {site.target.raw} in {site.describe()} uses upstream {pooling.pool.upstream.name} "
            f"with {pooling.pool.describe()}, but sends {' and '.join(reasons)}: the backend closes every connection "
            f"and the pool stays empty" + (f" ({note})" if note else ""),
            severity=None if pooling.pool.explicit else "info",
            mechanism="every request opens a new upstream connection and leaves a TIME_WAIT socket; under load the "
                      "local ports run out: '(99: Cannot assign requested address) while connecting to upstream', 502.",
            fix=_fix(ctx, pooling),
        )
    yield from ()


def _fix(ctx: RuleContext, pooling: SitePooling) -> Fix:
    model = ctx.model
    site = pooling.site
    location = site.location or site.block
    additions: dict[int, tuple[Node, list[str]]] = {}
    notes: list[str] = []
    edits: list[Edit] = []
    if not pooling.version.keeps_alive:
        additions.setdefault(id(location), (location, []))[1].append("proxy_http_version 1.1;")
        edits.extend(set_directives(model, location, [("proxy_http_version", ["1.1"])]))
    connection = pooling.connection
    if connection.closes and connection.map_entry is not None and connection.map_block is not None:
        entry = connection.map_entry
        key = quote_arg(entry.name)
        notes.append(f"Change the map entry at {entry.where} to: {key} \"\"; (requests without Upgrade then send no "
                     "Connection header; WebSocket requests still get their upgrade value).")
        edits.append(Edit("replace", entry.file, entry.line, text=f'{key} "";', directive=entry.name))
    elif connection.closes:
        level = (connection.node.parent if connection.node is not None else None) \
            or model.defining_level(site.block, "proxy_set_header") or location
        text, header_edits = add_entries(model, level, "proxy_set_header", [["Connection", ""]])
        additions.setdefault(id(level), (level, []))[1].append(text)
        edits.extend(header_edits)
    steps = [f"In {block_label(model, block)} add: {' '.join(texts)}" for block, texts in additions.values()]
    relies_on_defaults = pooling.version.node is None or connection.node is None
    if relies_on_defaults and ctx.version_at_least(*DEFAULTS_CHANGED) is not True:
        notes.append(f"Or run nginx >= {version_text(DEFAULTS_CHANGED)}, where HTTP/1.1 without "
                     "Connection: close is the default.")
    return Fix(" ".join(steps + notes), tuple(edits), "unsafe")


def _lost_connection_header(ctx: RuleContext, pooling: SitePooling) -> str:
    """Where a Connection header set above was dropped by a level with its own proxy_set_header."""
    level = ctx.model.defining_level(pooling.site.block, "proxy_set_header")
    dropped = dropped_at(ctx.model, level, "proxy_set_header") if level is not None else None
    if dropped is None:
        return ""
    lost = next((node for node in dropped.entries if entry_key(node) == "connection"), None)
    if lost is None:
        return ""
    return (f"; the {lost.text().rstrip(';')} at {lost.where} is not inherited, because "
            f"{ctx.model.describe(level)} sets its own proxy_set_header")
