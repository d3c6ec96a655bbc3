"""An upstream address does not answer: the probe could not resolve, connect or handshake.

## What it does
Only with `--probe`. Resolves every address a pass directive or an
`upstream` server names (A and AAAA), connects to each resolved address
and to unix sockets with a short timeout, and for `https://` / `grpcs://`
targets makes the TLS handshake the way nginx is configured to (with or
without SNI). Reports the directive that names an address when:

* the name does not resolve;
* every address refuses, times out, is unreachable, or the unix socket is
  missing, refuses or denies access: **error**;
* some addresses of a name answer and others do not (`localhost` →
  `::1` refused, `127.0.0.1` accepts): **warning**;
* the TCP connection works but the handshake nginx would make fails (and
  the message says whether it works with SNI).

Bounded: at most 8 targets at once, 2s per connect, 20s in all
(`--probe-concurrency`, `--probe-timeout`). Only loopback and private
addresses are contacted unless `--probe-all` is given; skipped targets are
listed in the probe summary, never reported as unreachable. The probe runs
as the user running the linter, not as nginx's worker user.

## Why it causes 502/504
Every request nginx sends to such an address fails before the backend sees
it: `connect() failed (111: Connection refused) while connecting to
upstream` (502), `upstream timed out (110: Connection timed out) while
connecting to upstream` (504), `connect() to unix:/run/app.sock failed (2:
No such file or directory)` (502), `SSL_do_handshake() failed … while SSL
handshaking to upstream` (502). A literal hostname that does not resolve
stops nginx from starting at all (`host not found in upstream`).

## Example
```nginx
location / {
    proxy_pass http://127.0.0.1:8000;   # the app listens on 8080
}
```

## Use instead
```nginx
location / {
    proxy_pass http://127.0.0.1:8080;
}
```

## When to ignore
When the probe runs on a machine other than the nginx host (a laptop, CI):
the addresses are then the wrong machine's. Backends that are stopped on
purpose during maintenance.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Edit, Fix

if TYPE_CHECKING:  # the probe loads only when a probe runs: every plain lint imports this module
    from nginx_502lint.probe import AddressOutcome, ProbeEntry, ProbeTarget, TargetResult, Use

ID = "U390"
SLUG = "upstream-unreachable"
SEVERITY = "error"
SUMMARY = "Probe: an upstream address does not resolve, refuses, times out, or fails the TLS handshake nginx would make."
NEEDS = ("net",)
OPTIONS = {"type": "object", "properties": {}}

_NGINX_LOG = {
    "refused": "connect() failed (111: Connection refused) while connecting to upstream, and answers 502",
    "timeout": "upstream timed out (110: Connection timed out) while connecting to upstream, and answers 504",
    "missing": "connect() to unix:… failed (2: No such file or directory) while connecting to upstream, and answers 502",
    "denied": "connect() to … failed (13: Permission denied) while connecting to upstream, and answers 502",
    "unreachable": "connect() failed (113: No route to host) or (101: Network is unreachable), and answers 502",
    "tls_failed": "SSL_do_handshake() failed … while SSL handshaking to upstream, and answers 502",
    "error": "a connect() error while connecting to upstream, and answers 502",
}


def check(ctx: RuleContext) -> Iterator[None]:
    from nginx_502lint.probe import session_for

    session = session_for(ctx.settings)
    if session is None:
        return
    for entry in session.probe_model(ctx.model):
        result = entry.result
        if result.state not in ("unreachable", "partial", "unresolved"):
            continue
        for use in entry.planned.uses:
            _report(ctx, entry, use)
    yield from ()


def _report(ctx: RuleContext, entry: ProbeEntry, use: Use) -> None:
    result, target = entry.result, entry.target
    where = f"{use.text} ({use.context})"
    if result.state == "unresolved":
        ctx.report(
            use.node,
            f"probe: {target.host} does not resolve ({result.detail}); {where}",
            mechanism=("nginx refuses to start with 'host not found in upstream' for a literal name, and a name "
                       "resolved per request fails with 'could not be resolved' and 502."),
            fix=Fix(f"Use a name that resolves on the nginx host, or the backend's address, in {use.text}",
                    (), "display_only"),
        )
        return
    failed = result.failed
    worst = failed[0]
    severity = "warning" if result.state == "partial" else None
    ctx.report(
        use.node,
        f"probe: {_what_failed(target, result)}; {where}",
        severity=severity,
        mechanism=f"nginx logs {_NGINX_LOG.get(worst.state, _NGINX_LOG['error'])}"
                  + (" for the tries that reach those addresses." if severity else "."),
        fix=_fix(ctx, target, result, use),
    )


def _what_failed(target: ProbeTarget, result: TargetResult) -> str:
    parts = [f"{_shown(target, o)} {_state_words(o)}" for o in result.failed]
    text = "; ".join(parts)
    good = [o for o in result.probed if o.state == "ok"]
    if good:
        text += "; " + ", ".join(_shown(target, o) for o in good) + " accepts"
    if target.host and result.addresses and not _is_literal(target, result):
        text = f"{target.address} -> {text}"
    return text


def _is_literal(target: ProbeTarget, result: TargetResult) -> bool:
    return len(result.addresses) == 1 and result.addresses[0].address == target.host


def _shown(target: ProbeTarget, outcome: AddressOutcome) -> str:
    if target.kind == "unix":
        return target.address
    return f"[{outcome.address}]:{target.port}" if ":" in outcome.address else f"{outcome.address}:{target.port}"


def _state_words(outcome: AddressOutcome) -> str:
    if outcome.state == "tls_failed":
        text = f"accepts TCP but the TLS handshake nginx makes fails: {outcome.detail}"
        other = next((h for h in outcome.handshakes if not h.as_configured), None)
        if other is not None:
            how = f"with SNI {other.sni}" if other.sni else "without SNI"
            text += f" ({how} it {'succeeds' if other.ok else 'fails too: ' + other.detail})"
        return text
    words = {"refused": "refuses connections", "timeout": "does not answer", "missing": "does not exist",
             "denied": "denies access", "unreachable": "is unreachable", "error": "fails to connect"}
    return f"{words.get(outcome.state, 'fails')} {outcome.detail}".rstrip()


def _fix(ctx: RuleContext, target: ProbeTarget, result: TargetResult, use: Use) -> Fix:
    tls_failures = [o for o in result.failed if o.state == "tls_failed"]
    for outcome in tls_failures:
        other = next((h for h in outcome.handshakes if not h.as_configured and h.ok and h.sni), None)
        if other is not None and use.site is not None:
            module = use.site.module
            text = f"{module}_ssl_server_name on; {module}_ssl_name {other.sni};"
            edit = ctx.insert_into(use.site.block, text)
            edits: tuple[Edit, ...] = (edit,) if edit is not None else ()
            return Fix(f"Send SNI: add `{text}` to {use.context}", edits, "unsafe")
    if target.kind == "unix":
        return Fix(f"Start the backend so that it listens on {target.address}, or point {use.text} at the socket "
                   "it really creates (and let nginx's worker user open it)", (), "display_only")
    if result.state == "partial":
        good = [o for o in result.probed if o.state == "ok"]
        return Fix(f"Name the address that answers ({', '.join(_shown(target, o) for o in good)}) in {use.text} "
                   "instead of a name that also resolves to addresses without a listener", (), "display_only")
    return Fix(f"Start the backend on {target.address}, or point {use.text} at the address and port it "
               "listens on", (), "display_only")
