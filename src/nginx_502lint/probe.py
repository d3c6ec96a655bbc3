"""Active checks of the addresses nginx connects to (`--probe`; rule U390).

Every upstream target of the config (literal pass targets, `upstream` servers,
variable targets whose `set`/`map` values the config spells out) is resolved
(A and AAAA), connected to over TCP or as a unix socket with a short timeout,
and for https:// and grpcs:// targets handshaken with TLS both the way nginx is
configured to (with or without SNI) and the other way.

Bounds: at most `concurrency` targets at once, `connect_timeout_s` per connect
or handshake, `total_timeout_s` for the whole run (targets not finished by then
are reported as not probed). Only loopback and private (RFC 1918, IPv6 ULA)
addresses are contacted unless `scope="all"`; names are resolved with the
resolver either way. The resolver and the connector are parameters, so tests
stay on loopback and offline.

The checks run in this process, as the user running the linter, not as nginx's
worker user: a unix socket that nginx's workers may not open can look fine here.
"""
from __future__ import annotations

import errno
import ipaddress
import os
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .addresses import Destination, destinations, find_upstream, normalized_socket_path
from .model import Model, PassSite, has_variables, is_ip
from .parse import Node

if TYPE_CHECKING:
    import socket

# socket, ssl and threading are imported where a probe runs: U390 imports this
# module on every lint, and ssl alone costs a tenth of a small run.

DEFAULT_CONNECT_TIMEOUT_S = 2.0
DEFAULT_CONCURRENCY = 8
DEFAULT_TOTAL_TIMEOUT_S = 20.0
MAX_CONCURRENCY = 64

Scope = Literal["private", "all"]
Resolver = Callable[[str], Sequence[str]]
"""host -> its IP addresses as text (A and AAAA); raises OSError (socket.gaierror) when it does not resolve."""
Connector = Callable[[int, Any, float], "socket.socket"]
"""(address family, socket address, timeout in seconds) -> a connected socket; raises OSError."""

_TLS_SCHEMES = frozenset({"https", "grpcs", "suwsgi"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "grpc": 80, "grpcs": 443}
_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


# --- settings ------------------------------------------------------------------------

@dataclass(frozen=True)
class ProbeSettings:
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    concurrency: int = DEFAULT_CONCURRENCY
    total_timeout_s: float = DEFAULT_TOTAL_TIMEOUT_S
    scope: Scope = "private"

    def __post_init__(self) -> None:
        if not self.connect_timeout_s > 0:
            raise ValueError(f"probe timeout must be above 0 s, got {self.connect_timeout_s}")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"probe concurrency must be 1 to {MAX_CONCURRENCY}, got {self.concurrency}")
        if not self.total_timeout_s > 0:
            raise ValueError(f"probe total time must be above 0 s, got {self.total_timeout_s}")
        if self.scope not in ("private", "all"):
            raise ValueError(f"probe scope must be 'private' or 'all', got {self.scope!r}")

    @classmethod
    def from_extras(cls, extras: Mapping[str, Any]) -> ProbeSettings:
        """From LintSettings.extras: `probe_settings`, or the JSON-friendly keys
        `probe_timeout`, `probe_concurrency`, `probe_total_timeout`, `probe_all`."""
        given = extras.get("probe_settings")
        if isinstance(given, ProbeSettings):
            return given
        return cls(
            connect_timeout_s=float(extras.get("probe_timeout", DEFAULT_CONNECT_TIMEOUT_S)),
            concurrency=int(extras.get("probe_concurrency", DEFAULT_CONCURRENCY)),
            total_timeout_s=float(extras.get("probe_total_timeout", DEFAULT_TOTAL_TIMEOUT_S)),
            scope="all" if extras.get("probe_all") else "private",
        )

    def describe(self) -> str:
        where = "every address" if self.scope == "all" else "loopback and private addresses only"
        return (f"at most {self.concurrency} at once, {self.connect_timeout_s:g}s per connect, "
                f"{self.total_timeout_s:g}s in all; {where}")


def in_default_scope(ip: str) -> bool:
    """Loopback, RFC 1918 or IPv6 ULA: the addresses probed without --probe-all."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or any(address in network for network in _PRIVATE_NETWORKS)


# --- what to probe -------------------------------------------------------------------

@dataclass(frozen=True)
class ProbeTarget:
    """One address to check, with the TLS facts that change the outcome."""

    kind: Literal["tcp", "unix"]
    host: str | None = None
    port: int | None = None
    path: str | None = None
    tls: bool = False
    sni_name: str | None = None
    """The name nginx sends as SNI when `*_ssl_server_name on` (None for IPs)."""
    sends_sni: bool = False

    @property
    def address(self) -> str:
        if self.kind == "unix":
            return f"unix:{self.path}"
        host = f"[{self.host}]" if self.host and ":" in self.host else (self.host or "")
        return f"{host}:{self.port}"

    def describe(self) -> str:
        scheme = "TLS " if self.tls else ""
        return f"{scheme}{self.address}"


@dataclass(frozen=True)
class Use:
    """A directive that sends requests to a target."""

    node: Node
    context: str
    site: PassSite | None = None

    @property
    def text(self) -> str:
        return f"{self.node.name} {' '.join(self.node.args[:1])} at {self.node.where}"


@dataclass
class Planned:
    target: ProbeTarget
    uses: list[Use] = field(default_factory=list)


def plan(model: Model) -> list[Planned]:
    """The http-side targets of a config, deduplicated, in file order of their first use.

    Stream upstreams are left out (they may be UDP); `down` servers too (nginx never
    connects to them); so are targets whose address has variables the config does not fill.
    """
    planned: dict[ProbeTarget, Planned] = {}
    for dest in destinations(model):
        if dest.stream:
            continue
        for target, use in _targets_of(model, dest):
            entry = planned.setdefault(target, Planned(target))
            if all(existing.node is not use.node for existing in entry.uses):
                entry.uses.append(use)
    return list(planned.values())


def _targets_of(model: Model, dest: Destination) -> list[tuple[ProbeTarget, Use]]:
    if dest.server is not None:
        if dest.server.down or dest.upstream is None:
            return []
        context = f"upstream {dest.upstream.name}"
        sites = _sites_using(model, dest)
        variants = {_tls_facts(site, site.target.scheme, site.target.host) for site in sites} or {(False, None, False)}
        return [(_target(dest, 80, tls), Use(dest.server.node, context)) for tls in sorted(variants, key=repr)]
    site = dest.site
    if site is None:
        return []
    port = dest.port if dest.port is not None else _DEFAULT_PORTS.get(dest.scheme or "")
    if dest.unix_path is None and (port is None or not dest.host or has_variables(dest.host)):
        return []
    tls = _tls_facts(site, dest.scheme, dest.host)
    return [(_target(dest, port, tls), Use(dest.node, site.describe(), site))]


def _target(dest: Destination, default_port: int | None, tls: tuple[bool, str | None, bool]) -> ProbeTarget:
    uses_tls, sni_name, sends_sni = tls
    if dest.unix_path is not None:
        return ProbeTarget("unix", path=normalized_socket_path(dest.unix_path), tls=uses_tls,
                           sni_name=sni_name, sends_sni=sends_sni)
    port = dest.port if dest.port is not None else default_port
    host = (dest.host or "").strip("[]").lower()
    return ProbeTarget("tcp", host=host, port=port, tls=uses_tls, sni_name=sni_name, sends_sni=sends_sni)


def _sites_using(model: Model, dest: Destination) -> list[PassSite]:
    return [
        site for site in model.pass_sites
        if site.target.unix_path is None and site.target.port is None and not site.target.variables
        and find_upstream(model, site.target.host) is dest.upstream
    ]


def _tls_facts(site: PassSite, scheme: str | None, host: str | None) -> tuple[bool, str | None, bool]:
    """(TLS?, the SNI name nginx would send, whether it sends it) for a pass site."""
    if (scheme or "") not in _TLS_SCHEMES:
        return False, None, False
    name_setting = site.setting("ssl_name")
    name = name_setting.value if name_setting.explicit else host
    if name is not None and not has_variables(name):
        name = _strip_port(name)
    else:
        name = None
    if name is not None and is_ip(name):
        name = None  # nginx sends no SNI for an IP address
    sends = (site.setting("ssl_server_name").value or "off").lower() == "on"
    return True, name, sends


def _strip_port(name: str) -> str:
    if name.startswith("["):
        return name[1:name.find("]")] if "]" in name else name
    return name.rsplit(":", 1)[0] if name.count(":") == 1 else name


# --- outcomes ------------------------------------------------------------------------

AddressState = Literal["ok", "refused", "timeout", "missing", "denied", "unreachable", "error", "tls_failed", "skipped"]
TargetState = Literal["reachable", "partial", "unreachable", "unresolved", "skipped", "not_probed"]


@dataclass(frozen=True)
class Handshake:
    sni: str | None
    ok: bool
    detail: str
    as_configured: bool
    """This is the handshake nginx makes with the current config."""

    def to_dict(self) -> dict[str, object]:
        return {"sni": self.sni, "ok": self.ok, "detail": self.detail, "as_configured": self.as_configured}


@dataclass(frozen=True)
class AddressOutcome:
    address: str
    """The IP (or the socket path) that was contacted."""
    state: AddressState
    detail: str = ""
    handshakes: tuple[Handshake, ...] = ()

    @property
    def connected(self) -> bool:
        return self.state in ("ok", "tls_failed")

    def to_dict(self) -> dict[str, object]:
        return {"address": self.address, "state": self.state, "detail": self.detail,
                "handshakes": [h.to_dict() for h in self.handshakes]}


@dataclass(frozen=True)
class TargetResult:
    target: ProbeTarget
    state: TargetState
    addresses: tuple[AddressOutcome, ...] = ()
    detail: str = ""
    """Why it did not resolve, was skipped or not probed."""
    seconds: float = 0.0

    @property
    def probed(self) -> tuple[AddressOutcome, ...]:
        return tuple(outcome for outcome in self.addresses if outcome.state != "skipped")

    @property
    def failed(self) -> tuple[AddressOutcome, ...]:
        return tuple(outcome for outcome in self.probed if outcome.state != "ok")

    def to_dict(self) -> dict[str, object]:
        target = self.target
        return {
            "address": target.address, "kind": target.kind, "tls": target.tls,
            "sni_name": target.sni_name, "sends_sni": target.sends_sni,
            "state": self.state, "detail": self.detail, "seconds": round(self.seconds, 3),
            "addresses": [outcome.to_dict() for outcome in self.addresses],
        }


def _target_state(outcomes: Sequence[AddressOutcome]) -> TargetState:
    probed = [o for o in outcomes if o.state != "skipped"]
    if not probed:
        return "skipped"
    good = [o for o in probed if o.state == "ok"]
    if len(good) == len(probed):
        return "reachable"
    return "partial" if good else "unreachable"


# --- the checks ------------------------------------------------------------------------

def resolve_system(host: str) -> list[str]:
    """A and AAAA addresses of `host` through the system resolver (/etc/hosts, DNS), in its order."""
    import socket

    found: list[str] = []
    for family, _type, _proto, _name, sockaddr in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM):
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in found:
            found.append(str(sockaddr[0]))
    return found


def connect_socket(family: int, address: Any, timeout_s: float) -> socket.socket:
    import socket

    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout_s)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


_STATES_BY_ERRNO: dict[int, AddressState] = {
    errno.ECONNREFUSED: "refused",
    errno.ENOENT: "missing",
    errno.ENOTDIR: "missing",
    errno.EACCES: "denied",
    errno.EPERM: "denied",
    errno.ETIMEDOUT: "timeout",
    errno.EHOSTUNREACH: "unreachable",
    errno.ENETUNREACH: "unreachable",
    errno.EAFNOSUPPORT: "unreachable",
    errno.EADDRNOTAVAIL: "unreachable",
}


def _failure(error: OSError, timeout_s: float) -> tuple[AddressState, str]:
    if isinstance(error, TimeoutError) and error.errno is None:
        return "timeout", f"no answer within {timeout_s:g}s"
    if error.errno is not None:
        # nginx's own wording: "(111: Connection refused)".
        return _STATES_BY_ERRNO.get(error.errno, "error"), f"({error.errno}: {os.strerror(error.errno)})"
    return "error", str(error) or type(error).__name__


class _Checker:
    def __init__(self, settings: ProbeSettings, resolver: Resolver, connector: Connector,
                 deadline: float, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.resolver = resolver
        self.connector = connector
        self.deadline = deadline
        self.clock = clock

    def _timeout(self) -> float:
        return max(0.05, min(self.settings.connect_timeout_s, self.deadline - self.clock()))

    def check(self, target: ProbeTarget) -> TargetResult:
        import socket

        started = self.clock()
        if target.kind == "unix":
            outcomes: tuple[AddressOutcome, ...] = (self._contact(target, socket.AF_UNIX, target.path, target.path or ""),)
            return TargetResult(target, _target_state(outcomes), outcomes, seconds=self.clock() - started)
        assert target.host is not None and target.port is not None
        if is_ip(target.host):
            addresses: Sequence[str] = [target.host]
        else:
            try:
                addresses = list(self.resolver(target.host))
            except OSError as error:
                return TargetResult(target, "unresolved", detail=_resolver_error(error), seconds=self.clock() - started)
            if not addresses:
                return TargetResult(target, "unresolved", detail="no A or AAAA record", seconds=self.clock() - started)
        outcomes = tuple(self._contact_ip(target, ip) for ip in addresses)
        return TargetResult(target, _target_state(outcomes), outcomes, seconds=self.clock() - started)

    def _contact_ip(self, target: ProbeTarget, ip: str) -> AddressOutcome:
        import socket

        if self.settings.scope != "all" and not in_default_scope(ip):
            return AddressOutcome(ip, "skipped", "not a loopback or private address (--probe-all probes it)")
        if ":" in ip:
            return self._contact(target, socket.AF_INET6, (ip, target.port, 0, 0), ip)
        return self._contact(target, socket.AF_INET, (ip, target.port), ip)

    def _contact(self, target: ProbeTarget, family: int, sockaddr: Any, shown: str) -> AddressOutcome:
        if self.clock() >= self.deadline:
            return AddressOutcome(shown, "skipped", "the probe's total time ran out")
        timeout = self._timeout()
        try:
            self.connector(family, sockaddr, timeout).close()
        except OSError as error:
            state, detail = _failure(error, timeout)
            return AddressOutcome(shown, state, detail)
        if not target.tls:
            return AddressOutcome(shown, "ok")
        handshakes = self._handshakes(target, family, sockaddr)
        configured = next(h for h in handshakes if h.as_configured)
        return AddressOutcome(shown, "ok" if configured.ok else "tls_failed", configured.detail, handshakes)

    def _handshakes(self, target: ProbeTarget, family: int, sockaddr: Any) -> tuple[Handshake, ...]:
        names: list[str | None] = [target.sni_name if target.sends_sni else None]
        if target.sni_name is not None:
            names.append(None if target.sends_sni else target.sni_name)
        return tuple(self._handshake(family, sockaddr, name, as_configured=index == 0)
                     for index, name in enumerate(names))

    def _handshake(self, family: int, sockaddr: Any, sni: str | None, as_configured: bool) -> Handshake:
        import ssl

        # nginx verifies nothing by default (proxy_ssl_verify off), so neither does the probe.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        timeout = self._timeout()
        try:
            sock = self.connector(family, sockaddr, timeout)
        except OSError as error:
            return Handshake(sni, False, _failure(error, timeout)[1], as_configured)
        try:
            with context.wrap_socket(sock, server_hostname=sni, do_handshake_on_connect=False) as tls:
                tls.settimeout(timeout)
                tls.do_handshake()
                return Handshake(sni, True, tls.version() or "TLS", as_configured)
        except ssl.SSLError as error:
            # OpenSSL's reason code in its own lowercase words, as nginx logs it: "wrong version number".
            reason = error.reason.lower().replace("_", " ") if error.reason else str(error)
            return Handshake(sni, False, f"SSL_do_handshake() failed ({reason})", as_configured)
        except OSError as error:
            state, detail = _failure(error, timeout)
            if state in ("refused", "error") or error.errno == errno.ECONNRESET:
                detail = f"peer closed connection in SSL handshake {detail}"
            return Handshake(sni, False, detail, as_configured)
        finally:
            sock.close()


def _resolver_error(error: OSError) -> str:
    import socket

    if isinstance(error, socket.gaierror) and error.args:
        return f"{error.args[-1]} ({error.args[0]})" if len(error.args) > 1 else str(error.args[0])
    return str(error) or type(error).__name__


def run_checks(
    targets: Sequence[ProbeTarget],
    settings: ProbeSettings,
    *,
    resolver: Resolver = resolve_system,
    connector: Connector = connect_socket,
    clock: Callable[[], float] = time.monotonic,
    deadline: float | None = None,
) -> dict[ProbeTarget, TargetResult]:
    """Check targets on at most `settings.concurrency` threads; return by `deadline` at the latest.

    The threads are daemons: a resolver call the OS will not interrupt cannot hold
    the linter past the deadline; its target is reported as not probed.
    """
    import threading

    if deadline is None:
        deadline = clock() + settings.total_timeout_s
    checker = _Checker(settings, resolver, connector, deadline, clock)
    pending = list(targets)
    results: dict[ProbeTarget, TargetResult] = {}
    lock = threading.Lock()
    position = 0

    def work() -> None:
        nonlocal position
        while True:
            with lock:
                if position >= len(pending) or clock() >= deadline:
                    return
                target = pending[position]
                position += 1
            try:
                result = checker.check(target)
            except Exception as error:  # a probe bug must not take the lint run down
                result = TargetResult(target, "not_probed", detail=f"probe failed: {type(error).__name__}: {error}")
            with lock:
                results[target] = result

    threads = [threading.Thread(target=work, name="nginx-502lint-probe", daemon=True)
               for _ in range(min(settings.concurrency, len(pending)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - clock()) + 0.05)
    with lock:
        finished = dict(results)
    for target in pending:
        if target not in finished:
            finished[target] = TargetResult(
                target, "not_probed", detail=f"the probe's total time ({settings.total_timeout_s:g}s) ran out first")
    return finished


# --- a probing session across the linted configs ---------------------------------------

@dataclass(frozen=True)
class ProbeEntry:
    planned: Planned
    result: TargetResult

    @property
    def target(self) -> ProbeTarget:
        return self.planned.target

    def uses_line(self, file: str, line: int) -> bool:
        return any(use.node.file == file and use.node.line == line for use in self.planned.uses)

    def to_dict(self) -> dict[str, object]:
        return {**self.result.to_dict(),
                "used_by": [{"file": u.node.file, "line": u.node.line, "directive": u.node.name, "context": u.context}
                            for u in self.planned.uses]}


@dataclass(frozen=True)
class Evidence:
    """What the probe says about a static finding."""

    verdict: Literal["confirmed", "cleared"]
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"verdict": self.verdict, "text": self.text}


@dataclass
class ProbeReport:
    settings: ProbeSettings
    entries: list[ProbeEntry] = field(default_factory=list)
    seconds: float = 0.0

    def by_state(self, *states: TargetState) -> list[ProbeEntry]:
        return [entry for entry in self.entries if entry.result.state in states]

    def evidence_for(self, rule: str, file: str, line: int) -> Evidence | None:
        """Whether the probe confirms or clears the finding of `rule` at file:line (U301, U310, S601)."""
        for entry in self.entries:
            if entry.uses_line(file, line):
                found = _evidence(rule, entry)
                if found is not None:
                    return found
        return None

    def to_dict(self) -> dict[str, object]:
        return {
            "settings": {"connect_timeout_s": self.settings.connect_timeout_s, "concurrency": self.settings.concurrency,
                         "total_timeout_s": self.settings.total_timeout_s, "scope": self.settings.scope},
            "seconds": round(self.seconds, 3),
            "targets": [entry.to_dict() for entry in self.entries],
        }


def _evidence(rule: str, entry: ProbeEntry) -> Evidence | None:
    result, target = entry.result, entry.target
    probed = result.probed
    if rule == "U301" and target.kind == "tcp" and probed:
        good = [o for o in probed if o.state == "ok"]
        bad = [o for o in probed if o.state != "ok"]
        if good and bad:
            return Evidence("confirmed", f"probe: {_listing(bad, target)}; {_listing(good, target)} accepts")
        if good and len(good) == 1:
            return Evidence("cleared", f"probe: {target.host} resolves to {good[0].address} only on this machine, which accepts")
        if good:
            return Evidence("cleared", f"probe: every address of {target.host} accepts on port {target.port}")
    if rule == "U310" and target.kind == "unix" and probed:
        outcome = probed[0]
        if outcome.state in ("missing", "denied", "refused"):
            return Evidence("confirmed", f"probe: connect() to {target.address} failed {outcome.detail}")
        if outcome.connected:
            return Evidence("cleared", f"probe: {target.address} accepts connections (as the user running the linter)")
    if rule == "S601" and target.tls:
        for outcome in probed:
            without = next((h for h in outcome.handshakes if h.sni is None), None)
            with_sni = next((h for h in outcome.handshakes if h.sni is not None), None)
            if without is not None and with_sni is not None and not without.ok and with_sni.ok:
                return Evidence("confirmed", f"probe: the handshake with {outcome.address} fails without SNI "
                                             f"({without.detail}) and succeeds with SNI {with_sni.sni}")
            if without is not None and without.ok:
                return Evidence("cleared", f"probe: {outcome.address} completes the handshake without SNI")
    return None


def _listing(outcomes: Iterable[AddressOutcome], target: ProbeTarget) -> str:
    return ", ".join(f"{_with_port(o.address, target.port)} {o.state} {o.detail}".rstrip() for o in outcomes)


def _with_port(ip: str, port: int | None) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


class ProbeSession:
    """Probes each config's targets once, within one time budget for the whole run.

    Rules get the results through `session_for(ctx.settings).probe_model(ctx.model)`,
    so U390 and any rule that wants confirmation share one probe per target.
    """

    def __init__(
        self,
        settings: ProbeSettings | None = None,
        *,
        resolver: Resolver = resolve_system,
        connector: Connector = connect_socket,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or ProbeSettings()
        self.resolver = resolver
        self.connector = connector
        self.clock = clock
        self._results: dict[ProbeTarget, TargetResult] = {}
        self._models: weakref.WeakKeyDictionary[Model, list[ProbeEntry]] = weakref.WeakKeyDictionary()
        self._entries: list[ProbeEntry] = []
        self._deadline: float | None = None
        self._seconds = 0.0
        import threading

        self._lock = threading.Lock()

    def probe_model(self, model: Model) -> list[ProbeEntry]:
        with self._lock:
            cached = self._models.get(model)
            if cached is not None:
                return cached
            planned = plan(model)
            started = self.clock()
            if self._deadline is None:
                self._deadline = started + self.settings.total_timeout_s
            todo = [p.target for p in planned if p.target not in self._results]
            if todo:
                self._results.update(run_checks(todo, self.settings, resolver=self.resolver, connector=self.connector,
                                                clock=self.clock, deadline=self._deadline))
            self._seconds += self.clock() - started
            entries = [ProbeEntry(p, self._results[p.target]) for p in planned]
            self._models[model] = entries
            self._entries.extend(entries)
            return entries

    def report(self) -> ProbeReport:
        return ProbeReport(self.settings, list(self._entries), self._seconds)


SESSION_KEY = "probe_session"


def session_for(settings: Any) -> ProbeSession | None:
    """The run's probe session (created on first use), or None when probing is off.

    `settings` is the run's LintSettings: probing is on when `extras["probe"]` is
    truthy; `extras["probe_resolver"]` / `extras["probe_connector"]` replace the
    system resolver and socket connect (tests), the bounds come from
    ProbeSettings.from_extras.
    """
    extras = settings.extras
    if not extras.get("probe"):
        return None
    session = extras.get(SESSION_KEY)
    if session is None:
        session = ProbeSession(
            ProbeSettings.from_extras(extras),
            resolver=extras.get("probe_resolver") or resolve_system,
            connector=extras.get("probe_connector") or connect_socket,
        )
        extras[SESSION_KEY] = session
    return session


def report_for(settings: Any) -> ProbeReport | None:
    """After a lint run: everything the probe found, for the reporters (None when it did not run)."""
    session = settings.extras.get(SESSION_KEY)
    return session.report() if isinstance(session, ProbeSession) else None


# --- terminal text --------------------------------------------------------------------

def render_probe_text(report: ProbeReport) -> str:
    """The probe's summary for the terminal: counts, then what was not contacted and why.

    Failures are U390 findings and print with the others; this says what the
    findings cannot: which targets were skipped or ran out of time.
    """
    counts = {state: len(report.by_state(state)) for state in
              ("reachable", "partial", "unreachable", "unresolved", "skipped", "not_probed")}
    shown = ", ".join(f"{count} {state.replace('_', ' ')}" for state, count in counts.items() if count)
    targets = f"{len(report.entries)} target{'s' if len(report.entries) != 1 else ''}"
    lines = [f"probe: {targets} in {report.seconds:.1f}s ({report.settings.describe()}){': ' + shown if shown else ''}"]
    for entry in report.entries:
        skipped = [o for o in entry.result.addresses if o.state == "skipped"]
        if entry.result.state == "not_probed":
            lines.append(f"  not probed: {entry.target.describe()} ({entry.result.detail})")
        elif skipped:
            addresses = ", ".join(o.address for o in skipped)
            lines.append(f"  skipped: {entry.target.describe()} -> {addresses}: {skipped[0].detail}")
    return "\n".join(lines) + "\n"
