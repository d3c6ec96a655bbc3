"""`fastcgi_pass` without a `SCRIPT_FILENAME` parameter in effect.

## What it does
Works out the `fastcgi_param` set nginx really sends from each `fastcgi_pass`,
following includes (`include fastcgi_params;` contributes its lines where it
stands) and the all-or-nothing inheritance of array directives: a level that
defines any `fastcgi_param` inherits none from above. It reports a
`fastcgi_pass` whose set has no `SCRIPT_FILENAME`, naming the level that
defines the set and any `SCRIPT_FILENAME` above it that is dropped.

`fastcgi.conf` (and Debian's `snippets/fastcgi-php.conf`, which includes it)
sets `SCRIPT_FILENAME`; the stock `fastcgi_params` does not. When such an
include is not in the linted tree, its stock content is assumed; any other
missing include at a level in the chain makes the set unknown and the rule
stays silent.

## Why it causes 502/504
php-fpm cannot tell which script to run. With `fastcgi_params` alone it logs
`Primary script unknown` (nginx: `FastCGI sent in stderr: "Primary script
unknown"`) and answers `404 File not found.`; with no parameters at all it
answers an empty 200. Not a 502 itself, but the usual result of "fixing" a 502
by copying a location that only includes `fastcgi_params`.

## Example
```nginx
location ~ \\.php$ {
    include fastcgi_params;
    fastcgi_pass unix:/run/php/php8.2-fpm.sock;
}
```

## Use instead
```nginx
location ~ \\.php$ {
    include fastcgi_params;
    fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
    fastcgi_pass unix:/run/php/php8.2-fpm.sock;
}
```
or `include fastcgi.conf;` where the distribution ships it.

## When to ignore
FastCGI applications that do not read `SCRIPT_FILENAME` (some serve one
script whatever the request says).
"""
from __future__ import annotations

import glob
import os
from typing import Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.model import Model, PassSite
from nginx_502lint.parse import Node

ID = "F405"
SLUG = "fastcgi-script-filename-missing"
SEVERITY = "warning"
SUMMARY = "fastcgi_pass with no SCRIPT_FILENAME param in effect (fastcgi_params instead of fastcgi.conf, or a level that drops the inherited ones)."
NEEDS = ("conf",)
OPTIONS = {"type": "object", "properties": {}}

SCRIPT_FILENAME = "fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;"
# What the stock files set, for includes that are not in the linted tree.
_STOCK_INCLUDES = {"fastcgi.conf": True, "fastcgi-php.conf": True, "fastcgi_params": False}


class _ParamSet:
    """The fastcgi_param set in effect at a pass site."""

    __slots__ = ("level", "has_script_filename", "params", "stock_includes")

    def __init__(self, level: Node | None, has_script_filename: bool = False, params: list[Node] | None = None,
                 stock_includes: list[Node] | None = None) -> None:
        self.level = level  # the level that defines it; None: no level does
        self.has_script_filename = has_script_filename
        self.params: list[Node] = [] if params is None else params
        self.stock_includes: list[Node] = [] if stock_includes is None else stock_includes


def check(ctx: RuleContext) -> Iterator[None]:
    missing_files = {
        id(node) for node, files in ctx.model.config.includes
        if not files and node.args and not glob.has_magic(node.args[0])
    }
    groups: dict[int, tuple[_ParamSet, list[PassSite]]] = {}
    for site in ctx.model.pass_sites:
        if site.module != "fastcgi" or site.target.error:
            continue  # a malformed target is E005's
        params = _param_set(ctx.model, site.block, missing_files)
        if params is None or params.has_script_filename:
            continue
        key = id(params.level) if params.level is not None else id(site.location or site.block)
        groups.setdefault(key, (params, []))[1].append(site)
    for params, sites in groups.values():
        _report(ctx, params, sites, missing_files)
    yield from ()


def _param_set(model: Model, block: Node, missing_files: set[int]) -> _ParamSet | None:
    """The set nginx sends from `block`, or None when a missing include makes it unknown."""
    for level in model.scope_chain(block):
        params = model.children(level, "fastcgi_param")
        stock: list[Node] = []
        for include in model.children(level, "include"):
            if id(include) not in missing_files:
                continue
            known = _STOCK_INCLUDES.get(os.path.basename(include.args[0]))
            if known is None:
                return None
            stock.append(include)
        if params or stock:
            has = any(p.args[:1] == ["SCRIPT_FILENAME"] for p in params) or any(
                _STOCK_INCLUDES[os.path.basename(n.args[0])] for n in stock
            )
            return _ParamSet(level, has, list(params), stock)
    return _ParamSet(None)


def _report(ctx: RuleContext, params: _ParamSet, sites: list[PassSite], missing_files: set[int]) -> None:
    first = sites[0]
    model = ctx.model
    users = ", ".join(dict.fromkeys(s.describe() for s in sites))
    if params.level is None:
        target = first.location or first.block
        text = f"include fastcgi_params; {SCRIPT_FILENAME}"
        message = (f"{first.node.text()[:-1]} in {users}: no fastcgi_param is in effect at all, so php-fpm gets "
                   "neither SCRIPT_FILENAME nor REQUEST_METHOD, QUERY_STRING …")
        mechanism = "php-fpm runs no script and answers an empty 200 page for every request."
    else:
        target = params.level
        text = SCRIPT_FILENAME
        mechanism = ("php-fpm cannot find the script: nginx logs 'FastCGI sent in stderr: \"Primary script unknown\"' "
                     "and the client gets '404 File not found.'.")
        defined = _defined_by(model, params)
        message = f"{first.node.text()[:-1]} in {users}: the fastcgi_param set in effect ({defined}) has no SCRIPT_FILENAME"
        dropped = _dropped_script_filename(model, params.level, missing_files)
        if dropped is not None:
            assert dropped.parent is not None
            message += (f"; the SCRIPT_FILENAME at {dropped.where} ({model.describe(dropped.parent)}) is not inherited "
                        f"because {model.describe(params.level)} defines its own fastcgi_param")
    insert = ctx.insert_into(target, text)
    ctx.report(
        first.node,
        message,
        mechanism=mechanism,
        fix=Fix(f"Add `{text}` to {model.describe(target)}"
                + (f" at {target.where}" if not target.synthetic else ""),
                (insert,) if insert is not None else (), "unsafe"),
    )


def _defined_by(model: Model, params: _ParamSet) -> str:
    parts: list[str] = []
    if params.params:
        files = ", ".join(dict.fromkeys(p.file for p in params.params))
        parts.append(f"{len(params.params)} fastcgi_param from {files}")
    parts.extend(f"`{n.text()[:-1]}` at {n.where} (stock file, not in the tree)" for n in params.stock_includes)
    assert params.level is not None
    return f"{'; '.join(parts)}, defined by {model.describe(params.level)}"


def _dropped_script_filename(model: Model, level: Node, missing_files: set[int]) -> Node | None:
    """A SCRIPT_FILENAME above the defining level, which that level hides."""
    for upper in list(model.scope_chain(level))[1:]:
        for param in model.children(upper, "fastcgi_param"):
            if param.args[:1] == ["SCRIPT_FILENAME"]:
                return param
        for include in model.children(upper, "include"):
            if id(include) in missing_files and _STOCK_INCLUDES.get(os.path.basename(include.args[0])):
                return include
    return None
