"""The TLS versions nginx offers the backend leave out what the backend speaks.

## What it does
For every `proxy_pass https://` (also `grpc_pass grpcs://`, `uwsgi_pass
suwsgi://`) takes the effective `proxy_ssl_protocols`: the explicit list, or
the target version's default (`TLSv1 TLSv1.1 TLSv1.2` before 1.23.4,
`TLSv1`–`TLSv1.3` from 1.23.4, `TLSv1.2 TLSv1.3` from 1.27.3). It reports:

* **warning**: an explicit list with neither TLSv1.2 nor TLSv1.3. Current
  backends (and OpenSSL 3's default security level on nginx's side) refuse
  everything older;
* **warning**: the backend is a TLS server of this same config (found by its
  `listen … ssl` port and address or `server_name`) whose `ssl_protocols` share
  no version with the list (e.g. a TLSv1.3-only server behind nginx 1.22's
  default). The default server of that port decides, as in nginx;
* **info**: a `proxy_ssl_conf_command Ciphersuites …` (TLS 1.3 only) while the
  list has no TLSv1.3.

A default list is never reported on its own: whether the backend is TLS
1.3-only cannot be seen from the config. Without a known version the rule
assumes a release before 1.23.4 where that matters and says so (info).

## Why it causes 502/504
With no protocol in common the handshake fails: `SSL_do_handshake() failed
(SSL: error:0A00042E:SSL routines::tlsv1 alert protocol version:SSL alert
number 70) while SSL handshaking to upstream`, or on nginx's side
`no protocols available` / `unsupported protocol`, and the request gets **502**.

## Example
```nginx
location / {
    proxy_pass https://legacy.example.com;
    proxy_ssl_protocols TLSv1 TLSv1.1;
}
```

## Use instead
```nginx
location / {
    proxy_pass https://legacy.example.com;
    proxy_ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
}
```
Only keep TLSv1/TLSv1.1 for a backend that cannot do better (and then,
knowingly, `proxy_ssl_ciphers DEFAULT:@SECLEVEL=0;` on OpenSSL 3).

## When to ignore
A backend known to speak only the listed old versions, on an OpenSSL build
that still allows them.
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.model import PassSite
from nginx_502lint.parse import Node, format_directive
from nginx_502lint.ruletools import block_label, set_directives
from nginx_502lint.upstream_tls import MODERN, Protocols, default_protocols, local_tls_server, protocols_in, speaks_tls

ID = "S603"
SLUG = "ssl-protocols-mismatch"
SEVERITY = "warning"
SUMMARY = ("proxy_ssl_protocols (explicit or the version's default) without TLSv1.2/TLSv1.3, or sharing no "
           "version with the backend.")
NEEDS = ("conf", "ver")

_ORDER = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
_ASSUMED_VERSION = (1, 23, 3)  # what an unknown version is taken as: its default lacks TLSv1.3


def ordered(protocols: set[str]) -> list[str]:
    return sorted(protocols, key=lambda p: _ORDER.index(p) if p in _ORDER else len(_ORDER))


def check(ctx: RuleContext) -> Iterator[None]:
    reported_nodes: set[int] = set()
    for site in ctx.model.pass_sites:
        if not speaks_tls(site):
            continue
        directive = f"{site.module}_ssl_protocols"
        protocols = protocols_in(ctx, ctx.model, site.block, directive)
        if protocols.node is not None and not set(MODERN) & set(protocols.values or ()):
            if id(protocols.node) not in reported_nodes:
                reported_nodes.add(id(protocols.node))
                _report_outdated(ctx, protocols.node)
            continue
        assumed = protocols.values is None
        offered = set(protocols.values or default_protocols(_ASSUMED_VERSION) or ())
        if not _check_local_backend(ctx, site, directive, protocols, offered, assumed):
            _check_tls13_suites(ctx, site, directive, protocols, offered, assumed)
    yield from ()


def _report_outdated(ctx: RuleContext, node: Node) -> None:
    wanted = format_directive(node.name, ordered(set(node.args) | set(MODERN)))
    ctx.report(
        node,
        f"{node.text().rstrip(';')} at {node.where} offers the backend neither TLSv1.2 nor TLSv1.3: current servers "
        "(and OpenSSL 3's default security level on nginx's side) refuse every older version",
        mechanism="with no protocol in common the handshake fails ('tlsv1 alert protocol version', 'unsupported "
                  "protocol' or 'no protocols available' while SSL handshaking to upstream) and nginx answers 502.",
        fix=Fix(f"At {node.where} use {wanted} (keeps the old versions for a legacy backend, adds the current ones)",
                (ctx.replace(node, wanted),), "unsafe"),
    )


def _kept(protocols: Protocols, offered: set[str]) -> set[str]:
    """What the fix keeps: an explicit list as written, a default replaced by today's TLSv1.2 TLSv1.3."""
    return offered if protocols.node is not None else set(MODERN)


def _words(ctx: RuleContext, protocols: Protocols, assumed: bool) -> str:
    if assumed:
        return f"{' '.join(ordered(set(default_protocols(_ASSUMED_VERSION) or ())))} (the default before 1.23.4)"
    return protocols.describe(ctx.version)


def _assumption(assumed: bool) -> str:
    return " (assuming nginx < 1.23.4, whose default lacks TLSv1.3; pass --nginx-version)" if assumed else ""


def _check_local_backend(ctx: RuleContext, site: PassSite, directive: str, protocols: Protocols,
                         offered: set[str], assumed: bool) -> bool:
    target = site.target
    addresses = ([(s.host, s.port or 80) for s in target.upstream.servers if s.host] if target.upstream is not None
                 else [(target.host, target.effective_port())] if target.host and not target.variables else [])
    for host, port in addresses:
        if host is None or port is None:
            continue
        server = local_tls_server(ctx.model, host, port)
        if server is None:
            continue
        accepted = protocols_in(ctx, ctx.model, server, "ssl_protocols")
        if accepted.values is None or offered & set(accepted.values):
            continue  # an unknown version's default on both sides cannot be compared
        location = site.location or site.block
        best_of_backend = ordered(set(accepted.values))[-1:]
        wanted = ordered(_kept(protocols, offered) | set(best_of_backend))
        ctx.report(
            site.node,
            f"{site.node.name} {target.raw} in {site.describe()} offers {_words(ctx, protocols, assumed)} to "
            f"{host}:{port}, served by {ctx.model.describe(server)} in this config with "
            f"{accepted.describe(ctx.version)}: no TLS version in common{_assumption(assumed)}",
            severity="info" if assumed else None,
            mechanism="the handshake fails with 'tlsv1 alert protocol version' (or 'no protocols available') while "
                      "SSL handshaking to upstream, and nginx answers 502.",
            fix=Fix(f"In {block_label(ctx.model, location)} set: {format_directive(directive, wanted)}",
                    set_directives(ctx.model, location, [(directive, wanted)]), "unsafe"),
        )
        return True
    return False


def _check_tls13_suites(ctx: RuleContext, site: PassSite, directive: str, protocols: Protocols,
                        offered: set[str], assumed: bool) -> None:
    if "TLSv1.3" in offered:
        return
    module = site.module
    commands = ctx.model.effective(site.block, f"{module}_ssl_conf_command").nodes
    suites = next((node for node in commands if node.args and node.args[0].lower() == "ciphersuites"), None)
    if suites is None:
        return
    location = site.location or site.block
    wanted = ordered(_kept(protocols, offered) | {"TLSv1.3"})
    ctx.report(
        site.node,
        f"{site.node.name} {site.target.raw} in {site.describe()} sets TLS 1.3 cipher suites "
        f"({suites.text().rstrip(';')} at {suites.where}) but offers {_words(ctx, protocols, assumed)}, "
        "without TLSv1.3: a TLS 1.3-only backend "
        f"is plausible here and would refuse the handshake{_assumption(assumed)}",
        severity="info",
        mechanism="a TLS 1.3-only backend answers 'tlsv1 alert protocol version' (SSL alert number 70) while SSL "
                  "handshaking to upstream, and nginx answers 502.",
        fix=Fix(f"In {block_label(ctx.model, location)} set: {format_directive(directive, wanted)}",
                set_directives(ctx.model, location, [(directive, wanted)]), "unsafe"),
    )
