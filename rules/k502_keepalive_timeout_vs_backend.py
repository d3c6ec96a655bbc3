"""Pooled upstream connections stay idle longer than the backend keeps them open.

## What it does
For every `upstream{}` block that `proxy_pass` locations really take pooled
connections from (pool on, HTTP/1.1, no `Connection: close`; see K501), compares
the upstream's `keepalive_timeout` (default **60s** since 1.15.3) with
`backend_idle_timeout` (default `5s`), the idle timeout common application
servers use. The pool is on with an explicit `keepalive N;` or, since nginx
1.29.7, by default (`keepalive 32 local`) in every upstream block. This is a
**heuristic**: the linter cannot see the backend, so it assumes the common
default and says so; set `backend_idle_timeout` to your backend's real value.

Backends and their idle (keep-alive) timeouts: Node.js `http.Server`
`keepAliveTimeout` 5 s; uvicorn `--timeout-keep-alive` 5 s; gunicorn
`--keep-alive` 2 s (5 s in current docs); Sanic 5 s (later 120 s); Jetty 30 s;
Tomcat 20 s (stock `connectionTimeout`); AWS ALB 60 s; an nginx backend 75 s.

## Why it causes 502/504
When the backend closes an idle connection at the moment nginx reuses it, the
request hits a dead socket: `upstream prematurely closed connection while
reading response header from upstream`, `recv() failed (104: Connection reset
by peer)` or `writev() failed (32: Broken pipe)`. nginx retries GET silently,
but POST/PATCH (and any request with `proxy_next_upstream off`, see K503) get a
sporadic **502**.

## Example
```nginx
upstream node_app {
    server 127.0.0.1:3000;
    keepalive 32;
}
```

## Use instead
```nginx
upstream node_app {
    server 127.0.0.1:3000;
    keepalive 32;
    keepalive_timeout 4s;
}
```
Or raise the backend's idle timeout above nginx's: Node.js
`server.keepAliveTimeout = 65000; server.headersTimeout = 66000;`, gunicorn
`--keep-alive 65`, uvicorn `--timeout-keep-alive 65`.

## When to ignore
Backends whose idle timeout is known to exceed nginx's (Tomcat, Jetty, another
nginx): set `backend_idle_timeout` to that value instead of suppressing.

## Options
`backend_idle_timeout` (default `5s`): the backend's idle timeout; the rule
fires when the upstream's `keepalive_timeout` is not below it, and suggests 1s
less (half of it below 2s).
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.keepalive import (UPSTREAM_KEEPALIVE_TIMEOUT_SINCE, Pool, keepalive_timeout_ms, reuses_pool,
                                    version_text)
from nginx_502lint.model import PassSite, Upstream
from nginx_502lint.ruletools import applies_to, set_directives
from nginx_502lint.values import format_time_ms, parse_time_ms

ID = "K502"
SLUG = "keepalive-timeout-vs-backend"
SEVERITY = "warning"
SUMMARY = ("Upstream keepalive_timeout (60s default) not below the backend's idle timeout (Node/uvicorn 5s, "
           "gunicorn 2s): sporadic 502 on reused connections.")
NEEDS = ("conf", "ver")
OPTIONS = {
    "type": "object",
    "properties": {
        "backend_idle_timeout": {"type": "string", "pattern": r"^\d+(ms|s|m|h)?$", "default": "5s",
                                 "description": "The backend's idle keep-alive timeout."},
    },
}

_BACKEND_SETTINGS = ("Node.js server.keepAliveTimeout = 65000; server.headersTimeout = 66000; "
                     "gunicorn --keep-alive 65; uvicorn --timeout-keep-alive 65")


def check(ctx: RuleContext) -> Iterator[None]:
    backend_ms = parse_time_ms(ctx.options["backend_idle_timeout"])
    users: dict[str, tuple[Pool, list[PassSite]]] = {}
    for site in ctx.model.pass_sites:
        pool = reuses_pool(ctx, site) if site.module == "proxy" else None
        if pool is not None:
            users.setdefault(pool.upstream.name, (pool, []))[1].append(site)
    for pool, sites in users.values():
        upstream = pool.upstream
        idle_ms, timeout_node = keepalive_timeout_ms(ctx, upstream)
        if timeout_node is not None and idle_ms is None:
            continue  # an unparsable value is T106's
        if idle_ms is not None and idle_ms < backend_ms:
            continue
        anchor = timeout_node or pool.node or upstream.node
        held = (f"keepalive_timeout {timeout_node.args[0]} at {timeout_node.where}" if timeout_node is not None
                else "no idle limit (nginx before 1.15.3)" if idle_ms is None
                else "keepalive_timeout 60s (the default since 1.15.3)")
        ctx.report(
            anchor,
            f"upstream {upstream.name} ({pool.describe()}) keeps idle pooled connections with {held}, not below "
            f"the backend's idle timeout of {format_time_ms(backend_ms)} (option backend_idle_timeout; Node.js and "
            f"uvicorn default to 5s, gunicorn to 2s); used by {applies_to(ctx.model, sites)} (heuristic: the "
            "backend's real value is not visible)",
            mechanism="the backend closes an idle connection just as nginx reuses it: 'upstream prematurely closed "
                      "connection' / 'recv() failed (104: Connection reset by peer)', a sporadic 502 on POST and other "
                      "requests nginx does not retry.",
            fix=_fix(ctx, upstream, backend_ms),
            column_word=anchor.name,
        )
    yield from ()


def _fix(ctx: RuleContext, upstream: Upstream, backend_ms: int) -> Fix:
    # nginx must drop an idle connection clearly before the backend does: timers and the
    # request in flight need a margin, one second or half of a very short timeout
    suggested = format_time_ms(backend_ms - 1000 if backend_ms > 2000 else max(backend_ms // 2, 1))
    backend_side = f"or raise the backend's idle timeout above nginx's ({_BACKEND_SETTINGS})"
    if ctx.version_at_least(*UPSTREAM_KEEPALIVE_TIMEOUT_SINCE) is False:
        return Fix(f"nginx before {version_text(UPSTREAM_KEEPALIVE_TIMEOUT_SINCE)} has no upstream keepalive_timeout: "
                   f"upgrade and set keepalive_timeout {suggested}; in upstream {upstream.name}, {backend_side}",
                   (), "display_only")
    edits = set_directives(ctx.model, upstream.node, [("keepalive_timeout", [suggested])])
    return Fix(f"In upstream {upstream.name} at {upstream.node.where} set: keepalive_timeout {suggested}; "
               f"(below the backend's {format_time_ms(backend_ms)}), {backend_side}", edits, "unsafe")
