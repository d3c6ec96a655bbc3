"""A buffer combination that `nginx -t` rejects.

## What it does
Evaluates nginx's own buffer checks for `proxy_`, `fastcgi_`, `uwsgi_` and
`scgi_` at every level nginx merges them (each `server`, `location`, nested
location, `if` and `limit_except`), with the inherited and default values
nginx would use there:

1. `*_buffers` must have at least 2 buffers;
2. `*_busy_buffers_size` (default: twice the larger of `*_buffer_size` and
   one buffer) must be at least that larger size and **at most** all
   buffers minus one (`(number - 1) × size`; equality passes);
3. `*_temp_file_write_size` (same default) must be at least that size;
4. `*_max_temp_file_size` must be 0 or at least that size.

The page size (4k on x86-64) is the default for `*_buffer_size` and the
buffers; set `page_size` for 8k/16k/64k-page platforms. The message quotes
nginx's own error text.

## Why it causes 502/504
`nginx -t` fails, so the reload that raised `proxy_buffer_size` to fix
`upstream sent too big header` 502s never takes effect — the classic case is
raising only `proxy_buffer_size` to 16k with the default `8 4k` buffers:
the default busy size becomes 32k, more than `7 × 4k`.

## Example
```nginx
location / {
    proxy_pass http://app;
    proxy_buffer_size 16k;
}
```

## Use instead
```nginx
location / {
    proxy_pass http://app;
    proxy_buffer_size 16k;
    proxy_busy_buffers_size 16k;
}
```

## When to ignore
Never: nginx rejects the configuration.
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.buffers import CONSTRAINED_MODULES, BufferConfig, effective_buffers, propose, violations
from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.parse import Node
from nginx_502lint.ruletools import block_label, directives_text, set_directives
from nginx_502lint.values import format_size

ID = "B202"
SLUG = "buffer-constraints"
SEVERITY = "error"
SUMMARY = "Buffer sizes that nginx -t rejects (busy/temp sizes vs buffer_size and buffers), at every level."
NEEDS = ("conf",)
OPTIONS = {
    "type": "object",
    "properties": {
        "page_size": {"type": "integer", "enum": [4096, 8192, 16384, 65536], "default": 4096,
                      "description": "Memory page size of the nginx host (default buffer size)."},
    },
}

_MERGED_BLOCKS = ("server", "location", "if", "limit_except")
_BUFFER_SUFFIXES = ("buffer_size", "buffers", "busy_buffers_size", "temp_file_write_size", "max_temp_file_size")


def _levels(ctx: RuleContext, module: str) -> list[Node]:
    """The levels whose verdict can differ from the level above them.

    A level that sets none of the module's buffer directives merges to its
    parent's values, so nginx's checks give the parent's answer there; only
    each server (the first merged level) and the levels that set one of them
    need evaluating. On big trees this is most of the rule's cost.
    """
    model = ctx.model
    candidates = set(model.blocks("server"))
    for suffix in _BUFFER_SUFFIXES:
        candidates.update(node.parent for node in model.nodes(f"{module}_{suffix}") if node.parent is not None)
    levels = []
    for block in candidates:
        context = model.context_of(block)
        if block.name in _MERGED_BLOCKS and context in ("http", "server", "location", "location_if", "server_if") and (
            block.name != "server" or context == "http"
        ):
            levels.append(block)
    return levels


def _uses_module(ctx: RuleContext, module: str) -> bool:
    return any(name.startswith(module + "_") and ("buffer" in name or "temp_file" in name) for name in ctx.model.names())


def _describe(config: BufferConfig) -> str:
    m = config.module
    busy = format_size(config.effective_busy) + ("" if config.busy is not None else " by default")
    return (f"{m}_buffer_size {format_size(config.buffer_size)}, {m}_buffers {config.number} {format_size(config.size)}, "
            f"{m}_busy_buffers_size {busy}")


def check(ctx: RuleContext) -> Iterator[None]:
    page = ctx.options["page_size"]
    seen: set[tuple[int, str]] = set()
    for module in CONSTRAINED_MODULES:
        if not _uses_module(ctx, module):
            continue  # all defaults are valid together
        for block in sorted(_levels(ctx, module), key=lambda b: (b.file, b.line)):
            config = effective_buffers(ctx.model, block, module, page)
            if config is None:
                continue
            for violation in violations(config):
                suffix = violation.directive[len(module) + 1:]
                culprit = config.nodes.get(suffix) or config.nodes.get("buffer_size") \
                    or config.nodes.get("buffers") or next(iter(config.nodes.values()), None)
                if culprit is None:
                    continue
                key = (id(culprit), violation.check)
                if key in seen:
                    continue
                seen.add(key)
                # Fix where the culprit is set when that level is itself invalid; else here.
                level, level_config = block, config
                if culprit.parent is not None and culprit.parent is not block:
                    at_culprit = effective_buffers(ctx.model, culprit.parent, module, page)
                    if at_culprit is not None and violations(at_culprit):
                        level, level_config = culprit.parent, at_culprit
                while level.name in ("if", "limit_except") and level.parent is not None:
                    level = level.parent  # buffer directives are not allowed there
                    level_config = effective_buffers(ctx.model, level, module, page) or level_config
                changes = propose(level_config)
                ctx.report(
                    culprit,
                    f"nginx -t: {violation.message} (in {block_label(ctx.model, block)}: {_describe(config)})",
                    mechanism="nginx refuses the configuration, so the reload meant to fix 502s never takes effect.",
                    fix=Fix(f"In {ctx.model.describe(level)}, set: {directives_text(changes)}",
                            set_directives(ctx.model, level, changes), "safe"),
                )
    yield from ()
