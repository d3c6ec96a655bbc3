"""The pass directive speaks another protocol than the backend it points at (heuristic).

## What it does
Guesses the backend's protocol from its address and the location around it,
and reports a pass module that cannot talk to it:

* `proxy_pass` (HTTP) to php-fpm: port 9000 (`php_fpm_ports`) or a socket
  named like php-fpm's (`http://unix:/run/php/php8.2-fpm.sock:`) **and** a sign of
  PHP (`php`/`fpm` in the address or upstream name, a `.php` location,
  `fastcgi_index`/`try_files`/`include` naming PHP). Port 9000 alone is not
  enough: MinIO, Portainer and SonarQube serve HTTP there;
* `fastcgi_pass` to an HTTP port (`http_ports`: 80, 443, 3000, 5000, 8000,
  8080, 8443, 8888 …), unless a php-fpm pool given with `--php-fpm` listens
  there;
* `uwsgi_pass` to an HTTP application server port (gunicorn's 8000, 8080 …);
* `proxy_pass` to a gRPC backend: port 50051 (`grpc_ports`) or `grpc` as a
  word of the host or upstream name (not `grpc-gateway`/`grpc-web`, which speak
  HTTP/1.1), unless `proxy_http_version 2` is in effect.

It is a heuristic (ports and names are conventions), so it says so and is a
warning at most.

## Why it causes 502/504
* FastCGI to an HTTP server: `upstream sent unsupported FastCGI protocol
  version: 72 while reading response header from upstream` (72 is the "H" of
  "HTTP/1.1"), **502**.
* HTTP to php-fpm: php-fpm drops the connection, `recv() failed (104:
  Connection reset by peer) while reading response header from upstream`,
  **502**.
* uwsgi to an HTTP server: the server rejects the binary uwsgi packet (nginx
  relays its 400) or closes: `upstream prematurely closed connection`, **502**.
* HTTP/1.1 to a gRPC server: `upstream sent no valid HTTP/1.0 header` (status
  000 at the client) or `upstream prematurely closed connection`, **502**.

## Example
```nginx
location ~ \\.php$ {
    proxy_pass http://127.0.0.1:9000;
}
```

## Use instead
```nginx
location ~ \\.php$ {
    fastcgi_pass 127.0.0.1:9000;
    include fastcgi_params;
    fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
}
```
(`uwsgi_pass` ↔ uWSGI `socket`, `proxy_pass http://` ↔ gunicorn, uvicorn,
uWSGI `http-socket`; `grpc_pass grpc://` ↔ gRPC, in a server with HTTP/2.)

## When to ignore
When the backend really speaks that protocol on an unusual port (php-fpm on
8000, an HTTP app on 9000 in a `.php` location). Adjust the port lists.

## Options
`php_fpm_ports` (default `[9000]`), `http_ports` (ports treated as HTTP for
`fastcgi_pass`/`uwsgi_pass`), `grpc_ports` (default `[50051]`).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Edit, Fix
from nginx_502lint.model import PassSite
from nginx_502lint.parse import format_directive
from nginx_502lint.pass_addresses import (
    BackendAddress,
    looks_like_php,
    pools_at,
    site_addresses,
)

ID = "F403"
SLUG = "pass-protocol-mismatch"
SEVERITY = "warning"
SUMMARY = "Pass module that does not fit the backend (heuristic): proxy_pass to php-fpm's 9000, fastcgi_pass/uwsgi_pass to an HTTP port, proxy_pass to gRPC."
NEEDS = ("conf",)
_PORTS = {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 65535}}
OPTIONS = {
    "type": "object",
    "properties": {
        "php_fpm_ports": {**_PORTS, "default": [9000]},
        "http_ports": {**_PORTS, "default": [80, 443, 3000, 5000, 8000, 8008, 8080, 8081, 8443, 8888]},
        "grpc_ports": {**_PORTS, "default": [50051]},
    },
}

_TLS_PORTS = frozenset({443, 8443})
_SCRIPT_FILENAME = "fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;"
_PHP_SOCKET = re.compile(r"php[^/]*\.sock$|fpm[^/]*\.sock$", re.IGNORECASE)
_WORD_BREAK = re.compile(r"[^a-z0-9]+")
_HTTP_FLAVOURED = frozenset({"gateway", "gw", "web", "rest", "json", "http", "ui", "proxy", "envoy"})


def check(ctx: RuleContext) -> Iterator[None]:
    for site in ctx.model.pass_sites:
        addresses = site_addresses(ctx.model, site)
        if not addresses:
            continue
        tcp = [a for a in addresses if a.kind == "tcp"]
        if site.module == "proxy":
            _check_proxy(ctx, site, tcp, addresses)
        elif site.module == "fastcgi":
            _check_fastcgi(ctx, site, tcp)
        elif site.module == "uwsgi":
            _check_uwsgi(ctx, site, tcp)
    yield from ()


# --- proxy_pass -----------------------------------------------------------------

def _check_proxy(ctx: RuleContext, site: PassSite, tcp: list[BackendAddress], addresses: list[BackendAddress]) -> None:
    fpm = [a for a in tcp if a.port in ctx.options["php_fpm_ports"]]
    fpm += [a for a in addresses if a.kind == "unix" and _PHP_SOCKET.search(a.path or "")]
    if fpm and looks_like_php(ctx.model, site, addresses, port_counts=False):
        _report_proxy_to_fastcgi(ctx, site, fpm[0])
        return
    if site.effective("proxy_http_version").value == "2":
        return
    grpc = [a for a in tcp if a.port in ctx.options["grpc_ports"] or _grpc_name(a.host)]
    if site.target.upstream is not None and _grpc_name(site.target.upstream.name):
        grpc = grpc or tcp
    if grpc:
        _report_proxy_to_grpc(ctx, site, grpc[0])


@lru_cache(maxsize=65536)  # big trees ask about the same upstream and host names for every site
def _grpc_name(name: str | None) -> bool:
    words = [w for w in _WORD_BREAK.split((name or "").lower()) if w]
    if not any(w.startswith("grpc") for w in words):
        return False
    return not any(w in _HTTP_FLAVOURED or "web" in w or "gateway" in w for w in words)


def _report_proxy_to_fastcgi(ctx: RuleContext, site: PassSite, address: BackendAddress) -> None:
    target = site.target.upstream.name if site.target.upstream is not None else address.text
    new_pass = format_directive("fastcgi_pass", [target])
    location = site.location
    edits: list[Edit] = []
    needs_params = not any(n.args[:1] == ["SCRIPT_FILENAME"] for n in site.effective("fastcgi_param").nodes)
    extra = f" include fastcgi_params; {_SCRIPT_FILENAME}" if needs_params else ""
    if site.block.name != "limit_except":
        edits.append(ctx.replace(site.node, new_pass))
        inserted = ctx.insert_into(location, extra.strip()) if location is not None and extra else None
        if inserted is not None:
            edits.append(inserted)
    ctx.report(
        site.node,
        f"{site.node.text()[:-1]} in {site.describe()}: {_fpm_hint(address)} and the location is "
        "for PHP, but proxy_pass speaks HTTP, not FastCGI (heuristic)",
        mechanism=("php-fpm cannot read an HTTP request and drops the connection: 'recv() failed (104: Connection reset "
                   "by peer) while reading response header from upstream', 502."),
        fix=Fix(f"Replace it with `{new_pass}`{' and add `' + extra.strip() + '` to the location' if extra else ''}"
                f"{'' if edits else ' (in the location: fastcgi_pass is not allowed in limit_except)'}",
                tuple(edits), "unsafe"),
    )


def _fpm_hint(address: BackendAddress) -> str:
    if address.kind == "unix":
        return f"{address.path} looks like a php-fpm socket"
    return f"port {address.port} is php-fpm's default"


def _report_proxy_to_grpc(ctx: RuleContext, site: PassSite, address: BackendAddress) -> None:
    scheme = "grpcs" if site.target.scheme == "https" else "grpc"
    host = site.target.upstream.name if site.target.upstream is not None else address.text
    new_pass = format_directive("grpc_pass", [f"{scheme}://{host}"])
    why = f"port {address.port}" if address.port in ctx.options["grpc_ports"] else f"the name {host}"
    edits = (ctx.replace(site.node, new_pass),) if site.block.name != "limit_except" else ()
    ctx.report(
        site.node,
        f"{site.node.text()[:-1]} in {site.describe()}: {why} suggests a gRPC backend, which needs HTTP/2, but "
        "proxy_pass speaks HTTP/1.x (heuristic)",
        mechanism=("a gRPC server does not answer HTTP/1.x: nginx logs 'upstream sent no valid HTTP/1.0 header' "
                   "(the client sees status 000) or 'upstream prematurely closed connection', 502."),
        fix=Fix(f"Replace it with `{new_pass}` (grpc_pass needs nginx ≥ 1.13.10 and a server that accepts HTTP/2 "
                "from clients, see F404)", edits, "unsafe"),
    )


# --- fastcgi_pass / uwsgi_pass to HTTP ---------------------------------------------

def _check_fastcgi(ctx: RuleContext, site: PassSite, tcp: list[BackendAddress]) -> None:
    http = [a for a in tcp if a.port in ctx.options["http_ports"]]
    if not http:
        return
    from nginx_502lint import pools as pool_input  # only here: the pools module is for pool-reading runs

    if any(pools_at(pool_input.listening_pools(ctx.settings), a) for a in http):
        return  # a pool given to us really listens there
    _report_to_http(
        ctx, site, http[0],
        mechanism=("an HTTP server answers the FastCGI request with 'HTTP/1.1 …': nginx logs 'upstream sent "
                   "unsupported FastCGI protocol version: 72 while reading response header from upstream', 502."),
    )


def _check_uwsgi(ctx: RuleContext, site: PassSite, tcp: list[BackendAddress]) -> None:
    http = [a for a in tcp if a.port in ctx.options["http_ports"]]
    if http:
        _report_to_http(
            ctx, site, http[0],
            mechanism=("an HTTP server (gunicorn, uvicorn, uWSGI http-socket) cannot parse the binary uwsgi packet: it "
                       "answers 400 or closes ('upstream prematurely closed connection', 502)."),
        )


def _report_to_http(ctx: RuleContext, site: PassSite, address: BackendAddress, mechanism: str) -> None:
    scheme = "https" if address.port in _TLS_PORTS else "http"
    host = site.target.upstream.name if site.target.upstream is not None else address.text
    new_pass = format_directive("proxy_pass", [f"{scheme}://{host}"])
    ctx.report(
        site.node,
        f"{site.node.text()[:-1]} in {site.describe()}: port {address.port} is an HTTP application port, but "
        f"{site.node.name} speaks the {site.module} protocol, not HTTP (heuristic)",
        mechanism=mechanism,
        fix=Fix(f"Replace it with `{new_pass}` (the {site.module}_param lines are then unused); if the backend really "
                f"speaks {site.module}, keep it and exempt the port", (ctx.replace(site.node, new_pass),), "unsafe"),
    )
