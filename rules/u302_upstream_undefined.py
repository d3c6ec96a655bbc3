"""A pass target names an `upstream` block that does not exist.

## What it does
Reports a pass target (or an upstream `server`) whose host is a single-label
name (no dot, not an IP, not `localhost`) that no `upstream` block defines
(nginx compares upstream names case-insensitively):

* the name is close to a defined upstream (`backnd` for `backend`): a typo,
  with the closest name suggested (`difflib`);
* an upstream `server` that names another upstream block: blocks do not nest;
* `proxy_pass http://name;` without port and without a similar upstream:
  reported as a **warning**, because it may be a host name (see below).

A variable target whose `set` value is a near-miss of an upstream name is a
warning: nginx then looks the name up in DNS per request. A port-less name in
`fastcgi_pass`, `uwsgi_pass`, `scgi_pass`, `memcached_pass` or a scheme-less
`grpc_pass` cannot be a host at all (`no port in upstream "php"`): E005
reports it, with the same suggestion.

## Why it causes 502/504
A literal pass target that is not an upstream is a host name that nginx
resolves when it loads the config: `[emerg] host not found in upstream
"backnd" in /etc/nginx/conf.d/app.conf:12`. The config is refused, so a
reload keeps the old config and a restart leaves the whole server down. A
variable target fails per request instead: 502 with `no resolver defined to
resolve backnd` or `backnd could not be resolved (3: Host not found)`.

## Example
```nginx
upstream backend { server 127.0.0.1:8000; }
server {
    location / { proxy_pass http://backnd; }
}
```

## Use instead
```nginx
upstream backend { server 127.0.0.1:8000; }
server {
    location / { proxy_pass http://backend; }
}
```

## When to ignore
Docker Compose service names (`proxy_pass http://app:8000;`) and `/etc/hosts`
entries are single-label names that do resolve where nginx runs. So a name
**with an explicit port** is taken for a host and reported only when it is
nearly the name of a defined upstream (a typo is far likelier than a
container called `backnd` next to an upstream called `backend`); a name
**without a port** and without a similar upstream is a warning, and is not
reported at all when the config reads like Docker (a `resolver 127.0.0.11`,
or other targets naming containers with a port). If such a name is a real
host, ignore the finding, or better write its port. When the file is linted
on its own (a site file), or an http-level `include` matched no file, upstreams
defined elsewhere are not seen: only near-misses of a visible upstream are
reported, as warnings; lint the main `nginx.conf` (with `--prefix` or
`--host`) instead.
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.addresses import (
    Destination, UndefinedName, destinations, find_upstream, undefined_upstream, unseen_http_config, with_host,
)
from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Edit, Fix
from nginx_502lint.parse import format_directive

ID = "U302"
SLUG = "upstream-undefined"
SEVERITY = "error"
SUMMARY = "Pass target names no upstream block and is no resolvable-looking host: nginx fails `host not found in upstream`."
NEEDS = ("conf",)
OPTIONS = {"type": "object", "properties": {}}


def check(ctx: RuleContext) -> Iterator[None]:
    for dest in destinations(ctx.model):
        verdict = undefined_upstream(ctx.model, dest, ctx.settings.host)
        if verdict is None:
            continue
        message, mechanism = _explain(dest, verdict)
        if verdict.reason == "typo" and not dest.runtime and unseen_http_config(ctx.model, ctx.settings.host):
            message += (" (some of the config was not read: a file linted on its own, or an include that matched nothing; "
                        "if the upstream is defined there, lint the main nginx.conf or use --prefix/--host)")
        ctx.report(
            dest.node,
            message,
            mechanism=mechanism,
            fix=_fix(ctx, dest, verdict),
            severity=verdict.severity,
            column_word=dest.host if dest.node is dest.edit_node else None,
            context=dest.context(ctx.model),
        )
    yield from ()


def _explain(dest: Destination, verdict: UndefinedName) -> tuple[str, str]:
    host = dest.host
    hint = f" (did you mean `{verdict.suggestion}`?)" if verdict.suggestion else ""
    if verdict.reason == "names-upstream":
        return (
            f"{dest.describe()} names the upstream block `{verdict.suggestion}`: upstream blocks do not nest, "
            f"so nginx resolves `{host}` as a host name",
            f'nginx refuses the config when the name does not resolve: [emerg] host not found in upstream "{host}".',
        )
    if dest.runtime:
        return (
            f"`{host}` in {dest.describe()} names no upstream block{hint}: nginx looks it up in DNS for every request",
            f"each request fails with 502: no resolver defined to resolve {host}, or {host} could not be resolved (3: Host not found).",
        )
    if verdict.reason == "typo":
        return (
            f"`{host}` in {dest.describe()} names no upstream block{hint}: nginx resolves it as a host name when it loads the config",
            f'nginx refuses the config: [emerg] host not found in upstream "{host}" '
            "(a reload keeps the old config, a restart leaves nginx down).",
        )
    return (
        f"`{host}` in {dest.describe()} names no upstream block and is a single-label name without a port: "
        f"unless `{host}` resolves where nginx runs (/etc/hosts, a Docker network), nginx refuses to start",
        f'nginx resolves the name when it loads the config and refuses it if that fails: [emerg] host not found in upstream "{host}".',
    )


def _fix(ctx: RuleContext, dest: Destination, verdict: UndefinedName) -> Fix:
    model = ctx.model
    host = dest.host or ""
    if verdict.reason == "names-upstream" and verdict.suggestion:
        other = find_upstream(model, verdict.suggestion)
        servers = [server.node.text() for server in other.servers] if other else []
        if servers:
            text = " ".join(servers)
            return Fix(f"Copy the servers of upstream {verdict.suggestion} here instead of naming it: "
                       f"replace {dest.node.where} with `{text}`.", (ctx.replace(dest.node, text),), "unsafe")
        owner = dest.upstream.name if dest.upstream else ""
        return Fix(f"Give upstream {owner} the backend's own address (`server 127.0.0.1:8000;`), not an upstream name.",
                   applicability="display_only")
    if verdict.suggestion:
        node = dest.edit_node
        if node.name == "set":
            text = format_directive("set", [node.args[0], with_host(node.args[1], verdict.suggestion)])
        else:
            new_target = _target_for(dest, verdict.suggestion)
            text = format_directive(node.name, [new_target, *node.args[1:]])
        edits: tuple[Edit, ...] = (ctx.replace(node, text),)
        return Fix(f"Use the upstream that exists: change {node.where} to `{text}` (upstream {verdict.suggestion} at "
                   f"{model.upstreams[verdict.suggestion].node.where}).", edits, "unsafe")
    return Fix(
        f"Define the upstream (`upstream {host} {{ server 127.0.0.1:8000; }}` with the backend's real address); "
        f"if `{host}` is a host or container name, write its port "
        f"(`{dest.node.name} {dest.scheme or 'http'}://{host}:80;`) so the intent is explicit.",
        applicability="display_only",
    )


def _target_for(dest: Destination, upstream_name: str) -> str:
    """The pass target with the upstream name in place of the host (an upstream takes no port)."""
    prefix = f"{dest.scheme}://" if dest.scheme else ""
    if dest.module in ("proxy", "grpc") and dest.uri:
        return f"{prefix}{upstream_name}{dest.uri}"
    return f"{prefix}{upstream_name}"
