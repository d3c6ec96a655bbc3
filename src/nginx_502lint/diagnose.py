"""From symptom to cause: tie each error.log failure group to the config that serves it.

For every FailureGroup of a LogReport (logs.analyze_logs), find the server block
nginx chose (its logged name is the first `server_name`), the location that
handled the request path (nginx's location matching, following `try_files` and
`index` into the location that passes the request on), and the pass directive
there, preferring the one whose target names the logged upstream address. Then
link the group to the linter's findings of the signature's rules at that pass
directive or at any directive in effect there (timeouts, buffers, the upstream
block and its servers, `set` values of a variable target). A group no finding
explains says so, with the signature's cause and the values in effect.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from .addresses import destinations, find_upstream, is_localhost, normalized_socket_path
from .engine import LintSettings, Registry, _inputs_available
from .findings import Finding, LintResult, Severity
from .lint import Input, lint, load_inputs
from .locations import Route, normalize_uri, route, servers_named
from .logs import FailureGroup, LogReport
from .model import Model, PassSite, Setting, has_variables, is_ip
from .parse import Node

AddressMatch = Literal["exact", "name", "port", "unknown", "none"]
Verdict = Literal["explained", "located", "unlocated", "no_config"]

_INPUT_FLAGS = {"pool": "--php-fpm", "host": "--host", "net": "--probe"}
_MATCH_RANK: dict[AddressMatch, int] = {"exact": 4, "name": 3, "port": 2, "unknown": 1, "none": 0}
_DEFAULT_PORTS = {"http": 80, "https": 443, "grpc": 80, "grpcs": 443}

# Which value failed, per signature: a timeout or buffer rule (T, B) explains a group
# only when its finding is about that value, not another timer of the same site.
_FAILED_VALUE: dict[str, tuple[str, ...]] = {
    "connect_timed_out": ("connect_timeout",),
    "ssl_handshake_timed_out": ("connect_timeout",),
    "connect_failed_kernel_timeout": ("connect_timeout",),
    "read_timed_out": ("read_timeout",),
    "read_timed_out_mid_response": ("read_timeout",),
    "websocket_idle_timeout": ("read_timeout",),
    "send_timed_out": ("send_timeout",),
    "upstream_timed_out": ("connect_timeout", "send_timeout", "read_timeout"),
    "response_header_too_big": ("buffer_size",),
}
_VALUE_RULE_FAMILIES = ("T", "B")

# The values worth showing next to a group: what the failing timer or buffer was.
_SETTINGS_SHOWN: dict[str, tuple[str, ...]] = {
    "connect_timed_out": ("connect_timeout",),
    "ssl_handshake_timed_out": ("connect_timeout",),
    "read_timed_out": ("read_timeout",),
    "read_timed_out_mid_response": ("read_timeout",),
    "websocket_idle_timeout": ("read_timeout",),
    "send_timed_out": ("send_timeout",),
    "upstream_timed_out": ("connect_timeout", "send_timeout", "read_timeout"),
    "connect_failed_kernel_timeout": ("connect_timeout",),
    "response_header_too_big": ("buffer_size",),
    "ssl_sni_rejected": ("ssl_server_name", "ssl_name"),
    "ssl_peer_closed_handshake": ("ssl_server_name", "ssl_protocols"),
    "ssl_handshake_failed": ("ssl_server_name", "ssl_protocols"),
    "ssl_protocol_mismatch": ("ssl_protocols",),
    "ssl_certificate_verify_error": ("ssl_trusted_certificate", "ssl_verify_depth"),
    "ssl_certificate_name_mismatch": ("ssl_name",),
    "upstream_prematurely_closed": ("next_upstream",),
    "connection_reset": ("next_upstream",),
    "request_send_failed": ("next_upstream", "request_buffering"),
}


# --- results ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ShownSetting:
    directive: str
    value: str
    file: str | None = None
    line: int | None = None

    @property
    def text(self) -> str:
        where = f" at {self.file}:{self.line}" if self.file is not None else " (nginx's default)"
        return f"{self.directive} {self.value}{where}"

    def to_dict(self) -> dict[str, object]:
        return {"directive": self.directive, "value": self.value, "file": self.file, "line": self.line}


@dataclass
class SiteLink:
    """One pass directive that served the failing requests, and what the linter says about it."""

    site: PassSite
    address_match: AddressMatch
    via: tuple[str, ...] = ()
    """Internal redirects followed from the matched location (try_files, index)."""
    findings: list[Finding] = field(default_factory=list)
    settings: list[ShownSetting] = field(default_factory=list)

    @property
    def node(self) -> Node:
        return self.site.node

    def describe(self) -> str:
        return f"{self.site.describe()}: {self.node.name} {' '.join(self.node.args)} at {self.node.where}"

    def to_dict(self) -> dict[str, object]:
        return {
            "context": self.site.describe(),
            "file": self.node.file,
            "line": self.node.line,
            "directive": self.node.name,
            "target": self.site.target.raw,
            "address_match": self.address_match,
            "via": list(self.via),
            "settings": [setting.to_dict() for setting in self.settings],
            "findings": [finding.to_dict() for finding in self.findings],
        }


@dataclass
class GroupDiagnosis:
    group: FailureGroup
    links: list[SiteLink] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    config_given: bool = True
    unchecked: dict[str, str] = field(default_factory=dict)
    """Candidate rules that did not run, and why: {"F401": "needs --php-fpm"}."""

    @property
    def findings(self) -> list[Finding]:
        seen: dict[tuple[str, str, int, str], Finding] = {}
        for link in self.links:
            for finding in link.findings:
                seen.setdefault(_identity(finding), finding)
        return list(seen.values())

    @property
    def verdict(self) -> Verdict:
        if not self.config_given:
            return "no_config"
        if self.findings:
            return "explained"
        return "located" if self.links else "unlocated"

    @property
    def explanation(self) -> str:
        """One sentence: which rules explain the group, or why none does."""
        signature = self.group.signature
        verdict = self.verdict
        if verdict == "explained":
            rules = sorted({f.rule for f in self.findings})
            return f"explained by {', '.join(rules)}"
        if not self.group.rules:
            return f"no config rule explains this: backend-side cause: {signature.cause}"
        candidates = ", ".join(self.group.rules)
        if verdict == "no_config":
            return f"{signature.cause} (rules that can explain it: {candidates}; give the config to link them)"
        if verdict == "located":
            return (f"no config rule explains this: none of {candidates} reports the config that serves it; "
                    f"likely cause: {signature.cause}")
        return f"not found in the config; likely cause: {signature.cause} (rules: {candidates})"

    def to_dict(self) -> dict[str, object]:
        return {
            **self.group.to_dict(),
            "verdict": self.verdict,
            "explanation": self.explanation,
            "notes": list(self.notes),
            "unchecked": dict(self.unchecked),
            "links": [link.to_dict() for link in self.links],
        }


@dataclass
class Diagnosis:
    log: LogReport
    groups: list[GroupDiagnosis]
    config_given: bool

    @property
    def client_errors(self) -> list[GroupDiagnosis]:
        """Groups whose requests got a 5xx from nginx (not truncated 200s, WebSocket closes, warnings)."""
        return [g for g in self.groups if _answered_5xx(g.group)]

    def to_dict(self) -> dict[str, object]:
        log = self.log.to_dict()
        log.pop("groups")
        return {
            "log": log,
            "config_given": self.config_given,
            "failures": sum(g.group.count for g in self.client_errors),
            "groups": [group.to_dict() for group in self.groups],
        }


# --- the linking -------------------------------------------------------------------------

def diagnose(
    report: LogReport,
    models: Sequence[Model] = (),
    findings: Sequence[Finding] | LintResult = (),
    *,
    settings: LintSettings | None = None,
    registry: Registry | None = None,
    rule_ids: Sequence[str] | None = None,
) -> Diagnosis:
    """Link every failure group of `report` to the config locations and findings that explain it.

    `models` are the linted configs (`load_models`), `findings` the linter's findings
    on them (a LintResult works too). Without models the groups keep their causes
    and candidate rules only. With the run's `settings` and `registry` (and the
    selected `rule_ids`), each group also names the candidate rules that did not
    run and the option that would run them.
    """
    if isinstance(findings, LintResult):
        findings = findings.findings
    by_line: dict[tuple[str, int], list[Finding]] = {}
    for finding in findings:
        by_line.setdefault((finding.file, finding.line), []).append(finding)
    site_lines: dict[int, set[tuple[str, int]]] = {}  # per pass site: groups often share one
    groups = [_diagnose_group(group, models, by_line, site_lines) for group in report.groups]
    if settings is not None and registry is not None and models:
        for diagnosed in groups:
            if diagnosed.verdict != "explained":
                diagnosed.unchecked = unchecked_rules(diagnosed.group.rules, settings, registry, rule_ids)
    return Diagnosis(report, groups, config_given=bool(models))


def unchecked_rules(
    rules: Sequence[str], settings: LintSettings, registry: Registry, rule_ids: Sequence[str] | None = None
) -> dict[str, str]:
    """Which of `rules` this run did not check, and why (not selected, or an input it needs)."""
    known = set(registry.ids())
    selected = set(rule_ids) if rule_ids is not None else known
    reasons: dict[str, str] = {}
    for rule in rules:
        if rule not in known:
            continue
        if rule not in selected:
            reasons[rule] = "not selected"
            continue
        spec = registry.get(rule)
        if not _inputs_available(spec, settings):
            flags = [_INPUT_FLAGS[need] for need in spec.needs if need in _INPUT_FLAGS]
            reasons[rule] = f"needs {' or '.join(flags)}"
    return reasons


def _diagnose_group(
    group: FailureGroup, models: Sequence[Model], by_line: dict[tuple[str, int], list[Finding]],
    site_lines: dict[int, set[tuple[str, int]]],
) -> GroupDiagnosis:
    result = GroupDiagnosis(group, config_given=bool(models))
    if not models:
        return result
    candidates = _candidates(group, models, result.notes)
    for site, match, via in candidates:
        link = SiteLink(site, match, via)
        lines = site_lines.get(id(site))
        if lines is None:
            lines = site_lines[id(site)] = _site_lines(site)
        link.findings = _findings_at(site, group, lines, by_line)
        link.settings = _shown_settings(site, group.signature.id)
        result.links.append(link)
    return result


def _candidates(
    group: FailureGroup, models: Sequence[Model], notes: list[str]
) -> list[tuple[PassSite, AddressMatch, tuple[str, ...]]]:
    routed: list[tuple[PassSite, AddressMatch, tuple[str, ...]]] = []
    named_servers = 0
    for model in models:
        servers = servers_named(model, group.server) if group.server is not None else []
        named_servers += len(servers)
        for server in servers:
            if group.path is None:
                continue
            found = _route(model, server, group.path)
            for site in _sites_in(model, server, found.location):
                routed.append((site, _address_match(model, site, group.upstream_address), found.via))
    if group.server is not None and named_servers == 0:
        notes.append(f"no server block has the logged name {group.server!r} (its first server_name)")
    elif group.path is not None and named_servers and not routed:
        notes.append(f"no pass directive handles {group.path} in server {group.server}")
    address = group.upstream_address
    if address is None:
        return routed
    best = max((_MATCH_RANK[match] for _, match, _ in routed), default=-1)
    if best >= _MATCH_RANK["name"]:
        return [c for c in routed if _MATCH_RANK[c[1]] == best]
    by_address = _sites_naming(models, address)
    if by_address:
        if routed:
            places = ", ".join(sorted({site.describe() for site, _, _ in routed}))
            notes.append(f"the request path leads to {places}, but the logged upstream {address} is named "
                         "elsewhere: linked by address (a rewrite, or the log predates a config change)")
        return by_address
    if routed and best == _MATCH_RANK["none"]:
        notes.append(f"the logged upstream {address} is not named by the pass directive that serves the path "
                     "(the log may predate a config change)")
    return routed


def _route(model: Model, server: Node, path: str) -> Route:
    return route(model, server, normalize_uri(path), serves=lambda location: bool(_sites_in(model, server, location)))


def _sites_in(model: Model, server: Node, location: Node | None) -> list[PassSite]:
    if location is None:
        return []
    return [site for site in model.pass_sites if site.location is location and site.server is server]


def _sites_naming(models: Sequence[Model], address: str) -> list[tuple[PassSite, AddressMatch, tuple[str, ...]]]:
    found: list[tuple[PassSite, AddressMatch, tuple[str, ...]]] = []
    for model in models:
        for site in model.pass_sites:
            match = _address_match(model, site, address)
            if match in ("exact", "name"):
                found.append((site, match, ()))
    best = max((_MATCH_RANK[match] for _, match, _ in found), default=0)
    return [c for c in found if _MATCH_RANK[c[1]] == best]


# --- addresses ----------------------------------------------------------------------------

@dataclass
class _Addresses:
    exact: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    ports_behind_names: set[int] = field(default_factory=set)
    known: bool = True


def _address_match(model: Model, site: PassSite, logged: str | None) -> AddressMatch:
    if logged is None:
        return "unknown"
    addresses = _site_addresses(model, site)
    key = _normalized(logged)
    if key in addresses.exact:
        return "exact"
    host, port = _split(key)
    if host in addresses.names:
        return "name"
    if port is not None and is_ip(host) and port in addresses.ports_behind_names:
        return "port"
    return "none" if addresses.known else "unknown"


def _site_addresses(model: Model, site: PassSite) -> _Addresses:
    found = _Addresses()
    target = site.target
    if target.unix_path is not None:
        found.exact.add(_normalized(f"unix:{target.unix_path}"))
        return found
    upstream = find_upstream(model, target.host) if target.host and target.port is None else None
    if upstream is not None and not has_variables(target.host or ""):
        found.exact.add(upstream.name.lower())
        found.names.add(upstream.name.lower())
        for server in upstream.servers:
            if server.unix_path is not None:
                found.exact.add(_normalized(f"unix:{server.unix_path}"))
            elif server.host:
                _add_host(found, server.host, server.port or 80)
        return found
    if target.host and not has_variables(target.host):
        port = target.port if target.port is not None else _DEFAULT_PORTS.get(target.scheme or "")
        _add_host(found, target.host, port)
        return found
    runtime = [dest for dest in destinations(model) if dest.site is site]
    for dest in runtime:
        if dest.unix_path is not None:
            found.exact.add(_normalized(f"unix:{dest.unix_path}"))
        elif dest.host:
            port = dest.port if dest.port is not None else _DEFAULT_PORTS.get(dest.scheme or "")
            _add_host(found, dest.host, port)
    found.known = bool(runtime)
    return found


def _add_host(found: _Addresses, host: str, port: int | None) -> None:
    host = host.strip("[]").lower()
    if not is_ip(host):
        found.names.add(host)  # run-time DNS failures log the bare name
    if port is None:
        return
    found.exact.add(_normalized(_join(host, port)))
    if is_localhost(host):
        found.exact.update({f"127.0.0.1:{port}", f"[::1]:{port}"})
    elif not is_ip(host):
        found.ports_behind_names.add(port)


def _normalized(address: str) -> str:
    """`127.0.0.1:80`, `[::1]:80`, `unix:/run/app.sock`, a lowercase name; IPv6 compressed."""
    address = address.strip()
    if address.lower().startswith("unix:"):
        return "unix:" + normalized_socket_path(address[5:])
    host, port = _split(address.lower())
    try:
        host = ipaddress.ip_address(host).compressed
    except ValueError:
        pass
    return _join(host, port) if port is not None else host


def _split(address: str) -> tuple[str, int | None]:
    if address.startswith("["):
        end = address.find("]")
        host, rest = address[1:end], address[end + 1:]
        return host, int(rest[1:]) if rest[1:].isdigit() else None
    if address.count(":") == 1:
        host, port = address.split(":")
        return host, int(port) if port.isdigit() else None
    return address, None


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- findings and values at a site --------------------------------------------------------

def _findings_at(
    site: PassSite, group: FailureGroup, site_lines: set[tuple[str, int]], by_line: dict[tuple[str, int], list[Finding]]
) -> list[Finding]:
    wanted = set(group.rules)
    failed_value = _failed_value(site, group.signature.id)
    found: list[Finding] = []
    for file, line in sorted(site_lines):
        for finding in by_line.get((file, line), ()):
            if finding.rule not in wanted or finding in found:
                continue
            if failed_value is not None and finding.rule.startswith(_VALUE_RULE_FAMILIES):
                names, lines = failed_value
                if (file, line) not in lines and not any(name in finding.message for name in names):
                    continue
            found.append(finding)
    return found


def _failed_value(site: PassSite, signature_id: str) -> tuple[set[str], set[tuple[str, int]]] | None:
    """The directive names of the value that failed, and the lines that set it at this site."""
    suffixes = _FAILED_VALUE.get(signature_id)
    if suffixes is None:
        return None
    names = {f"{site.module}_{suffix}" for suffix in suffixes}
    lines = {(node.file, node.line) for suffix in suffixes for node in site.setting(suffix).nodes}
    return names, lines


def _site_lines(site: PassSite) -> set[tuple[str, int]]:
    """Where a finding about this pass site can sit: the pass directive, every directive in
    effect at it, its enclosing blocks, the upstream block it names, `set` values it uses."""
    model = site.model
    nodes: list[Node] = [site.node, site.block, *site.block.ancestors()]
    names: set[str] = set()
    for level in model.scope_chain(site.block):
        names.update(child.name for child in level.block or () if child.block is None)
    for name in names:
        nodes.extend(model.effective(site.block, name).nodes)
    upstream = find_upstream(model, site.target.host) if site.target.host and site.target.port is None else None
    if upstream is not None:
        nodes.append(upstream.node)
        nodes.extend(upstream.node.block or ())
    for dest in destinations(model):
        if dest.site is site:
            nodes.extend(dest.sources)
    return {(node.file, node.line) for node in nodes if not node.synthetic and node.file}


def _shown_settings(site: PassSite, signature_id: str) -> list[ShownSetting]:
    shown: list[ShownSetting] = []
    for suffix in _SETTINGS_SHOWN.get(signature_id, ()):
        setting: Setting = site.setting(suffix)
        if setting.explicit and setting.node is not None:
            node = setting.node
            shown.append(ShownSetting(node.name, " ".join(node.args), node.file, node.line))
        elif setting.default is not None:
            shown.append(ShownSetting(f"{site.module}_{suffix}", setting.default))
    return shown


# --- inputs for the CLI ---------------------------------------------------------------------

def load_models(inputs: list[Input], settings: LintSettings) -> list[Model]:
    """The models of the configs `lint()` lints, for `diagnose` (parsed a second time)."""
    return [Model(config, settings.nginx_version) for config in load_inputs(inputs, settings)]


def lint_for_diagnosis(
    inputs: list[Input],
    settings: LintSettings | None = None,
    registry: Registry | None = None,
    rule_ids: Sequence[str] | None = None,
) -> tuple[LintResult, list[Model]]:
    """`lint()` plus the models `diagnose` needs to place log groups in the config."""
    settings = settings or LintSettings()
    result = lint(inputs, settings, registry, rule_ids)
    return result, load_models(inputs, settings)


# --- for SARIF and other finding-shaped outputs -------------------------------------------------

LOG_RULE = "LOG"


def with_log_evidence(findings: Sequence[Finding], diagnosis: Diagnosis) -> list[Finding]:
    """The findings for finding-shaped outputs (SARIF, GitHub, GitLab, JUnit), with the log evidence.

    A finding the diagnosis links to log groups keeps its rule, place and fix; its
    message gains the evidence ("…; seen in error.log: 142 × 502 …") and its
    severity becomes error when the log shows 5xx answers, since the failure is
    then certain. Groups served by a pass directive no rule reports are added as
    `log_findings`. Groups not found in the config have no config location and are
    left to the text and JSON outputs.
    """
    evidence: dict[tuple[str, str, int, str], list[GroupDiagnosis]] = {}
    for diagnosed in diagnosis.groups:
        for finding in diagnosed.findings:
            evidence.setdefault(_identity(finding), []).append(diagnosed)
    merged: list[Finding] = []
    for finding in findings:
        groups = evidence.get(_identity(finding))
        if not groups:
            merged.append(finding)
            continue
        certain = any(_answered_5xx(g.group) for g in groups)
        seen = "; ".join(evidence_text(g.group) for g in groups)
        merged.append(finding._replace(
            message=f"{finding.message}; seen in {seen}",
            severity=Severity.ERROR if certain else finding.severity,
        ))
    merged.extend(log_findings(diagnosis))
    merged.sort(key=lambda f: f.sort_key)
    return merged


def log_findings(diagnosis: Diagnosis) -> list[Finding]:
    """A `LOG` finding at each pass directive that served a group no rule explains (slug: the signature)."""
    results: list[Finding] = []
    for diagnosed in diagnosis.groups:
        if diagnosed.verdict != "located":
            continue
        group = diagnosed.group
        for link in diagnosed.links:
            results.append(Finding(
                rule=LOG_RULE, slug=group.signature.id,
                severity=Severity.WARNING if _answered_5xx(group) else Severity.INFO,
                file=link.node.file, line=link.node.line,
                message=f"{evidence_text(group)}: served here; {diagnosed.explanation}",
                mechanism=group.signature.cause, context=link.site.describe(),
            ))
    return results


def _identity(finding: Finding) -> tuple[str, str, int, str]:
    # By value: a baseline or suppression step may hand over copies of the findings.
    return (finding.rule, finding.file, finding.line, finding.message)


def _answered_5xx(group: FailureGroup) -> bool:
    return group.signature.status is not None and group.signature.status >= 500


def headline(group: FailureGroup) -> str:
    """nginx's own words for the failure, without the phase: `upstream sent too big header`."""
    message = group.sample_message
    cut = message.rfind(" while ")
    return (message[:cut] if cut > 0 else message).strip()


def evidence_text(group: FailureGroup) -> str:
    """`error.log: 142 × 502 "upstream sent too big header" from 127.0.0.1:8000 (server example.com, /api) …`."""
    status = group.signature.status
    shown_status = f"{status} " if status is not None else ""
    source = f" from {group.upstream_address}" if group.upstream_address else ""
    request = ", ".join(part for part in (f"server {group.server}" if group.server else "", group.path or "") if part)
    when = group.first_time.isoformat(sep=" ")
    if group.last_time != group.first_time:
        when += f" to {group.last_time.isoformat(sep=' ')}"
    return (f"error.log: {group.count} × {shown_status}\"{headline(group)}\"{source}"
            f"{f' ({request})' if request else ''}, {when}, first at {group.sample}")
