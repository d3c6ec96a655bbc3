"""The effective configuration: what nginx would use at each pass site.

Rules read this, never the raw tree: every `*_pass` with its parsed target,
every `upstream` with its servers, and the effective value of any directive
at any block under nginx's inheritance (http -> server -> location -> nested
location / if), including the all-or-nothing rule of array directives.
"""
from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Iterator, NamedTuple

from .parse import Node, ParsedConfig, SourceFile, gc_paused

PASS_MODULES = {
    "proxy_pass": "proxy",
    "fastcgi_pass": "fastcgi",
    "uwsgi_pass": "uwsgi",
    "scgi_pass": "scgi",
    "grpc_pass": "grpc",
    "memcached_pass": "memcached",
}

_VARIABLE = re.compile(r"\$(\{\w+\}|\w+)")
_CUSTOM_BODY = frozenset({"map", "geo", "types", "split_clients", "charset_map", "match"})
_SCOPE_ROOTS = frozenset({"http", "stream", "mail", "upstream"})
_LUA_OR_OPAQUE = re.compile(r"_by_lua_block$|^js_|_by_njs")


def has_variables(text: str) -> bool:
    return "$" in text and _VARIABLE.search(text) is not None


def context_of_node(node: Node) -> str:
    """The context a directive sits in, for nodes the model has not indexed."""
    chain = [node.parent] if node.parent is not None else []
    while chain[-1].parent is not None if chain else False:
        chain.append(chain[-1].parent)  # type: ignore[arg-type]
    context = "main"
    for block in reversed(chain[:-1]):
        context = _inner_context(block.name, context)
    return context


# --- values in effect -------------------------------------------------------------

class Setting(NamedTuple):
    """The effective value of one directive at one block.

    NamedTuples and plain classes, not dataclasses, for the model's records:
    see findings.py.
    """

    name: str
    nodes: tuple[Node, ...]
    default: str | None = None

    @property
    def explicit(self) -> bool:
        return bool(self.nodes)

    @property
    def node(self) -> Node | None:
        return self.nodes[0] if self.nodes else None

    @property
    def args(self) -> list[str]:
        return self.nodes[0].args if self.nodes else []

    @property
    def value(self) -> str | None:
        """First argument in effect, or nginx's default text when nothing is set."""
        if self.nodes:
            return self.nodes[0].args[0] if self.nodes[0].args else ""
        return self.default


# --- targets ----------------------------------------------------------------------

class Target:
    __slots__ = ("raw", "scheme", "host", "port", "unix_path", "uri", "variables", "error", "upstream")

    def __init__(
        self,
        raw: str,
        scheme: str | None = None,
        host: str | None = None,
        port: int | None = None,
        unix_path: str | None = None,
        uri: str | None = None,
        variables: bool = False,
        error: str | None = None,
        upstream: Upstream | None = None,
    ) -> None:
        self.raw = raw
        self.scheme = scheme
        self.host = host
        self.port = port
        self.unix_path = unix_path
        self.uri = uri
        self.variables = variables
        self.error = error
        self.upstream = upstream

    def __repr__(self) -> str:
        return f"Target({self.raw!r}, error={self.error!r})"

    @property
    def is_unix(self) -> bool:
        return self.unix_path is not None

    @property
    def address(self) -> str:
        if self.unix_path is not None:
            return f"unix:{self.unix_path}"
        if self.host is None:
            return self.raw
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.port is not None else host

    @property
    def host_is_ip(self) -> bool:
        return self.host is not None and is_ip(self.host)

    def effective_port(self) -> int | None:
        if self.port is not None:
            return self.port
        return {"http": 80, "https": 443, "grpc": 80, "grpcs": 443}.get(self.scheme or "")


_DIGITS_AND_DOTS = re.compile(r"[0-9.]+")


@lru_cache(maxsize=65536)  # pure, and rules ask about every host of a big tree several times
def is_ip(host: str) -> bool:
    text = host.strip("[]")
    if ":" not in text and not _DIGITS_AND_DOTS.fullmatch(text):
        return False  # neither IPv6 (has a colon) nor a dotted quad: spares ipaddress its ValueError
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


_SCHEMES = {
    "proxy": ("http", "https"),
    "grpc": ("grpc", "grpcs"),
    "uwsgi": ("uwsgi", "suwsgi"),
}


def parse_target(module: str, raw: str) -> Target:
    """Split a pass directive's argument the way nginx's ngx_parse_url sees it."""
    target = Target(raw=raw, variables=has_variables(raw))
    rest = raw
    lowered = raw.lower()
    # "unix:///run/app.sock" is a unix path to nginx (fastcgi_pass, uwsgi_pass …), not a scheme
    scheme_match = None if lowered.startswith("unix:") else re.match(r"([a-z][a-z0-9+.-]*)://", lowered)
    if scheme_match:
        target.scheme = scheme_match.group(1)
        rest = raw[scheme_match.end():]
        allowed = _SCHEMES.get(module, ())
        if target.scheme not in allowed:
            if not target.variables:
                expected = " or ".join(f"{s}://" for s in allowed) or "no scheme"
                target.error = f'invalid URL prefix "{target.scheme}://" for {module}_pass (expected {expected})'
            return target
    elif module == "proxy":
        if target.variables:
            return target  # the whole URL comes from a variable at run time
        if lowered.startswith("unix:"):
            target.error = 'invalid URL prefix: a unix socket needs the scheme, e.g. "http://unix:/path.sock"'
        else:
            target.error = 'invalid URL prefix: proxy_pass needs "http://" or "https://"'
        return target
    if rest.lower().startswith("unix:"):
        path = rest[5:]
        if module == "proxy" and ":" in path:
            path, uri = path.split(":", 1)
            target.uri = uri
        target.unix_path = path
        if not path:
            target.error = "empty unix socket path"
        return target
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=-1)
    hostport, slash, uri = (rest[:cut], rest[cut], rest[cut + 1:]) if cut >= 0 else (rest, "", "")
    if module in ("proxy", "grpc") and slash:
        target.uri = slash + uri  # nginx ends the host at "/" or "?"
    elif slash and module != "proxy":
        hostport = rest  # fastcgi and friends take no URI; keep it for the error
    host, port_text = _split_host_port(hostport)
    target.host = host or None
    if not host:
        target.error = "empty host in upstream address"
    if port_text is not None:
        if has_variables(port_text):
            pass
        elif not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            target.error = f'invalid port in upstream "{hostport}"'
        else:
            target.port = int(port_text)
    return target


def _split_host_port(text: str) -> tuple[str, str | None]:
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return text, None
        host, after = text[1:end], text[end + 1:]
        return host, after[1:] if after.startswith(":") else None
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, port
    return text, None


# --- upstreams --------------------------------------------------------------------

class UpstreamServer:
    __slots__ = ("node", "address", "host", "port", "unix_path", "params", "flags")

    def __init__(self, node: Node, address: str, host: str | None, port: int | None, unix_path: str | None,
                 params: dict[str, str], flags: frozenset[str]) -> None:
        self.node = node
        self.address = address
        self.host = host
        self.port = port
        self.unix_path = unix_path
        self.params = params
        self.flags = flags

    @property
    def down(self) -> bool:
        return "down" in self.flags

    @property
    def backup(self) -> bool:
        return "backup" in self.flags

    @property
    def resolve(self) -> bool:
        return "resolve" in self.flags


class Upstream:
    __slots__ = ("name", "node", "servers", "directives")

    def __init__(self, name: str, node: Node, servers: list[UpstreamServer] | None = None,
                 directives: dict[str, list[Node]] | None = None) -> None:
        self.name = name
        self.node = node
        self.servers: list[UpstreamServer] = [] if servers is None else servers
        self.directives: dict[str, list[Node]] = {} if directives is None else directives

    def __repr__(self) -> str:
        return f"Upstream({self.name!r}, {self.node.where})"

    def get(self, name: str) -> Node | None:
        nodes = self.directives.get(name)
        return nodes[0] if nodes else None


_SERVER_FLAGS = frozenset({"down", "backup", "resolve", "drain"})


def parse_upstream_server(node: Node) -> UpstreamServer:
    address = node.args[0] if node.args else ""
    params: dict[str, str] = {}
    flags: set[str] = set()
    for arg in node.args[1:]:
        if "=" in arg:
            key, value = arg.split("=", 1)
            params[key] = value
        else:
            flags.add(arg)
    host: str | None
    port: int | None = None
    unix_path = None
    if address.lower().startswith("unix:"):
        unix_path, host = address[5:], None
    else:
        host, port_text = _split_host_port(address)
        if port_text and port_text.isdigit():
            port = int(port_text)
    return UpstreamServer(node, address, host, port, unix_path, params, frozenset(flags))


# --- pass sites ------------------------------------------------------------------

class PassSite:
    __slots__ = ("node", "module", "target", "block", "model")

    def __init__(self, node: Node, module: str, target: Target, block: Node, model: Model) -> None:
        self.node = node
        self.module = module
        self.target = target
        self.block = block
        self.model = model

    def __repr__(self) -> str:
        return f"PassSite({self.node!r})"

    @property
    def location(self) -> Node | None:
        for block in (self.block, *self.block.ancestors()):
            if block.name == "location":
                return block
        return None

    @property
    def server(self) -> Node | None:
        for block in self.block.ancestors() if self.block.name != "server" else ():
            if block.name == "server":
                return block
        return self.block if self.block.name == "server" else None

    def setting(self, suffix: str) -> Setting:
        """Effective `<module>_<suffix>` here, e.g. site.setting("read_timeout")."""
        return self.model.effective(self.block, f"{self.module}_{suffix}")

    def effective(self, name: str) -> Setting:
        return self.model.effective(self.block, name)

    def describe(self) -> str:
        return self.model.describe(self.block)


# --- the model ---------------------------------------------------------------------

_ChildIndex = dict[str, "Node | list[Node]"]


def _index_children(block: Node) -> _ChildIndex:
    """A block's directives by name: the node itself when it is the only one.

    Most names occur once per block; a one-element list for each of them was
    a third of the model's memory on big trees.
    """
    index: _ChildIndex = {}
    for child in block.block or ():
        found = index.get(child.name)
        if found is None:
            index[child.name] = child
        elif type(found) is list:
            found.append(child)
        else:
            index[child.name] = [found, child]  # type: ignore[list-item]
    return index


class Model:
    def __init__(self, config: ParsedConfig, nginx_version: tuple[int, ...] | None = None) -> None:
        self.config = config
        self.nginx_version = nginx_version
        self.root = config.root
        self._by_name: dict[str, list[Node]] = {}
        self._block_index: dict[Node, _ChildIndex] = {}
        self.pass_sites: list[PassSite] = []
        self.upstreams: dict[str, Upstream] = {}
        self.stream_upstreams: dict[str, Upstream] = {}
        self._effective: dict[Node, dict[str, Setting]] = {}
        self._shared_levels: set[Node] = {self.root}  # blocks with blocks inside: their answers are reused
        self._name_facts: dict[str, tuple[frozenset[str] | None, str | None]] = {}
        with gc_paused():
            self._build()

    # construction ---------------------------------------------------------------
    def _build(self) -> None:
        self.root.context = "main"
        by_name = self._by_name
        shared = self._shared_levels
        block_index = self._block_index
        block_index[self.root] = _index_children(self.root)
        stack: list[tuple[Node, str]] = [(child, "main") for child in reversed(self.root.block or ())]
        while stack:
            node, context = stack.pop()
            by_name.setdefault(node.name, []).append(node)
            node.context = context
            if node.block is not None:
                if node.parent is not None:
                    shared.add(node.parent)
                inner = _inner_context(node.name, context)
                if inner == "custom":
                    continue
                # Built here, in the one walk, rather than on first ask: rules
                # ask for the children of every block by name many times.
                block_index[node] = _index_children(node)
                for child in reversed(node.block):
                    stack.append((child, inner))
        for node in by_name.get("upstream", ()):
            if node.block is None or not node.args:
                continue
            upstream = Upstream(node.args[0], node)
            for child in node.block:
                if child.name == "server":
                    upstream.servers.append(parse_upstream_server(child))
                else:
                    upstream.directives.setdefault(child.name, []).append(child)
            table = self.stream_upstreams if node.context == "stream" else self.upstreams
            table.setdefault(upstream.name, upstream)
        by_lower_name = {name.lower(): upstream for name, upstream in reversed(list(self.upstreams.items()))}
        for name, module in PASS_MODULES.items():
            for node in by_name.get(name, ()):
                if not node.args or node.parent is None or node.context in ("stream_server", "stream"):
                    continue
                target = parse_target(module, node.args[0])
                if target.host and target.unix_path is None and not has_variables(target.host):
                    # nginx compares upstream names case-insensitively
                    target.upstream = by_lower_name.get(target.host.lower())
                self.pass_sites.append(PassSite(node, module, target, node.parent, self))
        self.pass_sites.sort(key=lambda s: (s.node.file, s.node.line))

    # queries --------------------------------------------------------------------
    def nodes(self, name: str) -> list[Node]:
        """Every directive called `name`, in file order (includes spliced in)."""
        return self._by_name.get(name, [])

    def names(self) -> list[str]:
        """Every directive name used in the config."""
        return list(self._by_name)

    def context_of(self, node: Node) -> str:
        return node.context or context_of_node(node)

    def context_inside(self, block: Node) -> str:
        if block is self.root:
            return "main"
        return _inner_context(block.name, self.context_of(block))

    def children(self, block: Node, name: str) -> list[Node]:
        index = self._block_index.get(block)
        if index is None:  # a block of a custom context, or one a rule made
            index = self._block_index[block] = _index_children(block)
        found = index.get(name)
        if found is None:
            return []
        return found if type(found) is list else [found]  # type: ignore[list-item]

    def scope_chain(self, block: Node) -> Iterator[Node]:
        """`block` and the blocks it inherits from, innermost first, up to http/stream/main."""
        node: Node | None = block
        while node is not None:
            yield node
            if node.name in _SCOPE_ROOTS or node.parent is None:
                return
            node = node.parent

    def effective(self, block: Node, name: str) -> Setting:
        """The directive(s) `name` in effect inside `block`.

        Scalars: the innermost level that sets it. Array directives
        (proxy_set_header, add_header, fastcgi_param …): all of them from the
        innermost level that sets any, because such a level inherits none.
        """
        # Rules ask this for every pass site and several names; the model never
        # changes, so an answer is stored at the level that gives it (the one
        # that sets the directive, or the top for a default) when that level
        # has blocks inside, and every block below finds it there within a
        # few hops. Levels that only pass an answer down do not store a copy:
        # on big trees those copies were most of what the rules kept in memory.
        # Innermost blocks are not stored: there are many and each is cheap.
        # Keys hold the node itself, not id(): a temporary node a rule makes
        # could reuse the id of another.
        cache = self._effective
        answers = cache.get(block)
        if answers is not None:
            setting = answers.get(name)
            if setting is not None:
                return setting
        family, default = self._inheritance(name)
        unanswered: list[Node] = []
        setting = None
        block_index = self._block_index
        level: Node | None = block
        while level is not None:
            answers = cache.get(level)
            if answers is not None:
                setting = answers.get(name)
                if setting is not None:
                    return setting
            unanswered.append(level)
            index = block_index.get(level)
            if index is None:
                index = block_index[level] = _index_children(level)
            if family is None:
                found = index.get(name)
                if found is not None:
                    setting = Setting(name, (found[0] if type(found) is list else found,), default)  # type: ignore[index]
                    break
            elif any(member in index for member in family):
                found = index.get(name)
                nodes = () if found is None else tuple(found) if type(found) is list else (found,)
                setting = Setting(name, nodes, default)  # type: ignore[arg-type]
                break
            if level.name in _SCOPE_ROOTS or level.parent is None:
                break
            level = level.parent
        if setting is None:
            setting = Setting(name, (), default)
        answered_at = unanswered[-1]  # where it is set, or the top of the scope
        if answered_at in self._shared_levels:
            answers = cache.get(answered_at)
            if answers is None:
                answers = cache[answered_at] = {}
            answers[name] = setting
        return setting

    def _inheritance(self, name: str) -> tuple[frozenset[str] | None, str | None]:
        """(the names sharing one inherited array with `name`, or None for a scalar; its default).

        allow and deny share one list: a level with either drops both from above.
        """
        facts = self._name_facts.get(name)
        if facts is None:
            from . import directives

            family = (directives.shared_array(name) or frozenset({name})) if directives.is_array_directive(name) else None
            facts = self._name_facts[name] = (family, directives.default_text(name))
        return facts

    def defining_level(self, block: Node, name: str) -> Node | None:
        for level in self.scope_chain(block):
            if self.children(level, name):
                return level
        return None

    def blocks(self, name: str) -> list[Node]:
        return [n for n in self.nodes(name) if n.block is not None]

    def http_servers(self) -> list[Node]:
        return [n for n in self.blocks("server") if self.context_of(n) == "http"]

    def enclosing(self, node: Node, name: str) -> Node | None:
        for block in node.ancestors():
            if block.name == name:
                return block
        return None

    def source(self, path: str) -> SourceFile | None:
        return self.config.files.get(path)

    def describe(self, block: Node) -> str:
        """Human words for a block: `location /api (server example.com)`."""
        if block is self.root or block.name == "":
            return "the main context"
        if block.synthetic:
            return f"this fragment (read as {self.context_inside(block)} context)"
        if block.name == "http":
            return "the http block"
        own = f"{block.name} {' '.join(block.args)}".strip()
        if block.name == "if":
            own = f"if ({' '.join(block.args)})"
        server = block if block.name == "server" else self.enclosing(block, "server")
        if server is None or server.synthetic:
            return own
        label = self.server_label(server)
        return f"server {label}" if server is block else f"{own} (server {label})"

    def server_label(self, server: Node) -> str:
        names = self.children(server, "server_name")
        if names and names[0].args and names[0].args[0] not in ("_", '""', ""):
            return names[0].args[0]
        listens = self.children(server, "listen")
        if listens and listens[0].args:
            return f"listening on {listens[0].args[0]}"
        return f"at {server.file}:{server.line}" if not server.synthetic else "(fragment)"


def _inner_context(name: str, outer: str) -> str:
    if name == "http":
        return "http"
    if name == "server":
        return {"http": "server", "stream": "stream_server", "mail": "mail_server"}.get(outer, "server")
    if name == "location":
        return "location"
    if name == "if":
        return "server_if" if outer == "server" else "location_if"
    if name == "limit_except":
        return "limit_except"
    if name == "upstream":
        return "stream_upstream" if outer == "stream" else "upstream"
    if name in ("events", "stream", "mail"):
        return name
    if name in _CUSTOM_BODY or _LUA_OR_OPAQUE.search(name):
        return "custom"
    return name
