"""A time value nginx cannot parse.

## What it does
Checks every argument that nginx reads as a time — all `*_timeout`
directives and other standard time settings (`proxy_read_timeout`,
`keepalive_timeout`, `resolver_timeout`, `ssl_session_timeout` …), upstream
`server … fail_timeout=` / `slow_start=`, `resolver … valid=` and the time
of `*_cache_valid` — with nginx's own parser rules: an integer followed by
optional units `ms s m h d w M y`, largest first, no fractions, no signs,
no spaces inside a unit. `30sec`, `1.5s`, `2min` and `-1s` are invalid.

## Why it causes 502/504
`nginx -t` fails with `invalid value "30sec"`, so the reload that was meant
to fix 504s does not happen (the old config keeps running) and a restart
leaves nginx down.

## Example
```nginx
proxy_read_timeout 1.5m;
fastcgi_read_timeout 300sec;
```

## Use instead
```nginx
proxy_read_timeout 90s;
fastcgi_read_timeout 300s;
```

## When to ignore
Never: nginx rejects the value.
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint import directives
from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.parse import Node, format_directive
from nginx_502lint.ruletools import suggest_time
from nginx_502lint.values import InvalidValue, parse_time_ms, parse_time_s

ID = "T106"
SLUG = "invalid-time-value"
SEVERITY = "error"
SUMMARY = "A time value nginx cannot parse (30sec, 1.5s, negative): nginx -t fails."
NEEDS = ("conf",)
OPTIONS = {"type": "object", "properties": {}}

_PARAMETER_TIMES = {"server": ("fail_timeout=", "slow_start="), "resolver": ("valid=",)}


def _time_args(ctx: RuleContext, node: Node) -> Iterator[tuple[int, str, str]]:
    """(argument index, the time text, kind) for each argument nginx reads as a time."""
    name = node.name
    if name == "keepalive_timeout" and ctx.model.context_of(node) != "upstream":
        for index, arg in enumerate(node.args[:2]):
            yield index, arg, "time_ms" if index == 0 else "time_s"
        return
    if name.endswith("_cache_valid") and node.args:
        yield len(node.args) - 1, node.args[-1], "time_s"
        return
    prefixes = _PARAMETER_TIMES.get(name)
    if prefixes:
        for index, arg in enumerate(node.args):
            for prefix in prefixes:
                if arg.startswith(prefix):
                    yield index, arg[len(prefix):], "time_s"
        return
    kind = directives.value_kind(name, ctx.model.context_of(node))
    if kind in ("time_ms", "time_s") and node.args:
        yield 0, node.args[0], kind


def check(ctx: RuleContext) -> Iterator[None]:
    for name in ctx.model.names():
        if not (name.endswith(("_timeout", "_time", "_cache_valid")) or name in _PARAMETER_TIMES
                or directives.value_kind(name, "http") in ("time_ms", "time_s")
                or directives.value_kind(name, "main") in ("time_ms", "time_s")):
            continue
        for node in ctx.model.nodes(name):
            for index, text, kind in _time_args(ctx, node):
                if "$" in text:
                    continue
                try:
                    (parse_time_ms if kind == "time_ms" else parse_time_s)(text)
                except InvalidValue as error:
                    better = suggest_time(text)
                    if better is not None:
                        args = list(node.args)
                        args[index] = args[index].replace(text, better)
                        new_text = format_directive(node.name, args)
                        fix = Fix(f"Write it as nginx spells it: {new_text}", (ctx.replace(node, new_text),), "safe")
                    else:
                        fix = Fix("Use an integer with a unit, largest unit first: e.g. 60s, 500ms, 1h30m.", (), "display_only")
                    ctx.report(
                        node,
                        f"{node.name} at {node.where}: {error}",
                        column_word=text,
                        mechanism="nginx -t rejects the value, so the reload fails and the old config (or no nginx at all) keeps serving.",
                        fix=fix,
                    )
    yield from ()
