"""Passive health checks can mark every peer of an upstream down at once.

## What it does
A heuristic over each `upstream` block (http and stream) whose peers nginx
counts (IPs, unix sockets, `localhost`; groups with host names, `resolve` or
a Lua/njs balancer are skipped, as their number of addresses is unknown):

* **warning**: one live backend plus placeholders: `down` servers, `backup`
  servers that are all `down`, or the same address listed twice. The group has
  two or more peers, so the one real server loses nginx's exemption of
  single-peer groups from `max_fails`;
* **info**: two or more live servers that all run on one machine (unix
  sockets, loopback or the same IP) with the implicit `max_fails=1
  fail_timeout=10s`: they fail together when that app or machine restarts.

A group that is only `localhost` (two peers, one backend) is left to U301,
whose fix (`127.0.0.1`) removes this risk too. A live `backup` or a server
with `max_fails=0` keeps the group alive, so such groups are not reported.

## Why it causes 502/504
After `max_fails` failed attempts (default 1) within `fail_timeout`
(default 10s) nginx logs `upstream server temporarily disabled` and skips the
peer for `fail_timeout`. When every peer is skipped, each request gets an
instant 502: `no live upstreams while connecting to upstream`, even though the
backend is already back. A group of exactly one peer is never disabled, which
is why a placeholder `server 127.0.0.1:8001 down;` next to the real server
makes things worse, not safer.

## Example
```nginx
upstream app {
    server 10.0.0.5:8080;
    server 10.0.0.6:8080 down;    # placeholder for the second node
}
```

## Use instead
```nginx
upstream app {
    server 10.0.0.5:8080 max_fails=0;   # the only backend: never disable it
    server 10.0.0.6:8080 down;
}
```

## When to ignore
When the peers really are independent (several addresses behind one name
handled elsewhere), or when a short outage after a restart is acceptable.
For pools on one machine, an explicit `max_fails`/`fail_timeout` records the
decision and silences the info finding.
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.addresses import dynamic_balancer, ip_of, is_hostname, is_localhost, normalized_socket_path
from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.model import Upstream, UpstreamServer
from nginx_502lint.parse import format_directive
from nginx_502lint.values import InvalidValue, format_time_ms, parse_time_ms

ID = "U304"
SLUG = "no-live-upstreams-risk"
SEVERITY = "warning"
SUMMARY = "Passive health settings that can mark every upstream peer down at once (one real server plus placeholders, one-host pools)."
NEEDS = ("conf",)
OPTIONS = {"type": "object", "properties": {}}


def check(ctx: RuleContext) -> Iterator[None]:
    for stream, table in ((False, ctx.model.upstreams), (True, ctx.model.stream_upstreams)):
        for upstream in table.values():
            _check_upstream(ctx, upstream, "stream upstream" if stream else "upstream")
    yield from ()


def _check_upstream(ctx: RuleContext, upstream: Upstream, kind: str) -> None:
    if dynamic_balancer(upstream):
        return
    primaries = [s for s in upstream.servers if not s.backup]
    backups = [s for s in upstream.servers if s.backup]
    live = [s for s in primaries if not s.down]
    if not live or any(not s.down for s in backups):
        return  # U303 covers no live server; a live backup stands in
    if any(s.resolve or is_hostname(s.host) for s in live):
        return  # a name may stand for several independent addresses
    if any(_max_fails(s) == 0 or _fail_timeout_ms(s) == 0 for s in live):
        return  # a server that is never disabled keeps the group alive
    peers = sum(2 if is_localhost(s.host) else 1 for s in primaries)
    if peers == 1 and not backups:
        return  # single-peer groups are never disabled
    label = f"{kind} {upstream.name} at {upstream.node.where}"
    if len({_address_key(s) for s in live}) == 1:
        _report_placeholders(ctx, upstream, label, live, primaries, backups, peers)
    else:
        _report_one_machine(ctx, label, live)


def _report_placeholders(ctx: RuleContext, upstream: Upstream, label: str, live: list[UpstreamServer],
                         primaries: list[UpstreamServer], backups: list[UpstreamServer], peers: int) -> None:
    placeholders = [s for s in primaries if s.down] + backups
    if not placeholders and len(live) == 1:
        return  # only `localhost` makes two peers: U301 reports that line
    server = live[0]
    extras = [f"{s.address} ({'down backup' if s.backup else 'down'}, line {s.node.line})" for s in placeholders]
    extras += [f"{s.address} again (line {s.node.line})" for s in live[1:]]
    max_fails, fail_timeout = _max_fails(server), format_time_ms(_fail_timeout_ms(server))
    fixed = _with_params(server, max_fails="0")
    ctx.report(
        server.node,
        f"{label}: its one live backend {server.address} shares the group with {', '.join(extras)}, "
        f"so the group has {peers + len(backups)} peers and {server.address} loses the single-server exemption: "
        f"after {max_fails} failed attempt(s) it is disabled for {fail_timeout} and every request gets 502 "
        "(heuristic: assumes the placeholders never serve)",
        mechanism=("nginx logs upstream server temporarily disabled, then answers 502 no live upstreams while "
                   f"connecting to upstream until fail_timeout ({fail_timeout}) has passed."),
        fix=Fix(f"Never disable the only backend: change {server.node.where} to `{fixed}`"
                + (f", or delete the placeholder lines ({', '.join(str(s.node.line) for s in placeholders)})" if placeholders else "")
                + ".", (ctx.replace(server.node, fixed),), "safe"),
        column_word="server",
        context=f"upstream {upstream.name}",
    )


def _report_one_machine(ctx: RuleContext, label: str, live: list[UpstreamServer]) -> None:
    machines = {_machine(s) for s in live}
    if len(machines) != 1 or any("max_fails" in s.params or "fail_timeout" in s.params for s in live):
        return
    machine = machines.pop()
    first = live[0]
    edits = tuple(ctx.replace(s.node, _with_params(s, max_fails="0")) for s in live)
    ctx.report(
        first.node,
        f"{label}: all {len(live)} servers ({', '.join(s.address for s in live)}) run on {machine} with the implicit "
        "max_fails=1 fail_timeout=10s: when that app restarts they fail together, and nginx keeps answering 502 for up "
        "to 10s after it is back (heuristic)",
        mechanism=("each failed peer is skipped for fail_timeout; with all of them skipped nginx logs no live "
                   "upstreams while connecting to upstream and answers 502 at once."),
        fix=Fix("Make the choice explicit on each server: `max_fails=0` (a dead process then costs one fast retry) "
                "or a short `fail_timeout=2s`; e.g. "
                + "; ".join(f"{s.node.where}: `{_with_params(s, max_fails='0')}`" for s in live) + ".",
                edits, "unsafe"),
        severity="info",
        column_word="server",
    )


def _address_key(server: UpstreamServer) -> tuple[str, str]:
    if server.unix_path is not None:
        return ("unix", normalized_socket_path(server.unix_path))
    ip = ip_of(server.host)
    host = str(ip) if ip is not None else (server.host or "").lower()
    return (host, str(server.port or 80))


def _machine(server: UpstreamServer) -> str:
    if server.unix_path is not None or is_localhost(server.host):
        return "this machine"
    ip = ip_of(server.host)
    if ip is not None and ip.is_loopback:
        return "this machine"
    return str(ip) if ip is not None else (server.host or "")


def _max_fails(server: UpstreamServer) -> int:
    text = server.params.get("max_fails", "1")
    return int(text) if text.isdigit() else 1


def _fail_timeout_ms(server: UpstreamServer) -> int:
    try:
        return parse_time_ms(server.params.get("fail_timeout", "10s"))
    except InvalidValue:
        return 10_000


def _with_params(server: UpstreamServer, **changes: str) -> str:
    args = [a for a in server.node.args if a.split("=", 1)[0] not in changes]
    args += [f"{key}={value}" for key, value in changes.items()]
    return format_directive("server", args)
