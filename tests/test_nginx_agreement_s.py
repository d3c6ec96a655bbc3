"""The K/S/H rules against the real nginx: S602's error agrees with `nginx -t`, and the fixes load.

nginx 1.22.1 rejects `*_ssl_verify on` without a trusted certificate only in a
location (or `if`, `limit_except`) whose pass target makes nginx prepare TLS:
a TLS scheme or any variable. Each case records what 1.22.1 does, so a change
in nginx or in the rule shows up as a failure on one side or the other.

Every rule's fix is applied to a config the real nginx loads; the result must
load too and silence the rule. The last part pins what the findings say where
the fixture files cannot: severities and the stated version assumption.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from nginx_502lint.engine import LintSettings, Registry
from nginx_502lint.findings import Edit, Finding, Severity
from nginx_502lint.lint import Input, lint
from nginx_tools import nginx_test, require_nginx

TRUSTED = "@TRUSTED@"  # replaced by a scratch CA file: nginx -t loads it


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("ca")
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=scratch CA",
               "-keyout", str(folder / "ca.key"), "-out", str(folder / "ca.crt")]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=60)
    except FileNotFoundError:
        pytest.fail("the openssl CLI is required to make the scratch CA nginx -t loads (apt-get install openssl)")
    return str(folder / "ca.crt")


def _config(http_body: str, ca: str) -> str:
    return "events {}\nhttp {\n" + http_body.replace(TRUSTED, ca) + "\n}\n"


def _lint(text: str, rule: str, version: str | None = None) -> list[Finding]:
    settings = LintSettings()
    if version:
        settings.nginx_version = tuple(int(part) for part in version.split("."))
    registry = Registry.default(entry_points=False)
    return lint([Input("nginx.conf", text)], settings, registry, [rule]).findings


def _server(location_body: str, server_extra: str = "") -> str:
    return (f"server {{\n listen 127.0.0.1:8080;\n{server_extra}\n location / {{\n{location_body}\n }}\n}}")


# (id, http body, accepted by nginx 1.22.1)
VERIFY_CASES = [
    ("verify-https-no-trusted", _server("proxy_pass https://127.0.0.1:9443;\nproxy_ssl_verify on;"), False),
    ("verify-http-level-without-pass", "proxy_ssl_verify on;\n" + _server("return 200;"), True),
    ("verify-http-level-plain-http-target", "proxy_ssl_verify on;\n" + _server("proxy_pass http://127.0.0.1:9080;"), True),
    ("verify-http-level-https-target", "proxy_ssl_verify on;\n" + _server("proxy_pass https://127.0.0.1:9443;"), False),
    ("verify-server-trusted-location", _server(f"proxy_pass https://127.0.0.1:9443;\nproxy_ssl_trusted_certificate {TRUSTED};",
                                                "proxy_ssl_verify on;"), True),
    ("verify-server-trusted-http", f"proxy_ssl_trusted_certificate {TRUSTED};\n"
     + _server("proxy_pass https://127.0.0.1:9443;", "proxy_ssl_verify on;"), True),
    ("verify-https-inside-if", _server("proxy_ssl_verify on;\nif ($arg_x) {\nproxy_pass https://127.0.0.1:9443;\n}"), False),
    ("verify-https-inside-limit-except", _server("proxy_ssl_verify on;\nlimit_except GET {\nproxy_pass https://127.0.0.1:9443;\n}"), False),
    ("verify-variable-http-target", _server("set $backend 127.0.0.1:9080;\nproxy_ssl_verify on;\nproxy_pass http://$backend;"), False),
    ("verify-whole-variable-target", _server("proxy_pass $arg_u;", "proxy_ssl_verify on;"), False),
    ("trusted-emptied-in-location", f"proxy_ssl_verify on;\nproxy_ssl_trusted_certificate {TRUSTED};\n"
     + _server('proxy_ssl_trusted_certificate "";\nproxy_pass https://127.0.0.1:9443;'), False),
    ("verify-switched-off-in-location", "proxy_ssl_verify on;\n" + _server("proxy_ssl_verify off;\nproxy_pass https://127.0.0.1:9443;"), True),
    ("verify-nested-location-with-trusted", _server(f"proxy_ssl_verify on;\nlocation /x {{\nproxy_pass https://127.0.0.1:9443;\n"
                                                     f"proxy_ssl_trusted_certificate {TRUSTED};\n}}"), True),
    ("verify-nested-location-without-trusted", _server("proxy_ssl_verify on;\nlocation /x {\nproxy_pass https://127.0.0.1:9443;\n}"), False),
    ("verify-upstream-block", "upstream tls_app {\nserver 127.0.0.1:9443;\n}\nproxy_ssl_verify on;\n"
     + _server("proxy_pass https://tls_app;"), False),
    ("grpc-verify-grpcs", _server("grpc_ssl_verify on;\ngrpc_pass grpcs://127.0.0.1:50051;"), False),
    ("grpc-verify-plain-grpc", _server("grpc_ssl_verify on;\ngrpc_pass grpc://127.0.0.1:50051;"), True),
    ("uwsgi-verify-suwsgi", _server("uwsgi_ssl_verify on;\nuwsgi_pass suwsgi://127.0.0.1:3031;"), False),
    ("uwsgi-verify-plain", _server("uwsgi_ssl_verify on;\nuwsgi_pass 127.0.0.1:3031;"), True),
]


@pytest.mark.parametrize("name, body, accepted_by_1_22", VERIFY_CASES, ids=[c[0] for c in VERIFY_CASES])
def test_s602_error_fires_exactly_when_nginx_rejects_verify_without_trusted_certificate(
        name: str, body: str, accepted_by_1_22: bool, ca_file: str, tmp_path: Path) -> None:
    require_nginx()
    text = _config(body, ca_file)
    accepted, stderr = nginx_test(text, tmp_path)
    errors = [f for f in _lint(text, "S602") if f.severity == Severity.ERROR]
    assert accepted == accepted_by_1_22, f"nginx changed its mind about {name}: {stderr.strip()}"
    assert bool(errors) == (not accepted), f"nginx: {stderr.strip()}\nlinter: {[f.message for f in errors]}"
    if errors:
        nginx_message = stderr.split("[emerg] ", 1)[1].splitlines()[0].split(" in /", 1)[0]
        assert nginx_message in errors[0].message


@pytest.mark.parametrize("name, body", [(c[0], c[1]) for c in VERIFY_CASES if not c[2]], ids=[c[0] for c in VERIFY_CASES if not c[2]])
def test_s602_fix_makes_nginx_accept_the_config(name: str, body: str, ca_file: str, tmp_path: Path) -> None:
    require_nginx()
    text = _config(body, ca_file)
    errors = [f for f in _lint(text, "S602") if f.severity == Severity.ERROR]
    assert errors
    fixed = apply_fixes(text, errors).replace("/etc/ssl/certs/ca-certificates.crt", ca_file)
    accepted, stderr = nginx_test(fixed, tmp_path)
    assert accepted, f"fix {errors[0].fix.description!r} rejected: {stderr}\n{fixed}"
    assert not [f for f in _lint(fixed, "S602") if f.severity == Severity.ERROR]


# --- the other rules' fixes load and silence the rule -----------------------------------

KEEPALIVE_UPSTREAM = "upstream app {\nserver 127.0.0.1:9080;\nkeepalive 16;\n}\n"
WEBSOCKET_MAP = "map $http_upgrade $connection_upgrade {\ndefault upgrade;\n'' close;\n}\n"

POOLED_LOCATION = KEEPALIVE_UPSTREAM + _server('proxy_pass http://app;\nproxy_http_version 1.1;\nproxy_set_header Connection "";')
SOCKET_IO = _server("proxy_pass http://127.0.0.1:9080;").replace("location /", "location /socket.io/")

# (id, rule, nginx version for the run, http body)
FIX_CASES = [
    ("K501-no-http11", "K501", "1.22.1", KEEPALIVE_UPSTREAM + _server("proxy_pass http://app;")),
    ("K501-upgrade-map", "K501", "1.22.1", WEBSOCKET_MAP + KEEPALIVE_UPSTREAM + _server(
        "proxy_pass http://app;\nproxy_http_version 1.1;\nproxy_set_header Upgrade $http_upgrade;\n"
        "proxy_set_header Connection $connection_upgrade;")),
    ("K501-connection-dropped", "K501", "1.22.1", KEEPALIVE_UPSTREAM + _server(
        "proxy_set_header X-Upload 1;\nproxy_pass http://app;",
        'proxy_http_version 1.1;\nproxy_set_header Connection "";\nproxy_set_header Host $host;')),
    ("K502", "K502", "1.22.1", POOLED_LOCATION),
    ("K503", "K503", "1.22.1", POOLED_LOCATION.replace("proxy_pass http://app;", "proxy_pass http://app;\nproxy_next_upstream off;")),
    ("K504", "K504", "1.22.1", "upstream php {\nserver 127.0.0.1:9000;\nkeepalive 8;\n}\n" + _server("fastcgi_pass php;")),
    ("S601-upstream", "S601", "1.22.1", "upstream tls_app {\nserver localhost:9443;\n}\n" + _server(
        "proxy_pass https://tls_app;", "proxy_set_header X-Real-IP $remote_addr;")),
    ("S601-literal", "S601", "1.22.1", _server("proxy_pass https://localhost:9443;")),
    ("S602-block-name", "S602", "1.22.1", "upstream backend {\nserver localhost:9443;\n}\n" + _server(
        f"proxy_pass https://backend;\nproxy_ssl_verify on;\nproxy_ssl_trusted_certificate {TRUSTED};")),
    ("S603-legacy-list", "S603", "1.22.1", _server("proxy_pass https://127.0.0.1:9443;\nproxy_ssl_protocols TLSv1 TLSv1.1;")),
    ("S603-local-tls13-server", "S603", "1.22.1", "server {\nlisten 127.0.0.1:9443 ssl;\nssl_certificate @CERT@;\n"
     "ssl_certificate_key @KEY@;\nssl_protocols TLSv1.3;\n}\n" + _server("proxy_pass https://127.0.0.1:9443;")),
    ("H701-connection-and-host", "H701", "1.22.1", KEEPALIVE_UPSTREAM + _server(
        "proxy_set_header X-Export 1;\nproxy_pass http://app;",
        'proxy_http_version 1.1;\nproxy_set_header Connection "";\nproxy_set_header Host $host;')),
    ("H701-fastcgi-params", "H701", "1.22.1", _server(
        "fastcgi_param HTTPS on;\nfastcgi_pass 127.0.0.1:9000;",
        "fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;\nfastcgi_param REQUEST_METHOD $request_method;")),
    ("H702-bare", "H702", "1.22.1", SOCKET_IO),
    ("H702-existing-map", "H702", "1.22.1", WEBSOCKET_MAP + _server(
        "proxy_pass http://127.0.0.1:9080;\nproxy_set_header Host $host;",
        "proxy_set_header X-Real-IP $remote_addr;").replace("location /", "location /ws/")),
]


@pytest.mark.parametrize("rule, version, body", [c[1:] for c in FIX_CASES], ids=[c[0] for c in FIX_CASES])
def test_fix_is_accepted_by_nginx_and_silences_the_finding(rule: str, version: str, body: str, ca_file: str,
                                                           tmp_path: Path) -> None:
    require_nginx()
    text = _config(body, ca_file).replace("@CERT@", ca_file).replace("@KEY@", ca_file.replace(".crt", ".key"))
    before, stderr = nginx_test(text, tmp_path / "before")
    assert before, f"the bad case itself must load: {stderr}"
    findings = _lint(text, rule, version)
    assert findings, f"{rule} did not fire on its own bad case"
    fixed = apply_fixes(text, findings)
    accepted, stderr = nginx_test(fixed, tmp_path / "after")
    assert accepted, f"fix rejected: {stderr}\n{fixed}"
    assert not _lint(fixed, rule, version), [f.message for f in _lint(fixed, rule, version)]


# --- a minimal edit applier: one directive per line, as in the cases above -------------

def apply_fixes(text: str, findings: list[Finding]) -> str:
    edits = [edit for finding in findings if finding.fix for edit in finding.fix.edits]
    lines = text.split("\n")
    # bottom-up, so earlier line numbers stay valid
    for edit in sorted(edits, key=lambda e: (e.line, e.kind != "replace"), reverse=True):
        apply_edit(lines, edit)
    return "\n".join(lines)


def apply_edit(lines: list[str], edit: Edit) -> None:
    index = edit.line - 1
    if edit.kind == "replace":
        lines[index] = edit.text
    elif edit.kind == "delete":
        lines[index] = ""
    else:
        lines.insert(index + 1, edit.text)


# --- what the findings say: severities and stated assumptions -----------------------------

def _one(text: str, rule: str, version: str | None = None) -> Finding:
    findings = _lint(text, rule, version)
    assert len(findings) == 1, [f.message for f in findings]
    return findings[0]


def test_unknown_version_makes_k501_state_its_assumption() -> None:
    finding = _one(_config(KEEPALIVE_UPSTREAM + _server("proxy_pass http://app;"), ""), "K501")
    assert "assuming nginx < 1.29.7; pass --nginx-version" in finding.message
    assert finding.severity == Severity.WARNING


def test_k501_is_silent_on_1_29_7_defaults_and_info_for_the_default_pool_it_defeats() -> None:
    explicit = _config(KEEPALIVE_UPSTREAM + _server("proxy_pass http://app;"), "")
    assert not _lint(explicit, "K501", "1.29.7")
    default_pool = _config(WEBSOCKET_MAP + "upstream app {\nserver 127.0.0.1:9080;\n}\n" + _server(
        "proxy_pass http://app;\nproxy_set_header Upgrade $http_upgrade;\nproxy_set_header Connection $connection_upgrade;"), "")
    assert _one(default_pool, "K501", "1.29.7").severity == Severity.INFO
    assert not _lint(default_pool, "K501", "1.29.6")


def test_heuristic_findings_say_so_and_stay_below_error() -> None:
    k502 = _one(_config(POOLED_LOCATION, ""), "K502")
    h702 = _one(_config(SOCKET_IO, ""), "H702")
    for finding in (k502, h702):
        assert "heuristic" in finding.message
        assert finding.severity <= Severity.WARNING


def test_s602_severity_follows_certainty(ca_file: str) -> None:
    untrusted = _one(_config(_server("proxy_pass https://127.0.0.1:9443;\nproxy_ssl_verify on;"), ca_file), "S602")
    block_name = _lint(_config("upstream backend {\nserver api.internal.example:443;\n}\n" + _server(
        f"proxy_pass https://backend;\nproxy_ssl_verify on;\nproxy_ssl_trusted_certificate {TRUSTED};"), ca_file), "S602")
    assert untrusted.severity == Severity.ERROR
    assert sorted(f.severity for f in block_name) == [Severity.INFO, Severity.WARNING]
    assert any("heuristic" in f.message for f in block_name if f.severity == Severity.INFO)


def test_h701_warns_for_a_lost_host_header_and_informs_about_other_drops_only_on_request() -> None:
    body = _server("proxy_set_header X-Request-Id $request_id;\nproxy_pass http://127.0.0.1:9080;",
                   "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;")
    assert not _lint(_config(body, ""), "H701")
    registry = Registry.default(entry_points=False)
    settings = LintSettings(rule_options={"H701": {"report_all_drops": True}})
    reported = lint([Input("nginx.conf", _config(body, ""))], settings, registry, ["H701"]).findings
    assert [f.severity for f in reported] == [Severity.INFO]
    with_host = _one(_config(body.replace("X-Forwarded-For $proxy_add_x_forwarded_for", "Host $host"), ""), "H701")
    assert with_host.severity == Severity.WARNING and "Host $host" in with_host.message
