"""An `upstream` block has no server nginx can send a request to.

## What it does
Reports an `upstream` block (http or stream) that

* has no `server` at all: nginx refuses the config (`no servers are inside
  upstream`);
* has only `backup` servers: nginx refuses the config (`no servers in
  upstream "app"`), as backups only stand in for primary servers;
* has every server marked `down` (primary and backup): `nginx -t` accepts it,
  but every request routed there fails.

An upstream whose servers come from an `include` the linter could not read
is not reported as empty (use `--host` to read it).

## Why it causes 502/504
With every peer `down`, nginx answers each request at once with 502 and logs
`no live upstreams while connecting to upstream`. An empty or backup-only
upstream stops nginx from loading the config at all: a reload keeps the old
config, a restart leaves nginx down.

## Example
```nginx
upstream app {
    server 10.0.0.5:8080 down;     # taken out for maintenance
    server 10.0.0.6:8080 down;
}
```

## Use instead
```nginx
upstream app {
    server 10.0.0.5:8080 down;
    server 10.0.0.6:8080;
}
```

## When to ignore
An all-`down` upstream that no location uses any more (it is reported as a
warning when its name appears nowhere else in the config): delete it instead.
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.addresses import upstream_is_referenced
from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.model import Upstream
from nginx_502lint.parse import format_directive

ID = "U303"
SLUG = "upstream-no-usable-server"
SEVERITY = "error"
SUMMARY = "`upstream` with no servers, every server `down`, or only `backup` servers."
NEEDS = ("conf",)
OPTIONS = {"type": "object", "properties": {}}


def check(ctx: RuleContext) -> Iterator[None]:
    unread = _unread_includes(ctx)
    for stream, table in ((False, ctx.model.upstreams), (True, ctx.model.stream_upstreams)):
        for upstream in table.values():
            _check_upstream(ctx, upstream, stream, unread)
    yield from ()


def _unread_includes(ctx: RuleContext) -> set[int]:
    """Include directives that brought nothing in: off the host we cannot know what they hold."""
    if ctx.settings.host:
        return set()
    return {id(node) for node, targets in ctx.model.config.includes if not targets}


def _check_upstream(ctx: RuleContext, upstream: Upstream, stream: bool, unread: set[int]) -> None:
    kind = "stream upstream" if stream else "upstream"
    label = f"{kind} {upstream.name} at {upstream.node.where}"
    servers = upstream.servers
    if not servers:
        if any(id(node) in unread for node in upstream.directives.get("include", ())):
            return
        ctx.report(
            upstream.node,
            f"{label} has no server",
            mechanism="nginx refuses the config: [emerg] no servers are inside upstream.",
            fix=Fix(f"Add the backend inside upstream {upstream.name}: `server 127.0.0.1:8000;` with its real address, "
                    "or remove the block and the directives that name it.", applicability="display_only"),
            column_word="upstream",
        )
        return
    primaries = [s for s in servers if not s.backup]
    if not primaries:
        first = servers[0]
        promoted = format_directive("server", [a for a in first.node.args if a != "backup"])
        ctx.report(
            upstream.node,
            f"{label} has only backup servers ({', '.join(s.address for s in servers)}): a backup only stands in for primary servers",
            mechanism=f'nginx refuses the config: [emerg] no servers in upstream "{upstream.name}".',
            fix=Fix(f"Make the first one a primary server: change {first.node.where} to `{promoted}`.",
                    (ctx.replace(first.node, promoted),), "safe"),
            column_word="upstream",
        )
        return
    if all(s.down for s in servers):
        used = upstream_is_referenced(ctx.model, upstream)
        first = servers[0]
        revived = format_directive("server", [a for a in first.node.args if a != "down"])
        outcome = ("every request routed to it fails; nginx -t accepts it" if used else
                   "nothing in this config names it, but any request routed to it would fail")
        ctx.report(
            upstream.node,
            f"every server of {label} is marked down ({', '.join(s.address for s in servers)}): {outcome}",
            mechanism="nginx answers 502 at once and logs: no live upstreams while connecting to upstream.",
            fix=Fix(f"Put a server back in service: change {first.node.where} to `{revived}`"
                    + ("" if used else ", or delete the unused upstream block") + ".",
                    (ctx.replace(first.node, revived),), "unsafe"),
            severity=None if used else "warning",
            column_word="upstream",
        )
