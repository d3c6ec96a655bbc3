"""Which directives nginx itself reads as directives, the context of each, and user words for contexts.

E002 (unknown directive) and E003 (not allowed here) look at the same set: every
directive of the tree except the data lines of custom-body blocks (`map`, `geo`,
`types`, `split_clients`, `charset_map`, NGINX Plus `match`), the Lua code of
`*_by_lua_block`, and the bodies of blocks nginx would not recognise (a third-party
`rtmp {}` holds that module's own directives, which we cannot judge).
"""
from __future__ import annotations

from typing import Callable, Iterator

from . import directives
from .model import Model
from .parse import Node

CONTEXT_WORDS: dict[str, str] = {
    "main": "the main context (top level of nginx.conf)",
    "events": "events",
    "http": "http",
    "server": "server",
    "location": "location",
    "upstream": "upstream",
    "server_if": "if in server",
    "location_if": "if in location",
    "limit_except": "limit_except",
    "stream": "stream",
    "stream_server": "server in stream",
    "stream_upstream": "upstream in stream",
    "mail": "mail",
    "mail_server": "server in mail",
}

# Blocks whose body is data, not directives. `match` is NGINX Plus (not in the table).
_DATA_BODIES = frozenset({"map", "geo", "types", "split_clients", "charset_map", "match"})
_OPAQUE_SUFFIXES = ("_by_lua_block",)


def context_words(context: str) -> str:
    return CONTEXT_WORDS.get(context, context)


def contexts_words(contexts: set[str] | frozenset[str]) -> str:
    """"location, if in location, limit_except" in nginx's own context order."""
    ordered = [context for context in directives.CONTEXTS if context in contexts]
    return ", ".join(context_words(context) for context in ordered)


def target_version(version: tuple[int, ...] | None) -> tuple[tuple[int, ...], str]:
    """The release to judge against and the note to add when the user gave none."""
    if version is not None:
        return version, ""
    latest = directives.latest_version()
    return directives.parse_version(latest), f"(no --nginx-version given; checked against nginx {latest})"


def has_data_body(node: Node) -> bool:
    return node.name in _DATA_BODIES or directives.has_custom_body(node.name) or node.name.endswith(_OPAQUE_SUFFIXES)


def checked_directives(model: Model, opaque: Callable[[Node], bool]) -> Iterator[tuple[Node, str]]:
    """(directive, context) in file order, includes spliced in, as nginx reads them.

    Synthetic wrappers of a fragment are not yielded (they are not in any file) but
    their contents are. The children of a block are skipped when the block's body is
    data, or when `opaque(block)` says we cannot judge what is inside.
    """
    stack: list[Node] = list(reversed(model.root.block or ()))
    while stack:
        node = stack.pop()
        if not node.synthetic:
            yield node, model.context_of(node)
        if not node.block:
            continue
        if not node.synthetic and (has_data_body(node) or opaque(node)):
            continue
        stack.extend(reversed(node.block))


def would_duplicate(model: Model, node: Node, name: str) -> Node | None:
    """The directive `name` already in `node`'s block, when renaming `node` to it would make a duplicate.

    Array directives (proxy_set_header, add_header, ...) repeat freely; for the others a
    second one is at best "is duplicate" for nginx, so a fix must not create it.
    """
    if node.parent is None or directives.is_array_directive(name):
        return None
    return next((other for other in model.children(node.parent, name) if other is not node), None)
