"""Where a pass directive really sends requests, and which php-fpm pool (if any) is there.

A pass site's target may be a literal address, an `upstream` block's servers, or a
variable filled by `set` (`set $php unix:/run/php/php8.2-fpm.sock; fastcgi_pass $php;`).
Each address keeps the directive that spells it, so a fix edits the right line.
"""
from __future__ import annotations

import os
import re
import weakref
from typing import TYPE_CHECKING, NamedTuple

from .model import Model, PassSite, Upstream, has_variables, is_ip, parse_target
from .parse import Node, format_directive

if TYPE_CHECKING:
    from .phpfpm import Pool

_SIMPLE_VARIABLE = re.compile(r"^\$(?:\{(\w+)\}|(\w+))$")


class BackendAddress(NamedTuple):
    node: Node                 # the directive that spells the address
    kind: str                  # "unix" or "tcp"
    host: str | None = None
    port: int | None = None
    path: str | None = None
    via: str = ""              # "" (literal), "upstream php", "set $socket"

    @property
    def text(self) -> str:
        """The address as nginx writes it in a fastcgi_pass / upstream server."""
        if self.kind == "unix":
            return f"unix:{self.path}"
        host = f"[{self.host}]" if self.host and ":" in self.host else (self.host or "")
        return f"{host}:{self.port}" if self.port is not None else host

    @property
    def names_other_host(self) -> bool:
        """A name that is neither an IP nor localhost: another container or machine, usually."""
        return self.kind == "tcp" and self.host is not None and not is_ip(self.host) and self.host.lower() != "localhost"


def spelled(address: BackendAddress) -> str:
    """How the address appears in the config: `fastcgi_pass unix:/x.sock;`, `server …;` of upstream php."""
    text = f"`{address.node.text()}`"
    if address.via.startswith("upstream "):
        return f"{text} of {address.via}"
    if address.via.startswith("set "):
        return f"{text}, passed by `fastcgi_pass {address.via[4:]}`"
    return text


def site_addresses(model: Model, site: PassSite) -> list[BackendAddress] | None:
    """Every address the site can reach, or None when it cannot be known from the config."""
    target = site.target
    if target.error:
        return None
    if target.variables:
        return _addresses_from_set(model, site)
    if target.upstream is not None:
        return _addresses_of_upstream(model, target.upstream)
    if target.unix_path is not None:
        return [BackendAddress(site.node, "unix", path=target.unix_path)]
    if target.host is None:
        return None
    port = target.effective_port()
    if port is None:
        return None
    return [BackendAddress(site.node, "tcp", host=target.host, port=port)]


# Several rules ask this for every site, and big trees send thousands of sites to one upstream.
_UPSTREAM_ADDRESSES: weakref.WeakKeyDictionary[Model, dict[Node, tuple[BackendAddress, ...]]] = weakref.WeakKeyDictionary()


def _addresses_of_upstream(model: Model, upstream: Upstream) -> list[BackendAddress]:
    known = _UPSTREAM_ADDRESSES.get(model)
    if known is None:
        known = _UPSTREAM_ADDRESSES[model] = {}
    addresses = known.get(upstream.node)
    if addresses is None:
        addresses = known[upstream.node] = tuple(_upstream_addresses(upstream.name, upstream.servers))
    return list(addresses)


def _upstream_addresses(name: str, servers: list) -> list[BackendAddress]:  # type: ignore[type-arg]
    found: list[BackendAddress] = []
    for server in servers:
        if server.down:
            continue
        if server.unix_path is not None:
            found.append(BackendAddress(server.node, "unix", path=server.unix_path, via=f"upstream {name}"))
        elif server.host:
            # An upstream server without a port means port 80.
            found.append(BackendAddress(server.node, "tcp", host=server.host, port=server.port or 80, via=f"upstream {name}"))
    return found


def _addresses_from_set(model: Model, site: PassSite) -> list[BackendAddress] | None:
    match = _SIMPLE_VARIABLE.match(site.target.raw)
    if match is None:
        return None
    variable = "$" + (match.group(1) or match.group(2))
    if any(node.args and node.args[0] == variable for node in model.nodes("map")):
        return None
    setters = _setters_in_scope(model, site.block, variable)
    if not setters:
        return None
    found: list[BackendAddress] = []
    for node in setters:
        value = node.args[1] if len(node.args) > 1 else ""
        if has_variables(value):
            return None
        target = parse_target(site.module, value)
        if target.error:
            return None
        if target.unix_path is not None:
            found.append(BackendAddress(node, "unix", path=target.unix_path, via=f"set {variable}"))
            continue
        upstream = model.upstreams.get(target.host or "")
        if upstream is not None and target.port is None:
            found.extend(_upstream_addresses(upstream.name, upstream.servers))
        elif target.host and target.effective_port() is not None:
            found.append(BackendAddress(node, "tcp", host=target.host, port=target.effective_port(), via=f"set {variable}"))
        else:
            return None
    return found


def _setters_in_scope(model: Model, block: Node, variable: str) -> list[Node]:
    """`set $var …` at the innermost level that sets it, plus the `if` blocks beside it."""
    for level in model.scope_chain(block):
        direct = [n for n in model.children(level, "set") if n.args and n.args[0] == variable]
        conditional = [
            n for branch in model.children(level, "if") for n in model.children(branch, "set")
            if n.args and n.args[0] == variable
        ]
        if direct or conditional:
            return direct + conditional
    return []


# --- pools ------------------------------------------------------------------------

# Debian's php-fpm packages point this alternatives symlink at the default version's socket.
_DEBIAN_ALTERNATIVE = "/run/php/php-fpm.sock"
_DEBIAN_VERSIONED = re.compile(r"^/run/php/php\d+(\.\d+)?-fpm\.sock$")


def pool_reaches(pool: Pool, address: BackendAddress, host: bool = False) -> bool:
    """Could nginx reach this pool at this address? With `host`, symlinks on this machine count."""
    listen = pool.listen
    if listen is None:
        return False
    if listen.kind == "unix" and address.kind == "unix" and listen.path and address.path and not listen.has_env_reference:
        return _same_socket(address.path, listen.path, host)
    return listen.matches_nginx_target(address.kind, host=address.host, port=address.port, path=address.path)


def _same_socket(nginx_path: str, pool_path: str, host: bool) -> bool:
    if not os.path.isabs(pool_path):
        # php-fpm puts its own prefix before a relative path; any prefix could be meant.
        return os.path.normpath(nginx_path).endswith("/" + os.path.normpath(pool_path))
    if host and os.path.realpath(nginx_path) == os.path.realpath(pool_path):
        return True
    nginx_path, pool_path = _canonical(nginx_path), _canonical(pool_path)
    if nginx_path == pool_path:
        return True
    return nginx_path == _DEBIAN_ALTERNATIVE and _DEBIAN_VERSIONED.match(pool_path) is not None


def _canonical(path: str) -> str:
    """/var/run is a symlink to /run on every current distribution."""
    path = os.path.normpath(path)
    return "/run" + path[len("/var/run"):] if path == "/var/run" or path.startswith("/var/run/") else path


def pools_at(pools: list[Pool], address: BackendAddress, host: bool = False) -> list[Pool]:
    return [pool for pool in pools if pool_reaches(pool, address, host)]


def closest_pool(pools: list[Pool], address: BackendAddress) -> Pool:
    """The pool the author most likely meant: same kind, then the most similar address."""
    import difflib  # only F401 asks, on runs that read php-fpm pools

    def score(pool: Pool) -> tuple[int, int, float]:
        assert pool.listen is not None
        same_kind = int(pool.listen.kind == address.kind)
        same_port = int(address.kind == "tcp" and pool.listen.port == address.port)
        mine = (address.path or "") if address.kind == "unix" else f"{address.host}:{address.port}"
        theirs = pool.listen.raw
        return same_kind, same_port, difflib.SequenceMatcher(None, mine, theirs).ratio()

    return max(pools, key=score)


def pool_address_for(pool: Pool, address: BackendAddress) -> str:
    """The pool's listener as nginx should name it from where `address` points now."""
    listen = pool.listen
    assert listen is not None
    if listen.kind == "unix":
        return f"unix:{listen.path}"
    if listen.all_interfaces:
        # Keep nginx's host (a Docker service name still works); from a unix socket, use loopback.
        host = address.host if address.kind == "tcp" and address.host else "127.0.0.1"
    else:
        host = listen.host or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{listen.port}"


def replacement(address: BackendAddress, new_address: str) -> str:
    """The directive that spells `address`, rewritten to point at `new_address`."""
    node = address.node
    if node.name == "set":
        return format_directive("set", [node.args[0], new_address])
    return format_directive(node.name, [new_address, *node.args[1:]])


# --- what the backend is meant to be --------------------------------------------------

_PHP_WORD = re.compile(r"php|fpm", re.IGNORECASE)


def looks_like_php(
    model: Model, site: PassSite, addresses: list[BackendAddress] | None = None, port_counts: bool = True
) -> bool:
    """Evidence in the address or the location itself that a pass site is meant for php-fpm.

    Server-wide hints (`index index.php`) are not enough: fcgiwrap locations inherit them.
    `port_counts`: whether php-fpm's default port 9000 alone is evidence.
    """
    texts = [site.target.raw, *(a.text for a in addresses or ())]
    if site.target.upstream is not None:
        texts.append(site.target.upstream.name)
    if any(_PHP_WORD.search(text) for text in texts):
        return True
    if port_counts and any(a.kind == "tcp" and a.port == 9000 for a in addresses or ()):
        return True
    for level in model.scope_chain(site.block):
        if level.name not in ("location", "if"):
            break
        if level.name == "location" and any("php" in arg.lower() for arg in level.args):
            return True
        for name in ("fastcgi_index", "try_files", "include"):
            if any(_PHP_WORD.search(arg) for node in model.children(level, name) for arg in node.args):
                return True
    return False
