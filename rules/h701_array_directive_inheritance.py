"""A level sets its own `proxy_set_header` and silently loses every header set above it.

## What it does
`proxy_set_header`, `grpc_set_header`, `fastcgi_param`, `uwsgi_param` and
`scgi_param` are inherited from the level above **only if a level sets none of
its own**. For every pass location whose entries come from a level that sets
some, the rule names the entries of the next level up that are dropped that
way, and reports when one of them matters for the proxied request:

* `Host` (the backend then gets `$proxy_host`: the upstream name or address);
* `Connection ""` / `keep-alive` while upstream keepalive is on before nginx
  1.29.7 (nginx falls back to `Connection: close`, see K501);
* `Upgrade` and an upgrade `Connection` (WebSocket handshakes fail);
* the CGI core of `fastcgi_param` / `uwsgi_param` / `scgi_param`
  (`SCRIPT_FILENAME`, `REQUEST_METHOD`, `CONTENT_LENGTH`, `QUERY_STRING` …).

Other dropped entries (`X-Forwarded-For`, custom headers) are listed in the
same finding; alone they are only reported with `report_all_drops`, as info,
together with dropped `add_header` / `add_trailer` response headers (skipped
where `add_header_inherit merge;`, nginx 1.29.3+, is in effect). nginx's own
defaults (`Host $proxy_host`, `Connection close`) are never "dropped": nginx
adds them under every level's list.

## Why it causes 502/504
Nothing is logged for the drop itself; it shows up as its consequences: with
`Connection ""` lost the keepalive pool stays unused and a busy server runs
out of local ports (`(99: Cannot assign requested address) while connecting to
upstream`, 502); a lost `Upgrade` turns WebSocket handshakes into 400/502; a
lost `Host` sends requests to the wrong virtual host (404/421/400 from the
backend); lost CGI params break every PHP request.

## Example
```nginx
server {
    proxy_set_header Host $host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    location /ws/ {
        proxy_pass http://app;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
    }
}
```

## Use instead
```nginx
server {
    location /ws/ {
        proxy_pass http://app;
        include snippets/proxy-headers.conf;  # Host, X-Forwarded-For ...
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
    }
}
```
or repeat the dropped lines in the location.

## When to ignore
A location that deliberately sends a minimal set of headers.

## Options
`report_all_drops` (default false): also report drops of entries that do
not matter for the request (custom headers, `X-Forwarded-*`, `add_header`,
`add_trailer`) as info.
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.header_arrays import (HEADER_ARRAYS, RESPONSE_ARRAYS, Dropped, dropped_at, entries_text, entry_key,
                                         shared_include)
from nginx_502lint.keepalive import assumption, new_defaults, pool_of
from nginx_502lint.model import PassSite
from nginx_502lint.parse import Node
from nginx_502lint.ruletools import applies_to, block_label

ID = "H701"
SLUG = "array-directive-inheritance"
SEVERITY = "warning"
SUMMARY = ("A level sets its own proxy_set_header/fastcgi_param/... and drops every one inherited "
           "(Host, Connection \"\", Upgrade ...).")
NEEDS = ("conf",)
OPTIONS = {
    "type": "object",
    "properties": {
        "report_all_drops": {"type": "boolean", "default": False,
                             "description": "Also report drops that do not matter for the request, as info."},
    },
}

CGI_CORE = frozenset({
    "script_filename", "request_method", "content_type", "content_length", "query_string", "script_name",
    "request_uri", "document_uri", "document_root", "server_protocol", "path_info", "remote_addr",
    "server_name", "server_port", "gateway_interface", "https", "uwsgi_scheme",
})


def check(ctx: RuleContext) -> Iterator[None]:
    report_all = bool(ctx.options["report_all_drops"])
    for directive, module in HEADER_ARRAYS.items():
        groups: dict[int, tuple[Dropped, list[PassSite]]] = {}
        for site in ctx.model.pass_sites:
            if site.module != module:
                continue
            level = ctx.model.defining_level(site.block, directive)
            if level is None:
                continue
            if id(level) not in groups:
                dropped = dropped_at(ctx.model, level, directive)
                if dropped is None:
                    continue
                groups[id(level)] = (dropped, [])
            groups[id(level)][1].append(site)
        for dropped, sites in groups.values():
            reasons = _reasons(ctx, dropped, sites)
            if reasons or report_all:
                _report(ctx, dropped, reasons, applies_to(ctx.model, sites))
    if report_all:
        _report_response_headers(ctx)
    yield from ()


def _reasons(ctx: RuleContext, dropped: Dropped, sites: list[PassSite]) -> list[str]:
    if dropped.directive.endswith("_param"):
        core = [node.args[0] for node in dropped.entries if entry_key(node) in CGI_CORE]
        return [f"the backend no longer gets {', '.join(core)}"] if core else []
    return [reason for node in dropped.entries if (reason := _why_header_matters(ctx, node, sites))]


def _why_header_matters(ctx: RuleContext, node: Node, sites: list[PassSite]) -> str:
    key = entry_key(node)
    value = " ".join(node.args[1:])
    if key == "host":
        return ("Host falls back to $proxy_host (the upstream name or address), so name-based backends misroute or "
                "reject requests")
    if key == "upgrade":
        return "WebSocket requests lose their Upgrade header and the handshake fails"
    if key != "connection":
        return ""
    if "upgrade" in value.lower():
        return "WebSocket requests lose Connection: upgrade and the handshake fails"
    pools = [pool_of(ctx, site.target.upstream) for site in sites if site.target.upstream is not None]
    if value.strip('"').lower() in ("", "keep-alive") and any(pool.on for pool in pools) and not new_defaults(ctx):
        note = assumption(ctx)
        return ("nginx falls back to Connection: close and the upstream keepalive pool stays unused (K501)"
                + (f" ({note})" if note else ""))
    return ""


def _report(ctx: RuleContext, dropped: Dropped, reasons: list[str], used_by: str) -> None:
    model = ctx.model
    level, upper = dropped.level, dropped.upper
    first = dropped.own[0]
    include = shared_include(model, dropped)
    repeated = include or entries_text(dropped.entries)
    lost = "; ".join(node.text().rstrip(";") for node in dropped.entries)
    why = f": {'; '.join(reasons)}" if reasons else ""
    insert = ctx.insert_into(level, repeated)
    alternative = "" if include else " (or include one shared snippet at every level)"
    ctx.report(
        first,
        f"{first.name} at {first.where} makes {model.describe(level)} set its own {first.name} entries, so "
        f"{_entries_of(dropped, model.describe(upper))} not inherited ({lost}){why}; applies to {used_by}",
        severity=None if reasons else "info",
        mechanism="array directives are inherited only by levels that set none of their own; the dropped entries "
                  "are simply not sent, with nothing in the error.log.",
        fix=Fix(f"In {block_label(model, level)} add: {repeated}{alternative}",
                (insert,) if insert is not None else (), "unsafe"),
    )


def _entries_of(dropped: Dropped, upper: str) -> str:
    count = len(dropped.entries)
    if count == 1:
        return f"the {dropped.directive} of {upper} is"
    return f"the {count} {dropped.directive} entries of {upper} are"


def _report_response_headers(ctx: RuleContext) -> None:
    model = ctx.model
    for directive in RESPONSE_ARRAYS:
        levels = {id(node.parent): node.parent for node in model.nodes(directive) if node.parent is not None}
        for level in levels.values():
            inherit = model.effective(level, "add_header_inherit")
            if directive == "add_header" and inherit.node is not None and inherit.value == "merge":
                continue
            dropped = dropped_at(model, level, directive)
            if dropped is not None:
                _report(ctx, dropped, [], model.describe(level))
