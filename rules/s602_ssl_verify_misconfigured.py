"""Backend certificate verification that nginx rejects, or that fails every handshake.

## What it does
Looks at every pass site where nginx prepares TLS to the backend
(`proxy_pass https://`, `grpc_pass grpcs://`, `uwsgi_pass suwsgi://`, and any
pass target with variables, for which nginx sets TLS up at load time) and the
effective `*_ssl_verify on`:

* **error**: no `*_ssl_trusted_certificate` in effect there. `nginx -t` fails
  with `no proxy_ssl_trusted_certificate for proxy_ssl_verify` (checked against
  nginx 1.22.1: the check runs per location with such a pass target; `verify on`
  at http or server level alone, or above `http://` targets only, is accepted);
* **warning**: verification against an upstream block without
  `proxy_ssl_name`: the certificate is checked against `$proxy_host`, the
  **block's name** (`backend`), which no real certificate carries;
* **info**: `proxy_ssl_verify_depth` left at its default of 1, which accepts
  one intermediate CA; chains with more (cross-signed roots, several commercial
  CAs) fail. A heuristic: the backend's chain is not visible.

## Why it causes 502/504
The first case stops nginx from starting or reloading. The others fail the
handshake at run time: `upstream SSL certificate does not match "backend" while
SSL handshaking to upstream`, `upstream SSL certificate verify error:
(20:unable to get local issuer certificate)` or `(22:certificate chain too
long)`, and every request gets **502**.

## Example
```nginx
upstream backend {
    server api.internal.example.com:443;
}
location / {
    proxy_pass https://backend;
    proxy_ssl_verify on;
}
```

## Use instead
```nginx
location / {
    proxy_pass https://backend;
    proxy_ssl_verify on;
    proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;
    proxy_ssl_verify_depth 3;
    proxy_ssl_name api.internal.example.com;
    proxy_ssl_server_name on;
}
```
`/etc/ssl/certs/ca-certificates.crt` is the Debian/Ubuntu bundle
(`/etc/pki/tls/certs/ca-bundle.crt` on RHEL); a private CA's own file works too.
nginx has no built-in CA list.

## When to ignore
A backend certificate that really is issued for the upstream block's name
(internal CA); a chain known to have a single intermediate (info only).
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.model import PassSite
from nginx_502lint.parse import Node
from nginx_502lint.ruletools import applies_to, block_label, set_directives
from nginx_502lint.upstream_tls import backend_hostnames, builds_tls_context, is_on, speaks_tls, ssl_setting, tls_name

ID = "S602"
SLUG = "ssl-verify-misconfigured"
SEVERITY = "error"
SUMMARY = ("proxy_ssl_verify on without proxy_ssl_trusted_certificate (nginx -t rejects), against an upstream "
           "block's name, or with the default depth 1.")
NEEDS = ("conf",)

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def check(ctx: RuleContext) -> Iterator[None]:
    untrusted: dict[int, tuple[Node, list[PassSite]]] = {}
    shallow: dict[int, tuple[Node, list[PassSite]]] = {}
    for site in ctx.model.pass_sites:
        if not builds_tls_context(site):
            continue
        verify = ssl_setting(site, "verify")
        if not is_on(verify) or verify.node is None:
            continue
        trusted = ssl_setting(site, "trusted_certificate")
        has_trusted = trusted.node is not None and bool(trusted.value)
        if not has_trusted:
            untrusted.setdefault(id(verify.node), (verify.node, []))[1].append(site)
        if not speaks_tls(site):
            continue
        _check_name(ctx, site)
        # the chain length only matters once there is a CA list to verify against
        if has_trusted and ssl_setting(site, "verify_depth").node is None:
            shallow.setdefault(id(verify.node), (verify.node, []))[1].append(site)
    for verify_node, sites in untrusted.values():
        _report_untrusted(ctx, verify_node, sites)
    for verify_node, sites in shallow.values():
        _report_shallow(ctx, verify_node, sites)
    yield from ()


def _report_untrusted(ctx: RuleContext, verify: Node, sites: list[PassSite]) -> None:
    module = sites[0].module
    trusted = f"{module}_ssl_trusted_certificate"
    variable_note = ""
    if any(not speaks_tls(site) for site in sites):
        variable_note = " (a pass target with variables counts: nginx prepares TLS for it at load time)"
    line = f"{trusted} {CA_BUNDLE};"
    emptied = {id(node): node for site in sites if (node := ssl_setting(site, "trusted_certificate").node) is not None}
    edits = [ctx.replace(node, line) for node in emptied.values()]
    where = [f"replace {node.where}" for node in emptied.values()]
    if any(ssl_setting(site, "trusted_certificate").node is None for site in sites):
        edits.append(ctx.insert_after(verify, line))
        where.insert(0, f"after {verify.where} add")
    ctx.report(
        verify,
        f"{verify.text().rstrip(';')} at {verify.where} applies to {applies_to(ctx.model, sites)}, where no "
        f"{trusted} is set: nginx -t fails with \"no {trusted} for {module}_ssl_verify\"{variable_note}",
        mechanism=f"nginx refuses to load the configuration ([emerg] no {trusted} for {module}_ssl_verify), so a "
                  "reload fails and a restart leaves the site down.",
        fix=Fix(f"{_sentence(' and '.join(where))}: {line} (Debian/Ubuntu bundle; RHEL: "
                "/etc/pki/tls/certs/ca-bundle.crt; or the file of the private CA that signed the backend's "
                "certificate)",
                tuple(edits), "unsafe"),
    )


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _check_name(ctx: RuleContext, site: PassSite) -> None:
    upstream = site.target.upstream
    name = tls_name(site)
    if upstream is None or name is None or not name.is_upstream_block_name:
        return
    hostnames = backend_hostnames(site)
    if upstream.name.lower() in {h.lower() for h in hostnames} or ("." in upstream.name and not hostnames):
        return
    module = site.module
    location = site.location or site.block
    certificate = f"issued for {', '.join(hostnames)}" if hostnames else "issued for the server's real name"
    if hostnames:
        changes = [(f"{module}_ssl_name", [hostnames[0]])]
        fix = Fix(f"In {block_label(ctx.model, location)} add: {module}_ssl_name {hostnames[0]}; (the name in the "
                  "backend's certificate)", set_directives(ctx.model, location, changes), "unsafe")
    else:
        fix = Fix(f"In {block_label(ctx.model, location)} set {module}_ssl_name to the name in the backend's "
                  f"certificate, e.g. {module}_ssl_name api.internal.example.com;", (), "unsafe")
    ctx.report(
        site.node,
        f"{site.node.name} {site.target.raw} in {site.describe()} verifies the backend certificate against the "
        f"upstream block's name \"{upstream.name}\" ($proxy_host, as {module}_ssl_name is not set): a certificate "
        f"{certificate} does not match",
        severity="warning",
        mechanism=f"the handshake fails with 'upstream SSL certificate does not match \"{upstream.name}\" while SSL "
                  "handshaking to upstream' and nginx answers 502.",
        fix=fix,
    )


def _report_shallow(ctx: RuleContext, verify: Node, sites: list[PassSite]) -> None:
    module = sites[0].module
    line = f"{module}_ssl_verify_depth 3;"
    ctx.report(
        verify,
        f"{verify.text().rstrip(';')} at {verify.where} applies to {applies_to(ctx.model, sites)} with the default "
        f"{module}_ssl_verify_depth 1, which accepts only one intermediate CA (heuristic: chains with cross-signed "
        "roots or several intermediates need 2-3)",
        severity="info",
        mechanism="a longer chain fails with 'upstream SSL certificate verify error: (20:unable to get local issuer "
                  "certificate)' (OpenSSL 3) or '(22:certificate chain too long)' while SSL handshaking to upstream: 502.",
        fix=Fix(f"After {verify.where} add: {line}", (ctx.insert_after(verify, line),), "unsafe"),
    )
