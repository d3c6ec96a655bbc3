"""The probe against servers this test starts on loopback, with a stub resolver.

Nothing here leaves the machine: names resolve through stubs, and any address
outside loopback goes only to a recording connector that never opens a socket.
"""
from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e.backends import HTTPBehindFastCGI, TLSBackend, ipv6_loopback_available

from nginx_502lint.engine import LintSettings, Registry
from nginx_502lint.lint import Input, lint, load_inputs
from nginx_502lint.model import Model
from nginx_502lint.probe import (
    ProbeSession,
    ProbeSettings,
    ProbeTarget,
    connect_socket,
    in_default_scope,
    plan,
    render_probe_text,
    report_for,
    run_checks,
)

REGISTRY = Registry.default(entry_points=False)
FAST = ProbeSettings(connect_timeout_s=1.0, total_timeout_s=10.0)


# --- servers on loopback -----------------------------------------------------------------

@contextlib.contextmanager
def listening(host: str = "127.0.0.1") -> Iterator[int]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as server:
        if family == socket.AF_INET6:
            server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        server.bind((host, 0))
        server.listen(16)
        yield server.getsockname()[1]


@contextlib.contextmanager
def refusing(host: str = "127.0.0.1") -> Iterator[int]:
    """A port bound but not listening: connects are refused, and nobody else can take it meanwhile."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as holder:
        holder.bind((host, 0))
        yield holder.getsockname()[1]


@contextlib.contextmanager
def ipv6_port_closed(port: int) -> Iterator[None]:
    """Hold `port` on ::1 without listening, so [::1]:port refuses; a kernel without IPv6 refuses by itself."""
    if not ipv6_loopback_available():
        yield
        return
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as holder:
        holder.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        holder.bind(("::1", port))
        yield


@contextlib.contextmanager
def unix_listening(path: Path) -> Iterator[Path]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(4)
        yield path


class Recorder:
    """A connector that records what it was asked to contact and never opens a socket."""

    def __init__(self, error: OSError | None = None) -> None:
        self.calls: list[Any] = []
        self.error = error or ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
        self._lock = threading.Lock()

    def __call__(self, family: int, address: Any, timeout_s: float) -> socket.socket:
        with self._lock:
            self.calls.append(address)
        raise self.error

    @property
    def hosts(self) -> list[str]:
        return [call[0] if isinstance(call, tuple) else call for call in self.calls]


def stub(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]
    return resolve


def loopback_only(family: int, address: Any, timeout_s: float) -> socket.socket:
    """The real connector, refusing to be used for anything but loopback and unix sockets."""
    if family != socket.AF_UNIX:
        assert address[0] in ("127.0.0.1", "::1"), f"a test tried to leave loopback: {address}"
    return connect_socket(family, address, timeout_s)


def check_one(target: ProbeTarget, settings: ProbeSettings = FAST, **options: Any):  # type: ignore[no-untyped-def]
    options.setdefault("connector", loopback_only)
    return run_checks([target], settings, **options)[target]


# --- single checks ------------------------------------------------------------------------

def test_accepting_port_is_reachable() -> None:
    with listening() as port:
        result = check_one(ProbeTarget("tcp", host="127.0.0.1", port=port))

    assert result.state == "reachable"
    assert [(o.address, o.state) for o in result.addresses] == [("127.0.0.1", "ok")]


def test_refusing_port_is_unreachable_with_nginx_errno_wording() -> None:
    with refusing() as port:
        result = check_one(ProbeTarget("tcp", host="127.0.0.1", port=port))

    assert result.state == "unreachable"
    assert (result.addresses[0].state, result.addresses[0].detail) == ("refused", "(111: Connection refused)")


def test_name_resolving_to_ipv6_and_ipv4_loopback_with_ipv4_only_backend_is_partial() -> None:
    with listening("127.0.0.1") as port, ipv6_port_closed(port):
        result = check_one(ProbeTarget("tcp", host="localhost", port=port),
                           resolver=stub({"localhost": ["::1", "127.0.0.1"]}))

    assert result.state == "partial"
    states = {o.address: o.state for o in result.addresses}
    assert states["127.0.0.1"] == "ok"
    assert states["::1"] in ("refused", "unreachable")  # unreachable: a kernel without IPv6


def test_name_that_does_not_resolve_is_unresolved_and_nothing_is_contacted() -> None:
    recorder = Recorder()

    result = check_one(ProbeTarget("tcp", host="backend.internal", port=8080), resolver=stub({}), connector=recorder)

    assert result.state == "unresolved"
    assert "Name or service not known" in result.detail
    assert recorder.calls == []


def test_unix_socket_missing_listening_and_stale(tmp_path: Path) -> None:
    missing = ProbeTarget("unix", path=str(tmp_path / "nope.sock"))
    live = ProbeTarget("unix", path=str(tmp_path / "live.sock"))
    stale_path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(stale_path))  # the file stays, nothing listens
    stale = ProbeTarget("unix", path=str(stale_path))

    with unix_listening(tmp_path / "live.sock"):
        results = run_checks([missing, live, stale], FAST, connector=loopback_only)

    assert (results[missing].state, results[missing].addresses[0].state) == ("unreachable", "missing")
    assert results[missing].addresses[0].detail == "(2: No such file or directory)"
    assert results[live].state == "reachable"
    assert results[stale].addresses[0].state == "refused"


def test_permission_and_timeout_errors_are_named() -> None:
    denied = check_one(ProbeTarget("unix", path="/run/app.sock"),
                       connector=Recorder(PermissionError(errno.EACCES, "Permission denied")))
    timed_out = check_one(ProbeTarget("tcp", host="127.0.0.1", port=9), connector=Recorder(TimeoutError("timed out")))

    assert (denied.addresses[0].state, denied.addresses[0].detail) == ("denied", "(13: Permission denied)")
    assert timed_out.addresses[0].state == "timeout"
    assert timed_out.addresses[0].detail == "no answer within 1s"


# --- scope ---------------------------------------------------------------------------------

def test_by_default_only_loopback_and_private_addresses_are_contacted() -> None:
    recorder = Recorder()
    resolver = stub({"mixed.example": ["10.0.0.5", "203.0.113.7", "127.0.0.1", "fd00::5", "2001:db8::1"]})

    result = check_one(ProbeTarget("tcp", host="mixed.example", port=443), resolver=resolver, connector=recorder)

    assert recorder.hosts == ["10.0.0.5", "127.0.0.1", "fd00::5"]
    skipped = [o.address for o in result.addresses if o.state == "skipped"]
    assert skipped == ["203.0.113.7", "2001:db8::1"]


def test_probe_all_contacts_every_address() -> None:
    recorder = Recorder()
    settings = ProbeSettings(connect_timeout_s=1.0, scope="all")

    check_one(ProbeTarget("tcp", host="203.0.113.7", port=80), settings, connector=recorder)

    assert recorder.hosts == ["203.0.113.7"]


def test_a_target_with_only_public_addresses_is_skipped_not_unreachable() -> None:
    recorder = Recorder()

    result = check_one(ProbeTarget("tcp", host="198.51.100.1", port=80), connector=recorder)

    assert (result.state, recorder.calls) == ("skipped", [])


@pytest.mark.parametrize(("ip", "probed"), [
    ("127.0.0.1", True), ("127.9.9.9", True), ("::1", True), ("10.1.2.3", True), ("172.31.0.1", True),
    ("192.168.1.1", True), ("fd12::1", True), ("::ffff:192.168.0.1", True),
    ("172.32.0.1", False), ("192.0.2.1", False), ("8.8.8.8", False), ("169.254.169.254", False),
    ("100.64.0.1", False), ("2001:db8::1", False),
])
def test_default_scope_is_loopback_rfc1918_and_ula(ip: str, probed: bool) -> None:
    assert in_default_scope(ip) is probed


# --- TLS -------------------------------------------------------------------------------------

def test_tls_backend_requiring_sni_fails_as_configured_and_succeeds_with_sni() -> None:
    with TLSBackend(require_sni="backend.test") as backend:
        result = check_one(ProbeTarget("tcp", host="127.0.0.1", port=backend.port, tls=True,
                                       sni_name="backend.test", sends_sni=False))

    (outcome,) = result.addresses
    assert (result.state, outcome.state) == ("unreachable", "tls_failed")
    configured, other = outcome.handshakes
    assert (configured.sni, configured.ok, configured.as_configured) == (None, False, True)
    assert "alert handshake failure" in configured.detail.lower()
    assert (other.sni, other.ok) == ("backend.test", True)


def test_tls_with_sni_as_configured_is_reachable() -> None:
    with TLSBackend(require_sni="backend.test") as backend:
        result = check_one(ProbeTarget("tcp", host="127.0.0.1", port=backend.port, tls=True,
                                       sni_name="backend.test", sends_sni=True))

    assert result.state == "reachable"


def test_tls_to_a_plain_http_port_fails_the_handshake_with_wrong_version_number() -> None:
    with HTTPBehindFastCGI() as backend:  # answers anything with an HTTP 400 at once
        result = check_one(ProbeTarget("tcp", host="127.0.0.1", port=backend.port, tls=True))

    (outcome,) = result.addresses
    assert outcome.state == "tls_failed"
    assert outcome.detail == "SSL_do_handshake() failed (wrong version number)"


# --- bounds ----------------------------------------------------------------------------------

def test_total_time_bounds_the_run_even_when_the_resolver_hangs() -> None:
    release = threading.Event()

    def hanging(host: str) -> list[str]:
        release.wait(5)
        return ["127.0.0.1"]

    settings = ProbeSettings(connect_timeout_s=1.0, total_timeout_s=0.3)
    started = time.monotonic()
    try:
        results = run_checks([ProbeTarget("tcp", host="slow.dns", port=80)], settings, resolver=hanging,
                             connector=Recorder())
    finally:
        release.set()

    assert time.monotonic() - started < 1.5
    (result,) = results.values()
    assert result.state == "not_probed"
    assert "total time (0.3s) ran out" in result.detail


def test_concurrency_is_bounded() -> None:
    lock = threading.Lock()
    active = 0
    peak = 0

    def slow(host: str) -> list[str]:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        return ["127.0.0.1"]

    targets = [ProbeTarget("tcp", host=f"h{n}.test", port=80) for n in range(8)]
    results = run_checks(targets, ProbeSettings(concurrency=2), resolver=slow, connector=Recorder())

    assert len(results) == 8 and all(r.state == "unreachable" for r in results.values())
    assert peak == 2


@pytest.mark.parametrize("bad", [{"concurrency": 0}, {"concurrency": 65}, {"connect_timeout_s": 0},
                                 {"total_timeout_s": -1}, {"scope": "public"}])
def test_settings_reject_unbounded_values(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ProbeSettings(**bad)


def test_settings_from_json_friendly_extras() -> None:
    settings = ProbeSettings.from_extras({"probe": True, "probe_timeout": "0.5", "probe_concurrency": 3,
                                          "probe_all": True})

    assert (settings.connect_timeout_s, settings.concurrency, settings.total_timeout_s, settings.scope) == (
        0.5, 3, 20.0, "all")


# --- what the config gives to probe ---------------------------------------------------------------

PLAN_CONFIG = r"""events {}
http {
    upstream app {
        server 127.0.0.1:8001;
        server 127.0.0.1:8002 down;
        server backend.internal;
    }
    upstream tls_app {
        server 127.0.0.1:8443;
    }
    server {
        listen 80;
        location / { proxy_pass http://app; }
        location /again/ { proxy_pass http://app; }
        location /direct/ { proxy_pass http://127.0.0.1:9000; }
        location /same/ { proxy_pass http://127.0.0.1:9000/x/; }
        location /secure/ {
            proxy_pass https://tls_app;
            proxy_ssl_server_name on;
        }
        location /named/ {
            proxy_pass https://api.internal:8443;
            proxy_ssl_name real.internal:8443;
        }
        location /ip/ { proxy_pass https://127.0.0.1; }
        location /var/ {
            set $target 127.0.0.1:7000;
            proxy_pass http://$target;
        }
        location /unknown/ { proxy_pass http://$http_x_backend; }
        location ~ \.php$ { fastcgi_pass unix:/run/php//php-fpm.sock; }
    }
}
stream {
    upstream dns { server 127.0.0.1:53; }
    server { listen 5353 udp; proxy_pass dns; }
}
"""


def model_of(text: str, tmp_path: Path, name: str = "nginx.conf") -> Model:
    path = tmp_path / name
    path.write_text(text)
    (config,) = load_inputs([Input(str(path))], LintSettings())
    return Model(config)


def test_plan_lists_each_address_once_with_the_tls_facts_nginx_uses(tmp_path: Path) -> None:
    planned = plan(model_of(PLAN_CONFIG, tmp_path))

    summary = {(p.target.describe(), p.target.sni_name, p.target.sends_sni): len(p.uses) for p in planned}
    assert summary == {
        ("127.0.0.1:8001", None, False): 1,
        ("backend.internal:80", None, False): 1,
        ("TLS 127.0.0.1:8443", "tls_app", True): 1,
        ("127.0.0.1:9000", None, False): 2,
        ("TLS api.internal:8443", "real.internal", False): 1,
        ("TLS 127.0.0.1:443", None, False): 1,
        ("127.0.0.1:7000", None, False): 1,
        ("unix:/run/php/php-fpm.sock", None, False): 1,
    }


def test_plan_points_at_the_directive_that_names_each_address(tmp_path: Path) -> None:
    planned = {p.target.address: p for p in plan(model_of(PLAN_CONFIG, tmp_path))}

    (use,) = planned["127.0.0.1:8001"].uses
    assert (use.node.name, use.node.line, use.context) == ("server", 4, "upstream app")
    assert [u.node.line for u in planned["127.0.0.1:9000"].uses] == [15, 16]


# --- through the linter: U390 and the shared session ---------------------------------------------

def test_u390_reports_dead_addresses_and_the_session_probes_each_target_once(tmp_path: Path) -> None:
    with listening() as live, refusing() as dead:
        config = f"""events {{}}
http {{
    server {{
        listen 80;
        location / {{ proxy_pass http://127.0.0.1:{live}; }}
        location /dead/ {{ proxy_pass http://127.0.0.1:{dead}; }}
        location /name/ {{ proxy_pass http://gone.internal:80; }}
    }}
}}
"""
        first = tmp_path / "a.conf"
        second = tmp_path / "b.conf"
        first.write_text(config)
        second.write_text(config)
        calls: list[Any] = []

        def counting(family: int, address: Any, timeout_s: float) -> socket.socket:
            calls.append(address)
            return loopback_only(family, address, timeout_s)

        settings = LintSettings(extras={"probe": True, "probe_resolver": stub({}), "probe_connector": counting,
                                        "probe_timeout": 1})
        result = lint([Input(str(first)), Input(str(second))], settings, REGISTRY, ["U390"])

    messages = sorted((f.file.rsplit("/", 1)[-1], f.line, f.message.split(";")[0]) for f in result.findings)
    assert messages == [
        ("a.conf", 6, f"probe: 127.0.0.1:{dead} refuses connections (111: Connection refused)"),
        ("a.conf", 7, "probe: gone.internal does not resolve (Name or service not known (-2))"),
        ("b.conf", 6, f"probe: 127.0.0.1:{dead} refuses connections (111: Connection refused)"),
        ("b.conf", 7, "probe: gone.internal does not resolve (Name or service not known (-2))"),
    ]
    assert all(str(f.severity) == "error" for f in result.findings)
    assert len(calls) == 2  # one connect per distinct address, not per config
    report = report_for(settings)
    assert report is not None and len(report.entries) == 6


def test_u390_partial_answer_is_a_warning_naming_both_addresses(tmp_path: Path) -> None:
    with listening("127.0.0.1") as port, ipv6_port_closed(port):
        path = tmp_path / "nginx.conf"
        path.write_text(f"events {{}}\nhttp {{ server {{ location / {{ proxy_pass http://localhost:{port}; }} }} }}\n")
        settings = LintSettings(extras={"probe": True, "probe_connector": loopback_only,
                                        "probe_resolver": stub({"localhost": ["::1", "127.0.0.1"]})})
        result = lint([Input(str(path))], settings, REGISTRY, ["U390"])

    (finding,) = result.findings
    assert str(finding.severity) == "warning"
    assert finding.message.startswith(f"probe: localhost:{port} -> [::1]:{port} ")
    assert f"127.0.0.1:{port} accepts" in finding.message
    evidence = report_for(settings).evidence_for("U301", finding.file, finding.line)  # type: ignore[union-attr]
    assert evidence is not None and evidence.verdict == "confirmed"


def test_u390_tls_failure_offers_the_sni_fix_the_probe_proved(tmp_path: Path) -> None:
    with TLSBackend(require_sni="backend.test") as backend:
        path = tmp_path / "nginx.conf"
        path.write_text("events {}\nhttp {\n  server {\n    location / {\n"
                        f"      proxy_pass https://127.0.0.1:{backend.port};\n"
                        "      proxy_ssl_name backend.test;\n    }\n  }\n}\n")
        settings = LintSettings(extras={"probe": True, "probe_connector": loopback_only})
        result = lint([Input(str(path))], settings, REGISTRY, ["U390"])

    (finding,) = result.findings
    assert "TLS handshake nginx makes fails" in finding.message
    assert "with SNI backend.test it succeeds" in finding.message
    assert finding.fix is not None
    assert finding.fix.description.startswith("Send SNI: add `proxy_ssl_server_name on; proxy_ssl_name backend.test;`")
    assert [e.kind for e in finding.fix.edits] == ["insert"]
    evidence = report_for(settings).evidence_for("S601", finding.file, finding.line)  # type: ignore[union-attr]
    assert evidence is not None and evidence.verdict == "confirmed"


def test_evidence_clears_findings_the_probe_disproves(tmp_path: Path) -> None:
    with listening("127.0.0.1") as port, unix_listening(tmp_path / "app.sock"):
        model = model_of(
            "events {}\nhttp {\n server {\n"
            f"  location / {{ proxy_pass http://localhost:{port}; }}\n"
            f"  location /u/ {{ proxy_pass http://unix:{tmp_path}/app.sock; }}\n"
            " }\n}\n", tmp_path)
        session = ProbeSession(FAST, resolver=stub({"localhost": ["127.0.0.1"]}), connector=loopback_only)
        session.probe_model(model)
    report = session.report()
    conf = str(tmp_path / "nginx.conf")

    localhost = report.evidence_for("U301", conf, 4)
    socket_ok = report.evidence_for("U310", conf, 5)

    assert localhost is not None and localhost.verdict == "cleared"
    assert "resolves to 127.0.0.1 only" in localhost.text
    assert socket_ok is not None and socket_ok.verdict == "cleared"
    assert report.evidence_for("B201", conf, 4) is None


def test_probe_summary_names_skipped_and_unfinished_targets(tmp_path: Path) -> None:
    model = model_of("events {}\nhttp { server { location / { proxy_pass http://203.0.113.9:80; } } }\n", tmp_path)
    session = ProbeSession(FAST, connector=Recorder())
    session.probe_model(model)

    text = render_probe_text(session.report())

    assert "1 target" in text and "1 skipped" in text
    assert "loopback and private addresses only" in text
    assert "skipped: 203.0.113.9:80 -> 203.0.113.9: not a loopback or private address (--probe-all probes it)" in text
    assert session.report().to_dict()["targets"][0]["state"] == "skipped"  # type: ignore[index]
