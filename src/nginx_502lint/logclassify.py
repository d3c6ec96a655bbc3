"""Map an nginx error-log record to the upstream failure it shows (RULES.md section L).

The table `SIGNATURES` is the whole knowledge: the first entry whose conditions
all hold wins, so specific entries come before the general ones they refine.
Wording and statuses follow domain/502-causes.md sections 1 and 2.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .logread import LogRecord

# What nginx was doing, as written after " while " (the log action).
CONNECTING = "connecting to upstream"
SENDING = "sending request to upstream"
READING_HEADER = "reading response header from upstream"
HANDSHAKING = "SSL handshaking to upstream"
READING_BODY = "reading upstream"  # the response header was already relayed
UPGRADED = "proxying upgraded connection"  # WebSocket: 101 already sent
NO_PHASE = ""
BEFORE_RESPONSE = frozenset({CONNECTING, SENDING, READING_HEADER, HANDSHAKING})

Target = Literal["any", "unix", "tcp", "ipv6_loopback"]

# Messages that quote the backend's own output: their text is the app's, not nginx's verdict.
_BACKEND_TEXT_PREFIXES = ("FastCGI sent in stderr:", "FastCGI sent in stdout:")

_MESSAGE_ADDRESS = re.compile(
    r"connect\(\) to (\S+) failed|no resolver defined to resolve (\S+)|^(\S+) could not be resolved"
)


@dataclass(frozen=True)
class RuleRef:
    """A rule that can explain a signature; `schemes` limits it to some upstream schemes."""

    id: str
    schemes: frozenset[str] = frozenset()

    def applies_to(self, scheme: str | None) -> bool:
        # With no upstream field the scheme is unknown, so no candidate is ruled out.
        return not self.schemes or scheme is None or scheme in self.schemes


def only(rule_id: str, *schemes: str) -> RuleRef:
    return RuleRef(rule_id, frozenset(schemes))


@dataclass(frozen=True)
class Signature:
    id: str
    status: int | None
    """What the client receives; None when the line is no response of its own."""
    cause: str
    pattern: re.Pattern[str]
    rules: tuple[RuleRef, ...] = ()
    phases: frozenset[str] | None = None
    """Allowed log actions (None: any). Keeps client-side errors with the same errno out."""
    target: Target = "any"
    needs_request: bool = False
    """Only a line logged for a client request counts (not background resolver work)."""

    def rules_for(self, scheme: str | None) -> tuple[str, ...]:
        return tuple(rule.id for rule in self.rules if rule.applies_to(scheme))


def _signature(
    id: str,
    status: int | None,
    pattern: str,
    cause: str,
    rules: tuple[str | RuleRef, ...] = (),
    *,
    phases: frozenset[str] | None = None,
    target: Target = "any",
    needs_request: bool = False,
) -> Signature:
    return Signature(
        id=id,
        status=status,
        cause=cause,
        pattern=re.compile(pattern),
        rules=tuple(RuleRef(rule) if isinstance(rule, str) else rule for rule in rules),
        phases=phases,
        target=target,
        needs_request=needs_request,
    )


def _errno(number: int, text: str) -> str:
    """`(111: Connection refused)`: the Linux errno (glibc and musl agree on numbers,
    not on texts) or the glibc/BSD text with any number."""
    return rf"\((?:{number}: [^)]*|\d+: {re.escape(text)})\)"


SIGNATURES: tuple[Signature, ...] = (
    # --- connect(): the peer could not be reached ------------------------------
    _signature(
        "connection_refused_ipv6_loopback", 502, _errno(111, "Connection refused"),
        "nothing listens on [::1]: `localhost` resolved to IPv6 too but the backend binds IPv4 only",
        ("U301",), phases=BEFORE_RESPONSE, target="ipv6_loopback",
    ),
    _signature(
        "unix_socket_refused", 502, _errno(111, "Connection refused"),
        "the unix socket file exists but no process listens on it (backend stopped, stale socket)",
        (only("F401", "fastcgi"), "U310"), phases=BEFORE_RESPONSE, target="unix",
    ),
    _signature(
        "connection_refused", 502, _errno(111, "Connection refused"),
        "nothing listens on the upstream address: backend down, wrong port, or a container's own loopback",
        ("U390", only("F401", "fastcgi")), phases=BEFORE_RESPONSE,
    ),
    _signature(
        "unix_socket_missing", 502, _errno(2, "No such file or directory"),
        "the unix socket path does not exist for nginx: path mismatch, backend stopped, or a private /tmp",
        (only("F401", "fastcgi"), "U310", "U308"), phases=frozenset({CONNECTING}), target="unix",
    ),
    _signature(
        "unix_socket_permission_denied", 502, _errno(13, "Permission denied"),
        "the nginx worker user may not connect to the unix socket (owner/group/mode or a parent directory)",
        (only("F402", "fastcgi"), "U310"), phases=frozenset({CONNECTING}), target="unix",
    ),
    _signature(
        "tcp_connect_permission_denied", 502, _errno(13, "Permission denied"),
        "SELinux forbids nginx to connect to this TCP port "
        "(httpd_can_network_connect off or port not labelled http_port_t)",
        (), phases=frozenset({CONNECTING}), target="tcp",
    ),
    _signature(
        "backend_backlog_full", 502, _errno(11, "Resource temporarily unavailable"),
        "the unix socket's listen backlog is full: every backend worker is busy (php-fpm pm.max_children)",
        (), phases=frozenset({CONNECTING}), target="unix",
    ),
    _signature(
        "local_port_exhaustion", 502, _errno(99, "Cannot assign requested address"),
        "no free local port for a new upstream connection: keepalive to the upstream is not in effect",
        (only("K501", "http", "https"), only("K504", "fastcgi"), "H701"), phases=frozenset({CONNECTING}),
    ),
    _signature(
        "connect_failed_kernel_timeout", 502, r"connect\(\) (?:to \S+ )?failed " + _errno(110, "Connection timed out"),
        "the kernel gave up connecting before nginx's connect timer did: the peer is unreachable",
        ("T104", "U390"), phases=frozenset({CONNECTING}),
    ),
    _signature(
        "no_route_to_host", 502, _errno(113, "No route to host"),
        "no route to the upstream address: the host is gone (stale DNS result) or a firewall rejects",
        ("U305", "U390"), phases=BEFORE_RESPONSE,
    ),
    _signature(
        "network_unreachable", 502, _errno(101, "Network is unreachable"),
        "no route to the upstream's network, typically an IPv6 address on a host without IPv6 routing",
        ("U390",), phases=BEFORE_RESPONSE,
    ),
    _signature(
        "ipv6_unavailable", 502, _errno(97, "Address family not supported by protocol"),
        "the upstream resolved to an IPv6 address but IPv6 is disabled on this host",
        ("U301",), phases=frozenset({CONNECTING}),
    ),
    _signature(
        "too_many_open_files", 500, r"socket\(\) failed " + _errno(24, "Too many open files"),
        "the worker ran out of file descriptors for upstream connections (worker_rlimit_nofile)",
        (), phases=frozenset({CONNECTING}),
    ),
    _signature(
        "worker_connections_exhausted", 500, r"worker_connections are not enough",
        "worker_connections is too small: each proxied request needs a client and an upstream connection",
        (), phases=frozenset({CONNECTING}),
    ),
    _signature(
        "no_live_upstreams", 502, r"^no live upstreams",
        "every server of the upstream group is marked failed (max_fails/fail_timeout) or down",
        ("U303", "U304", "U301"),
    ),
    _signature(
        "upstream_temporarily_disabled", None, r"^upstream server temporarily disabled",
        "a peer reached max_fails and is skipped for fail_timeout; repeated, it leads to no live upstreams",
        ("U304", "U301"),
    ),
    # --- run-time DNS of a pass target with variables --------------------------
    _signature(
        "no_resolver", 502, r"^no resolver defined to resolve ",
        "the pass target has variables and needs DNS at request time, but no resolver is configured",
        ("U306",),
    ),
    _signature(
        "dns_resolution_failed", 502, r"^\S+ could not be resolved \(",
        "the resolver did not resolve the pass target's name (wrong resolver, unknown name, resolver down)",
        ("U306",), phases=frozenset({NO_PHASE}), needs_request=True,
    ),
    # --- timeouts: 504 only while no response header was relayed --------------
    _signature(
        "connect_timed_out", 504, r"^upstream timed out \(\d+: ",
        "connecting took longer than the connect timeout: firewall drop, wrong or stale address, overload",
        ("T102", "U390", "U305"), phases=frozenset({CONNECTING}),
    ),
    _signature(
        "read_timed_out", 504, r"^upstream timed out \(\d+: ",
        "the backend sent no response header within the read timeout",
        ("T101", "T102", "T105"), phases=frozenset({READING_HEADER}),
    ),
    _signature(
        "send_timed_out", 504, r"^upstream timed out \(\d+: ",
        "the backend did not accept the request (body) within the send timeout",
        ("T101", "T102"), phases=frozenset({SENDING}),
    ),
    _signature(
        "ssl_handshake_timed_out", 504, r"^upstream timed out \(\d+: ",
        "the TLS handshake with the backend did not finish within the connect timeout",
        ("T102", "U390"), phases=frozenset({HANDSHAKING}),
    ),
    _signature(
        "read_timed_out_mid_response", 200, r"^upstream timed out \(\d+: ",
        "the backend stalled after its header was relayed: the client got a truncated response, not a 504",
        ("T101", "T102", "T105"), phases=frozenset({READING_BODY}),
    ),
    _signature(
        "websocket_idle_timeout", 101, r"^upstream timed out \(\d+: ",
        "an upgraded (WebSocket) connection was idle longer than the read timeout and was closed; not a 504",
        ("T101", "H702"), phases=frozenset({UPGRADED}),
    ),
    _signature(
        "upstream_timed_out", 504, r"^upstream timed out \(\d+: ",
        "an upstream timer fired (connect, send or read timeout)",
        ("T101", "T102"),
    ),
    # --- the connection broke -------------------------------------------------
    _signature(
        "closed_mid_response", 200,
        r"^upstream prematurely closed connection|^(?:recv|readv)\(\) failed " + _errno(104, "Connection reset by peer"),
        "the backend closed after its header was relayed: the client got a truncated response, not a 502",
        ("T105",), phases=frozenset({READING_BODY}),
    ),
    _signature(
        "upstream_prematurely_closed", 502, r"^upstream prematurely closed connection",
        "the backend closed the connection before a full response header: killed worker, "
        "stale keepalive connection, or a protocol mismatch",
        ("K502", "K503", "T105", "F403", only("U307", "http", "grpc")), phases=BEFORE_RESPONSE,
    ),
    _signature(
        "connection_reset", 502, r"^(?:recv|readv)\(\) failed " + _errno(104, "Connection reset by peer"),
        "the backend reset the connection before a full response header: killed worker, "
        "stale keepalive connection, or a protocol mismatch",
        ("K502", "K503", "T105", "F403"), phases=BEFORE_RESPONSE,
    ),
    _signature(
        "request_send_failed", 502,
        r"^(?:writev|sendfile|send)\(\) failed (?:" + _errno(32, "Broken pipe") + "|" + _errno(104, "Connection reset by peer") + ")",
        "the backend closed while nginx was sending the request: stale keepalive connection or a body it refused",
        ("K502", "K503"), phases=frozenset({SENDING}),
    ),
    # --- TLS to the backend -----------------------------------------------------
    _signature(
        "ssl_wrong_version_number", 502, r"^SSL_do_handshake\(\) failed .*wrong version number",
        "https:// to a port that speaks plain HTTP (scheme/port mismatch)",
        ("U307",), phases=frozenset({HANDSHAKING}),
    ),
    _signature(
        "ssl_protocol_mismatch", 502,
        r"^SSL_do_handshake\(\) failed .*(?:alert protocol version|SSL alert number 70\b|unsupported protocol|no protocols available)",
        "nginx and the backend share no TLS protocol version (proxy_ssl_protocols)",
        ("S603",), phases=frozenset({HANDSHAKING}),
    ),
    _signature(
        "ssl_sni_rejected", 502,
        r"^SSL_do_handshake\(\) failed .*(?:alert handshake failure|SSL alert number 40\b|unrecognized name|SSL alert number 112\b)",
        "the backend refused the handshake, typically because nginx sent no SNI (proxy_ssl_server_name off)",
        ("S601",), phases=frozenset({HANDSHAKING}),
    ),
    _signature(
        "ssl_peer_closed_handshake", 502, r"^peer closed connection in SSL handshake",
        "the backend dropped the TLS handshake, typically for missing SNI or no common protocol",
        ("S601", "S603"), phases=frozenset({HANDSHAKING}),
    ),
    _signature(
        "ssl_handshake_failed", 502, r"^SSL_do_handshake\(\) failed",
        "the TLS handshake with the backend failed",
        ("S601", "S603", "U307"), phases=frozenset({HANDSHAKING}),
    ),
    _signature(
        "ssl_certificate_verify_error", 502, r"^upstream SSL certificate verify error",
        "the backend's certificate chain does not verify (trusted certificates, verify depth)",
        ("S602",),
    ),
    _signature(
        "ssl_certificate_name_mismatch", 502, r"^upstream SSL certificate does not match",
        "the backend's certificate is not valid for the name nginx checks (proxy_ssl_name, default $proxy_host)",
        ("S602",),
    ),
    # --- the response header could not be used ---------------------------------
    _signature(
        "response_header_too_big", 502, r"^upstream sent too big header",
        "the backend's response header does not fit *_buffer_size (large cookies, JWT, CSP)",
        ("B201", "B202"),
    ),
    _signature(
        "fastcgi_protocol_mismatch", 502, r"^upstream sent unsupported FastCGI protocol version",
        "fastcgi_pass points at something that is not a FastCGI server (72 = 'H' of an HTTP reply)",
        ("F403",),
    ),
    _signature(
        "content_length_and_transfer_encoding", 502,
        r'^upstream sent "Content-Length" and "Transfer-Encoding"',
        "the backend sent both Content-Length and Transfer-Encoding, rejected since nginx 1.23.0",
        (),
    ),
    _signature(
        "invalid_upstream_header", 502,
        r'^upstream sent (?:duplicate header line|invalid header|invalid "Content-Length"|invalid "Transfer-Encoding"|unknown "Transfer-Encoding")',
        "the backend's response header breaks HTTP framing rules nginx enforces (1.21.1+, 1.23.0+)",
        (),
    ),
    _signature(
        "no_valid_http_header", 200, r"^upstream sent no valid HTTP/1\.0 header",
        "not a 502: the reply was not HTTP, nginx relays it as HTTP/0.9 with status 200 "
        "(clients show status 000); typically proxy_pass to a gRPC/FastCGI/uwsgi port",
        ("F403",),
    ),
)


@dataclass(frozen=True)
class Classification:
    signature: Signature
    rules: tuple[str, ...]
    """Rule ids that can explain this line, narrowed by the upstream's scheme."""
    upstream_scheme: str | None
    upstream_address: str | None
    """The upstream field's peer, or the address/name the message itself names."""
    phase: str


def _by_phase(signatures: tuple[Signature, ...]) -> dict[str, tuple[Signature, ...]]:
    phases = {phase for signature in signatures for phase in signature.phases or ()}
    return {
        phase: tuple(s for s in signatures if s.phases is None or phase in s.phases)
        for phase in phases
    }


# Derived from SIGNATURES so a line is only tested against entries its phase allows.
_CANDIDATES_BY_PHASE = _by_phase(SIGNATURES)
_CANDIDATES_FOR_OTHER_PHASES = tuple(s for s in SIGNATURES if s.phases is None)


@dataclass(frozen=True)
class _Target:
    address: str | None
    is_unix: bool
    is_ipv6_loopback: bool

    def hits(self, target: Target) -> bool:
        if target == "any":
            return True
        if target == "ipv6_loopback":
            return self.is_ipv6_loopback
        return self.is_unix if target == "unix" else not self.is_unix


def classify(record: LogRecord) -> Classification | None:
    """The signature of an upstream failure line; None for every other line."""
    message = record.message
    if message.startswith(_BACKEND_TEXT_PREFIXES):
        return None
    phase = record.phase
    target = _target(record)
    has_request = record.client is not None
    for signature in _CANDIDATES_BY_PHASE.get(phase, _CANDIDATES_FOR_OTHER_PHASES):
        if signature.needs_request and not has_request:
            continue
        if not target.hits(signature.target):
            continue
        if signature.pattern.search(message):
            scheme = record.upstream.scheme if record.upstream is not None and record.upstream.scheme else None
            return Classification(
                signature=signature,
                rules=signature.rules_for(scheme),
                upstream_scheme=scheme,
                upstream_address=target.address,
                phase=phase,
            )
    return None


def _target(record: LogRecord) -> _Target:
    # The upstream field names the peer; the message names it too for immediate
    # connect() failures, and is the only source for run-time DNS failures.
    addresses = []
    if record.upstream is not None and record.upstream.address:
        addresses.append(record.upstream.address)
    in_message = _MESSAGE_ADDRESS.search(record.message)
    if in_message is not None:
        addresses.append(next(group for group in in_message.groups() if group is not None))
    return _Target(
        address=addresses[0] if addresses else None,
        is_unix=any(address.startswith("unix:") for address in addresses),
        is_ipv6_loopback=any(address.startswith("[::1]") for address in addresses),
    )


def signature_by_id(signature_id: str) -> Signature:
    for signature in SIGNATURES:
        if signature.id == signature_id:
            return signature
    raise KeyError(signature_id)
