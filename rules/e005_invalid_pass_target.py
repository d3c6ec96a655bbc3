"""A pass target nginx cannot use: no or wrong scheme, bad port, empty host, a port on an upstream name.

## What it does
Reads every `proxy_pass`, `fastcgi_pass`, `uwsgi_pass`, `scgi_pass`,
`grpc_pass` and `memcached_pass` without variables the way `nginx -t` does
(`ngx_parse_url`, `ngx_http_upstream_add`) and reports, in nginx's words:

* `invalid URL prefix`: `proxy_pass unix:/run/app.sock;` or
  `proxy_pass 127.0.0.1:8000;` (proxy_pass needs `http://` or `https://`, also
  for a socket: `http://unix:/run/app.sock:`), or `ws://`, `tcp://`;
* `invalid host`: a scheme or a URI where the module takes none
  (`fastcgi_pass http://127.0.0.1:9000;`, `grpc_pass http://h:50051;`,
  `fastcgi_pass 127.0.0.1:9000/index.php;`);
* `invalid port` (0, above 65535, not a number), `no host`, `invalid IPv6
  address`, `no path in the unix domain socket`, a socket path too long;
* `upstream "app" may not have port 8080`: the target names an `upstream{}`
  block and adds a port (the ports belong on the block's `server` lines);
* `no port in upstream "php"`: a FastCGI/uwsgi/SCGI/gRPC/memcached target that
  is neither an upstream name nor an address with a port (only proxy_pass has a
  default port). nginx reuses an earlier entry for the same host, so
  `fastcgi_pass 127.0.0.1;` after `fastcgi_pass 127.0.0.1:9000;` passes while the
  reverse order fails; the check follows nginx's order.

Two mistakes nginx accepts but that can only give 502 are reported as warnings:
a proxy_pass socket path that runs into the URI (`http://unix:/run/app.sock/api`,
the `:` after the path is missing) and a `:` glued to a FastCGI/uwsgi socket path
(`fastcgi_pass unix:/run/php/php8.2-fpm.sock:;`, copied from proxy_pass syntax).

## Why it causes 502/504
The errors make `nginx -t` fail: a reload keeps the old configuration and a
restart leaves nginx down. The warnings make nginx connect to a socket path that
does not exist: `connect() to unix:/run/app.sock/api failed (2: No such file or
directory) while connecting to upstream`, a 502 on every request.

## Example
```nginx
upstream app { server 127.0.0.1:8000; }
server {
    location / { proxy_pass http://app:8000; }
    location /ws/ { proxy_pass unix:/run/app/ws.sock; }
}
```

## Use instead
```nginx
upstream app { server 127.0.0.1:8000; }
server {
    location / { proxy_pass http://app; }
    location /ws/ { proxy_pass http://unix:/run/app/ws.sock:; }
}
```

## When to ignore
Never for the errors. For the socket-path warnings, only if a socket file really
has that name.
"""
from __future__ import annotations

import re
from typing import Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.parse import Node, format_directive
from nginx_502lint.pass_url import (
    PassUrl,
    TargetProblem,
    http_pass_targets,
    module_prefixes,
    target_problems,
    upstream_names,
)
from nginx_502lint.spelling import MAX_CONFIDENT_DISTANCE, edit_distance

ID = "E005"
SLUG = "invalid-pass-target"
SEVERITY = "error"
SUMMARY = "Malformed pass target: missing/unknown scheme, invalid port or host, a port on an upstream name, no port."
NEEDS = ("conf",)
OPTIONS = {"type": "object", "properties": {}}

_REJECTED = ("nginx -t fails: a reload keeps the old config (the change never ships) and a restart leaves "
             "nginx down.")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):/+")
_OWN_PREFIX = {"proxy": "http://", "grpc": "grpc://", "uwsgi": "uwsgi://"}
_TLS_SCHEMES = {"https", "wss", "grpcs", "suwsgi", "h2", "tls", "ssl"}
_OTHER_MODULE = {"grpc": "grpc_pass", "grpcs": "grpc_pass", "fastcgi": "fastcgi_pass", "uwsgi": "uwsgi_pass",
                 "suwsgi": "uwsgi_pass", "scgi": "scgi_pass", "memcached": "memcached_pass"}
_TYPICAL_PORTS = {"fastcgi": (9000, "php-fpm's default"), "memcached": (11211, "memcached's default")}


def check(ctx: RuleContext) -> Iterator[None]:
    upstreams = upstream_names(ctx.model)
    targets = list(http_pass_targets(ctx.model))
    for problem in target_problems(ctx.model, targets):
        _report_problem(ctx, problem, upstreams)
    for target in targets:
        if target.url.error is None and target.url.unix:
            _check_socket_path(ctx, target.node, target.url)
    yield from ()


def _report_problem(ctx: RuleContext, problem: TargetProblem, upstreams: list[str]) -> None:
    node, url = problem.node, problem.url
    head = f"`{node.text()}` at {node.where}: {problem.message}"
    if problem.kind == "port_on_upstream":
        _report_port_on_upstream(ctx, problem, head)
    elif problem.kind == "no_port":
        _report_no_port(ctx, problem, head, upstreams)
    elif url.error == "invalid URL prefix":
        message = f"{head}: proxy_pass needs http:// or https://, also for a unix socket"
        other = _other_module_target(url.raw)
        if other is not None:
            directive, target = other
            _report_with_text(ctx, node, f"{message}; a {url.raw.split(':', 1)[0]} backend needs `{directive}`",
                              format_directive(directive, [target]))
        else:
            _report_with_text(ctx, node, message, format_directive(node.name, [_with_proxy_scheme(url.raw)]))
    elif url.error is not None and url.error.startswith("invalid host"):
        new_target = _stripped_target(url)
        _report_with_text(ctx, node, f"{head}: {_invalid_host_reason(url)}",
                          None if new_target is None else format_directive(node.name, [new_target]))
    else:
        new_target = _repaired_port(url)
        _report_with_text(ctx, node, f"{head}{_detail(url)}",
                          None if new_target is None else format_directive(node.name, [new_target]))


def _report_with_text(ctx: RuleContext, node: Node, message: str, new_text: str | None) -> None:
    if new_text is None:
        fix = Fix(f"Correct the address of `{node.text()}` at {node.where}", applicability="display_only")
    else:
        fix = Fix(f"Write `{new_text}` at {node.where}", (ctx.replace(node, new_text),), "unsafe")
    ctx.report(node, message, mechanism=_REJECTED, fix=fix)


def _report_port_on_upstream(ctx: RuleContext, problem: TargetProblem, head: str) -> None:
    node, url = problem.node, problem.url
    block = problem.upstream
    where = f" (upstream block at {block.where})" if block is not None else ""
    new_target = url.raw.replace(f"{url.host}:{url.port}", url.host, 1)
    new_text = format_directive(node.name, [new_target])
    ctx.report(
        node,
        f"{head}: `{url.host}` names an upstream block{where}, whose servers carry the ports",
        mechanism=_REJECTED,
        fix=Fix(f"Write `{new_text}` at {node.where} and keep the port on the upstream's `server` lines",
                (ctx.replace(node, new_text),), "unsafe"),
    )


def _report_no_port(ctx: RuleContext, problem: TargetProblem, head: str, upstreams: list[str]) -> None:
    node, url = problem.node, problem.url
    what = "has no port" if url.literal_address else "names no upstream block and has no port"
    message = f"{head}: `{url.host}` {what}, and {node.name} has no default port"
    ported = next((other for other in problem.sharing if not other.url.no_port), None)
    if ported is not None:
        message += (f"; `{ported.node.text()}` at {ported.node.where} reuses this port-less entry, "
                    "so nginx ignores its port")
    close = sorted((edit_distance(url.host.lower(), name.lower()), name) for name in upstreams)
    define = "" if url.literal_address else f", or define `upstream {url.host} {{ server …; }}`"
    if close and close[0][0] <= MAX_CONFIDENT_DISTANCE and not url.literal_address:
        name = close[0][1]
        new_text = format_directive(node.name, [url.raw.replace(url.host, name, 1)])
        fix = Fix(f"Write `{new_text}` at {node.where} (the upstream block `{name}`)", (ctx.replace(node, new_text),), "unsafe")
    elif ported is not None or url.module in _TYPICAL_PORTS:
        port, why = (ported.url.port, f"the port {ported.node.where} uses") if ported else _TYPICAL_PORTS[url.module]
        new_text = format_directive(node.name, [f"{url.raw}:{port}"])
        fix = Fix(f"Add the backend's port at {node.where}, e.g. `{new_text}` ({why}){define}",
                  (ctx.replace(node, new_text),), "unsafe")
    else:
        fix = Fix(f"Add the port the backend listens on to `{node.text()}` at {node.where}{define}",
                  applicability="display_only")
    ctx.report(node, message, mechanism=_REJECTED, fix=fix)


def _check_socket_path(ctx: RuleContext, node: Node, url: PassUrl) -> None:
    path = url.host
    if url.module == "proxy":
        match = re.search(r"\.(sock|socket)(/.*)$", path)
        if match is None:
            return
        socket, uri = path[: match.start(2)], match.group(2)
        new_target = f"{url.prefix}unix:{socket}:{uri}"
        message = (f"`{node.text()}` at {node.where}: the socket path is read as \"{path}\" because no `:` "
                   f"ends it; the URI \"{uri}\" was meant to follow the socket")
    elif ":" in path:
        socket = path.split(":", 1)[0]
        new_target = f"{url.prefix}unix:{socket}"
        message = (f"`{node.text()}` at {node.where}: the socket path is read as \"{path}\", with the `:`; "
                   f"only proxy_pass ends a socket path with `:`")
    else:
        return
    new_text = format_directive(node.name, [new_target])
    ctx.report(
        node,
        message,
        severity="warning",
        mechanism=f"nginx connects to unix:{path}, which does not exist: connect() failed (2: No such file "
                  "or directory) while connecting to upstream, a 502 on every request.",
        fix=Fix(f"Write `{new_text}` at {node.where}", (ctx.replace(node, new_text),), "unsafe"),
    )


def _with_proxy_scheme(raw: str) -> str:
    """`unix:/x.sock` -> `http://unix:/x.sock:`, `127.0.0.1:8000` -> `http://127.0.0.1:8000`, `wss://h` -> `https://h`."""
    if raw[:5].lower() == "unix:":
        # The ":" after the path ends it; a URI may follow (502-causes.md §3.7).
        return f"http://{raw}" if ":" in raw[5:] else f"http://{raw}:"
    match = _SCHEME.match(raw)
    if match is None:
        return f"http://{raw}"
    scheme = match.group(1).lower()
    return f"{'https' if scheme in _TLS_SCHEMES else 'http'}://{raw[match.end():]}"


def _other_module_target(raw: str) -> tuple[str, str] | None:
    """`fastcgi://127.0.0.1:9000` in proxy_pass -> (`fastcgi_pass`, `127.0.0.1:9000`)."""
    match = _SCHEME.match(raw)
    if match is None:
        return None
    scheme = match.group(1).lower()
    directive = _OTHER_MODULE.get(scheme)
    if directive is None:
        return None
    module = directive.removesuffix("_pass")
    prefix = _OWN_PREFIX.get(module, "")
    if prefix and scheme in _TLS_SCHEMES:
        prefix = prefix.replace("://", "s://")
    return directive, f"{prefix}{raw[match.end():]}"


def _stripped_target(url: PassUrl) -> str | None:
    """The address without a foreign scheme or a URI, with the module's own prefix if it has one."""
    text = url.raw
    scheme = ""
    match = _SCHEME.match(text)
    if match is not None:
        scheme, text = match.group(1).lower(), text[match.end():]
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        cut = text.find("/", end)
    else:
        cut = min((i for i in (text.find("/"), text.find("?")) if i >= 0), default=-1)
    address = text if cut < 0 else text[:cut]
    if not address:
        return None
    prefix = _OWN_PREFIX.get(url.module, "") if (scheme or url.prefix) else ""
    if prefix and scheme in _TLS_SCHEMES:
        prefix = prefix.replace("://", "s://")
    return f"{prefix}{address}"


def _invalid_host_reason(url: PassUrl) -> str:
    if url.address.startswith("[") and "]" not in url.address:
        return "the [IPv6 address is not closed"
    if _SCHEME.match(url.address):
        own = module_prefixes(url.module)
        takes = f"only {' or '.join(own)} (or none)" if own else "no scheme"
        return f"{url.module}_pass takes {takes}, and no URI"
    return f"{url.module}_pass takes no URI part (only proxy_pass does)"


def _detail(url: PassUrl) -> str:
    error = url.error or ""
    if error.startswith("invalid port"):
        return ": a port is a number from 1 to 65535"
    if error.startswith("too long path"):
        return ": unix socket paths are limited to 107 bytes"
    if error.startswith("no host"):
        return ": the host name is missing"
    return ""


def _repaired_port(url: PassUrl) -> str | None:
    """`http://127.0.0.1:/x` -> `http://127.0.0.1/x`: an empty port is dropped; other ports need the user."""
    error = url.error or ""
    if not error.startswith("invalid port"):
        return None
    match = re.match(r"^([^/?]*?):([/?].*)?$", url.address)
    if match is None or not match.group(1):
        return None
    return f"{url.prefix}{match.group(1)}{match.group(2) or ''}"
