"""Which server block and location nginx picks for a request, as ngx_http_core_module does.

Used to tie an error.log line (its `server:` field and request path) back to
the config. Server blocks are identified by the name nginx writes into the
log: the first `server_name`, lowercased, a leading `.` dropped, regex names
with their `~`, `""` when there is none. Locations follow
ngx_http_core_find_location(): an exact `=` match wins at once; otherwise the
longest prefix, whose nested locations are searched next; then, unless that
prefix was `^~`, the regex locations of the level in config order (a nested
regex that matched ends the search before the outer regexes are tried).
Named locations are only reached through `try_files`.
"""
from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from .model import Model
from .parse import Node

LocationKind = Literal["exact", "prefix", "noregex", "regex", "named"]

# PCRE's `(?<name>...)` is Python's `(?P<name>...)`; lookbehinds `(?<=`/`(?<!` stay.
_PCRE_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")
_MAX_INTERNAL_REDIRECTS = 3


@dataclass(frozen=True)
class LocationSpec:
    node: Node
    kind: LocationKind
    name: str
    pattern: re.Pattern[str] | None = None


def location_spec(node: Node) -> LocationSpec | None:
    """How a `location` block matches; None when its arguments are malformed or its regex
    is beyond Python's `re` (the caller then cannot say whether it matches)."""
    args = node.args
    if len(args) == 2:
        modifier, name = args
    elif len(args) == 1:
        modifier, name = _split_attached_modifier(args[0])
    else:
        return None
    if modifier == "" and name.startswith("@"):
        return LocationSpec(node, "named", name)
    if modifier == "=":
        return LocationSpec(node, "exact", name)
    if modifier == "^~":
        return LocationSpec(node, "noregex", name)
    if modifier in ("~", "~*"):
        flags = re.IGNORECASE if modifier == "~*" else 0
        try:
            pattern = re.compile(_PCRE_NAMED_GROUP.sub("(?P<", name), flags)
        except re.error:
            return None
        return LocationSpec(node, "regex", name, pattern)
    if modifier == "":
        return LocationSpec(node, "prefix", name)
    return None


def _split_attached_modifier(arg: str) -> tuple[str, str]:
    # nginx accepts `location =/x`, `location ~*\.php$`, `location ^~/static`.
    for modifier in ("^~", "~*", "=", "~"):
        if arg.startswith(modifier) and len(arg) > len(modifier):
            return modifier, arg[len(modifier):]
    return "", arg


def _locations(block: Node) -> list[LocationSpec]:
    specs = []
    for child in block.block or ():
        if child.name == "location" and child.block is not None:
            spec = location_spec(child)
            if spec is not None:
                specs.append(spec)
    return specs


def find_location(container: Node, uri: str) -> Node | None:
    """The location block that serves `uri` inside a server (or location) block; None: no location matches."""
    found, _final = _search(container, uri)
    return found


def _search(container: Node, uri: str) -> tuple[Node | None, bool]:
    """(match, final): final means exact, or a regex matched, so outer regexes are not tried."""
    specs = _locations(container)
    for spec in specs:
        if spec.kind == "exact" and spec.name == uri:
            return spec.node, True
    prefixes = [s for s in specs if s.kind in ("prefix", "noregex") and uri.startswith(s.name)]
    longest = max(prefixes, key=lambda s: len(s.name), default=None)
    found: Node | None = None
    if longest is not None:
        found = longest.node
        inner, final = _search(longest.node, uri)
        if inner is not None:
            found = inner
        if final:
            return found, True
        if longest.kind == "noregex":
            return found, False
    for spec in specs:
        if spec.kind == "regex" and spec.pattern is not None and spec.pattern.search(uri):
            inner, _final = _search(spec.node, uri)
            return inner or spec.node, True
    return found, False


def named_location(server: Node, name: str) -> Node | None:
    for spec in _locations(server):
        if spec.kind == "named" and spec.name == name:
            return spec.node
    return None


def normalize_uri(path: str) -> str:
    """The request path as nginx matches it: percent-decoded, `//` merged, `.`/`..` resolved."""
    decoded = unquote(path, errors="replace") or "/"
    if not decoded.startswith("/"):
        decoded = "/" + decoded
    merged = re.sub(r"/{2,}", "/", decoded)
    resolved = posixpath.normpath(merged)
    if merged.endswith("/") and resolved != "/":
        resolved += "/"
    return resolved


# --- server blocks -----------------------------------------------------------------

def logged_server_name(model: Model, server: Node) -> str:
    """The name nginx writes as `server:` in error.log lines of requests this block serves."""
    for directive in model.children(server, "server_name"):
        if directive.args:
            name = directive.args[0]
            if name.startswith("~"):
                return name
            name = name.lower()
            return name.removeprefix(".")
    return ""


def servers_named(model: Model, logged_name: str) -> list[Node]:
    """The http server blocks whose log name is `logged_name` (several when they differ only by `listen`)."""
    wanted = logged_name.lower() if not logged_name.startswith("~") else logged_name
    return [server for server in model.http_servers() if logged_server_name(model, server) == wanted]


# --- what handles a request ------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    """The location that handles a request, and how the request got there."""

    server: Node
    location: Node | None
    via: tuple[str, ...] = ()
    """Internal redirects followed, e.g. ('try_files at site.conf:12 -> @app',)."""


def route(model: Model, server: Node, uri: str, serves: Callable[[Node | None], bool] | None = None) -> Route:
    """The location of `server` that handles `uri`.

    When `serves(location)` says the matched location hands nothing to a backend,
    the internal redirects a static config spells out are followed: the last
    `try_files` argument (a named location or a literal URI) and, for a URI that
    ends in `/`, the `index` files.
    """
    location = find_location(server, uri)
    via: list[str] = []
    for _ in range(_MAX_INTERNAL_REDIRECTS):
        if serves is None or serves(location):
            break
        nxt = _internal_redirect(model, server, location, uri)
        if nxt is None:
            break
        location, uri, step = nxt
        via.append(step)
    return Route(server, location, tuple(via))


def _internal_redirect(model: Model, server: Node, location: Node | None, uri: str) -> tuple[Node | None, str, str] | None:
    block = location or server
    try_files = model.effective(block, "try_files").node
    if try_files is not None and len(try_files.args) >= 2:
        fallback = try_files.args[-1]
        if fallback.startswith("@"):
            named = named_location(server, fallback)
            if named is not None:
                return named, uri, f"try_files at {try_files.where} -> {fallback}"
            return None
        if fallback.startswith("="):
            return None
        target = _substitute_uri_variables(fallback, uri)
        if target is None:
            return None
        target = normalize_uri(target.split("?", 1)[0])
        return find_location(server, target), target, f"try_files at {try_files.where} -> {target}"
    if uri.endswith("/"):
        index = model.effective(block, "index")
        names = [arg for node in index.nodes for arg in node.args] or (index.value or "index.html").split()
        for name in names:
            if "$" in name:
                continue
            target = name if name.startswith("/") else uri + name
            found = find_location(server, target)
            if found is not None and found is not location:
                where = index.node.where if index.node is not None else "nginx's default"
                return found, target, f"index at {where} -> {target}"
    return None


def _substitute_uri_variables(text: str, uri: str) -> str | None:
    replaced = re.sub(r"\$(?:\{uri\}|uri\b|\{document_uri\}|document_uri\b)", lambda _m: uri, text)
    replaced = re.sub(r"\$(?:\{(?:args|query_string|is_args)\}|(?:args|query_string|is_args)\b)", "", replaced)
    return None if "$" in replaced else replaced
