"""The pass scheme does not match the backend port: plain HTTP to a TLS port, or TLS to a plain one.

## What it does
Reports `proxy_pass http://…` (and `grpc_pass grpc://…`) to a port that
conventionally speaks TLS (443, 8443, 9443), and `https://` (`grpcs://`) to a
plain-text port (80, 8080, 3000; for `grpcs://` 80 and 8080). Targets naming an
`upstream` are checked against each of its servers, and an upstream `server`
without a port means port **80**, even when used with `https://`. Variable
targets are checked when their `set` values are in the config.

## Why it causes 502/504
TLS to a plain-text listener fails the handshake: `SSL_do_handshake() failed
(SSL: error:0A00010B:SSL routines::wrong version number) while SSL handshaking
to upstream` → 502. Plain HTTP to a TLS listener gets a 400 from nginx/Go
backends (relayed to the client) or a reset or closed connection from others
(OpenSSL servers): `recv() failed (104: Connection reset by peer) while reading
response header from upstream` or `upstream prematurely closed connection while
reading response header from upstream` → 502.

## Example
```nginx
upstream api { server api.example.com; }          # port 80
location / { proxy_pass https://api; }
```

## Use instead
```nginx
upstream api { server api.example.com:443; }
location / { proxy_pass https://api; }
```

## When to ignore
Backends that really serve the other protocol on that port (a TLS service
moved to 8080, plain HTTP on 8443 behind a sidecar).
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.addresses import Destination, destinations, find_upstream
from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Edit, Fix
from nginx_502lint.model import PassSite, UpstreamServer
from nginx_502lint.parse import format_directive

ID = "U307"
SLUG = "scheme-port-mismatch"
SEVERITY = "warning"
SUMMARY = "`http://` to a TLS port (443, 8443, 9443) or `https://` to a plain one (80, 8080, 3000)."
NEEDS = ("conf",)
OPTIONS = {"type": "object", "properties": {}}

_TLS_PORTS = frozenset({443, 8443, 9443})
_PLAIN_PORTS = {"https": frozenset({80, 8080, 3000}), "grpcs": frozenset({80, 8080})}
_TLS_SCHEME = {"http": "https", "grpc": "grpcs"}
_PLAIN_SCHEME = {"https": "http", "grpcs": "grpc"}


def check(ctx: RuleContext) -> Iterator[None]:
    for dest in destinations(ctx.model):
        if dest.server is None and dest.site is not None and dest.port is not None:
            _check_literal(ctx, dest)
    for site in ctx.model.pass_sites:
        if site.target.variables or site.target.error or site.target.scheme is None:
            continue
        upstream = find_upstream(ctx.model, site.target.host)
        if upstream is not None:
            _check_upstream_use(ctx, site, upstream.name, upstream.servers)
    yield from ()


def _mismatch(scheme: str | None, port: int) -> str | None:
    if scheme in _TLS_SCHEME and port in _TLS_PORTS:
        return "tls-port"
    if scheme in _PLAIN_PORTS and port in _PLAIN_PORTS[scheme]:
        return "plain-port"
    return None


def _mechanism(kind: str) -> str:
    if kind == "plain-port":
        return ("TLS to a plain-text listener fails: SSL_do_handshake() failed (… wrong version number) while SSL "
                "handshaking to upstream → 502.")
    return ("plain HTTP to a TLS listener gets a 400 (relayed) or a reset/closed connection: recv() failed (104) or "
            "upstream prematurely closed connection while reading response header from upstream → 502.")


def _check_literal(ctx: RuleContext, dest: Destination) -> None:
    assert dest.port is not None
    kind = _mismatch(dest.scheme, dest.port)
    if kind is None:
        return
    scheme = dest.scheme or ""
    new_scheme = _PLAIN_SCHEME[scheme] if kind == "plain-port" else _TLS_SCHEME[scheme]
    node = dest.edit_node
    old_text = dest.edit_text
    edits: tuple[Edit, ...] = ()
    new_text = ""
    if old_text.lower().startswith(f"{scheme}://"):
        new_arg = new_scheme + old_text[len(scheme):]
        args = [node.args[0], new_arg] if node.name == "set" else [new_arg, *node.args[1:]]
        new_text = format_directive(node.name, args)
        edits = (ctx.replace(node, new_text),)
    listener = "TLS" if kind == "tls-port" else "plain-text"
    ctx.report(
        dest.node,
        f"{dest.describe()} speaks {scheme}:// to port {dest.port}, which is conventionally a {listener} port",
        mechanism=_mechanism(kind),
        fix=Fix(f"Match the scheme to the listener: change {node.where} to `{new_text}`"
                if new_text else f"Use {new_scheme}:// for port {dest.port}, or the port the backend serves {scheme} on.",
                edits, "unsafe"),
        column_word=f"{scheme}://" if node is dest.node else None,
        context=dest.context(ctx.model),
    )


def _check_upstream_use(ctx: RuleContext, site: PassSite, name: str, servers: list[UpstreamServer]) -> None:
    scheme = site.target.scheme or ""
    bad: list[tuple[UpstreamServer, str]] = []
    for server in servers:
        if server.unix_path is not None:
            continue
        kind = _mismatch(scheme, server.port or 80)
        if kind is not None:
            bad.append((server, kind))
    if not bad:
        return
    kind = bad[0][1]
    listed = ", ".join(f"{s.address}" + ("" if s.port else " (no port: 80)") + f" at {s.node.where}" for s, _ in bad)
    edits: tuple[Edit, ...]
    if kind == "plain-port" and all(s.port is None for s, _ in bad):
        # `server host;` with https:// is almost always a forgotten :443
        changed = [(s, format_directive("server", [s.address + ":443", *s.node.args[1:]])) for s, _ in bad]
        edits = tuple(ctx.replace(s.node, text) for s, text in changed)
        fix = Fix("Give the servers their TLS port: " + "; ".join(f"{s.node.where}: `{t}`" for s, t in changed) + ".",
                  edits, "unsafe")
    else:
        new_scheme = _PLAIN_SCHEME[scheme] if kind == "plain-port" else _TLS_SCHEME[scheme]
        text = format_directive(site.node.name, [new_scheme + site.node.args[0][len(scheme):], *site.node.args[1:]])
        fix = Fix(f"Match the scheme to the servers' listeners: change {site.node.where} to `{text}`.",
                  (ctx.replace(site.node, text),), "unsafe")
    listener = "plain-text" if kind == "plain-port" else "TLS"
    ctx.report(
        site.node,
        f"{site.node.name} {site.node.args[0]} at {site.node.where} speaks {scheme}:// to upstream {name}, whose server(s) "
        f"{listed} listen on ports that are conventionally {listener}",
        mechanism=_mechanism(kind),
        fix=fix,
        column_word=f"{scheme}://",
        context=site.describe(),
    )
