"""A FastCGI upstream has `keepalive`, but `fastcgi_keep_conn on` is missing, so it is never used.

## What it does
Reports every `fastcgi_pass` to an `upstream{}` block with an explicit
`keepalive N;` where the effective `fastcgi_keep_conn` is `off` (the default).
The 1.29.7 default pool (`keepalive 32 local`) is not reported: without
`keepalive` in the block nobody asked for FastCGI connection reuse.

## Why it causes 502/504
Without `fastcgi_keep_conn on` nginx asks php-fpm to close the connection
after each request, so the pool stays empty: every request opens a new
connection (with TCP, a TIME_WAIT socket each; under load `(99: Cannot assign
requested address) while connecting to upstream` and **502**). On a unix
socket it only costs the connect, hence **info**.

## Example
```nginx
upstream php {
    server 127.0.0.1:9000;
    keepalive 8;
}
location ~ \\.php$ {
    include fastcgi.conf;
    fastcgi_pass php;
}
```

## Use instead
```nginx
location ~ \\.php$ {
    include fastcgi.conf;
    fastcgi_pass php;
    fastcgi_keep_conn on;
}
```
Mind the pool size: a php-fpm child stays bound to its connection while nginx
keeps it idle, so `keepalive` × `worker_processes` must stay well below the
pool's `pm.max_children`, or requests queue for a free child (504).

## When to ignore
When you rely on php-fpm's children being free between requests (a small
`pm.max_children`): then remove `keepalive` from the upstream instead.
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.keepalive import fastcgi_keeps_conn, pool_of
from nginx_502lint.ruletools import block_label, set_directives

ID = "K504"
SLUG = "fastcgi-keepalive-without-keep-conn"
SEVERITY = "info"
SUMMARY = "FastCGI upstream with 'keepalive' but no 'fastcgi_keep_conn on': the pool is never used."
NEEDS = ("conf",)


def check(ctx: RuleContext) -> Iterator[None]:
    for site in ctx.model.pass_sites:
        upstream = site.target.upstream
        if site.module != "fastcgi" or upstream is None:
            continue
        pool = pool_of(ctx, upstream)
        if not pool.explicit or not pool.on or fastcgi_keeps_conn(ctx.model, site):
            continue
        setting = site.effective("fastcgi_keep_conn")
        state = (f"fastcgi_keep_conn {setting.value} at {setting.node.where}" if setting.node is not None
                 else "fastcgi_keep_conn is not set (default off)")
        location = site.location or site.block
        ctx.report(
            site.node,
            f"fastcgi_pass {site.target.raw} in {site.describe()} uses upstream {upstream.name} with "
            f"{pool.describe()}, but {state}: php-fpm closes every connection and the pool stays empty",
            mechanism="each request opens a new FastCGI connection; over TCP the TIME_WAIT sockets can exhaust the "
                      "local ports under load: '(99: Cannot assign requested address) while connecting to "
                      "upstream', 502.",
            fix=Fix(f"In {block_label(ctx.model, location)} add: fastcgi_keep_conn on; (keep keepalive x "
                    "worker_processes well below php-fpm's pm.max_children: an idle pooled connection holds a child), "
                    f"or remove {pool.node.text() if pool.node else 'keepalive'} from upstream {upstream.name}",
                    set_directives(ctx.model, location, [("fastcgi_keep_conn", ["on"])]), "unsafe"),
        )
    yield from ()
