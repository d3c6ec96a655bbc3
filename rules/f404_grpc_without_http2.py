"""`grpc_pass` in a server whose sockets do not speak HTTP/2 to clients.

## What it does
For every server with a `grpc_pass`, checks that clients can reach it over
HTTP/2: a `listen` with the `http2` parameter (on that address:port in any
server, since nginx applies listen options per socket), or `http2 on;` in
effect (nginx ≥ 1.25.1). A server without `listen` uses `*:80`.

The fix depends on the target nginx version: `http2 on;` in the server from
1.25.1 on (also when the version is unknown, saying so), else the `http2`
parameter on the server's TLS `listen` (`listen 443 ssl http2;`), or on its
plaintext one when it has no TLS listener (h2c: `listen 80 http2;` works for
plaintext gRPC).

## Why it causes 502/504
gRPC clients speak HTTP/2 only. On an HTTP/1.x socket nginx closes a
plaintext client's HTTP/2 connection preface without a response, and over TLS
it offers no `h2` in ALPN; clients fail with `UNAVAILABLE` and no call ever
reaches `grpc_pass`. HTTP/1.1 requests that do reach it are not gRPC and end
in errors from the backend.

## Example
```nginx
server {
    listen 443 ssl;
    location /helloworld.Greeter/ { grpc_pass grpc://127.0.0.1:50051; }
}
```

## Use instead
```nginx
server {
    listen 443 ssl;
    http2 on;                      # nginx >= 1.25.1; before: listen 443 ssl http2;
    location /helloworld.Greeter/ { grpc_pass grpc://127.0.0.1:50051; }
}
```

## When to ignore
When only HTTP/1.1 gRPC-web clients are served through a translating proxy in
front of nginx. Before 1.25.1 a plaintext `listen … http2` port serves only
HTTP/2, so give plaintext gRPC a port of its own.
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Edit, Fix
from nginx_502lint.model import Model, PassSite
from nginx_502lint.parse import Node, format_directive

ID = "F404"
SLUG = "grpc-without-http2"
SEVERITY = "error"
SUMMARY = "grpc_pass in a server that does not speak HTTP/2 to clients (no http2 on the listen socket, no `http2 on`)."
NEEDS = ("conf", "ver")
OPTIONS = {"type": "object", "properties": {}}

_DEFAULT_LISTEN = ("*", "80")


def check(ctx: RuleContext) -> Iterator[None]:
    by_server: dict[int, tuple[Node, list[PassSite]]] = {}
    for site in ctx.model.pass_sites:
        server = site.server
        if site.module != "grpc" or server is None or server.synthetic:
            continue
        by_server.setdefault(id(server), (server, []))[1].append(site)
    if not by_server:
        return
    h2_sockets = _sockets_with_http2(ctx.model)
    for server, sites in by_server.values():
        if ctx.model.effective(server, "http2").value == "on":
            continue
        listens = ctx.model.children(server, "listen")
        keys = [_socket_key(n.args[0]) for n in listens if n.args] or [_DEFAULT_LISTEN]
        if any(key in h2_sockets for key in keys):
            continue
        _report(ctx, server, listens, sites)
    yield from ()


def _sockets_with_http2(model: Model) -> set[tuple[str, str]]:
    return {
        _socket_key(node.args[0])
        for node in model.nodes("listen")
        if node.args and "http2" in node.args[1:] and model.context_of(node) == "server"
    }


def _socket_key(address: str) -> tuple[str, str]:
    """nginx's view of a listen address: `443`, `*:443` and `0.0.0.0:443` are one socket."""
    if address.startswith("unix:"):
        return (address, "")
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return (host, rest.lstrip(":") or "80")
    if ":" in address:
        host, port = address.rsplit(":", 1)
        return ("*" if host in ("*", "0.0.0.0") else host, port)
    if address.isdigit():
        return ("*", address)
    return (address, "80")


def _report(ctx: RuleContext, server: Node, listens: list[Node], sites: list[PassSite]) -> None:
    first = sites[0]
    shown = ", ".join(f"`{n.text()[:-1]}` ({n.where})" for n in listens) or "no listen (so *:80)"
    locations = ", ".join(dict.fromkeys(s.describe() for s in sites))
    modern = ctx.version_at_least(1, 25, 1)
    old_style, old_edits = _listen_fix(ctx, server, listens)
    if modern is False:
        version = ".".join(map(str, ctx.version or ()))
        description, edits = f"nginx {version} has no `http2` directive (1.25.1+): {old_style}", old_edits
    else:
        assumption = "" if modern else f" (nginx version unknown: assuming ≥ 1.25.1; before 1.25.1 instead {old_style})"
        insert = ctx.insert_into(server, "http2 on;")
        description = f"Add `http2 on;` to the server at {server.where}{assumption}"
        edits = (insert,) if insert is not None else ()
    ctx.report(
        first.node,
        f"{first.node.text()[:-1]} in {locations}: the server's sockets ({shown}) do not speak HTTP/2 "
        "(no `http2` listen parameter on them, no `http2 on;`), and gRPC clients speak only HTTP/2",
        mechanism=("gRPC calls never reach grpc_pass: nginx closes a plaintext HTTP/2 preface without a response and "
                   "offers no h2 in TLS ALPN, so clients fail with UNAVAILABLE."),
        fix=Fix(description, edits, "unsafe"),
    )


def _listen_fix(ctx: RuleContext, server: Node, listens: list[Node]) -> tuple[str, tuple[Edit, ...]]:
    """The pre-1.25.1 fix: the `http2` parameter on the TLS listens, else on the plaintext ones."""
    if not listens:
        insert = ctx.insert_into(server, "listen 80 http2;")
        text = f"add `listen 80 http2;` to the server at {server.where} (before 1.25.1 that port then serves HTTP/2 only)"
        return text, (insert,) if insert else ()
    tls = [n for n in listens if "ssl" in n.args[1:]]
    chosen = tls or listens
    edits = tuple(ctx.replace(n, format_directive("listen", [*n.args, "http2"])) for n in chosen)
    changed = "; ".join(f"`{format_directive('listen', [*n.args, 'http2'])}` at {n.where}" for n in chosen)
    caveat = "" if tls else " (before 1.25.1 a plaintext http2 port serves HTTP/2 only: HTTP/1.x clients there stop working)"
    return f"change {changed}{caveat}", edits
