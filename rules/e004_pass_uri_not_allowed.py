"""`proxy_pass` with a URI part where nginx cannot map it: regex or named location, `if`, `limit_except`.

## What it does
Finds `proxy_pass` targets with a URI part (anything from the first `/` or `?`
after the host, even a lone `/`; for a unix socket, what follows the `:` after
the path) inside a location given by a regular expression (`~`, `~*`), a named
location (`@name`), an `if` block or a `limit_except` block. nginx refuses
these with `"proxy_pass" cannot have URI part in location given by regular
expression, or inside named location, or inside "if" statement, or inside
"limit_except" block`.

Targets with variables are allowed by nginx (the URI then replaces the whole
request URI at run time) and are not reported. The other pass directives take no
URI at all: `fastcgi_pass 127.0.0.1:9000/x` or `grpc_pass grpc://h:1/x` are
malformed targets, reported by E005.

## Why it causes 502/504
`nginx -t` fails, so a reload keeps the old configuration (the fix for the 502
never ships) and a restart leaves nginx down. nginx can replace the matched
prefix of a prefix location with the URI, but a regex, a name or a condition has
no prefix to replace.

## Example
```nginx
location ~ ^/api/ {
    proxy_pass http://app/;
}
```

## Use instead
```nginx
location ~ ^/api/ {
    rewrite ^/api/(.*)$ /$1 break;
    proxy_pass http://app;
}
```
Without a URI part nginx passes the request URI unchanged; add the `rewrite`
only if the URI was meant to change (here: strip `/api`).

## When to ignore
Never: nginx rejects the configuration.
"""
from __future__ import annotations

import re
from typing import Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.parse import Node, format_directive
from nginx_502lint.pass_url import PassUrl, http_pass_targets

ID = "E004"
SLUG = "pass-uri-not-allowed"
SEVERITY = "error"
SUMMARY = "proxy_pass with a URI part inside a regex or named location, an if, or a limit_except block: nginx -t rejects it."
NEEDS = ("conf",)
OPTIONS = {"type": "object", "properties": {}}

NGINX_MESSAGE = ('"proxy_pass" cannot have URI part in location given by regular expression, '
                 'or inside named location, or inside "if" statement, or inside "limit_except" block')
_MECHANISM = ("nginx -t fails: a reload keeps the old config (the change never ships) and a restart leaves "
              "nginx down.")
_REGEX_META = re.compile(r"[.*+?()\[\]{}|\\$]")


def check(ctx: RuleContext) -> Iterator[None]:
    for target in http_pass_targets(ctx.model):
        url = target.url
        if target.module != "proxy" or url.error is not None or not url.has_uri:
            continue
        block = target.node.parent
        where = _forbidding_block(block) if block is not None else None
        if where is None:
            continue
        assert block is not None
        new_text = format_directive(target.node.name, [_without_uri(url)])
        rewrite = _rewrite_for(block, url.uri)
        ctx.report(
            target.node,
            f'{NGINX_MESSAGE}: `{target.node.text()}` at {target.node.where} has the URI part "{url.uri}", '
            f"and {ctx.model.describe(block)} is {where}",
            mechanism=_MECHANISM,
            fix=Fix(
                f"Write `{new_text}` at {target.node.where} (without a URI part nginx passes the request URI "
                f"unchanged); if the URI was meant to change, add {rewrite} before it.",
                (ctx.replace(target.node, new_text),),
                "unsafe",
            ),
        )
    yield from ()


def _forbidding_block(block: Node) -> str | None:
    """Why nginx has no prefix to replace here: "a regex location", "a named location", ..."""
    if block.name == "if":
        return 'an "if" block'
    if block.name == "limit_except":
        return 'a "limit_except" block'
    if block.name != "location" or not block.args:
        return None
    if is_regex_location(block.args):
        return "a regex location"
    if block.args[0].startswith("@"):
        return "a named location"
    return None


def is_regex_location(args: list[str]) -> bool:
    """`location ~ re`, `location ~* re`, and the glued forms `location ~re` / `location ~*re`."""
    return bool(args) and args[0].startswith("~")


def _without_uri(url: PassUrl) -> str:
    if url.unix:
        return f"{url.prefix}unix:{url.host}"
    return url.raw[: len(url.raw) - len(url.uri)]


def _rewrite_for(block: Node, uri: str) -> str:
    """A rewrite that maps the location's literal prefix to `uri`, or a template when there is none."""
    prefix = _literal_prefix(block)
    if prefix and prefix.endswith("/") and uri.endswith("/") and "?" not in uri:
        return f"`rewrite ^{prefix}(.*)$ {uri}$1 break;`"
    return "a `rewrite` (e.g. `rewrite ^/old/(.*)$ /new/$1 break;`)"


def _literal_prefix(block: Node) -> str | None:
    location = block
    while location.name != "location" and location.parent is not None:
        location = location.parent
    if location.name != "location" or not location.args:
        return None
    args = location.args
    if is_regex_location(args):
        pattern = args[-1] if args[0] in ("~", "~*") else args[0].lstrip("~*")
        if not pattern.startswith("^"):
            return None
        body = pattern[1:]
        literal = re.split(_REGEX_META, body, maxsplit=1)[0]
        if body[len(literal):len(literal) + 1] in ("*", "+", "?", "{"):
            literal = literal[:-1]  # the quantifier makes the last character optional
        return literal or None
    if args[0] in ("^~", "=") and len(args) > 1:
        return args[1]
    return None if args[0].startswith(("@", "=")) else args[0]
