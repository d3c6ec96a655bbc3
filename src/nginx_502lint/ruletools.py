"""Small helpers that several rules share; nothing here knows a rule id."""
from __future__ import annotations

from typing import Iterable, Iterator

from .findings import Edit
from .model import Model, PassSite
from .parse import Node, format_directive

TIMEOUT_MODULES = frozenset({"proxy", "fastcgi", "uwsgi", "scgi", "grpc", "memcached"})


def settings_block(site: PassSite) -> Node:
    """Where a pass site's *_timeout / *_buffer* directives may go.

    Those directives are valid in http, server and location only: a pass
    inside `if` or `limit_except` takes them from the enclosing location.
    """
    block = site.block
    while block.name in ("if", "limit_except") and block.parent is not None:
        block = block.parent
    return block


def directives_text(changes: Iterable[tuple[str, list[str]]]) -> str:
    return " ".join(format_directive(name, args) for name, args in changes)


def block_label(model: Model, block: Node) -> str:
    """`location /api (server example.com) at app.conf:12`, or a fragment's words."""
    words = model.describe(block)
    if block.synthetic or block.parent is None:
        return words
    return f"{words} at {block.file}:{block.line}"


def sites_by_setting(sites: Iterable[PassSite], suffix: str) -> Iterator[tuple[Node, list[PassSite]]]:
    """Group pass sites by the explicit directive that gives them `<module>_<suffix>`."""
    groups: dict[int, tuple[Node, list[PassSite]]] = {}
    for site in sites:
        node = site.setting(suffix).node
        if node is None:
            continue
        groups.setdefault(id(node), (node, []))[1].append(site)
    yield from groups.values()


def applies_to(model: Model, sites: list[PassSite]) -> str:
    """`location /api (server x)` or `3 locations (location /a (server x), …)`."""
    labels = list(dict.fromkeys(model.describe(site.block) for site in sites))
    if len(labels) == 1:
        return labels[0]
    shown = ", ".join(labels[:3]) + (", …" if len(labels) > 3 else "")
    return f"{len(labels)} pass locations ({shown})"


_TIME_UNIT_WORDS = {
    "ms": "ms", "msec": "ms", "msecs": "ms", "millis": "ms", "millisecond": "ms", "milliseconds": "ms",
    "s": "s", "S": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m",
    "h": "h", "H": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "d": "d", "D": "d", "day": "d", "days": "d",
}
_TIME_IN_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_SIZE_UNIT_WORDS = {"": "", "b": "", "k": "k", "kb": "k", "kib": "k", "m": "m", "mb": "m", "mib": "m", "g": "g", "gb": "g", "gib": "g"}
_SIZE_IN_BYTES = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


def suggest_time(text: str) -> str | None:
    """What the author most likely meant, in nginx's spelling: "30sec" -> "30s", "1.5s" -> "1500ms"."""
    import re

    from .values import format_time_ms

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if not match:
        return None
    unit = _TIME_UNIT_WORDS.get(match.group(2) or "s") or _TIME_UNIT_WORDS.get(match.group(2).lower())
    if unit is None:
        return None
    ms = float(match.group(1)) * _TIME_IN_MS[unit]
    if ms != int(ms) or ms <= 0:
        return None
    return format_time_ms(int(ms))


def suggest_size(text: str) -> str | None:
    """"16kb" -> "16k", "1.5k" -> "1536", "2MB" -> "2m"."""
    import re

    from .values import format_size

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if not match:
        return None
    unit = _SIZE_UNIT_WORDS.get(match.group(2).lower())
    if unit is None:
        return None
    size = float(match.group(1)) * _SIZE_IN_BYTES[unit]
    if size != int(size):
        return None
    return format_size(int(size))


def set_directives(model: Model, block: Node, changes: list[tuple[str, list[str]]]) -> tuple[Edit, ...]:
    """Edits that make `block` set each directive of `changes`.

    A directive the block already sets is replaced in place (a second one
    would be a "duplicate" error); the others are inserted together. For an
    array directive (proxy_set_header …) only the entry with the same key
    is replaced: the other entries are separate values, not duplicates.
    """
    from . import directives

    if block.synthetic or block.parent is None:
        return ()
    edits: list[Edit] = []
    inserts: list[str] = []
    for name, args in changes:
        existing = model.children(block, name)
        if directives.is_array_directive(name):
            existing = [n for n in existing if n.args[:1] == args[:1]]
        text = format_directive(name, args)
        if existing:
            edits.append(Edit("replace", existing[0].file, existing[0].line, text=text, directive=name))
        else:
            inserts.append(text)
    if inserts:
        edits.append(Edit("insert", block.file, block.line, text=" ".join(inserts), directive=block.name))
    return tuple(edits)
