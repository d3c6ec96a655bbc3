"""A pass target with variables needs DNS at run time, and no `resolver` is set.

## What it does
Finds pass directives with variables (`proxy_pass http://$backend:8080;`,
`proxy_pass $target;`, `proxy_pass https://api.example.com$request_uri;`) and
works out the host nginx will look up for each request: literal host parts,
values from `set` in the rewrite scope and from `map`/`split_clients`. It
reports the site when some value is a DNS name (not an IP, not a unix socket,
not the name of an `upstream` block) or comes from the request itself (`$host`,
`$http_*`, `$arg_*`, regex captures), and no `resolver` is in effect there
(http → server → location). Variables whose origin the config does not show
(Lua, njs, perl) are not guessed at.

## Why it causes 502/504
With variables, nginx resolves the host per request with its own resolver; it
never reads `/etc/resolv.conf` or `/etc/hosts`. Without a `resolver` every such
request fails with 502: `no resolver defined to resolve api.example.com while
resolving`. `localhost` is no exception. A value that names an `upstream` block
(written without a port) needs no DNS.

## Example
```nginx
location /api/ {
    set $api api.internal.example.com;
    proxy_pass http://$api:8080;
}
```

## Use instead
```nginx
location /api/ {
    resolver 10.0.0.2 valid=30s;    # the DNS server this host uses
    set $api api.internal.example.com;
    proxy_pass http://$api:8080;
}
```
In Docker, the embedded DNS server is `resolver 127.0.0.11 valid=30s
ipv6=off;`. `8.8.8.8` cannot resolve container names, and `127.0.0.11` does
not exist outside Docker.

When the file is linted on its own (a site file) or an http-level include
matched nothing, a `resolver` may be set where the linter cannot see it: the
finding is then a warning.

## When to ignore
When a module outside the config (Lua, njs) always sets the variable to an
IP address or an upstream name.
"""
from __future__ import annotations

import re
from typing import Iterator, NamedTuple

from nginx_502lint.addresses import (
    DOCKER_DNS, expand, find_upstream, is_localhost, is_request_variable, is_single_label, looks_like_docker, unseen_http_config,
    variable_names, with_host,
)
from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Edit, Fix
from nginx_502lint.model import PassSite, has_variables, is_ip, parse_target
from nginx_502lint.parse import Node, format_directive

ID = "U306"
SLUG = "variable-pass-without-resolver"
SEVERITY = "error"
SUMMARY = "Pass target with variables that needs DNS at run time and no `resolver` in effect: 'no resolver defined to resolve' 502."
NEEDS = ("conf",)
OPTIONS = {"type": "object", "properties": {}}

_URI_VARIABLE = re.compile(r"\$(\{(request_uri|uri|document_uri)\}|(request_uri|uri|document_uri)(?!\w))")


class _Lookup(NamedTuple):
    """A host nginx must resolve for some request at this site."""

    host: str | None          # None: taken from the request at run time
    variable: str | None      # the request variable it comes from
    sources: tuple[Node, ...]


def check(ctx: RuleContext) -> Iterator[None]:
    docker = looks_like_docker(ctx.model)
    given: set[int] = set()
    for site in ctx.model.pass_sites:
        if not site.target.variables or site.target.error or site.module == "memcached":
            continue
        if site.effective("resolver").explicit:
            continue
        lookups = _lookups(ctx, site)
        if not lookups:
            continue
        first = lookups[0]
        if first.host is None:
            what = f"its host comes from ${first.variable} at run time"
        else:
            via = ", ".join(f"{n.name} at {n.where}" for n in first.sources)
            what = f"it resolves `{first.host}`" + (f" (from {via})" if via else "")
        others = len({lk.host or lk.variable for lk in lookups}) - 1
        if others > 0:
            what += f" and {others} other name(s)"
        message = (f"{site.node.name} {site.node.args[0]} at {site.node.where} has variables, so nginx looks the host up "
                   f"per request: {what}, and no resolver is in effect in {site.describe()}")
        unseen = unseen_http_config(ctx.model, ctx.settings.host)
        if unseen:
            message += (" (some of the config was not read: a file linted on its own, or an include that matched nothing; "
                        "a resolver there would not be seen)")
        ctx.report(
            site.node,
            message,
            mechanism=f"every such request fails with 502: no resolver defined to resolve {first.host or 'the host'} "
                      "(nginx never reads /etc/resolv.conf).",
            fix=_fix(ctx, site, lookups, docker, given),
            severity="warning" if unseen else None,
            context=site.describe(),
        )
    yield from ()


def _lookups(ctx: RuleContext, site: PassSite) -> list[_Lookup]:
    found: list[_Lookup] = []
    for expansion in expand(ctx.model, site.block, site.target.raw):
        text = _URI_VARIABLE.sub("/", expansion.text)  # `https://cdn.example.net$request_uri`: the host ends there
        target = parse_target(site.module, text)
        if target.error or target.unix_path is not None:
            continue
        host = target.host if target.host is not None else _host_part(text)
        if host is None or has_variables(host):
            names = variable_names(host or "")
            if names and names[0] in expansion.unknown and is_request_variable(names[0]):
                found.append(_Lookup(None, names[0], expansion.sources))
            continue  # a variable set where the config does not say: do not guess
        if is_ip(host):
            continue
        if target.port is None and find_upstream(ctx.model, host) is not None:
            continue
        found.append(_Lookup(host, None, expansion.sources))
    return found


def _host_part(text: str) -> str | None:
    """The host of `$scheme://$host$request_uri`-like text, which nginx splits only at run time."""
    if "://" not in text:
        return None
    return text.split("://", 1)[1].split("/", 1)[0] or None


def _fix(ctx: RuleContext, site: PassSite, lookups: list[_Lookup], docker: bool, given: set[int]) -> Fix:
    block = site.server or site.block
    hosts = [lk.host for lk in lookups if lk.host]
    if hosts and all(is_localhost(h) for h in hosts) and site.node is not None:
        return _fix_localhost(ctx, site, lookups)
    if docker or any(h and is_single_label(h) for h in hosts):
        text = f"resolver {DOCKER_DNS} valid=30s ipv6=off;"
        edits: tuple[Edit, ...] = ()
        if id(block) not in given:
            edit = ctx.insert_into(block, text)
            if edit is not None:
                given.add(id(block))  # one resolver per block: a second would be a duplicate
                edits = (edit,)
        return Fix(f"This looks like nginx in Docker: add `{text}` (Docker's embedded DNS) to {ctx.model.describe(block)}. "
                   "Outside Docker use the host's DNS server instead.", edits, "unsafe")
    return Fix(
        f"Add `resolver <DNS server address> valid=30s;` to {ctx.model.describe(block)} (or the http block), with the "
        "address of the DNS server this host uses (nginx does not read /etc/resolv.conf: take the nameserver from it; "
        "127.0.0.53 with systemd-resolved; your VPC resolver in the cloud).",
        applicability="display_only",
    )


def _fix_localhost(ctx: RuleContext, site: PassSite, lookups: list[_Lookup]) -> Fix:
    """`localhost` needs no DNS at all when written as an address."""
    sources = [n for lk in lookups for n in lk.sources if n.name == "set"]
    node = sources[-1] if sources else site.node
    text_arg = node.args[1] if node.name == "set" else node.args[0]
    if "localhost" not in text_arg.lower():
        return Fix("Write the loopback address instead of `localhost` (`127.0.0.1`), which needs no resolver.",
                   applicability="display_only")
    new_arg = with_host(text_arg, "127.0.0.1")
    args = [node.args[0], new_arg] if node.name == "set" else [new_arg, *node.args[1:]]
    text = format_directive(node.name, args)
    return Fix(f"Write the address instead of `localhost`, which needs no resolver: change {node.where} to `{text}` "
               "(use [::1] if the backend listens on IPv6 only).", (ctx.replace(node, text),), "unsafe")
