"""Where nginx connects: every address a pass directive or an upstream `server` names.

The U rules ask the same questions of each address: is it `localhost`, an IP,
a unix socket, a hostname resolved once at start-up, a name resolved per
request? This module lists the addresses once per model (literal pass targets,
variable pass targets whose `set`/`map` values the config spells out, http and
stream upstream servers, stream `proxy_pass`) and classifies hosts the way
nginx treats them.
"""
from __future__ import annotations

import ipaddress
import itertools
import posixpath
import re
import weakref
from functools import lru_cache
from typing import NamedTuple

from .model import Model, PassSite, Target, Upstream, UpstreamServer, has_variables, is_ip, parse_target
from .parse import Node

_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_DOTTED_DIGITS = re.compile(r"[0-9.]+")
_MAX_EXPANSIONS = 32
_MAX_DEPTH = 4
# Variables whose value is the request's (or the machine's) data: a host built
# from them is a DNS name nginx must resolve per request.
_REQUEST_VARIABLE = re.compile(r"^(host|http_\w+|arg_\w+|cookie_\w+|server_name|hostname|\d+)$")
_DYNAMIC_BALANCER = re.compile(r"_by_lua(_block|_file)?$|^js_|^upsync|^dynamic_upstream")
DOCKER_DNS = "127.0.0.11"


# --- hosts ---------------------------------------------------------------------------

def is_localhost(host: str | None) -> bool:
    return host is not None and host.lower().rstrip(".") == "localhost"


def is_hostname(host: str | None) -> bool:
    """A DNS name: not an IP, not `localhost`, no variables."""
    if not host:
        return False
    return not is_ip(host) and not is_localhost(host) and not has_variables(host)


def is_single_label(host: str) -> bool:
    return "." not in host.rstrip(".")


def ip_of(host: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if host is None:
        return None
    return _parse_ip(host.strip("[]"))


@lru_cache(maxsize=65536)  # pure, and several U rules ask about every address of a big tree
def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if ":" not in text and not _DOTTED_DIGITS.fullmatch(text):
        return None  # neither a dotted quad nor IPv6 (which has a colon): spares the ValueError
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def find_upstream(model: Model, name: str | None, stream: bool = False) -> Upstream | None:
    """The `upstream` block called `name`: nginx compares the names case-insensitively."""
    if not name:
        return None
    table = model.stream_upstreams if stream else model.upstreams
    found = table.get(name)
    if found is not None:
        return found
    lowered = name.lower()
    for upstream_name, upstream in table.items():
        if upstream_name.lower() == lowered:
            return upstream
    return None


def closest_upstream(model: Model, name: str, cutoff: float = 0.6) -> str | None:
    import difflib  # here: only a pass to a single-label host that no upstream defines gets this far

    names = {n.lower(): n for n in model.upstreams}
    match = difflib.get_close_matches(name.lower(), list(names), n=1, cutoff=cutoff)
    return names[match[0]] if match else None


def normalized_socket_path(path: str) -> str:
    """`///run//app.sock` -> `/run/app.sock`: the same file for the kernel, in the form people read."""
    if path.startswith("/"):
        return posixpath.normpath("/" + path.lstrip("/"))
    return path


def with_host(address: str, new_host: str) -> str:
    """`http://localhost:8000/x` with host 127.0.0.1 -> `http://127.0.0.1:8000/x`."""
    scheme_end = address.find("://")
    start = scheme_end + 3 if scheme_end >= 0 else 0
    rest = address[start:]
    if rest.startswith("["):
        end = rest.find("]") + 1
    else:
        match = re.match(r"[^:/?]*", rest)
        end = match.end() if match else 0
    if ":" in new_host and not new_host.startswith("["):
        new_host = f"[{new_host}]"
    return address[:start] + new_host + rest[end:]


# --- variables -----------------------------------------------------------------------

class Expansion(NamedTuple):  # NamedTuples, not dataclasses, as every lint imports this: see findings.py
    """A text with the variables the config gives a value for substituted."""

    text: str
    sources: tuple[Node, ...] = ()
    unknown: tuple[str, ...] = ()


def variable_names(text: str) -> list[str]:
    return [m.group(1) or m.group(2) for m in _VARIABLE.finditer(text)]


def is_request_variable(name: str) -> bool:
    return _REQUEST_VARIABLE.match(name) is not None


def _rewrite_levels(model: Model, block: Node) -> list[Node]:
    """The blocks whose `set` directives run for a request handled in `block`.

    An `if` runs inside its location; a nested location does not run its parent
    location's rewrite directives; the server's run first.
    """
    levels: list[Node] = []
    node: Node | None = block
    if node is not None and node.name in ("if", "limit_except"):
        levels.append(node)
        node = node.parent
    if node is not None and node.name == "location":
        levels.append(node)
    server = block if block.name == "server" else model.enclosing(block, "server")
    if server is not None:
        levels.append(server)
    return levels


def _set_values(model: Model, block: Node, name: str) -> list[tuple[str, Node]]:
    values: list[tuple[str, Node]] = []
    wanted = (f"${name}", f"${{{name}}}")
    for level in _rewrite_levels(model, block):
        unconditional: list[tuple[str, Node]] = []
        for child in level.block or ():
            if child.name == "set" and len(child.args) == 2 and child.args[0] in wanted:
                unconditional.append((child.args[1], child))
            elif child.name == "if" and child is not block:
                for inner in child.block or ():
                    if inner.name == "set" and len(inner.args) == 2 and inner.args[0] in wanted:
                        values.append((inner.args[1], inner))
        if unconditional:
            values.append(unconditional[-1])
            return values
    return values


def _map_values(model: Model, name: str) -> list[tuple[str, Node]]:
    wanted = f"${name}"
    values: list[tuple[str, Node]] = []
    for kind in ("map", "split_clients"):
        for node in model.blocks(kind):
            if len(node.args) != 2 or node.args[1] != wanted:
                continue
            has_default = False
            for entry in node.block or ():
                if entry.name in ("hostnames", "volatile", "include"):
                    continue
                has_default |= entry.name == "default" or entry.name == "*"
                if entry.args:
                    values.append((entry.args[0], node))
            if kind == "map" and not has_default:
                values.append(("", node))
    return values


def _substitute(text: str, name: str, value: str) -> str:
    pattern = re.compile(r"\$(\{" + re.escape(name) + r"\}|" + re.escape(name) + r"(?!\w))")
    return pattern.sub(lambda _match: value, text)


def expand(model: Model, block: Node, text: str, depth: int = 0) -> list[Expansion]:
    """Every value `text` can take from `set`/`map` in scope; unknown variables stay as `$name`."""
    names = list(dict.fromkeys(variable_names(text)))
    if not names:
        return [Expansion(text)]
    choices: list[list[Expansion]] = []
    for name in names:
        found = _set_values(model, block, name) or _map_values(model, name)
        if not found or depth >= _MAX_DEPTH:
            choices.append([Expansion(f"${name}", (), (name,))])
            continue
        options: list[Expansion] = []
        for value, node in found:
            for inner in expand(model, block, value, depth + 1):
                options.append(Expansion(inner.text, (node, *inner.sources), inner.unknown))
        choices.append(options[:_MAX_EXPANSIONS])
    results: list[Expansion] = []
    for combo in itertools.islice(itertools.product(*choices), _MAX_EXPANSIONS):
        substituted = text
        for name, option in zip(names, combo, strict=True):
            substituted = _substitute(substituted, name, option.text)
        sources = tuple(dict.fromkeys(n for option in combo for n in option.sources))
        unknown = tuple(dict.fromkeys(u for option in combo for u in option.unknown))
        results.append(Expansion(substituted, sources, unknown))
    return results


# --- destinations --------------------------------------------------------------------

class Destination(NamedTuple):
    """One address nginx connects to, and the directive that says so."""

    node: Node
    module: str
    host: str | None = None
    port: int | None = None
    unix_path: str | None = None
    scheme: str | None = None
    uri: str | None = None
    raw: str = ""
    runtime: bool = False
    sources: tuple[Node, ...] = ()
    site: PassSite | None = None
    upstream: Upstream | None = None
    server: UpstreamServer | None = None
    stream: bool = False

    @property
    def is_unix(self) -> bool:
        return self.unix_path is not None

    @property
    def address(self) -> str:
        if self.unix_path is not None:
            return f"unix:{self.unix_path}"
        host = f"[{self.host}]" if self.host and ":" in self.host else (self.host or "")
        return f"{host}:{self.port}" if self.port is not None else host

    @property
    def edit_node(self) -> Node:
        """The directive whose text holds the address: a `set` for variable targets."""
        for source in reversed(self.sources):
            if source.name == "set":
                return source
        return self.node

    @property
    def edit_text(self) -> str:
        node = self.edit_node
        if node is self.node:
            return node.args[0] if node.args else ""
        return node.args[1] if len(node.args) > 1 else ""

    def describe(self) -> str:
        """`proxy_pass http://localhost:8000 at app.conf:12` or `server localhost:8000 in upstream app at …`."""
        if self.server is not None and self.upstream is not None:
            kind = "stream upstream" if self.stream else "upstream"
            return f"server {self.server.address} in {kind} {self.upstream.name} at {self.node.where}"
        text = f"{self.node.name} {' '.join(self.node.args[:1])} at {self.node.where}"
        if self.runtime:
            via = ", ".join(f"{n.name} at {n.where}" for n in self.sources) or "variables"
            text += f" (= {self.raw} from {via})"
        return text

    def context(self, model: Model) -> str:
        if self.site is not None:
            return self.site.describe()
        if self.upstream is not None:
            return f"upstream {self.upstream.name}"
        parent = self.node.parent
        return model.describe(parent) if parent is not None else ""


# Every U rule asks for the same list of one model; build it once.
_CACHE: weakref.WeakKeyDictionary[Model, list[Destination]] = weakref.WeakKeyDictionary()


def destinations(model: Model) -> list[Destination]:
    """Every address of the config, in file order; upstream names are followed to their servers."""
    found = _CACHE.get(model)
    if found is None:
        found = _CACHE[model] = _collect(model)
    return found


def _collect(model: Model) -> list[Destination]:
    found: list[Destination] = []
    for site in model.pass_sites:
        found.extend(_site_destinations(model, site))
    for upstream in model.upstreams.values():
        found.extend(_server_destination(upstream, server, stream=False) for server in upstream.servers)
    for upstream in model.stream_upstreams.values():
        found.extend(_server_destination(upstream, server, stream=True) for server in upstream.servers)
    for node in model.nodes("proxy_pass"):
        if model.context_of(node) == "stream_server" and node.args and not has_variables(node.args[0]):
            stream_target = _stream_destination(model, node)
            if stream_target is not None:
                found.append(stream_target)
    found.sort(key=lambda d: (d.node.file, d.node.line))
    return found


def parse_pass_target(module: str, raw: str) -> Target:
    """`parse_target`, plus what nginx also accepts: `unix:///path` for every module, and
    arguments right after the host (`http://backend?src=web`: the host ends at `?`)."""
    if module != "proxy" and raw.lower().startswith("unix:/"):
        return Target(raw=raw, unix_path=raw[5:], variables=has_variables(raw))
    scheme_end = raw.find("://")
    start = scheme_end + 3 if scheme_end >= 0 else 0
    slash, question = raw.find("/", start), raw.find("?", start)
    if module in ("proxy", "grpc") and question >= 0 and (slash < 0 or question < slash):
        target = parse_target(module, raw[:question] + "/" + raw[question:])
        target.raw = raw
        target.uri = target.uri[1:] if target.uri else target.uri
        return target
    return parse_target(module, raw)


def _site_destinations(model: Model, site: PassSite) -> list[Destination]:
    target = site.target
    if not target.variables:
        target = parse_pass_target(site.module, target.raw)
    if target.error:
        return []
    if not target.variables:
        if target.unix_path is None and find_upstream(model, target.host) is not None:
            return []
        return [_from_target(site, target, target.raw)]
    result: list[Destination] = []
    for expansion in expand(model, site.block, target.raw):
        if expansion.unknown:
            continue
        resolved = parse_pass_target(site.module, expansion.text)
        if resolved.error or (resolved.unix_path is None and not resolved.host):
            continue
        if resolved.unix_path is None and resolved.port is None and find_upstream(model, resolved.host) is not None:
            continue
        result.append(_from_target(site, resolved, expansion.text, runtime=True, sources=expansion.sources))
    return result


def _from_target(site: PassSite, target: Target, raw: str, runtime: bool = False, sources: tuple[Node, ...] = ()) -> Destination:
    return Destination(
        node=site.node, module=site.module, host=target.host, port=target.port,
        unix_path=target.unix_path, scheme=target.scheme, uri=target.uri, raw=raw,
        runtime=runtime, sources=sources, site=site,
    )


def _server_destination(upstream: Upstream, server: UpstreamServer, stream: bool) -> Destination:
    return Destination(
        node=server.node, module="stream" if stream else "upstream", host=server.host, port=server.port,
        unix_path=server.unix_path, raw=server.address, upstream=upstream, server=server, stream=stream,
    )


def _stream_destination(model: Model, node: Node) -> Destination | None:
    raw = node.args[0]
    if raw.lower().startswith("unix:"):
        return Destination(node=node, module="stream", unix_path=raw[5:], raw=raw, stream=True)
    host, _, port_text = raw.rpartition(":") if not raw.startswith("[") else (raw[1:raw.find("]")], "", raw[raw.find("]") + 2:])
    if not host or not port_text.isdigit():
        return None  # an upstream name (no port), or malformed
    if find_upstream(model, host, stream=True) is not None:
        return None
    return Destination(node=node, module="stream", host=host, port=int(port_text), raw=raw, stream=True)


# --- config-wide facts ------------------------------------------------------------------

def is_fragment(model: Model) -> bool:
    """The linted file is a piece of a config (a site file): other files may define upstreams."""
    return model.config.fragment_context is not None


def unseen_http_config(model: Model, on_host: bool = False) -> bool:
    """Some http-level config may be missing from what we read: a fragment, or includes that matched nothing.

    On the host an include that matches nothing is empty for nginx too.
    """
    if is_fragment(model):
        return True
    if on_host:
        return False
    return any(not targets and model.context_of(node) in ("http", "upstream") for node, targets in model.config.includes)


def looks_like_docker(model: Model) -> bool:
    """The config reads like nginx inside Docker/Compose: its embedded DNS, or container names."""
    for node in model.nodes("resolver"):
        if any(arg.split(":")[0] == DOCKER_DNS for arg in node.args):
            return True
    for dest in destinations(model):
        if dest.runtime or not dest.host or not is_hostname(dest.host):
            continue
        if dest.host.endswith(".docker.internal") or (is_single_label(dest.host) and dest.port is not None):
            return True
    return False


def dynamic_balancer(upstream: Upstream) -> bool:
    """Peers chosen by Lua/njs or filled in by a third-party module: the `server` lines are placeholders."""
    return any(_DYNAMIC_BALANCER.search(name) for name in upstream.directives)


def upstream_is_referenced(model: Model, upstream: Upstream) -> bool:
    """The upstream's name appears in some pass target, `set`, `map` or other argument."""
    name = upstream.name.lower()
    pattern = re.compile(r"(^|[/:;\s\"'])" + re.escape(name) + r"($|[/:;\s\"'])")
    for node in model.root.walk():
        if node is upstream.node:
            continue
        if node.name in ("upstream", "server") and model.context_of(node) in ("upstream", "stream_upstream"):
            continue
        for arg in (node.name, *node.args):
            if pattern.search(arg.lower()):
                return True
    return False


# --- U302's judgement, shared with U305 ---------------------------------------------------

def has_default_port(dest: Destination) -> bool:
    """Whether nginx can connect to the host without a port: only http(s):// and grpc(s):// have one."""
    return dest.server is not None or dest.scheme in ("http", "https", "grpc", "grpcs")


def maybe_upstream_elsewhere(model: Model, dest: Destination, on_host: bool = False) -> bool:
    """A port-less single-label name that an upstream in an unread file may define."""
    host = dest.host or ""
    return (dest.server is None and dest.port is None and is_single_label(host)
            and (not has_default_port(dest) or unseen_http_config(model, on_host)))


class UndefinedName(NamedTuple):
    """A host that reads like an upstream name nobody defined."""

    reason: str  # "typo", "single-label", "names-upstream"
    severity: str | None  # None: the rule's default (error)
    suggestion: str | None


def undefined_upstream(model: Model, dest: Destination, on_host: bool = False) -> UndefinedName | None:
    host = dest.host
    if dest.stream or dest.is_unix or host is None or not is_hostname(host) or not is_single_label(host):
        return None
    if dest.server is not None:
        other = find_upstream(model, host)
        if other is not None and other is not dest.upstream and dest.port is None:
            return UndefinedName("names-upstream", None, other.name)
        return None
    if find_upstream(model, host) is not None:
        return None
    if dest.port is None and not has_default_port(dest):
        return None  # `fastcgi_pass php;`: nginx says "no port in upstream", E005's finding
    suggestion = closest_upstream(model, host, cutoff=0.6 if dest.port is None else 0.8)
    verdict: UndefinedName | None
    if suggestion is not None:
        verdict = UndefinedName("typo", None, suggestion)
    elif dest.port is None and not looks_like_docker(model):
        verdict = UndefinedName("single-label", "warning", None)
    else:
        return None
    unseen = unseen_http_config(model, on_host)
    if verdict.reason != "typo" and (dest.runtime or unseen):
        return None  # the upstream may be defined in a file we did not read
    if dest.runtime or unseen:
        return UndefinedName(verdict.reason, "warning", verdict.suggestion)
    return verdict
