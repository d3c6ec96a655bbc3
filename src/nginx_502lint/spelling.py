"""Picking the one directive a misspelt name was meant to be, when that is clear."""
from __future__ import annotations

from . import directives
from .directives import Version
from .parse import Node

MAX_CONFIDENT_DISTANCE = 2


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insert, delete, substitute, swap two neighbours."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, start=1):
            cost = 0 if char_a == char_b else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def fits(name: str, node: Node, context: str, version: Version) -> bool:
    """Would nginx accept `name` with this node's arguments and block in this context?"""
    definition = directives.definition_for(name, context, version)
    if definition is None:
        return False
    revision = definition.revision_at(version)
    if revision.block != (node.block is not None) or not revision.args.accepts(len(node.args)):
        return False
    return definition.value != "flag" or node.args[0].lower() in ("on", "off")


def confident_fix(node: Node, candidates: list[str], context: str, version: Version) -> str | None:
    """The single candidate that is closest by a small edit and valid where the node stands."""
    scored = sorted(
        (edit_distance(node.name, candidate), candidate)
        for candidate in candidates
        if fits(candidate, node, context, version)
    )
    if not scored or scored[0][0] > MAX_CONFIDENT_DISTANCE:
        return None
    if len(scored) > 1 and scored[1][0] == scored[0][0]:
        return None
    return scored[0][1]
