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


class CheckedScope:
    """Which directives nginx reads as directives, asked of one directive at a time.

    A directive is checked unless it is a synthetic wrapper of a fragment (not in any
    file) or sits, at any depth, inside a block whose body is data or whose name
    `opaque(name)` says we cannot judge (an unknown or declared third-party block).
    Rules ask only about the few directives they would report instead of walking the
    whole tree, and each block name is judged once.
    """

    def __init__(self, opaque: Callable[[str], bool]) -> None:
        self._opaque = opaque
        self._hiding_names: dict[str, bool] = {}

    def is_checked(self, node: Node) -> bool:
        if node.synthetic:
            return False
        block = node.parent
        while block is not None and block.parent is not None:  # the root's body is always read
            if not block.synthetic and self._hides_body(block):
                return False
            block = block.parent
        return True

    def _hides_body(self, block: Node) -> bool:
        verdict = self._hiding_names.get(block.name)
        if verdict is None:
            verdict = self._hiding_names[block.name] = has_data_body(block) or self._opaque(block.name)
        return verdict


def checked_named(model: Model, name: str, scope: CheckedScope) -> Iterator[tuple[Node, str]]:
    """(directive, context) for the checked directives called `name`, in config order.

    `model.nodes` leaves out only what is inside custom bodies (map, types, Lua, njs
    blocks), which nginx does not read as directives either: njs names are unknown,
    so opaque.
    """
    for node in model.nodes(name):
        if scope.is_checked(node):
            yield node, model.context_of(node)


def would_duplicate(model: Model, node: Node, name: str) -> Node | None:
    """The directive `name` already in `node`'s block, when renaming `node` to it would make a duplicate.

    Array directives (proxy_set_header, add_header, ...) repeat freely; for the others a
    second one is at best "is duplicate" for nginx, so a fix must not create it.
    """
    if node.parent is None or directives.is_array_directive(name):
        return None
    return next((other for other in model.children(node.parent, name) if other is not node), None)
