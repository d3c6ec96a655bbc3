"""A directive nginx rejects where it stands: wrong block, wrong number of arguments, not on/off, block or not.

## What it does
Runs the checks nginx makes while it reads each directive
(`ngx_conf_handler`), with nginx's own command tables for the target version
(not crossplane's stale one), and reports them in nginx's words:

* the context: `"proxy_pass" directive is not allowed here` — with where it is
  allowed ("location, if in location, limit_except") and, when a later release
  allows it there, since when (`resolver` in `upstream` since 1.27.3);
* the block: `directive "location" has no opening "{"`, or a simple directive
  given a `{ }` block (`directive "proxy_pass" is not terminated by ";"`);
* the argument count: `invalid number of arguments in "keepalive" directive`
  (`keepalive 32 local` needs 1.29.7);
* on/off values: `invalid value "yes" in "proxy_buffering" directive, it must
  be "on" or "off"`.

Argument errors are kept in this rule on purpose: they are the same class of
problem (nginx refuses the directive while reading it), found by the same
table, and the catalog has no separate id for them.

Definitions that depend on the context are told apart: `server` is a block in
`http` and a simple directive in `upstream`; `proxy_pass` in `stream` is the
stream module's. Data lines of `map`, `geo`, `types`, `split_clients`,
`charset_map`, Lua code and the bodies of unknown or third-party blocks are not
checked; unknown names are E002's.

## Why it causes 502/504
`nginx -t` stops at the first rejected directive: a reload keeps the old
configuration, so the change meant to stop the 502s and 504s never ships, and
a restart leaves nginx down. A `proxy_pass` moved to the server level "to
cover everything" is the classic case.

## Example
```nginx
server {
    listen 80;
    proxy_pass http://app;
    location /api/ {
        if ($request_method = POST) {
            proxy_read_timeout 300s;
        }
    }
}
```

## Use instead
```nginx
server {
    listen 80;
    location / {
        proxy_pass http://app;
    }
    location /api/ {
        proxy_pass http://app;
        proxy_read_timeout 300s;
    }
}
```

## When to ignore
Never for open-source nginx of the target version. Directives declared through
E002's `extra_directives` option (or the `known_directives` setting) are not
checked here, nor is anything inside their blocks.
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint import directives
from nginx_502lint.directive_scope import (
    CONTEXT_WORDS,
    CheckedScope,
    context_words,
    contexts_words,
    target_version,
    would_duplicate,
)
from nginx_502lint.directives import ArgRule, Definition, Version, format_version, parse_version
from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.parse import Node, format_directive
from nginx_502lint.spelling import MAX_CONFIDENT_DISTANCE, confident_fix, edit_distance
from nginx_502lint.third_party import ThirdParty, declared_patterns
from nginx_502lint.values import InvalidValue, parse_offset, parse_size, parse_time_ms, parse_time_s

ID = "E003"
SLUG = "directive-not-allowed-here"
SEVERITY = "error"
SUMMARY = "Directive that nginx rejects where it stands: wrong context, argument count, on/off value, or block misuse."
NEEDS = ("conf",)
OPTIONS = {"type": "object", "properties": {}}

_MECHANISM = ("nginx -t rejects the directive: a reload keeps the old config (the change never ships) "
              "and a restart leaves nginx down.")
_IF_CONTEXTS = {"server_if": "server", "location_if": "location"}
_HTTP_SIDE = frozenset({"http", "server", "location", "upstream", "server_if", "location_if", "limit_except"})
_STREAM_SIDE = frozenset({"stream", "stream_server", "stream_upstream"})
_SIDES = (_HTTP_SIDE, _STREAM_SIDE, frozenset({"mail", "mail_server"}))
_SIDE_NAMES = frozenset({"http", "stream", "mail"})
# The stream proxy has one idle timeout where the http proxy has two.
_COUNTERPARTS = {
    ("proxy_read_timeout", "stream"): "proxy_timeout",
    ("proxy_send_timeout", "stream"): "proxy_timeout",
    ("proxy_timeout", "http"): "proxy_read_timeout",
}
_ON = frozenset({"yes", "true", "1", "enable", "enabled", "y"})
_OFF = frozenset({"no", "false", "0", "disable", "disabled", "n", "none"})


def check(ctx: RuleContext) -> Iterator[None]:
    version, note = target_version(ctx.version)
    third_party = ThirdParty.from_config(ctx.model, declared_patterns(ctx.settings))

    judged_names: dict[str, bool] = {}

    def judged(name: str) -> bool:
        verdict = judged_names.get(name)
        if verdict is None:
            verdict = judged_names[name] = not third_party.declared(name) and directives.known(name, version)
        return verdict

    scope = CheckedScope(lambda name: not judged(name))
    for name in ctx.model.names():
        if judged(name):
            _check_name(ctx, name, scope, version, note)
    yield from ()


def _check_name(ctx: RuleContext, name: str, scope: CheckedScope, version: Version, note: str) -> None:
    nodes = ctx.model.nodes(name)
    # The verdict depends on the shape alone, and a name comes in a handful of shapes:
    # only the directives of a shape nginx may reject are looked at one by one.
    suspect = {shape for shape in _shapes(nodes) if _may_reject(name, shape, version)}
    if not suspect:
        return
    definitions: dict[str, Definition | None] = {}
    for node in nodes:
        if _shape(node) not in suspect:
            continue
        context = ctx.model.context_of(node)
        if context not in CONTEXT_WORDS:
            continue
        if context not in definitions:
            definitions[context] = directives.definition_for(name, context, version)
        problem = _problem(node, definitions[context], version)
        if problem is not None and scope.is_checked(node):
            _report_problem(ctx, node, problem, definitions[context], context, version, note)


# (context, has a block, number of arguments): all that decides a verdict but an on/off value.
_Shape = tuple[str | None, bool, int]


def _shapes(nodes: list[Node]) -> set[_Shape]:
    return {(node.context, node.block is not None, len(node.args)) for node in nodes}


def _shape(node: Node) -> _Shape:
    return node.context, node.block is not None, len(node.args)


def _may_reject(name: str, shape: _Shape, version: Version) -> bool:
    context, has_block, n_args = shape
    if context is None:
        return True  # not indexed by the model: judge it directive by directive
    if context not in CONTEXT_WORDS:
        return False
    definition = directives.definition_for(name, context, version)
    if definition is None:
        return True
    revision = definition.revision_at(version)
    return revision.block != has_block or not revision.args.accepts(n_args) or definition.value == "flag"


def _problem(node: Node, definition: Definition | None, version: Version) -> str | None:
    """What nginx rejects about the directive: "context", "no_block", "block", "arguments", "flag"; None if nothing."""
    if definition is None:
        return "context"
    revision = definition.revision_at(version)
    if revision.block and node.block is None:
        return "no_block"
    if not revision.block and node.block is not None:
        return "block"
    if not revision.args.accepts(len(node.args)):
        return "arguments"
    if definition.value == "flag" and node.args[0].lower() not in ("on", "off"):
        return "flag"
    return None


def _report_problem(ctx: RuleContext, node: Node, problem: str, definition: Definition | None, context: str,
                    version: Version, note: str) -> None:
    note = note if note and _shape_varies(node.name, context) else ""
    if definition is None:
        _report_context(ctx, node, context, version, note)
    elif problem == "no_block":
        _report(ctx, node, f'directive "{node.name}" has no opening "{{" at {node.where}: '
                f"{node.name} takes a {{ }} block{_suffix(note)}",
                f"Give `{node.name}` its block at {node.where}: `{_head(node)} {{ … }}`.")
    elif problem == "block":
        _report(ctx, node, f'directive "{node.name}" is not terminated by ";" at {node.where}: '
                f"{node.name} is a simple directive, not a block{_suffix(note)}",
                f"End `{_head(node)}` with `;` at {node.where} and move what is inside its {{ }} to the enclosing block.")
    elif problem == "arguments":
        _report_arguments(ctx, node, definition, definition.revision_at(version).args, version, note)
    else:
        _report_flag(ctx, node)


def _report(ctx: RuleContext, node: Node, message: str, advice: str, *edits: object, applicability: str = "display_only") -> None:
    fix = Fix(advice, tuple(edits), applicability)  # type: ignore[arg-type]
    ctx.report(node, message, mechanism=_MECHANISM, fix=fix)


def _report_context(ctx: RuleContext, node: Node, context: str, version: Version, note: str) -> None:
    name = node.name
    allowed = _same_side(directives.allowed_contexts(name, version), context)
    message = f'"{name}" directive is not allowed here ({context_words(context)}, {node.where})'
    since = directives.context_since(name, context)
    until = directives.context_removed_in(name, context)
    if since is not None and version < parse_version(since):
        message += f": allowed in {context_words(context)} since nginx {since}, target is {format_version(version)}"
    elif until is not None and version >= parse_version(until):
        message += f": no longer allowed in {context_words(context)} since nginx {until}"
    if allowed:
        message += f"; allowed in {contexts_words(allowed)}"
    if node.parent is not None and node.parent.synthetic:
        message += (f"; the file is linted as a fragment included at {context_words(context)} level, "
                    "where most of its directives belong")
    counterpart = _COUNTERPARTS.get((name, _side_name(context)))
    candidates = [] if counterpart else _other_side_candidates(context, allowed, name, version)
    typo = confident_fix(node, candidates, context, version) if candidates else None
    if typo is not None and would_duplicate(ctx.model, node, typo) is not None:
        typo = None
    if counterpart is not None:
        message += f"; the {_side_name(context)} equivalent is `{counterpart}`"
    elif candidates:
        message += f"; did you mean {_alternatives([typo] if typo else candidates)}?"
    message += _suffix(note)
    if counterpart is not None:
        fix = _rename_fix(ctx, node, counterpart)
    elif typo is not None:
        fix = _rename_fix(ctx, node, typo)
    elif candidates:
        fix = Fix(f"Correct the name at {node.where} (did you mean {_alternatives(candidates)}?).",
                  applicability="display_only")
    else:
        fix = Fix(_move_advice(ctx, node, context, allowed, since, version), applicability="display_only")
    ctx.report(node, message, mechanism=_MECHANISM, fix=fix)


def _rename_fix(ctx: RuleContext, node: Node, name: str) -> Fix:
    existing = would_duplicate(ctx.model, node, name)
    if existing is not None:
        return Fix(f"Remove it at {node.where}: `{existing.text()}` at {existing.where} already sets `{name}`.",
                   (ctx.delete(node),), "unsafe")
    new_text = format_directive(name, node.args)
    return Fix(f"Write `{new_text}` at {node.where}.", (ctx.replace(node, new_text),), "unsafe")


def _side_name(context: str) -> str:
    """http, stream or mail for their contexts; main and events stand for themselves."""
    if context in _STREAM_SIDE:
        return "stream"
    if context in _HTTP_SIDE:
        return "http"
    return "mail" if context.startswith("mail") else context


def _same_side(allowed: set[str], context: str) -> set[str]:
    """Only the http contexts for a directive used in http (stream's proxy_pass is another directive)."""
    side = next((side for side in _SIDES if context in side), None)
    if side is None or not allowed & side:
        return allowed
    return allowed & side


def _other_side_candidates(context: str, allowed: set[str], name: str, version: Version) -> list[str]:
    """`proxy_buffer off;` in a location is mail's directive: the http one was meant."""
    side = next((side for side in _SIDES if context in side), None)
    if side is None or allowed & side:
        return []
    return [candidate for candidate in directives.suggest(name, 3, version, context)
            if edit_distance(name, candidate) <= MAX_CONFIDENT_DISTANCE + 1]


def _alternatives(names: list[str]) -> str:
    quoted = [f"`{name}`" for name in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _move_advice(ctx: RuleContext, node: Node, context: str, allowed: set[str], since: str | None, version: Version) -> str:
    text = node.text() if node.block is None else f"{_head(node)} {{ … }}"
    if since is not None and version < parse_version(since):
        elsewhere = allowed - {context}
        where = f", or move it to {contexts_words(elsewhere)}" if elsewhere else ""
        return f"Upgrade nginx to {since} or later{where} (`{text}` at {node.where})."
    owners = {_side_name(other) for other in allowed}
    here = _side_name(context)
    if len(owners) == 1 and here in _SIDE_NAMES and here not in owners and owners <= _SIDE_NAMES:
        return (f"Remove `{text}` at {node.where}: it is a setting of the {owners.pop()} module, which this "
                f"{here} block does not use.")
    outer = _IF_CONTEXTS.get(context)
    if outer is not None and outer in allowed:
        parent = node.parent.parent if node.parent is not None else None
        where = ctx.model.describe(parent) if parent is not None else outer
        advice = f"Move `{text}` from the if block at {node.where} into {where}"
        if node.block is None:
            advice += ("; an if block accepts only a few directives, so to vary a value by condition use a "
                       "map variable where the directive accepts one")
        return advice + "."
    if "location" in allowed and context == "server" and node.parent is not None:
        root = next((child for child in ctx.model.children(node.parent, "location") if child.args == ["/"]), None)
        if root is not None:
            return f"Move `{text}` from {node.where} into `location /` at {root.where} (or the locations that need it)."
        return f"Move `{text}` into a location block, e.g. `location / {{ {text} }}`, instead of {node.where}."
    return f"Move `{text}` at {node.where} into {contexts_words(allowed) or 'a block that accepts it'}."


def _report_arguments(ctx: RuleContext, node: Node, definition: Definition, rule: ArgRule, version: Version, note: str) -> None:
    name = node.name
    got = len(node.args)
    message = (f'invalid number of arguments in "{name}" directive at {node.where}: '
               f"takes {rule.describe()}, got {got}{_shown_args(node)}")
    later = next((revision for revision in definition.history
                  if revision.since > version and revision.args.accepts(got)), None)
    swallowed = next((arg for arg in node.args[1:] if directives.known(arg)), None)
    joined = _joined_value(node, definition, rule)
    edits: tuple[object, ...] = ()
    applicability = "display_only"
    if later is not None:
        message += f"; nginx {format_version(later.since)} and later accept {later.args.describe()}"
        kept = node.args[: rule.max] if rule.max is not None else node.args
        new_text = format_directive(name, kept)
        advice = f"Upgrade nginx to {format_version(later.since)} or later, or write `{new_text}` at {node.where}."
        edits, applicability = (ctx.replace(node, new_text),), "unsafe"
    elif joined is not None:
        new_text = format_directive(name, [joined])
        message += f'; nginx values take no space: "{joined}"'
        advice = f"Write `{new_text}` at {node.where}."
        edits, applicability = (ctx.replace(node, new_text),), "safe"
    elif swallowed is not None:
        message += f'; "{swallowed}" looks like the next directive: is a ";" missing before it?'
        advice = f'End the directive with ";" before `{swallowed}` at {node.where}.'
    else:
        advice = f"Give `{name}` {rule.describe()} at {node.where} (see {directives.doc_url(name)})."
    message += _suffix(note)
    _report(ctx, node, message, advice, *edits, applicability=applicability)


def _joined_value(node: Node, definition: Definition, rule: ArgRule) -> str | None:
    """`90 s` -> `90s` when the directive takes one time or size and the two halves make one."""
    if rule.max != 1 or len(node.args) != 2 or not node.args[1].isalpha():
        return None
    joined = "".join(node.args)
    parsers = {"time_ms": parse_time_ms, "time_s": parse_time_s, "size": parse_size, "offset": parse_offset}
    parser = parsers.get(definition.value or "")
    if parser is None:
        return None
    try:
        parser(joined)
    except InvalidValue:
        return None
    return joined


def _report_flag(ctx: RuleContext, node: Node) -> None:
    value = node.args[0]
    message = (f'invalid value "{value}" in "{node.name}" directive, it must be "on" or "off" '
               f"(at {node.where})")
    meant = "on" if value.lower() in _ON else "off" if value.lower() in _OFF else None
    if meant is None:
        _report(ctx, node, message, f"Write `{node.name} on;` or `{node.name} off;` at {node.where}.")
        return
    new_text = format_directive(node.name, [meant])
    _report(ctx, node, message, f"Write `{new_text}` at {node.where}.", ctx.replace(node, new_text), applicability="safe")


def _shape_varies(name: str, context: str) -> bool:
    """Whether the verdict for `name` could differ between releases (worth the version note)."""
    return any(definition.history for definition in directives.definitions(name)) or bool(
        directives.context_since(name, context) or directives.context_removed_in(name, context)
    )


def _head(node: Node) -> str:
    return " ".join([node.name, *node.args])


def _shown_args(node: Node) -> str:
    return f" ({' '.join(node.args)})" if node.args else ""


def _suffix(note: str) -> str:
    return f" {note}" if note else ""
