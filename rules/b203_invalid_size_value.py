"""A size value nginx cannot parse.

## What it does
Checks every argument nginx reads as a size or an offset —
`*_buffer_size`, `*_buffers`, `*_busy_buffers_size`, `*_max_temp_file_size`,
`client_max_body_size`, `client_body_buffer_size`, … — with nginx's parser:
an integer with an optional `k`/`K` or `m`/`M` suffix (and `g`/`G` for
offsets such as `client_max_body_size`). `16kb`, `1.5k`, `2 MB` and
negative numbers are invalid.

## Why it causes 502/504
`nginx -t` fails with `invalid value "16kb"`, so the buffer change meant to
fix `upstream sent too big header` 502s is never loaded, and a restart
leaves nginx down.

## Example
```nginx
proxy_buffer_size 16kb;
proxy_buffers 8 1.5k;
```

## Use instead
```nginx
proxy_buffer_size 16k;
proxy_buffers 8 4k;
```

## When to ignore
Never: nginx rejects the value.
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint import directives
from nginx_502lint.buffers import CONSTRAINED_MODULES, effective_buffers, propose, violations
from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.parse import Node, format_directive
from nginx_502lint.ruletools import directives_text, set_directives, suggest_size
from nginx_502lint.values import InvalidValue, parse_offset, parse_size

ID = "B203"
SLUG = "invalid-size-value"
SEVERITY = "error"
SUMMARY = "A size nginx cannot parse (16kb, 1.5k): nginx -t fails."
NEEDS = ("conf",)
OPTIONS = {"type": "object", "properties": {}}

_PARSERS = {"size": parse_size, "offset": parse_offset}
_BUFFER_SETTINGS = {"buffer_size", "buffers", "busy_buffers_size", "temp_file_write_size", "max_temp_file_size"}


def _respelled(ctx: RuleContext, node: Node, args: list[str]) -> Fix:
    """The corrected spelling, plus what nginx's buffer rules then need.

    `proxy_buffer_size 16kb` means 16k, and 16k alone breaks the default
    `proxy_buffers 8 4k` (B202): the fix must leave a config nginx accepts.
    """
    new_text = format_directive(node.name, args)
    edits = [ctx.replace(node, new_text)]
    described = new_text
    module, _, setting = node.name.partition("_")
    level = node.parent
    if module in CONSTRAINED_MODULES and setting in _BUFFER_SETTINGS and level is not None:
        original = node.args
        node.args = args  # judge the buffers as they will be once respelled
        try:
            config = effective_buffers(ctx.model, level, module, ctx.settings.page_size)
            extra = [c for c in propose(config) if c[0] != node.name] if config and violations(config) else []
        finally:
            node.args = original
        if extra:
            edits.extend(set_directives(ctx.model, level, extra))
            described = f"{new_text} {directives_text(extra)}"
    return Fix(f"Write it as nginx spells it, keeping the buffer sizes valid together: {described}",
               tuple(edits), "safe")


def check(ctx: RuleContext) -> Iterator[None]:
    kinds: dict[str | None, str | None] = {}  # by context, for the name at hand: big trees repeat both
    for name in ctx.model.names():
        kinds.clear()
        for node in ctx.model.nodes(name):
            context = ctx.model.context_of(node)
            kind = kinds[context] if context in kinds else kinds.setdefault(context, directives.value_kind(name, context))
            if kind == "bufs" and len(node.args) == 2:
                candidates = [(0, node.args[0], "number"), (1, node.args[1], "size")]
            elif kind in _PARSERS and node.args:
                candidates = [(0, node.args[0], kind)]
            else:
                continue
            for index, text, what in candidates:
                if "$" in text:
                    continue
                try:
                    if what == "number":
                        if not text.isdigit():
                            raise InvalidValue(text, "the number of buffers must be a plain integer")
                    else:
                        _PARSERS[what](text)
                except InvalidValue as error:
                    better = suggest_size(text) if what != "number" else None
                    if better is not None:
                        args = list(node.args)
                        args[index] = better
                        fix = _respelled(ctx, node, args)
                    else:
                        fix = Fix("Use an integer with an optional k or m suffix, e.g. 16k, 1m.", (), "display_only")
                    ctx.report(
                        node,
                        f"{name} at {node.where}: {error}",
                        column_word=text,
                        mechanism="nginx -t rejects the value, so the reload fails and the old config (or no nginx at all) keeps serving.",
                        fix=fix,
                    )
    yield from ()
