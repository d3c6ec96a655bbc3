"""Is upstream keepalive in effect at a pass site, and does the location let it work?

nginx 1.29.7 changed three defaults at once: every explicit `upstream{}` gets
`keepalive 32 local`, `proxy_http_version` becomes 1.1 and the `Connection: close`
request header is no longer sent. Before that, a pool only works when the
location sets `proxy_http_version 1.1` and clears `Connection`. The K rules ask
these questions through this module so they agree on the answers, including
what they assume when the target version is unknown (older than 1.29.7: the
release most installations run).
"""
from __future__ import annotations

import re
import weakref
from typing import NamedTuple

from .engine import RuleContext
from .model import Model, PassSite, Upstream, has_variables
from .parse import Node, quote_arg
from .values import InvalidValue, parse_time_ms

DEFAULTS_CHANGED = (1, 29, 7)
UPSTREAM_KEEPALIVE_TIMEOUT_SINCE = (1, 15, 3)
DEFAULT_POOL_TEXT = "keepalive 32 local"
VERSION_HINT = "pass --nginx-version"


def version_text(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def assumption(ctx: RuleContext, since: tuple[int, ...] = DEFAULTS_CHANGED) -> str:
    """Words for the message when the rule had to guess the version; empty when known."""
    if ctx.version_at_least(*since) is None:
        return f"assuming nginx < {version_text(since)}; {VERSION_HINT}"
    return ""


def new_defaults(ctx: RuleContext) -> bool:
    """True when the 1.29.7 defaults apply; an unknown version counts as older."""
    return bool(ctx.version_at_least(*DEFAULTS_CHANGED))


# --- the pool ---------------------------------------------------------------------

class Pool(NamedTuple):
    upstream: Upstream
    connections: int
    node: Node | None  # the `keepalive` directive; None for the 1.29.7 default

    @property
    def on(self) -> bool:
        return self.connections > 0

    @property
    def explicit(self) -> bool:
        return self.node is not None

    def describe(self) -> str:
        if self.node is not None:
            return f"{self.node.text().rstrip(';')} at {self.node.where}"
        return f"{DEFAULT_POOL_TEXT} (the default for upstream blocks since 1.29.7)"


def pool_of(ctx: RuleContext, upstream: Upstream) -> Pool:
    node = upstream.get("keepalive")
    if node is not None:
        count = node.args[0] if node.args else ""
        return Pool(upstream, int(count) if count.isdigit() else 0, node)
    return Pool(upstream, 32 if new_defaults(ctx) else 0, None)


def keepalive_timeout_ms(ctx: RuleContext, upstream: Upstream) -> tuple[int | None, Node | None]:
    """The upstream's idle timeout for pooled connections (None: no limit, before 1.15.3)."""
    node = upstream.get("keepalive_timeout")
    if node is not None and node.args:
        try:
            return parse_time_ms(node.args[0]), node
        except InvalidValue:
            return None, node
    if ctx.version_at_least(*UPSTREAM_KEEPALIVE_TIMEOUT_SINCE) is False:
        return None, None
    return 60_000, None


# --- what the location sends -------------------------------------------------------

class HttpVersion(NamedTuple):
    value: str
    node: Node | None  # the proxy_http_version in effect; None for the default

    @property
    def keeps_alive(self) -> bool:
        return self.value in ("1.1", "2")

    def describe(self) -> str:
        if self.node is not None:
            return f"HTTP/{self.value} (proxy_http_version {self.value} at {self.node.where})"
        default_note = "the default since 1.29.7" if self.value == "1.1" else "the default before 1.29.7"
        return f"HTTP/{self.value} (no proxy_http_version in effect: {default_note})"


def http_version(ctx: RuleContext, model: Model, block: Node) -> HttpVersion:
    setting = model.effective(block, "proxy_http_version")
    if setting.node is not None and setting.node.args:
        return HttpVersion(setting.node.args[0], setting.node)
    return HttpVersion("1.1" if new_defaults(ctx) else "1.0", None)


class ConnectionHeader(NamedTuple):
    """The Connection header nginx sends upstream for an ordinary request (no Upgrade)."""

    value: str | None  # "close", "" (no header), another literal; None when it cannot be told
    node: Node | None  # the proxy_set_header Connection in effect
    map_entry: Node | None = None  # the map line that yields the value
    map_block: Node | None = None

    @property
    def closes(self) -> bool:
        return self.value is not None and self.value.strip().lower() == "close"

    def describe(self) -> str:
        shown = f"Connection: {self.value}" if self.value else "no Connection header"
        if self.node is None:
            default_note = "the default before 1.29.7" if self.closes else "the default since 1.29.7"
            return f"{shown} (no proxy_set_header Connection in effect: {default_note})"
        where = f"{self.node.text().rstrip(';')} at {self.node.where}"
        if self.map_entry is not None and self.map_block is not None:
            entry = " ".join(quote_arg(word) for word in (self.map_entry.name, *self.map_entry.args))
            return (f"{shown} for every request without an Upgrade header "
                    f"({where}; map at {self.map_block.where}: {entry})")
        return f"{shown} ({where})"


def connection_header(ctx: RuleContext, model: Model, block: Node) -> ConnectionHeader:
    node = header_entry(model, block, "proxy_set_header", "connection")
    if node is None:
        return ConnectionHeader("" if new_defaults(ctx) else "close", None)
    raw = node.args[1] if len(node.args) > 1 else ""
    if not has_variables(raw):
        return ConnectionHeader(raw, node)
    variable = re.fullmatch(r"\$(\w+)|\$\{(\w+)\}", raw.strip())
    if variable is None:
        return ConnectionHeader(None, node)
    name = variable.group(1) or variable.group(2)
    found = map_value_without_upgrade(model, name)
    if found is None:
        return ConnectionHeader(None, node)
    value, entry, block_node = found
    return ConnectionHeader(value, node, entry, block_node)


# Big trees share a few header arrays among thousands of sites, and several rules
# look entries up in them: each distinct array is indexed once.
_HEADER_INDEXES: weakref.WeakKeyDictionary[Model, dict[tuple[Node, ...], dict[str, Node]]] = weakref.WeakKeyDictionary()


def header_entry(model: Model, block: Node, directive: str, key: str) -> Node | None:
    """The entry for header/param `key` (case-insensitive) among the array in effect at `block`."""
    nodes = model.effective(block, directive).nodes
    if not nodes:
        return None
    indexes = _HEADER_INDEXES.get(model)
    if indexes is None:
        indexes = _HEADER_INDEXES[model] = {}
    index = indexes.get(nodes)
    if index is None:
        index = indexes[nodes] = {}
        for node in nodes:
            if node.args:
                index.setdefault(node.args[0].lower(), node)
    return index.get(key.lower())


# what an ordinary browser request carries in the headers such maps read
_PLAIN_REQUEST_VALUE = {"$http_upgrade": "", "$http_connection": "keep-alive"}
_MAP_FLAGS = frozenset({"hostnames", "volatile", "include"})


_MAPS_BY_VARIABLE: weakref.WeakKeyDictionary[Model, dict[str, Node]] = weakref.WeakKeyDictionary()


def find_map(model: Model, variable: str) -> Node | None:
    """The `map` block that defines `$variable` (the first one, as nginx would refuse a second)."""
    index = _MAPS_BY_VARIABLE.get(model)
    if index is None:
        index = {}
        for node in model.nodes("map"):
            if len(node.args) == 2 and node.block is not None:
                index.setdefault(node.args[1].strip("${}").lower(), node)
        _MAPS_BY_VARIABLE[model] = index
    return index.get(variable.lower())


def map_value_without_upgrade(model: Model, variable: str) -> tuple[str, Node | None, Node] | None:
    """What a `map $http_upgrade $variable` gives an ordinary request (no Upgrade header).

    Only maps keyed on `$http_upgrade` / `$http_connection` can be read this way;
    a value that is itself a variable cannot be told, so the answer is None.
    Matching follows nginx: exact keys (case-insensitive) first, then regexes in
    order, then `default` (empty when there is none).
    """
    block = find_map(model, variable)
    if block is None or block.args[0].lower() not in _PLAIN_REQUEST_VALUE:
        return None
    source_value = _PLAIN_REQUEST_VALUE[block.args[0].lower()]
    default: Node | None = None
    regexes: list[Node] = []
    for entry in block.block or ():
        if entry.name in _MAP_FLAGS:
            continue
        if entry.name == "default":
            default = entry
        elif entry.name.startswith("~"):
            regexes.append(entry)
        elif entry.name.removeprefix("\\").lower() == source_value:
            return _literal(entry, block)
    for entry in regexes:
        caseless = entry.name.startswith("~*")
        pattern = entry.name[2:] if caseless else entry.name[1:]
        try:
            if re.search(pattern, source_value, re.IGNORECASE if caseless else 0):
                return _literal(entry, block)
        except re.error:
            return None
    if default is None:
        return "", None, block
    return _literal(default, block)


def _literal(entry: Node, block: Node) -> tuple[str, Node, Node] | None:
    value = entry.args[0] if entry.args else ""
    if has_variables(value):
        return None
    return value, entry, block


# --- the verdict for a site -----------------------------------------------------------

class SitePooling(NamedTuple):
    """Whether requests from this site reuse pooled connections."""

    site: PassSite
    pool: Pool
    version: HttpVersion
    connection: ConnectionHeader

    @property
    def reuses(self) -> bool:
        """Pool on, HTTP/1.1 and no `Connection: close`: connections really go back to the pool."""
        return self.pool.on and self.version.keeps_alive and not self.connection.closes


# K501, K502 and K503 each ask for every site; the answer depends only on the
# model and the target version, so one run works it out once per site.
_POOLING: weakref.WeakKeyDictionary[Model, dict[tuple[Node, tuple[int, ...] | None], SitePooling | None]] = \
    weakref.WeakKeyDictionary()


def site_pooling(ctx: RuleContext, site: PassSite) -> SitePooling | None:
    """For a proxy_pass to an upstream block; None for any other site."""
    upstream = site.target.upstream
    if site.module != "proxy" or upstream is None:
        return None
    known = _POOLING.get(site.model)
    if known is None:
        known = _POOLING[site.model] = {}
    key = (site.node, ctx.settings.nginx_version)
    if key not in known:
        block = site.block
        known[key] = SitePooling(site, pool_of(ctx, upstream), http_version(ctx, site.model, block),
                                 connection_header(ctx, site.model, block))
    return known[key]


def fastcgi_keeps_conn(model: Model, site: PassSite) -> bool:
    setting = site.effective("fastcgi_keep_conn")
    return setting.node is not None and bool(setting.node.args) and setting.node.args[0].lower() == "on"


def reuses_pool(ctx: RuleContext, site: PassSite) -> Pool | None:
    """The pool this site really takes connections from, for any module; None when it does not."""
    upstream = site.target.upstream
    if upstream is None:
        return None
    pool = pool_of(ctx, upstream)
    if not pool.on:
        return None
    if site.module == "proxy":
        pooling = site_pooling(ctx, site)
        return pool if pooling is not None and pooling.reuses else None
    if site.module == "fastcgi":
        return pool if fastcgi_keeps_conn(site.model, site) else None
    if site.module == "grpc":
        return pool  # HTTP/2 to the backend: pooled connections are reused as they are
    return None  # uwsgi, scgi and memcached have no upstream keepalive
