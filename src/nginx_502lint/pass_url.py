"""How nginx reads a pass directive's address at load time, and the upstream list it builds.

Mirrors the nginx code that `nginx -t` runs for `proxy_pass`, `fastcgi_pass`,
`uwsgi_pass`, `scgi_pass`, `grpc_pass` and `memcached_pass` without variables:
the scheme prefix of each module, `ngx_parse_url()` (unix, [IPv6] and inet
forms, with the URI part only for proxy_pass), `ngx_http_upstream_add()` (one
list shared by `upstream{}` blocks and every pass target, in config order), and
the "no port" check of `ngx_http_upstream_init_round_robin()`. Error texts are
nginx's own (`u->err`), so messages can quote them.

A target with a `$` anywhere is compiled as a script and checked only at run
time, exactly as nginx does (`ngx_http_script_variables_count`).
"""
from __future__ import annotations

import ipaddress
import re
import weakref
from functools import lru_cache
from typing import Iterable, Iterator, NamedTuple

from .model import PASS_MODULES, Model
from .parse import Node

_UNIX_PATH_MAX = 108  # sizeof(sockaddr_un.sun_path) on Linux, including the NUL
_PORT = re.compile(r"[0-9]+")
_DOTTED_DIGITS = re.compile(r"[0-9.]+")

# (prefix, default port) per module; a module with "required" refuses other prefixes.
_PREFIXES: dict[str, tuple[tuple[str, int], ...]] = {
    "proxy": (("http://", 80), ("https://", 443)),
    "grpc": (("grpc://", 0), ("grpcs://", 0)),
    "uwsgi": (("uwsgi://", 0), ("suwsgi://", 0)),
}
_PREFIX_REQUIRED = frozenset({"proxy"})
_URI_PART = frozenset({"proxy"})


# NamedTuple rather than a frozen dataclass: a big tree has thousands of distinct
# targets, and a frozen dataclass costs several times as much to create and copy.
class PassUrl(NamedTuple):
    """One pass target as nginx parsed it (`ngx_url_t`)."""

    raw: str
    module: str
    prefix: str = ""  # "http://", "grpc://", ... as written ("" when none)
    address: str = ""  # the part after the prefix: what nginx names in `in upstream "..."`
    host: str = ""  # host name, "[v6]" with brackets, or the unix socket path
    port: int = 0  # the port in effect (the module's default when none is written)
    no_port: bool = True
    uri: str = ""
    unix: bool = False
    literal_address: bool = False  # an IP or a socket: nginx knows the peer without DNS
    error: str | None = None  # nginx's message, e.g. 'invalid port in upstream "a:0"'

    @property
    def has_uri(self) -> bool:
        return bool(self.uri)


def module_prefixes(module: str) -> tuple[str, ...]:
    """The scheme prefixes a pass module accepts ("http://", "https://" for proxy), none for most."""
    return tuple(prefix for prefix, _ in _PREFIXES.get(module, ()))


def has_script(raw: str) -> bool:
    """nginx compiles any `$` as a variable; such targets are checked only at run time."""
    return "$" in raw


@lru_cache(maxsize=65536)
def parse_pass(module: str, raw: str) -> PassUrl:
    prefix, default_port = _prefix_of(module, raw)
    if not prefix and module in _PREFIX_REQUIRED:
        return PassUrl(raw, module, error="invalid URL prefix")
    address = raw[len(prefix):]
    base = PassUrl(raw, module, raw[: len(prefix)], address, "", default_port)
    if address[:5].lower() == "unix:":
        return _parse_unix(base, address[5:], module in _URI_PART)
    if address.startswith("["):
        return _parse_inet6(base, address, module in _URI_PART, default_port)
    return _parse_inet(base, address, module in _URI_PART, default_port)


def _prefix_of(module: str, raw: str) -> tuple[str, int]:
    """The module's scheme prefix `raw` starts with (any case) and its default port; ("", 0) if none."""
    lowered = raw.lower()
    for prefix, default_port in _PREFIXES.get(module, ()):
        if lowered.startswith(prefix):
            return prefix, default_port
    return "", 0


def _failed(url: PassUrl, reason: str) -> PassUrl:
    return url._replace(error=f'{reason} in upstream "{url.address}"')


def _parsed(url: PassUrl, host: str, port: int, no_port: bool, uri: str, unix: bool, literal_address: bool) -> PassUrl:
    # Positional: NamedTuple._replace costs several times as much, for every distinct target.
    return PassUrl(url.raw, url.module, url.prefix, url.address, host, port, no_port, uri, unix, literal_address)


def _parse_unix(url: PassUrl, path: str, uri_part: bool) -> PassUrl:
    uri = ""
    if uri_part and ":" in path:
        path, uri = path.split(":", 1)
    if not path:
        return _failed(url, "no path in the unix domain socket")
    if len(path.encode()) + 1 > _UNIX_PATH_MAX:
        return _failed(url, "too long path in the unix domain socket")
    return _parsed(url, path, 0, True, uri, True, True)


def _parse_inet(url: PassUrl, text: str, uri_part: bool, default_port: int) -> PassUrl:
    port_at = text.find(":")
    uri_at = _uri_start(text)
    last = len(text)
    uri = ""
    if uri_at >= 0:
        if not uri_part:
            return _failed(url, "invalid host")
        uri, last = text[uri_at:], uri_at
        if uri_at < port_at:
            port_at = -1
    port, no_port = default_port, True
    if port_at >= 0:
        port_text = text[port_at + 1: last]
        if not _PORT.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
            return _failed(url, "invalid port")
        port, no_port, last = int(port_text), False, port_at
    host = text[:last]
    if not host:
        return _failed(url, "no host")
    return _parsed(url, host, port, no_port, uri, False, _is_ipv4(host))


def _uri_start(text: str) -> int:
    """Where the URI part begins: the first `/` or `?`; -1 without one."""
    slash, query = text.find("/"), text.find("?")
    if slash < 0 or 0 <= query < slash:
        return query
    return slash


def _parse_inet6(url: PassUrl, text: str, uri_part: bool, default_port: int) -> PassUrl:
    close = text.find("]")
    if close < 0:
        return _failed(url, "invalid host")
    rest = text[close + 1:]
    uri = ""
    slash = rest.find("/")
    if slash >= 0:
        if not uri_part:
            return _failed(url, "invalid host")
        rest, uri = rest[:slash], rest[slash:]
    port, no_port = default_port, True
    if rest:
        if not rest.startswith(":"):
            return _failed(url, "invalid host")
        port_text = rest[1:]
        if not _PORT.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
            return _failed(url, "invalid port")
        port, no_port = int(port_text), False
    inside = text[1:close]
    if not inside:
        return _failed(url, "no host")
    if not _is_ipv6(inside):
        return _failed(url, "invalid IPv6 address")
    return _parsed(url, text[: close + 1], port, no_port, uri, False, True)


@lru_cache(maxsize=65536)
def _is_ipv4(host: str) -> bool:
    # inet_addr()-style dotted quad only; anything else is a name resolved at start-up.
    if not _DOTTED_DIGITS.fullmatch(host):
        return False  # a host name: spares the ValueError ipaddress would raise
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=65536)
def _is_ipv6(text: str) -> bool:
    if "%" in text:  # nginx's ngx_inet6_addr() knows no zone ids
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


# --- the upstream list -------------------------------------------------------------

# Plain classes and NamedTuples rather than dataclasses: importing dataclasses costs
# every lint tens of milliseconds (see findings.py).
class UpstreamEntry:
    """One element of nginx's `umcf->upstreams`: an `upstream{}` block or an implicit one."""

    __slots__ = ("host", "port", "no_port", "node", "explicit", "has_server", "users")

    def __init__(self, host: str, port: int, no_port: bool, node: Node, explicit: bool, has_server: bool,
                 users: list[Node] | None = None) -> None:
        self.host = host
        self.port = port
        self.no_port = no_port
        self.node = node  # the upstream block, or the pass directive that created it
        self.explicit = explicit  # NGX_HTTP_UPSTREAM_CREATE: an upstream{} block
        self.has_server = has_server  # nginx made the implicit server at once (address known, port set)
        self.users: list[Node] = [] if users is None else users

    def __repr__(self) -> str:
        return f"UpstreamEntry({self.host!r}, {self.port}, explicit={self.explicit})"


class PassTarget(NamedTuple):
    node: Node
    module: str
    url: PassUrl


class TargetProblem(NamedTuple):
    node: Node  # the pass directive to fix
    url: PassUrl
    kind: str  # "url", "port_on_upstream", "no_port"
    message: str  # nginx's wording
    upstream: Node | None = None  # the upstream block involved, if any
    sharing: tuple[PassTarget, ...] = ()  # later pass targets nginx folded into the same entry


# E004 and E005 both ask for the targets of one model; read them once.
_TARGETS: weakref.WeakKeyDictionary[Model, tuple[PassTarget, ...]] = weakref.WeakKeyDictionary()
_HTTP_PASS_CONTEXTS = frozenset({"location", "location_if", "limit_except"})


def http_pass_targets(model: Model) -> tuple[PassTarget, ...]:
    """Every http pass directive without variables where nginx accepts it; each directive in config order."""
    found = _TARGETS.get(model)
    if found is None:
        found = _TARGETS[model] = _collect_targets(model)
    return found


def _collect_targets(model: Model) -> tuple[PassTarget, ...]:
    targets: list[PassTarget] = []
    for name, module in PASS_MODULES.items():
        parsed: dict[str, PassUrl] = {}  # big trees repeat targets, and outgrow parse_pass's cache
        for node in directives_named(model, name):
            if node.block is not None or len(node.args) != 1 or has_script(node.args[0]):
                continue
            if node.synthetic or model.context_of(node) not in _HTTP_PASS_CONTEXTS:
                continue  # stream's proxy_pass, or a misplaced one (E003)
            raw = node.args[0]
            url = parsed.get(raw)
            if url is None:
                url = parsed[raw] = parse_pass(module, raw)
            targets.append(PassTarget(node, module, url))
    return tuple(targets)


def directives_named(model: Model, name: str) -> list[Node]:
    """Every directive called `name` in config order, also those inside custom bodies (map, Lua, ...).

    The model does not index what is inside custom bodies, but a full walk of the tree
    (which these rules used to make) meets them too.
    """
    found = model.nodes(name)
    hidden = [node for block in _custom_body_blocks(model) for node in block.walk() if node.name == name]
    if not hidden:
        return found
    order = _ConfigOrder()
    return sorted([*found, *hidden], key=order.key)


def _custom_body_blocks(model: Model) -> Iterator[Node]:
    for name in model.names():
        nodes = model.nodes(name)
        # Whether a body is custom depends on the block's name only.
        if nodes and model.context_inside(nodes[0]) == "custom":
            yield from (node for node in nodes if node.block)


class _ConfigOrder:
    """Sort keys that put directives in config order (depth first, includes spliced in) without a walk."""

    _INDEXED = 32  # blocks with more children get a lookup table instead of a linear search

    def __init__(self) -> None:
        self._places: dict[Node, dict[Node, int]] = {}
        self._block_keys: dict[Node, tuple[int, ...]] = {}

    def key(self, node: Node) -> tuple[int, ...]:
        parent = node.parent
        if parent is None:
            return ()
        parent_key = self._block_keys.get(parent)
        if parent_key is None:
            parent_key = self._block_keys[parent] = self.key(parent)
        siblings = parent.block or []
        if len(siblings) <= self._INDEXED:
            return (*parent_key, siblings.index(node))  # Node has no __eq__: found by identity
        places = self._places.get(parent)
        if places is None:
            places = self._places[parent] = {child: index for index, child in enumerate(siblings)}
        return (*parent_key, places[node])


def target_problems(model: Model, targets: Iterable[PassTarget] | None = None) -> list[TargetProblem]:
    """What nginx -t reports about pass targets, in the order nginx would meet them.

    `targets` is `http_pass_targets(model)`, when the caller has it already.
    """
    entries: list[UpstreamEntry] = []
    # nginx walks one list of upstreams; only entries of the same host ever
    # match, so an index by host keeps its order and answers without the walk.
    by_host: dict[str, list[UpstreamEntry]] = {}
    problems: list[TargetProblem] = []
    pass_targets = {id(target.node): target for target in (http_pass_targets(model) if targets is None else targets)}
    upstream_blocks = [node for node in directives_named(model, "upstream")
                       if node.block is not None and node.args and model.context_of(node) == "http"]
    order = _ConfigOrder()
    for node in sorted([*upstream_blocks, *(target.node for target in pass_targets.values())], key=order.key):
        target = pass_targets.get(id(node))
        if target is None:
            problem = _add_upstream_block(entries, by_host, node, pass_targets)
            if problem is not None:
                problems.append(problem)
            continue
        if target.url.error is not None:
            problems.append(TargetProblem(node, target.url, "url", target.url.error))
            continue
        problem = _add_pass(entries, by_host, target)
        if problem is not None:
            problems.append(problem)
    for entry in entries if upstreams_all_seen(model) else ():
        if not entry.explicit and not entry.has_server and entry.port == 0:
            url = pass_targets[id(entry.node)].url
            sharing = tuple(pass_targets[id(user)] for user in entry.users if user is not entry.node)
            problems.append(TargetProblem(entry.node, url, "no_port", f'no port in upstream "{entry.host}"',
                                          sharing=sharing))
    return problems


def upstreams_all_seen(model: Model) -> bool:
    """Whether every upstream{} nginx would read is in the tree.

    Not so for a fragment linted on its own (a site file whose upstreams live in
    conf.d/), nor when an http-level include found no file here: "no port in
    upstream" would then be a guess.
    """
    if model.config.fragment_context is not None:
        return False
    return not any(not targets and model.context_of(node) == "http" for node, targets in model.config.includes)


def _add_upstream_block(entries: list[UpstreamEntry], by_host: dict[str, list[UpstreamEntry]], node: Node,
                        targets: dict[int, PassTarget]) -> TargetProblem | None:
    name = node.args[0]
    for entry in by_host.get(name.lower(), ()):
        if entry.explicit:
            return None  # "duplicate upstream": not a pass target problem
        if not entry.no_port:
            url = targets[id(entry.node)].url
            return TargetProblem(entry.node, url, "port_on_upstream",
                                 f'upstream "{name}" may not have port {entry.port}', upstream=node)
        entry.explicit, entry.port, entry.node = True, 0, node
        return None
    _append(entries, by_host, UpstreamEntry(name, 0, True, node, explicit=True, has_server=True))
    return None


def _append(entries: list[UpstreamEntry], by_host: dict[str, list[UpstreamEntry]], entry: UpstreamEntry) -> None:
    entries.append(entry)
    by_host.setdefault(entry.host.lower(), []).append(entry)


def _add_pass(entries: list[UpstreamEntry], by_host: dict[str, list[UpstreamEntry]], target: PassTarget) -> TargetProblem | None:
    url = target.url
    for entry in by_host.get(url.host.lower(), ()):
        if entry.explicit and not url.no_port:
            return TargetProblem(target.node, url, "port_on_upstream",
                                 f'upstream "{url.host}" may not have port {url.port}', upstream=entry.node)
        if entry.port and url.port and entry.port != url.port:
            continue
        entry.users.append(target.node)
        return None
    has_server = url.literal_address and (url.port != 0 or url.unix)
    _append(entries, by_host, UpstreamEntry(url.host, url.port, url.no_port, target.node, explicit=False,
                                             has_server=has_server, users=[target.node]))
    return None


def upstream_names(model: Model) -> list[str]:
    """Names of the http upstream blocks, for "did you mean" in fixes."""
    return [node.args[0] for node in model.nodes("upstream")
            if node.args and node.block is not None and model.context_of(node) == "http"]
