"""A directive the target nginx does not know: a typo, too new, removed, NGINX Plus or a third-party module.

## What it does
Checks every directive name against the directive table of the target nginx
release (`--nginx-version`; without it, the newest release the table covers,
and the message says so). The message says why the name is unknown:

* a typo: "did you mean `proxy_read_timeout`?";
* too new: "added in nginx 1.25.1, target is 1.24.0";
* removed: "removed in nginx 1.25.1" (`ssl on;`, `spdy_*`);
* NGINX Plus only (`health_check`, `auth_jwt`), or a separately distributed
  module (njs `js_*`, acme, otel) that needs `load_module`;
* a third-party module (`more_set_headers`, `brotli`, Lua's `*_by_lua*`).

Data lines of `map`, `geo`, `types`, `split_clients` and `charset_map`, the Lua
code inside `*_by_lua_block`, and the body of a block that is itself unknown or
declared are not checked.

## Why it causes 502/504
`nginx -t` stops at the first unknown directive (`[emerg] unknown directive
"proxy_read_timout"`): a reload keeps the old configuration, so the change meant
to stop the 502s and 504s never ships, and a restart leaves nginx down.

## Example
```nginx
location /api/ {
    proxy_pass http://app;
    proxy_read_timout 120s;
}
```

## Use instead
```nginx
location /api/ {
    proxy_pass http://app;
    proxy_read_timeout 120s;
}
```

## When to ignore
Your nginx is built with a third-party or dynamic module (OpenResty, headers-more,
brotli, …): declare its directives instead of ignoring the rule, so typos in
nginx's own directives are still caught — `known-directives = ["lua_*",
"*_by_lua*", "more_set_headers"]` in `.nginx-502lint.toml` (globs allowed), or this
rule's `extra_directives` option. Declared blocks (`rtmp { … }`) are not looked
into. Until then, the message names the module when the config shows it
(`load_module`, OpenResty's `*_by_lua*`) and the globs to declare. A
distribution package may backport a newer directive (Debian's 1.22.1 accepts
`max_headers`); then give the real version or declare the name.

## Options
`extra_directives` (default `[]`): directive names or glob patterns that your build
adds, e.g. `["lua_*", "*_by_lua*", "more_set_headers", "brotli*"]`. The config file's
top-level `known-directives` is read the same way and also keeps E003 out of those
directives.
"""
from __future__ import annotations

import fnmatch
from typing import Iterator

from nginx_502lint import directives
from nginx_502lint.directive_scope import CONTEXT_WORDS, CheckedScope, checked_named, target_version, would_duplicate
from nginx_502lint.directives import Version, format_version, parse_version
from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.parse import Node, format_directive
from nginx_502lint.spelling import confident_fix
from nginx_502lint.third_party import ThirdParty, declare_advice

ID = "E002"
SLUG = "unknown-directive"
SEVERITY = "error"
SUMMARY = "Directive unknown to the target nginx version: typo, too new, removed, NGINX Plus or an undeclared third-party module."
NEEDS = ("conf", "ver")
OPTIONS = {
    "type": "object",
    "properties": {
        "extra_directives": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "default": [],
            "description": "Third-party directive names or glob patterns to accept.",
        },
    },
}

_MECHANISM = ("nginx -t fails with `unknown directive`: a reload keeps the old config (the change never ships) "
              "and a restart leaves nginx down.")

# Replacements for the removed or too-new names people still copy from old guides.
_ALTERNATIVES = (
    ("ssl", "put ssl on the listen line instead: `listen 443 ssl;`"),
    ("http2", "before 1.25.1, enable HTTP/2 on the listen line: `listen 443 ssl http2;`"),
    ("spdy_*", "SPDY was replaced by HTTP/2 in 1.9.5: use the matching `http2_*` directive"),
)


def check(ctx: RuleContext) -> Iterator[None]:
    version, note = target_version(ctx.version)
    third_party = ThirdParty.from_config(ctx.model, [*ctx.options["extra_directives"], *ctx.settings.known_directives])

    verdicts: dict[str, bool] = {}

    def unknown(name: str) -> bool:
        verdict = verdicts.get(name)
        if verdict is None:
            verdict = verdicts[name] = not third_party.declared(name) and not directives.known(name, version)
        return verdict

    scope = CheckedScope(lambda name: third_party.declared(name) or unknown(name))
    # A config uses a few dozen names: judging names, not the many directives, is the cheap way.
    for name in ctx.model.names():
        if unknown(name):
            for node, context in checked_named(ctx.model, name, scope):
                _report(ctx, node, context, version, note, third_party)
    yield from ()


def _report(ctx: RuleContext, node: Node, context: str, version: Version, note: str, third_party: ThirdParty) -> None:
    name = node.name
    replacement: str | None = None
    if directives.known(name) or directives.removed_in(name):
        reason, advice = _version_reason(name, version, format_version(version))
        clear_reason = True
    elif directives.doc_only_info(name):
        reason, advice = _doc_only_reason(name, third_party)
        clear_reason = True
    else:
        reason, advice, candidates = _unknown_name_reason(name, version, third_party)
        clear_reason = bool(candidates)
        if context in CONTEXT_WORDS and third_party.family_of(name) is None:
            replacement = confident_fix(node, candidates, context, version)
        if replacement is not None and would_duplicate(ctx.model, node, replacement) is not None:
            replacement = None  # the block sets it already: renaming would make a duplicate
    message = f'unknown directive "{name}" at {node.where}: {reason}'
    hint = third_party.hint(name, other_reason=clear_reason)
    if hint:
        message += f"; {hint}"
        joiner = " and" if advice.endswith(",") else ", or"
        advice += f"{joiner} {declare_advice(_declare_patterns(name, third_party))}"
    if note:
        message += f" {note}"
    if replacement is not None:
        new_text = format_directive(replacement, node.args)
        fix = Fix(f"Replace it at {node.where} with `{new_text}`", (ctx.replace(node, new_text),), "unsafe")
    else:
        fix = Fix(f"{advice} at {node.where}.", applicability="display_only")
    ctx.report(node, message, mechanism=_MECHANISM, fix=fix)


def _unknown_name_reason(name: str, version: Version, third_party: ThirdParty) -> tuple[str, str, list[str]]:
    """(reason, advice, close names) for a name no release has: a module's, or a typo."""
    candidates = directives.suggest(name, 3, version)
    family = third_party.family_of(name)
    if family is not None:
        if third_party.loader_of(family) is not None:
            return "not an nginx directive", "Keep it, as its module is loaded,", candidates
        return "not an nginx directive", "Remove it, or install the module that provides it", candidates
    if candidates:
        return (f"did you mean {_alternatives(candidates)}?",
                f"Correct the name (did you mean {_alternatives(candidates)}?)", candidates)
    return "no nginx release has it", "Remove it, or load the module that provides it", candidates


def _version_reason(name: str, version: Version, target: str) -> tuple[str, str]:
    added, removed = directives.added_in(name), directives.removed_in(name)
    alternative = next((text for pattern, text in _ALTERNATIVES if fnmatch.fnmatchcase(name, pattern)), None)
    also = f"; {alternative}" if alternative else ""
    if added is not None and version < parse_version(added):
        return f"added in nginx {added}, target is {target}{also}", f"Upgrade nginx to {added} or later, or remove it{also}"
    if removed is not None and version >= parse_version(removed):
        return f"removed in nginx {removed}, target is {target}{also}", f"Remove it{also}"
    return (f"not in nginx {target} (added in {added}, but missing from this release line)",
            "Use a release that has it, or remove it")


def _doc_only_reason(name: str, third_party: ThirdParty) -> tuple[str, str]:
    info = directives.doc_only_info(name) or ""
    if "Plus" in info:
        return ("needs NGINX Plus (commercial); open-source nginx does not have it",
                "Remove it, or run NGINX Plus")
    family = third_party.family_of(name)
    if family is not None and third_party.loader_of(family) is not None:
        return f"from the separately distributed {info}", "Keep it only if your build has that module"
    module = family.module_files[0] if family is not None else None
    load = f" and `load_module modules/{module}.so;` at the top of nginx.conf" if module else ""
    return (f"from the separately distributed {info}, which needs the module installed{load}",
            f"Install the {info}{load}, or remove it")


def _declare_patterns(name: str, third_party: ThirdParty) -> tuple[str, ...]:
    family = third_party.family_of(name)
    return family.patterns if family is not None else (name,)


def _alternatives(names: list[str]) -> str:
    quoted = [f"`{name}`" for name in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
