"""A backend host name is resolved once, at start-up, and never again.

## What it does
Reports a host name (not an IP, not `localhost`, not an `upstream` name) in a
literal pass target (`proxy_pass http://api:5001;`,
`proxy_pass https://x.elb.amazonaws.com;`) or in an upstream `server` without
the `resolve` parameter (http and stream). Names that U302 reports as
undefined upstreams are left to U302.

The fix depends on the target nginx version: `server … resolve` exists in
open-source nginx since 1.27.3 (NGINX Plus only before). When the version is
unknown the message says which form assumes what.

## Why it causes 502/504
nginx resolves such names when it loads the config and keeps the addresses
until the next reload. When a container restarts with a new IP or a cloud
load balancer rotates its addresses, nginx keeps connecting to the old one:
`connect() failed (113: No route to host)` or `(111: Connection refused)`
(502), `upstream timed out (110: Connection timed out) while connecting to
upstream` (504), then `no live upstreams`. A name that does not resolve at the
next reload makes nginx refuse the config (`host not found in upstream`).
Adding a `resolver` alone changes nothing for these targets.

## Example
```nginx
location /api/ {
    proxy_pass http://api:5001;
}
```

## Use instead
```nginx
# nginx >= 1.27.3
upstream api {
    zone api 64k;
    server api:5001 resolve;
}
resolver 127.0.0.11 valid=30s ipv6=off;    # Docker's DNS; elsewhere your DNS server
location /api/ { proxy_pass http://api; }

# any version: a variable makes nginx resolve per request (honouring `valid`)
location /api/ {
    resolver 127.0.0.11 valid=30s ipv6=off;
    set $api_backend api;
    proxy_pass http://$api_backend:5001;
}
```
With a variable, a URI part in `proxy_pass` replaces the whole request URI
(without variables it replaces only the part matched by the location), so a
target like `https://cdn.example.com/` needs a `rewrite … break` instead of
the URI part.

## When to ignore
Names whose addresses never change while nginx runs (a fixed internal DNS
record, an `/etc/hosts` entry), or setups that reload nginx whenever the
backend moves.
"""
from __future__ import annotations

import re
from typing import Iterator

from nginx_502lint.addresses import (
    DOCKER_DNS, Destination, destinations, is_hostname, looks_like_docker, maybe_upstream_elsewhere, undefined_upstream, with_host,
)
from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Edit, Fix
from nginx_502lint.parse import format_directive

ID = "U305"
SLUG = "hostname-resolved-once"
SEVERITY = "warning"
SUMMARY = "Host name in a pass target or upstream server resolved only at start-up: an address change gives 502 until reload."
NEEDS = ("conf", "ver")
OPTIONS = {"type": "object", "properties": {}}

_RESOLVER_PLACEHOLDER = "resolver <your DNS server> valid=30s;"


def check(ctx: RuleContext) -> Iterator[None]:
    docker = looks_like_docker(ctx.model)
    resolver_text = f"resolver {DOCKER_DNS} valid=30s ipv6=off;" if docker else None
    given_resolver: set[int] = set()
    for dest in destinations(ctx.model):
        if dest.runtime or dest.is_unix or not is_hostname(dest.host):
            continue
        if dest.server is not None and dest.server.resolve:
            continue
        if undefined_upstream(ctx.model, dest, ctx.settings.host) is not None:
            continue  # U302's finding
        if maybe_upstream_elsewhere(ctx.model, dest, ctx.settings.host):
            continue  # likely an upstream defined in a file we did not read (or E005's missing port)
        ctx.report(
            dest.node,
            f"`{dest.host}` in {dest.describe()} is resolved once, when nginx starts or reloads: if its address changes "
            "(container restart, load balancer or CDN rotation) nginx keeps using the old one until the next reload",
            mechanism=("connections to the stale address fail (connect() failed (113: No route to host) or (111: Connection "
                       "refused) → 502; upstream timed out (110) while connecting to upstream → 504) until nginx reloads."),
            fix=_fix(ctx, dest, resolver_text, given_resolver),
            column_word=dest.host,
            context=dest.context(ctx.model),
        )
    yield from ()


def _fix(ctx: RuleContext, dest: Destination, resolver_text: str | None, given_resolver: set[int]) -> Fix:
    if resolver_text:
        resolver_words = f"`{resolver_text}`"
    else:
        resolver_words = (f"`{_RESOLVER_PLACEHOLDER}` (nginx does not read /etc/resolv.conf: put the address of the "
                          "host's DNS server there, e.g. the nameserver listed in that file, or your VPC resolver)")
    new_form = ctx.version_at_least(1, 27, 3)
    if dest.server is not None:
        return _fix_upstream_server(ctx, dest, resolver_text, resolver_words, new_form, given_resolver)
    if dest.site is None:
        return _fix_stream_pass(dest, resolver_words, new_form)
    return _fix_pass(ctx, dest, resolver_text, resolver_words, new_form, given_resolver)


def _fix_stream_pass(dest: Destination, resolver_words: str, new_form: bool | None) -> Fix:
    name, ident = dest.host or "", _ident(dest.host or "")
    if new_form is False:
        return Fix(f"Resolve per connection: add {resolver_words} to this stream server and write the target with a "
                   f"variable (`set $backend_{ident} {dest.address}; proxy_pass $backend_{ident};`), or upgrade to "
                   "nginx ≥ 1.27.3 for `server … resolve`.", applicability="display_only")
    return Fix(f"In the stream block define `upstream {name} {{ zone {ident} 64k; server {dest.address} resolve; }}` with "
               f"{resolver_words} in effect, and change {dest.node.where} to `proxy_pass {name};`{_version_note(new_form)}.",
               applicability="display_only")


def _version_note(new_form: bool | None) -> str:
    if new_form is None:
        return " (assumes nginx ≥ 1.27.3, where `resolve` became open source; the target version is unknown)"
    return ""


def _fix_upstream_server(ctx: RuleContext, dest: Destination, resolver_text: str | None, resolver_words: str,
                         new_form: bool | None, given_block: set[int]) -> Fix:
    assert dest.server is not None and dest.upstream is not None
    upstream = dest.upstream
    server_text = format_directive("server", [*dest.server.node.args, "resolve"])
    zone = upstream.get("zone")
    zone_text = f"zone {_ident(upstream.name)} 64k;"
    if new_form is False:
        return Fix(
            f"nginx {ctx.settings.version_text} has no open-source `server … resolve` (added in 1.27.3): upgrade, or replace "
            f"upstream {upstream.name} by a variable target in each location that uses it, with {resolver_words} in effect, "
            f"e.g. `set $backend_{_ident(upstream.name)} {dest.server.address}; "
            f"proxy_pass {'' if dest.stream else 'http://'}$backend_{_ident(upstream.name)};`.",
            applicability="display_only",
        )
    steps = [f"change {dest.node.where} to `{server_text}`"]
    if zone is None:
        steps.append(f"add `{zone_text}` to upstream {upstream.name}")
    has_http_resolver = any(ctx.model.context_of(n) == "http" for n in ctx.model.nodes("resolver"))
    if not has_http_resolver and not upstream.get("resolver"):
        steps.append(f"add {resolver_words} to upstream {upstream.name} (or to the http block)")
    edits: tuple[Edit, ...] = ()
    if new_form and (has_http_resolver or resolver_text):
        inserts = [] if zone is not None else [zone_text]
        if not has_http_resolver and not upstream.get("resolver") and resolver_text:
            inserts.append(resolver_text)
        edits = (ctx.replace(dest.server.node, server_text),)
        if inserts and id(upstream.node) not in given_block:
            block_edit = ctx.insert_into(upstream.node, " ".join(inserts))
            if block_edit is not None:
                given_block.add(id(upstream.node))  # one zone and one resolver per upstream
                edits += (block_edit,)
    return Fix("Let nginx re-resolve the name: " + "; ".join(steps) + _version_note(new_form) + ".", edits, "unsafe")


def _fix_pass(ctx: RuleContext, dest: Destination, resolver_text: str | None, resolver_words: str,
              new_form: bool | None, given_resolver: set[int]) -> Fix:
    assert dest.site is not None
    node, site = dest.node, dest.site
    var = f"$upstream_{_ident(dest.host or '')}"
    rewrite = None
    uri = dest.uri if dest.module in ("proxy", "grpc") else None
    target = with_host(node.args[0], var)
    location = site.location
    if uri:
        target = target[: len(target) - len(uri)]
        prefix = location.args[-1] if location is not None and len(location.args) == 1 else None
        if prefix is not None and prefix.startswith("/") and site.block is location:
            rewrite = format_directive("rewrite", [f"^{re.escape(prefix)}(.*)$", f"{uri}$1", "break"])
    replacement = " ".join(filter(None, [format_directive("set", [var, dest.host or ""]), rewrite,
                                         format_directive(node.name, [target, *node.args[1:]])]))
    has_resolver = site.effective("resolver").explicit
    steps = []
    if not has_resolver:
        steps.append(f"add {resolver_words} to {ctx.model.describe(site.server or site.block)}")
    steps.append(f"replace {node.where} with `{replacement}`")
    caveat = ""
    if uri and rewrite is None:
        caveat = (f" With a variable, the URI part `{uri}` would replace the whole request URI instead of the matched "
                  "location prefix: drop it and map the path with `rewrite … break`.")
    elif uri:
        caveat = f" The `rewrite` keeps today's URI mapping: with a variable, a URI part `{uri}` would replace the whole request URI."
    alternative = ""
    if new_form is not False:
        name = dest.host or ""
        port = f":{dest.port}" if dest.port else (":443" if dest.scheme in ("https", "grpcs") else "")
        named = format_directive(node.name, [f"{dest.scheme}://{name}{uri or ''}" if dest.scheme else name, *node.args[1:]])
        alternative = (f" Or, on nginx ≥ 1.27.3, define `upstream {name} {{ zone {_ident(name)} 64k; server {name}{port} resolve; }}` "
                       f"with a resolver in the http block and use `{named}` (an upstream name takes no port)"
                       f"{_version_note(new_form)}.")
    edits: tuple[Edit, ...] = ()
    if (has_resolver or resolver_text) and dest.module != "memcached" and not (uri and rewrite is None):
        edits = (ctx.replace(node, replacement),)
        resolver_block = site.server or site.block
        if not has_resolver and resolver_text and id(resolver_block) not in given_resolver:
            block_edit = ctx.insert_into(resolver_block, resolver_text)
            if block_edit is not None:
                given_resolver.add(id(resolver_block))  # a second resolver there would be a duplicate
                edits += (block_edit,)
    return Fix("Make nginx resolve the name per request: " + "; ".join(steps) + "." + caveat + alternative, edits, "unsafe")


def _ident(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "backend"
