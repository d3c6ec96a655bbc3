"""The response-header buffer is too small for the headers real applications send.

## What it does
Looks at the effective `proxy_buffer_size`, `fastcgi_buffer_size`,
`uwsgi_buffer_size`, `scgi_buffer_size` and `grpc_buffer_size` at every
pass location:

* set explicitly below `min_buffer_size` (default 8k): **warning**;
* not set at all, so it is nginx's default of one memory page (4k on
  x86-64): **info**, because it is a heuristic — whether your backend sends
  headers above 4k (big `Set-Cookie`, JWT/OAuth tokens, CSP, long
  `Location` after SSO) cannot be seen from nginx's config.

The fix raises the buffer and adjusts `*_buffers` / `*_busy_buffers_size`
only as far as needed for `nginx -t` to accept the combination (see B202).

## Why it causes 502/504
The whole response header must fit into this one buffer. When it does not,
nginx logs `upstream sent too big header while reading response header from
upstream` and answers **502** — typically only for logged-in users or the
login callback, which is why it is missed in testing. `proxy_buffering off`
does not help: the header buffer is used anyway.

## Example
```nginx
location / {
    proxy_pass http://app;
    proxy_buffer_size 4k;
}
```

## Use instead
```nginx
location / {
    proxy_pass http://app;
    proxy_buffer_size 16k;
    proxy_busy_buffers_size 16k;
}
```

## When to ignore
Backends whose headers are small and fixed (static file servers, internal
APIs without cookies). Suppress per location, or set `report_default` to
false to only hear about explicit small values.
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.buffers import SIZED_MODULES, effective_buffers, propose
from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.ruletools import applies_to, directives_text, set_directives, settings_block, sites_by_setting
from nginx_502lint.values import InvalidValue, format_size, parse_size

ID = "B201"
SLUG = "buffer-size-too-small"
SEVERITY = "warning"
SUMMARY = "Response-header buffer below 8k (or the 4k page default on an app backend, as info): 'upstream sent too big header' 502."
NEEDS = ("conf",)
_SIZE = {"type": "string", "pattern": r"^\d+[kKmM]?$"}
OPTIONS = {
    "type": "object",
    "properties": {
        "min_buffer_size": {**_SIZE, "default": "8k"},
        "suggested_buffer_size": {**_SIZE, "default": "16k"},
        "report_default": {"type": "boolean", "default": True,
                           "description": "Report the implicit one-page default as info."},
        "page_size": {"type": "integer", "enum": [4096, 8192, 16384, 65536], "default": 4096},
    },
}


def check(ctx: RuleContext) -> Iterator[None]:
    minimum = parse_size(ctx.options["min_buffer_size"])
    suggested = max(parse_size(ctx.options["suggested_buffer_size"]), minimum)
    page = ctx.options["page_size"]
    sites = [s for s in ctx.model.pass_sites if s.module in SIZED_MODULES and s.module != "memcached"]
    for node, users in sites_by_setting(sites, "buffer_size"):
        try:
            value = parse_size(node.args[0]) if node.args else None
        except InvalidValue:
            continue  # B203
        if value is None or value >= minimum:
            continue
        level = node.parent
        config = effective_buffers(ctx.model, level, users[0].module, page) if level is not None else None
        if config is None:
            continue
        changes = propose(config, suggested)
        ctx.report(
            node,
            f"{node.name} {node.args[0]} at {node.where} applies to {applies_to(ctx.model, users)}: "
            f"below {format_size(minimum)}; response headers larger than that are rejected",
            mechanism="a response header that does not fit the buffer makes nginx log 'upstream sent too big header' and answer 502.",
            fix=Fix(f"At {node.where} ({ctx.model.describe(level)}), set: {directives_text(changes)}",
                    set_directives(ctx.model, level, changes), "unsafe"),
        )
    if not ctx.options["report_default"] or page >= minimum:
        return
    for site in sites:
        setting = site.setting("buffer_size")
        if setting.explicit:
            continue
        target = settings_block(site)
        config = effective_buffers(ctx.model, target, site.module, page)
        if config is None:
            continue
        changes = propose(config, suggested)
        ctx.report(
            site.node,
            f"{site.node.name} in {site.describe()} uses nginx's default {site.module}_buffer_size of one page "
            f"({format_size(page)}) (heuristic: an application's cookies/JWT/CSP headers often exceed it)",
            severity="info",
            mechanism="a response header above one page makes nginx log 'upstream sent too big header' and answer 502.",
            fix=Fix(f"In {ctx.model.describe(target)} (or once in http/server), set: {directives_text(changes)}",
                    set_directives(ctx.model, target, changes), "unsafe"),
        )
    yield from ()
