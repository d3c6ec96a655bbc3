"""TLS to a named backend without the right SNI: CDNs, load balancers and ingresses refuse the handshake.

## What it does
For every `proxy_pass https://` (also `grpc_pass grpcs://`, `uwsgi_pass
suwsgi://`) whose backend is a DNS name (a literal host, or an `upstream{}`
block with hostname servers), reports:

* `proxy_ssl_server_name` off in effect (the default): no SNI is sent at all;
* `proxy_ssl_server_name on` towards an upstream block without `proxy_ssl_name`:
  the SNI name is `$proxy_host`, which is the **upstream block's name**
  (`backend`), not the server's (`api.example.com`).

IP addresses and unix sockets are not reported: there is no name to send.

## Why it causes 502/504
Shared TLS front ends pick the certificate (and the site) from SNI. Without
it, or with a name they do not serve, they abort the handshake: nginx logs
`SSL_do_handshake() failed (SSL: error:0A000410:SSL routines::sslv3 alert
handshake failure:SSL alert number 40) while SSL handshaking to upstream`
(`…14094410…` before OpenSSL 3), `tlsv1 unrecognized name` (alert 112) or
`peer closed connection in SSL handshake`, and answers **502**. With an
upstream block the `Host` header is `$proxy_host` too, so even a completed
handshake gets a 403/404/421 from the CDN unless `Host` is set.

## Example
```nginx
upstream cdn_origin {
    server assets.example-cdn.net:443;
}
location /assets/ {
    proxy_pass https://cdn_origin;
}
```

## Use instead
```nginx
location /assets/ {
    proxy_pass https://cdn_origin;
    proxy_ssl_server_name on;
    proxy_ssl_name assets.example-cdn.net;
    proxy_set_header Host assets.example-cdn.net;
}
```
With a literal host (`proxy_pass https://api.example.com;`) only
`proxy_ssl_server_name on;` is needed: `$proxy_host` already is that name.
There is no `proxy_ssl on` directive in the http proxy module.

## When to ignore
A backend with one certificate on a dedicated address that does not look at
SNI (an internal service behind its own IP).
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Edit, Fix
from nginx_502lint.header_arrays import add_entries
from nginx_502lint.keepalive import header_entry
from nginx_502lint.model import PassSite
from nginx_502lint.ruletools import block_label, set_directives
from nginx_502lint.upstream_tls import backend_hostnames, is_on, speaks_tls, ssl_setting, tls_name

ID = "S601"
SLUG = "https-upstream-without-sni"
SEVERITY = "warning"
SUMMARY = ("https:// to a hostname (or an upstream of hostnames) without SNI, or with the upstream block's name "
           "as SNI: handshake failure, 502.")
NEEDS = ("conf",)


def check(ctx: RuleContext) -> Iterator[None]:
    for site in ctx.model.pass_sites:
        if not speaks_tls(site):
            continue
        hostnames = backend_hostnames(site)
        name = tls_name(site)
        if not hostnames or name is None:
            continue
        sni = ssl_setting(site, "server_name")
        upstream = site.target.upstream
        sends_block_name = (upstream is not None and name.is_upstream_block_name
                            and upstream.name.lower() not in {h.lower() for h in hostnames})
        if not is_on(sni):
            state = (f"{sni.name} {sni.value} at {sni.node.where}" if sni.node is not None
                     else f"{sni.name} off by default")
            problem = f"sends no SNI ({state})"
        elif sends_block_name and upstream is not None:
            problem = (f'sends the upstream block\'s name "{upstream.name}" as SNI ({site.module}_ssl_name is not set, '
                       "so it is $proxy_host)")
        else:
            continue
        where = (f"upstream {upstream.name} (servers {', '.join(hostnames)})" if upstream is not None
                 else hostnames[0])
        ctx.report(
            site.node,
            f"{site.node.name} {site.target.raw} in {site.describe()} speaks TLS to {where} but {problem}: "
            "backends that pick their certificate by SNI (CDNs, cloud load balancers, ingress controllers) "
            "abort the handshake",
            mechanism="the backend refuses the handshake: 'SSL_do_handshake() failed (... alert handshake failure: "
                      "SSL alert number 40) while SSL handshaking to upstream' or 'tlsv1 unrecognized name', and "
                      "nginx answers 502.",
            fix=_fix(ctx, site, hostnames, sends_block_name, not is_on(sni)),
        )
    yield from ()


def _fix(ctx: RuleContext, site: PassSite, hostnames: list[str], sends_block_name: bool, sni_off: bool) -> Fix:
    model = ctx.model
    location = site.location or site.block
    real = hostnames[0]
    prefix = site.module
    changes: list[tuple[str, list[str]]] = []
    if sni_off:
        changes.append((f"{prefix}_ssl_server_name", ["on"]))
    if sends_block_name:
        changes.append((f"{prefix}_ssl_name", [real]))
    edits: list[Edit] = list(set_directives(model, location, changes))
    text = " ".join(f"{name} {' '.join(args)};" for name, args in changes)
    host = header_entry(model, location, "proxy_set_header", "host") if prefix == "proxy" else None
    if sends_block_name and prefix == "proxy" and (host is None or "$proxy_host" in " ".join(host.args[1:])):
        header_text, header_edits = add_entries(model, location, "proxy_set_header", [["Host", real]])
        text += " " + header_text
        edits.extend(header_edits)
    note = ""
    if len(hostnames) > 1 and sends_block_name:
        note = (f" (the upstream has several names: {', '.join(hostnames)}; one {prefix}_ssl_name fits one "
                "certificate, so split the upstream per name if they differ)")
    return Fix(f"In {block_label(model, location)} add: {text}{note}", tuple(edits), "unsafe")
