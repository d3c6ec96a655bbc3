"""A WebSocket endpoint is proxied without the headers that let the upgrade through.

## What it does
A heuristic. A `proxy_pass` location is taken for a WebSocket endpoint when
its path has a segment like `ws`, `wss`, `websocket(s)`, `socket.io`,
`sockjs`, `cable` (Action Cable), `hub`/`hubs`/`signalr` (SignalR) or ends in
`-ws`/`-websocket`, or when it already sets one of the `Upgrade` / upgrade
`Connection` headers. It then checks the three things an upgrade needs:

* `proxy_set_header Upgrade $http_upgrade;` (nginx does not forward the
  hop-by-hop `Upgrade` header by itself);
* a `Connection` header that is `upgrade` for upgrade requests: `"upgrade"`,
  or a variable from a `map $http_upgrade …` (the usual `$connection_upgrade`);
* HTTP/1.1 to the backend: `proxy_http_version 1.1;` before nginx 1.29.7 (the
  default since). Without a known version the rule assumes an older one and
  says so.

## Why it causes 502/504
Without them the backend receives a plain HTTP request and refuses the
WebSocket handshake, usually with 400, sometimes by closing the connection
(502). Idle sockets also close after `proxy_read_timeout` (60s).

## Example
```nginx
location /socket.io/ {
    proxy_pass http://127.0.0.1:3000;
}
```

## Use instead
```nginx
map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
}
server {
    location /socket.io/ {
        proxy_pass http://127.0.0.1:3000;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_read_timeout 1h;
    }
}
```
If the upstream has `keepalive`, map `''` to `""` instead of `close` (see K501).

## When to ignore
A path that only looks like a WebSocket endpoint (long polling, a `/hub/`
page): suppress it there.
"""
from __future__ import annotations

import re
from typing import Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Edit, Fix
from nginx_502lint.header_arrays import add_entries
from nginx_502lint.keepalive import (DEFAULTS_CHANGED, assumption, find_map, header_entry, http_version, pool_of,
                                    version_text)
from nginx_502lint.model import Model, PassSite
from nginx_502lint.parse import Node
from nginx_502lint.ruletools import block_label, set_directives

ID = "H702"
SLUG = "websocket-upgrade-missing"
SEVERITY = "info"
SUMMARY = ("A location that looks like a WebSocket endpoint (/ws, /socket.io, ...) without Upgrade/Connection "
           "headers and HTTP/1.1.")
NEEDS = ("conf",)

_WEBSOCKET_SEGMENT = re.compile(
    r"^(ws|wss|websockets?|socket\.io|sockjs(-node)?|cable|hubs?|signalr)$|websocket|[-_]ws$", re.IGNORECASE)


def looks_like_websocket(location: Node) -> bool:
    path = location.args[-1] if location.args else ""
    return any(_WEBSOCKET_SEGMENT.search(segment) for segment in re.split(r"[^A-Za-z0-9_.\-]+", path) if segment)


def check(ctx: RuleContext) -> Iterator[None]:
    model = ctx.model
    for site in model.pass_sites:
        if site.module != "proxy" or site.location is None:
            continue
        upgrade = header_entry(model, site.block, "proxy_set_header", "upgrade")
        connection = header_entry(model, site.block, "proxy_set_header", "connection")
        connection_upgrades = connection is not None and _can_upgrade(ctx, connection)
        if not (looks_like_websocket(site.location) or upgrade is not None or connection_upgrades):
            continue
        version = http_version(ctx, model, site.block)
        upgrade_value = " ".join(upgrade.args[1:]).lower() if upgrade is not None else ""
        forwards_upgrade = "$http_upgrade" in upgrade_value or "websocket" in upgrade_value
        missing = []
        if not forwards_upgrade:
            missing.append("proxy_set_header Upgrade $http_upgrade")
        if not connection_upgrades:
            missing.append("a Connection header that says upgrade")
        if not version.keeps_alive:
            missing.append(f"HTTP/1.1, as it sends {version.describe()}")
        if not missing:
            continue
        note = assumption(ctx) if version.node is None and not version.keeps_alive else ""
        ctx.report(
            site.node,
            f"proxy_pass {site.target.raw} in {site.describe()} looks like a WebSocket endpoint (heuristic) but lacks "
            f"{', '.join(missing)}" + (f" ({note})" if note else ""),
            mechanism="the backend receives a plain HTTP request instead of an upgrade and refuses the WebSocket "
                      "handshake (usually 400, sometimes a closed connection and 502).",
            fix=_fix(ctx, site, not forwards_upgrade, not connection_upgrades, not version.keeps_alive),
        )
    yield from ()


def _can_upgrade(ctx: RuleContext, node: Node) -> bool:
    value = " ".join(node.args[1:]).strip()
    if "upgrade" in value.lower() and "$" not in value:
        return True
    variable = re.fullmatch(r"\$\{?(\w+)\}?", value)
    if variable is None:
        return False
    if variable.group(1).lower() == "http_connection":
        return True  # the client's own Connection: upgrade passes through
    block = find_map(ctx.model, variable.group(1))
    return block is not None and block.args[0].lower() in ("$http_upgrade", "$http_connection")


def _fix(ctx: RuleContext, site: PassSite, need_upgrade: bool, need_connection: bool, need_version: bool) -> Fix:
    model = ctx.model
    location = site.location or site.block
    steps: list[str] = []
    edits: list[Edit] = []
    if need_version:
        edits.extend(set_directives(model, location, [("proxy_http_version", ["1.1"])]))
        steps.append("proxy_http_version 1.1;")
    wanted: list[list[str]] = []
    if need_upgrade:
        wanted.append(["Upgrade", "$http_upgrade"])
    map_note = ""
    if need_connection:
        existing = _upgrade_map(model)
        if existing is not None:
            wanted.append(["Connection", existing.args[1]])
        else:
            wanted.append(["Connection", "$connection_upgrade"])
            pool = pool_of(ctx, site.target.upstream) if site.target.upstream is not None else None
            plain = '""' if pool is not None and pool.on else "close"
            map_text = f"map $http_upgrade $connection_upgrade {{ default upgrade; '' {plain}; }}"
            map_note = f" and in the http block: {map_text}"
            http = model.enclosing(location, "http")
            insert = ctx.insert_into(http, map_text) if http is not None else None
            if insert is not None:
                edits.append(insert)
    if wanted:
        text, header_edits = add_entries(model, location, "proxy_set_header", wanted)
        steps.append(text)
        edits.extend(header_edits)
    later = "" if not need_version or ctx.version_at_least(*DEFAULTS_CHANGED) is not None else \
        f" (proxy_http_version 1.1 is the default from nginx {version_text(DEFAULTS_CHANGED)})"
    return Fix(f"In {block_label(model, location)} add: {' '.join(steps)}{map_note}{later}; for long-lived sockets "
               "also raise proxy_read_timeout (60s by default)", tuple(edits), "unsafe")


def _upgrade_map(model: Model) -> Node | None:
    for node in model.nodes("map"):
        if len(node.args) == 2 and node.args[0].lower() == "$http_upgrade" and node.block is not None:
            return node
    return None
