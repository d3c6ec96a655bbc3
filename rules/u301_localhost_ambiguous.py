"""`localhost` as a backend address: nginx tries both ::1 and 127.0.0.1.

## What it does
Reports `localhost` as the host of a pass target (`proxy_pass
http://localhost:8000`, `fastcgi_pass localhost:9000`, or a variable target
such as `set $app http://localhost:8000; proxy_pass $app;`) and of an
upstream `server` (http and stream upstreams).

## Why it causes 502/504
nginx resolves `localhost` when it loads the config and makes one peer per
address; on most systems that is `::1` and `127.0.0.1`. A backend that listens
on IPv4 only (gunicorn's default `127.0.0.1:8000`, Kestrel, puma) refuses
every try on `::1`: `connect() failed (111: Connection refused) while
connecting to upstream, … upstream: "http://[::1]:8000/"`. Retries hide it for
most requests, but the two addresses form a two-peer group, which loses
nginx's exemption of single-server groups from `max_fails`: after a backend
restart both peers are marked failed and nginx answers 502 `no live
upstreams` for up to `fail_timeout` (10s) after the backend is back. With
IPv6 disabled in the kernel: `socket() failed (97: Address family not
supported by protocol)`.

## Example
```nginx
location / {
    proxy_pass http://localhost:8000;
}
```

## Use instead
```nginx
location / {
    proxy_pass http://127.0.0.1:8000;   # or http://[::1]:8000 for an IPv6-only backend
}
```

## When to ignore
When `localhost` maps to one address on every machine that runs this config
(`getent ahosts localhost`) and the backend listens on it. The fix is marked
unsafe: `127.0.0.1` is right for IPv4 backends (the common case); a backend
that listens only on `::1` needs `[::1]` instead.
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.addresses import destinations, is_localhost, with_host
from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Edit, Fix
from nginx_502lint.parse import Node, format_directive

ID = "U301"
SLUG = "localhost-ambiguous"
SEVERITY = "warning"
SUMMARY = "`localhost` as a pass or upstream server address resolves to ::1 and 127.0.0.1: an IPv4-only backend refuses half the tries."
NEEDS = ("conf",)
OPTIONS = {"type": "object", "properties": {}}

_DEFAULT_PORTS = {"http": 80, "https": 443, "grpc": 80, "grpcs": 443}


def check(ctx: RuleContext) -> Iterator[None]:
    edited: set[int] = set()
    for dest in destinations(ctx.model):
        if not is_localhost(dest.host):
            continue
        port = dest.port or _DEFAULT_PORTS.get(dest.scheme or "", 80)
        node = dest.edit_node
        fix_text = _replacement(node, dest.edit_text)
        edits: tuple[Edit, ...] = ()
        if fix_text is not None and id(node) not in edited:
            edited.add(id(node))
            edits = (ctx.replace(node, fix_text),)
        change = f"change it at {node.where} to `{fix_text}`" if fix_text else f"use 127.0.0.1:{port} instead of localhost:{port}"
        ctx.report(
            dest.node,
            f"`localhost` in {dest.describe()} resolves to ::1 and 127.0.0.1 on most systems: "
            f"a backend listening on 127.0.0.1:{port} only refuses every try on [::1]:{port}",
            mechanism=_mechanism(port, dest.runtime),
            fix=Fix(
                f"Name the address the backend listens on: {change} "
                f"(or [::1]:{port} if the backend listens on IPv6 only).",
                edits,
                "unsafe",
            ),
            column_word=dest.host if node is dest.node else None,
            context=dest.context(ctx.model),
        )
    yield from ()


def _mechanism(port: int, runtime: bool) -> str:
    refused = (f"tries on [::1]:{port} fail with connect() failed (111: Connection refused) "
               f'while connecting to upstream, upstream: "…[::1]:{port}…"')
    if runtime:
        return (f"nginx's resolver asks for both A and AAAA records (ipv6=on by default) and "
                f"spreads requests over both answers; {refused}.")
    return (f"nginx makes a peer of each address of localhost; {refused}, and the two-peer group can be "
            "marked down as a whole after a backend restart (502 no live upstreams).")


def _replacement(node: Node, address: str) -> str | None:
    if "localhost" not in address.lower():
        return None
    new_address = with_host(address, "127.0.0.1")
    if node.name == "set":
        return format_directive("set", [node.args[0], new_address])
    return format_directive(node.name, [new_address, *node.args[1:]])
