"""The U rules against the real `nginx -t`: where nginx refuses a config, the rule says so;
where nginx accepts it, the rule either stays silent or says why it fails at run time;
and every machine-applicable fix the rules propose yields a config nginx accepts.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from nginx_502lint.engine import LintSettings, Registry
from nginx_502lint.findings import Edit, Finding
from nginx_502lint.lint import lint_paths
from nginx_tools import nginx_test

REGISTRY = Registry.default(entry_points=False)


def lint(config: str, tmp_path: Path, rules: list[str], version: str | None = None) -> list[Finding]:
    path = tmp_path / "lint" / "nginx.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config)
    settings = LintSettings(nginx_version=tuple(int(p) for p in version.split(".")) if version else None)
    return lint_paths([str(path)], settings, registry=REGISTRY, rule_ids=rules).findings


def wrap(http_body: str) -> str:
    return "events {}\nhttp {\n" + http_body + "\n}\n"


def line_of(config: str, text: str) -> int:
    return next(number for number, line in enumerate(config.split("\n"), start=1) if text in line)


def apply_edits(config: str, edits: list[Edit]) -> str:
    """Apply replace/insert edits to configs written one directive or block opening per line."""
    lines = config.split("\n")
    for edit in sorted(edits, key=lambda e: e.line, reverse=True):
        index = edit.line - 1
        if edit.kind == "replace":
            start = lines[index].index(edit.directive)
            end = lines[index].index(";", start) + 1
            lines[index] = lines[index][:start] + edit.text + lines[index][end:]
        elif edit.kind == "insert":
            brace = lines[index].index("{") + 1
            lines[index] = lines[index][:brace] + " " + edit.text + lines[index][brace:]
        else:
            raise AssertionError(f"unexpected edit {edit}")
    return "\n".join(lines)


# --- U302 -------------------------------------------------------------------------------

TYPO = wrap("""
    upstream backend { server 127.0.0.1:8000; }
    server {
        listen 127.0.0.1:18080;
        location / { proxy_pass http://backnd; }
    }""")

NO_PORT = wrap("""
    upstream php-handler { server 127.0.0.1:9000; }
    server {
        listen 127.0.0.1:18080;
        location ~ \\.php$ { fastcgi_pass php_handler; }
    }""")

NESTED = wrap("""
    upstream app_blue { server 127.0.0.1:8001; }
    upstream app {
        server app_blue;
    }
    server {
        listen 127.0.0.1:18080;
        location / { proxy_pass http://app; }
    }""")


@pytest.mark.parametrize(("config", "nginx_says", "marker"), [
    (TYPO, 'host not found in upstream "backnd"', "backnd"),
    (NESTED, 'host not found in upstream "app_blue"', "server app_blue"),
], ids=["typo", "nested-upstream"])
def test_u302_reports_as_error_what_nginx_refuses(config: str, nginx_says: str, marker: str, tmp_path: Path) -> None:
    ok, stderr = nginx_test(config, tmp_path / "nginx")
    assert not ok and nginx_says in stderr, stderr
    findings = lint(config, tmp_path, ["U302"])
    assert [(f.line, str(f.severity)) for f in findings] == [(line_of(config, marker), "error")]


@pytest.mark.parametrize("config", [TYPO, NESTED], ids=["typo", "nested-upstream"])
def test_u302_fix_makes_nginx_accept_the_config(config: str, tmp_path: Path) -> None:
    findings = lint(config, tmp_path, ["U302"])
    edits = [edit for f in findings if f.fix for edit in f.fix.edits]
    assert edits
    fixed = apply_edits(config, edits)
    ok, stderr = nginx_test(fixed, tmp_path / "nginx")
    assert ok, stderr + fixed
    assert lint(fixed, tmp_path, ["U302"]) == []


def test_u302_leaves_a_missing_port_to_e005(tmp_path: Path) -> None:
    """nginx refuses `fastcgi_pass php_handler;` for its missing port before any name lookup."""
    ok, stderr = nginx_test(NO_PORT, tmp_path / "nginx")
    assert not ok and 'no port in upstream "php_handler"' in stderr, stderr
    assert lint(NO_PORT, tmp_path, ["U302", "U305"]) == []


def test_u302_accepts_upstream_names_in_any_case_like_nginx(tmp_path: Path) -> None:
    config = wrap("""
    upstream Backend { server 127.0.0.1:8000; }
    server {
        listen 127.0.0.1:18080;
        location / { proxy_pass http://BACKEND; }
        location /x/ { proxy_pass http://backend/x/; }
    }""")
    ok, stderr = nginx_test(config, tmp_path / "nginx")
    assert ok, stderr
    assert lint(config, tmp_path, ["U302"]) == []


def test_u302_leaves_container_names_with_a_port_to_dns(tmp_path: Path) -> None:
    """nginx -t fails here only because this machine cannot resolve `api`; in Compose it can."""
    config = wrap("""
    upstream backend { server 127.0.0.1:8000; }
    server {
        listen 127.0.0.1:18080;
        location / { proxy_pass http://api:8000; }
    }""")
    ok, stderr = nginx_test(config, tmp_path / "nginx")
    assert not ok and 'host not found in upstream "api"' in stderr, stderr
    assert lint(config, tmp_path, ["U302"]) == []


# --- U303 -------------------------------------------------------------------------------

EMPTY = wrap("""
    upstream legacy {
    }
    server {
        listen 127.0.0.1:18080;
        location / { proxy_pass http://legacy; }
    }""")

BACKUP_ONLY = wrap("""
    upstream reports {
        server 127.0.0.1:8000 backup;
    }
    server {
        listen 127.0.0.1:18080;
        location / { proxy_pass http://reports; }
    }""")

ALL_DOWN = wrap("""
    upstream search {
        server 127.0.0.1:9200 down;
        server 127.0.0.1:9201 down;
    }
    server {
        listen 127.0.0.1:18080;
        location / { proxy_pass http://search; }
    }""")


@pytest.mark.parametrize(("config", "nginx_says"), [
    (EMPTY, "no servers are inside upstream"),
    (BACKUP_ONLY, 'no servers in upstream "reports"'),
], ids=["empty", "backup-only"])
def test_u303_reports_as_error_what_nginx_refuses(config: str, nginx_says: str, tmp_path: Path) -> None:
    ok, stderr = nginx_test(config, tmp_path / "nginx")
    assert not ok and nginx_says in stderr, stderr
    findings = lint(config, tmp_path, ["U303"])
    assert [(f.line, str(f.severity)) for f in findings] == [(line_of(config, "upstream "), "error")]
    assert nginx_says in findings[0].mechanism


def test_u303_reports_all_down_although_nginx_accepts_it(tmp_path: Path) -> None:
    ok, stderr = nginx_test(ALL_DOWN, tmp_path / "nginx")
    assert ok, stderr
    findings = lint(ALL_DOWN, tmp_path, ["U303"])
    assert len(findings) == 1 and str(findings[0].severity) == "error"
    assert "nginx -t accepts it" in findings[0].message and "no live upstreams" in findings[0].mechanism


@pytest.mark.parametrize("config", [BACKUP_ONLY, ALL_DOWN], ids=["backup-only", "all-down"])
def test_u303_fix_makes_nginx_accept_and_the_rule_silent(config: str, tmp_path: Path) -> None:
    findings = lint(config, tmp_path, ["U303"])
    fixed = apply_edits(config, [e for f in findings if f.fix for e in f.fix.edits])
    ok, stderr = nginx_test(fixed, tmp_path / "nginx")
    assert ok, stderr
    assert lint(fixed, tmp_path, ["U303"]) == []


# --- every other machine-applicable fix must keep nginx -t happy ----------------------------

FIXABLE = {
    "U301": wrap("""
    upstream api {
        server localhost:8000 max_fails=3;
    }
    server {
        listen 127.0.0.1:18080;
        set $app http://localhost:5000;
        location / { proxy_pass http://localhost:3000/; }
        location /api/ { proxy_pass http://api; }
        location /v/ { proxy_pass $app; }
    }"""),
    "U304": wrap("""
    upstream app {
        server 127.0.0.1:8080;
        server 127.0.0.1:8081 down;
    }
    upstream pool {
        server unix:/run/app/a.sock;
        server unix:/run/app/b.sock;
    }
    server {
        listen 127.0.0.1:18080;
        location / { proxy_pass http://app; }
        location /p/ { proxy_pass http://pool; }
    }"""),
    "U306": wrap("""
    server {
        listen 127.0.0.1:18080;
        location / {
            set $frontend frontend;
            proxy_pass http://$frontend:3000;
        }
        location /b/ {
            set $backend backend;
            proxy_pass http://$backend:8000;
        }
        location /local/ {
            proxy_pass http://localhost:8081$request_uri;
        }
    }"""),
    "U307": wrap("""
    upstream api {
        server 127.0.0.1;
    }
    server {
        listen 127.0.0.1:18080;
        location / { proxy_pass https://api; }
        location /a/ { proxy_pass http://127.0.0.1:8443/a/; }
        location /b/ { proxy_pass https://127.0.0.1:8080; }
    }"""),
    "U308": wrap("""
    upstream app_server {
        server unix:/tmp/gunicorn.sock fail_timeout=0;
    }
    server {
        listen 127.0.0.1:18080;
        location / { proxy_pass http://app_server; }
        location ~ \\.php$ { fastcgi_pass unix:///tmp//php/www.sock; }
    }"""),
    "U309": wrap("""
    server {
        listen 127.0.0.1:18080;
        location / { proxy_pass http://0.0.0.0:8000; }
        location /v6/ { proxy_pass http://[::]:8000/v6/; }
    }"""),
}


@pytest.mark.parametrize("rule", sorted(FIXABLE))
def test_fixes_keep_nginx_accepting_the_config_and_silence_the_rule(rule: str, tmp_path: Path) -> None:
    config = FIXABLE[rule]
    ok, stderr = nginx_test(config, tmp_path / "before")
    assert ok, stderr
    findings = lint(config, tmp_path, [rule])
    edits = [e for f in findings if f.fix for e in f.fix.edits]
    assert findings and edits
    fixed = apply_edits(config, edits)
    ok, stderr = nginx_test(fixed, tmp_path / "after")
    assert ok, stderr + fixed
    assert lint(fixed, tmp_path, [rule]) == []


def test_u305_docker_fix_keeps_nginx_accepting_the_config(tmp_path: Path) -> None:
    """nginx -t cannot resolve `api` here, so the fixed config (resolved per request) is the one that loads."""
    config = wrap("""
    server {
        listen 127.0.0.1:18080;
        location / { proxy_pass http://web:3000; }
        location /api/ { proxy_pass http://api:5001/v1/; }
        location /x/ {
            if ($request_method = POST) {
                proxy_pass http://api:5001;
            }
        }
    }""")
    ok, stderr = nginx_test(config, tmp_path / "before")
    assert not ok and "host not found in upstream" in stderr
    findings = lint(config, tmp_path, ["U305"], version="1.22.1")
    assert len(findings) == 3
    fixed = apply_edits(config, [e for f in findings if f.fix for e in f.fix.edits])
    ok, stderr = nginx_test(fixed, tmp_path / "after")
    assert ok, stderr + fixed
    assert lint(fixed, tmp_path, ["U305", "U306"], version="1.22.1") == []


def test_u306_is_silent_where_nginx_needs_no_resolver(tmp_path: Path) -> None:
    config = wrap("""
    upstream blue { server 127.0.0.1:8001; }
    map $cookie_deploy $pool { default blue; }
    server {
        listen 127.0.0.1:18080;
        location / { proxy_pass http://$pool; }
        location /ip/ {
            set $ip 127.0.0.1;
            proxy_pass http://$ip:8002$request_uri;
        }
    }""")
    ok, stderr = nginx_test(config, tmp_path / "nginx")
    assert ok, stderr
    assert lint(config, tmp_path, ["U306"]) == []
