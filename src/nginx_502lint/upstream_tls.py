"""TLS from nginx to the backend: which pass sites speak it and with which settings.

`proxy_pass https://`, `grpc_pass grpcs://` and `uwsgi_pass suwsgi://` each
have their own `*_ssl_*` family. The SNI and certificate name default to
`$proxy_host`: the host part of the pass target, i.e. the **upstream block's
name** when one is used. Protocol defaults follow nginx's
NGX_SSL_DEFAULT_PROTOCOLS, shared by `ssl_protocols` and every `*_ssl_protocols`.
"""
from __future__ import annotations

import ipaddress
from typing import NamedTuple

from .engine import RuleContext
from .model import Model, PassSite, Setting, is_ip
from .parse import Node

TLS_SCHEMES = {"proxy": "https", "grpc": "grpcs", "uwsgi": "suwsgi"}

# (first version with this default, protocols), newest first
_PROTOCOL_DEFAULTS = (
    ((1, 27, 3), ("TLSv1.2", "TLSv1.3")),
    ((1, 23, 4), ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")),
    ((0, 0, 0), ("TLSv1", "TLSv1.1", "TLSv1.2")),
)
MODERN = ("TLSv1.2", "TLSv1.3")


def speaks_tls(site: PassSite) -> bool:
    scheme = TLS_SCHEMES.get(site.module)
    return scheme is not None and site.target.scheme == scheme


def builds_tls_context(site: PassSite) -> bool:
    """nginx prepares TLS for this site at load time: a TLS scheme, or any variable target."""
    return site.module in TLS_SCHEMES and (speaks_tls(site) or site.target.variables)


def ssl_setting(site: PassSite, suffix: str) -> Setting:
    return site.setting(f"ssl_{suffix}")


def is_on(setting: Setting) -> bool:
    return setting.node is not None and bool(setting.node.args) and setting.node.args[0].lower() == "on"


def backend_hostnames(site: PassSite) -> list[str]:
    """The DNS names the site connects to (not IPs, not unix sockets), in order."""
    target = site.target
    if target.upstream is not None:
        names = [s.host for s in target.upstream.servers if s.host and not is_ip(s.host) and s.unix_path is None]
        return list(dict.fromkeys(names))
    if target.host and not target.variables and not target.host_is_ip and not target.is_unix:
        return [target.host]
    return []


class TlsName(NamedTuple):
    """The name nginx sends as SNI and checks the certificate against."""

    value: str
    node: Node | None  # the *_ssl_name in effect; None when it is $proxy_host

    @property
    def is_upstream_block_name(self) -> bool:
        return self.node is None


def tls_name(site: PassSite) -> TlsName | None:
    setting = ssl_setting(site, "name")
    if setting.node is not None and setting.node.args:
        return TlsName(setting.node.args[0], setting.node)
    if site.target.variables or not site.target.host:
        return None
    return TlsName(site.target.host, None)


# --- protocols ---------------------------------------------------------------------

def default_protocols(version: tuple[int, ...] | None) -> tuple[str, ...] | None:
    if version is None:
        return None
    for since, protocols in _PROTOCOL_DEFAULTS:
        if version >= since:
            return protocols
    return None


def default_protocols_words(version: tuple[int, ...] | None) -> str:
    for since, protocols in _PROTOCOL_DEFAULTS:
        if version is not None and version >= since:
            start = f"since {'.'.join(map(str, since))}" if since > (0, 0, 0) else "before 1.23.4"
            return f"{' '.join(protocols)} (the default {start})"
    return "the version's default"


class Protocols(NamedTuple):
    values: tuple[str, ...] | None  # None: the default of an unknown version
    node: Node | None

    def describe(self, version: tuple[int, ...] | None) -> str:
        if self.node is not None:
            return f"{self.node.text().rstrip(';')} at {self.node.where}"
        return default_protocols_words(version)


def protocols_in(ctx: RuleContext, model: Model, block: Node, directive: str) -> Protocols:
    setting = model.effective(block, directive)
    if setting.node is not None:
        return Protocols(tuple(setting.node.args), setting.node)
    return Protocols(default_protocols(ctx.version), None)


# --- a backend served by this same config -------------------------------------------

_LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _listen_port_and_address(node: Node) -> tuple[int | None, str | None]:
    text = node.args[0] if node.args else ""
    if not text or text.startswith("unix:"):
        return None, None
    if text.isdigit():
        return int(text), None
    if text.startswith("["):
        address, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif ":" in text:
        address, _, port_text = text.rpartition(":")
    else:
        address, port_text = text, ""
    if not port_text:
        return 80, address
    return (int(port_text) if port_text.isdigit() else None), address


def local_tls_server(model: Model, host: str, port: int) -> Node | None:
    """The server block of this config that answers a TLS handshake to host:port, if any.

    The handshake runs with the **default server** of the listening socket (its
    `ssl_protocols` decide the protocol even when SNI later selects another
    server), so that is the block returned.
    """
    candidates: list[tuple[Node, Node]] = []
    for server in model.http_servers():
        ssl_on = any(node.args[:1] == ["on"] for node in model.children(server, "ssl"))
        for listen in model.children(server, "listen"):
            listen_port, address = _listen_port_and_address(listen)
            if listen_port != port or not (ssl_on or "ssl" in listen.args[1:]):
                continue
            if address not in (None, "*", "0.0.0.0", "::") and address != host and not (
                    _is_loopback(host) and _is_loopback(address)):
                continue
            candidates.append((server, listen))
    if not candidates:
        return None
    names = {name.lower() for server, _ in candidates for n in model.children(server, "server_name") for name in n.args}
    if not _is_loopback(host) and host.lower() not in names and not is_ip(host):
        return None
    for server, listen in candidates:
        if {"default_server", "default"} & set(listen.args[1:]):
            return server
    return candidates[0][0]
