"""Array directives (proxy_set_header, fastcgi_param, add_header …) and their all-or-nothing inheritance.

A level that sets one entry of such a directive inherits none from above. Two
needs follow: seeing which entries a level drops (H701), and adding an entry to
a location without dropping the ones it inherits today (every fix that adds a
`proxy_set_header`).
"""
from __future__ import annotations

from typing import NamedTuple

from .findings import Edit
from .model import Model
from .parse import Node, format_directive

HEADER_ARRAYS = {
    "proxy_set_header": "proxy",
    "grpc_set_header": "grpc",
    "fastcgi_param": "fastcgi",
    "uwsgi_param": "uwsgi",
    "scgi_param": "scgi",
}
RESPONSE_ARRAYS = ("add_header", "add_trailer")


def entry_key(node: Node) -> str:
    return node.args[0].lower() if node.args else ""


class Dropped(NamedTuple):
    """The entries `level` does not inherit because it sets its own."""

    directive: str
    level: Node
    own: tuple[Node, ...]
    upper: Node
    entries: tuple[Node, ...]


def dropped_at(model: Model, level: Node, directive: str) -> Dropped | None:
    own = tuple(model.children(level, directive))
    if not own:
        return None
    chain = list(model.scope_chain(level))[1:]
    for upper in chain:
        above = model.children(upper, directive)
        if above:
            keys = {entry_key(node) for node in own}
            lost = tuple(node for node in above if entry_key(node) not in keys)
            return Dropped(directive, level, own, upper, lost) if lost else None
    return None


def shared_include(model: Model, dropped: Dropped) -> str | None:
    """`include proxy_params;` when the dropped entries are exactly one included file's content.

    Only offered when the file holds nothing else (a second proxy_http_version
    would be a duplicate) and nothing the level already sets.
    """
    files = {node.file for node in dropped.entries}
    if len(files) != 1 or dropped.upper.file in files:
        return None
    (file,) = files
    from_file = [node for node in dropped.upper.block or () if node.file == file]
    if len(from_file) != len(dropped.entries):
        return None
    for include, targets in model.config.includes:
        if include.parent is dropped.upper and targets == [file]:
            return include.text()
    return None


def entries_text(nodes: tuple[Node, ...] | list[Node]) -> str:
    return " ".join(node.text() for node in nodes)


def add_entries(model: Model, block: Node, directive: str, wanted: list[list[str]]) -> tuple[str, tuple[Edit, ...]]:
    """Make `block` set each entry of `wanted` while keeping every entry it inherits today.

    Returns the directives as text (for the fix description) and the edits. When
    `block` sets none of `directive` itself, the inherited entries are repeated
    in it, since the first one added would otherwise drop them all.
    """
    wanted_keys = {args[0].lower() for args in wanted}
    setting = model.effective(block, directive)
    own = model.children(block, directive)
    edits: list[Edit] = []
    inserts: list[str] = []
    if own:
        by_key = {entry_key(node): node for node in own}
        for args in wanted:
            text = format_directive(directive, args)
            existing = by_key.get(args[0].lower())
            if existing is not None:
                edits.append(Edit("replace", existing.file, existing.line, text=text, directive=directive))
            else:
                inserts.append(text)
        shown = [format_directive(directive, args) for args in wanted]
    else:
        kept = [node.text() for node in setting.nodes if entry_key(node) not in wanted_keys]
        inserts = kept + [format_directive(directive, args) for args in wanted]
        shown = inserts
        if kept and setting.node is not None and setting.node.parent is not None:
            shown = inserts + [f"(repeating the {len(kept)} {directive} inherited from "
                               f"{model.describe(setting.node.parent)}, which this level would otherwise drop)"]
    if inserts and not block.synthetic and block.parent is not None:
        edits.append(Edit("insert", block.file, block.line, text=" ".join(inserts), directive=block.name))
    return " ".join(shown), tuple(edits)
