"""A backend address that is not a destination: a broadcast, multicast or "any" address.

## What it does
Reports a pass target or upstream `server` (http and stream; literal or a
`set` value) whose IP is

* the limited broadcast `255.255.255.255` or a multicast address
  (`224.0.0.0/4`, `ff00::/8`): **error**, a TCP connection there never
  succeeds (multicast in `stream` is left alone: UDP may relay to a group);
* the unspecified "any" address `0.0.0.0` or `::`: **warning**. It is a
  `listen`/bind wildcard, not a destination; Linux and the BSDs happen to
  route a connect to it to the local host, so it works there only by accident.

## Why it causes 502/504
nginx's `connect()` to a broadcast or multicast address fails at once:
`connect() to 255.255.255.255:80 failed (101: Network is unreachable) while
connecting to upstream` → 502 for every request. `0.0.0.0` is usually copied
from a backend's "listening on 0.0.0.0:8000" line: it reaches a backend only
on the same machine (on Linux, as if it were `127.0.0.1`), fails on systems
that refuse it, and inside a container it reaches the nginx container itself,
not the app (`connect() failed (111: Connection refused)`).

## Example
```nginx
location / {
    proxy_pass http://0.0.0.0:8000;
}
```

## Use instead
```nginx
location / {
    proxy_pass http://127.0.0.1:8000;
}
```

## When to ignore
Never for broadcast or multicast. For `0.0.0.0`, when nginx and the backend
always run on one Linux host, the config works; writing `127.0.0.1` says the
same thing explicitly.
"""
from __future__ import annotations

import ipaddress
from typing import Iterator

from nginx_502lint.addresses import destinations, ip_of, with_host
from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Edit, Fix
from nginx_502lint.parse import Node, format_directive

ID = "U309"
SLUG = "unroutable-address"
SEVERITY = "error"
SUMMARY = "Destination that can never be connected to (broadcast, multicast), or the 0.0.0.0/:: wildcard."
NEEDS = ("conf",)
OPTIONS = {"type": "object", "properties": {}}

_BROADCAST = ipaddress.ip_address("255.255.255.255")


def check(ctx: RuleContext) -> Iterator[None]:
    for dest in destinations(ctx.model):
        ip = ip_of(dest.host)
        if ip is None:
            continue
        node = dest.edit_node
        if ip.is_unspecified:
            loopback = "127.0.0.1" if ip.version == 4 else "::1"
            new_text = _with_host_text(node, dest.edit_text, dest.host or "", loopback)
            edits: tuple[Edit, ...] = (ctx.replace(node, new_text),) if new_text else ()
            ctx.report(
                dest.node,
                f"{dest.describe()} connects to {ip}, the bind-everything wildcard: it only reaches a backend on the same "
                f"machine (Linux treats it as {loopback}); in a container that is nginx's own container, not the app's",
                mechanism=("a wildcard is not a destination: systems that refuse it fail the connect, and in a container "
                           "it reaches nginx's own loopback: connect() failed (111: Connection refused) → 502."),
                fix=Fix((f"Write the loopback address it stands for: change {node.where} to `{new_text}`" if new_text else
                         f"Use {loopback} instead of {ip}") + " (in Docker, the backend's service name and port instead).",
                        edits, "safe"),
                severity="warning",
                column_word=dest.host if node is dest.node else None,
                context=dest.context(ctx.model),
            )
        elif ip == _BROADCAST or (ip.is_multicast and not dest.stream):  # stream may relay UDP to a group
            kind = "the broadcast address" if ip == _BROADCAST else "a multicast address"
            ctx.report(
                dest.node,
                f"{dest.describe()} connects to {ip}, {kind}: no TCP connection to it can ever succeed",
                mechanism=(f"connect() to {dest.address} failed (101: Network is unreachable) while connecting to "
                           "upstream → 502 for every request."),
                fix=Fix(f"Replace {ip} at {node.where} with the backend's own unicast address "
                        f"(e.g. `{_with_host_text(node, dest.edit_text, dest.host or '', '127.0.0.1') or '127.0.0.1'}` "
                        "if it runs on this machine).", applicability="display_only"),
                column_word=dest.host if node is dest.node else None,
                context=dest.context(ctx.model),
            )
    yield from ()


def _with_host_text(node: Node, address: str, host: str, new_host: str) -> str | None:
    if host not in address:
        return None
    new_address = with_host(address, new_host)
    args = [node.args[0], new_address] if node.name == "set" else [new_address, *node.args[1:]]
    return format_directive(node.name, args)
