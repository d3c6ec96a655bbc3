"""E002-E005 agree with the real `nginx -t` (1.22.1): each rule fires exactly when nginx rejects
the config with that rule's message, and on the line nginx names.

Every case states nginx's verdict too, so a case that nginx rejects for an unrelated
reason (a missing file, a module this build lacks) fails loudly instead of agreeing
by accident. The Debian build has no stream or mail module loaded, so those contexts
are covered by the fixtures only. E005's two warnings (socket paths nginx accepts but
cannot connect to) go beyond `nginx -t` and are pinned separately below.
"""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from nginx_502lint.engine import LintSettings, Registry
from nginx_502lint.findings import Finding, Severity
from nginx_502lint.lint import lint_paths
from nginx_tools import nginx_test, require_nginx

NGINX_VERSION = (1, 22, 1)
_REGISTRY = Registry.default(entry_points=False)
_EMERG_LINE = re.compile(r"\[emerg\] (.*?)(?: in (\S+):(\d+))?$", re.MULTILINE)


@dataclass(frozen=True)
class Case:
    name: str
    rule: str
    http: str  # the body of the http block
    nginx_says: str | None  # the [emerg] text nginx must print; None: nginx accepts the config
    files: dict[str, str] = field(default_factory=dict)  # extra files next to nginx.conf
    # nginx names the line where a directive ends; the rule names where it starts
    same_line: bool = True

    def config(self) -> str:
        return "events {}\nhttp {\n" + textwrap.dedent(self.http).strip("\n") + "\n}\n"


def _server(body: str) -> str:
    return "server {\n    listen 127.0.0.1:8089;\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n}"


UPSTREAM = "upstream backend { server 127.0.0.1:8081; }\n"

E002_CASES = [
    Case("typo", "E002", _server("location / {\n    proxy_read_timout 5s;\n}"), 'unknown directive "proxy_read_timout"'),
    Case("typo-inside-if", "E002", _server("location / {\n    if ($arg_x) {\n        retrun 404;\n    }\n}"),
         'unknown directive "retrun"'),
    Case("typo-in-included-file", "E002", _server("location / {\n    include proxy.conf;\n}"),
         'unknown directive "proxy_set_headers"', files={"proxy.conf": "proxy_set_headers Host $host;\n"}),
    Case("http2-directive-too-new", "E002", _server("http2 on;"), 'unknown directive "http2"'),
    Case("proxy-pass-trailers-too-new", "E002", _server("location / {\n    proxy_pass_trailers on;\n}"),
         'unknown directive "proxy_pass_trailers"'),
    Case("add-header-inherit-too-new", "E002", "add_header_inherit merge;", 'unknown directive "add_header_inherit"'),
    Case("keepalive-time-old-enough", "E002", "keepalive_time 1h;", None),
    Case("ssl-reject-handshake-old-enough", "E002", _server("ssl_reject_handshake off;"), None),
    Case("spdy-removed", "E002", "spdy_headers_comp 5;", 'unknown directive "spdy_headers_comp"'),
    Case("nginx-plus-only", "E002", UPSTREAM + _server("location / {\n    proxy_pass http://backend;\n    health_check;\n}"),
         'unknown directive "health_check"'),
    Case("njs-not-loaded", "E002", "js_import main.js;", 'unknown directive "js_import"'),
    Case("data-blocks-are-not-directives", "E002", """
        types { text/html html; application/x-custom cst; }
        map $http_user_agent $bot { hostnames; default 0; ~*crawler 1; }
        geo $trusted { default 0; proxy 10.0.0.0/8; 127.0.0.1 1; }
        split_clients "${remote_addr}x" $variant { 50% a; * b; }
        """, None),
]

E003_CASES = [
    Case("proxy-pass-in-server", "E003", UPSTREAM + _server("proxy_pass http://backend;"),
         '"proxy_pass" directive is not allowed here'),
    Case("proxy-set-header-in-if", "E003", _server("location / {\n    if ($arg_x) {\n        proxy_set_header X 1;\n    }\n}"),
         '"proxy_set_header" directive is not allowed here'),
    Case("location-in-if", "E003", _server("location / {\n    if ($arg_x) {\n        location /y { }\n    }\n}"),
         '"location" directive is not allowed here'),
    Case("resolver-in-upstream-before-1.27.3", "E003",
         "upstream u {\n    server 127.0.0.1:8081;\n    resolver 127.0.0.1;\n}", '"resolver" directive is not allowed here'),
    Case("upstream-server-in-location", "E003", _server("location / {\n    server 127.0.0.1:8081;\n}"),
         '"server" directive is not allowed here'),
    Case("set-in-limit-except", "E003", _server("location / {\n    limit_except GET {\n        set $a 1;\n    }\n}"),
         '"set" directive is not allowed here'),
    Case("worker-processes-in-http", "E003", "worker_processes 2;", '"worker_processes" directive is not allowed here'),
    Case("map-in-server", "E003", _server("map $uri $x {\n    default 1;\n}"), '"map" directive is not allowed here'),
    Case("return-and-rewrite-in-if", "E003", _server("if ($host = a) {\n    rewrite ^ /b break;\n    return 404;\n}"), None),
    Case("gzip-in-if-in-location", "E003", _server("location / {\n    if ($arg_z) {\n        gzip off;\n    }\n}"), None),
    Case("include-in-if-and-limit-except", "E003",
         _server("location / {\n    if ($arg_x) {\n        include ret.conf;\n    }\n"
                 "    limit_except GET {\n        include acl.conf;\n    }\n}"),
         None, files={"ret.conf": "return 404;\n", "acl.conf": "deny all;\n"}),
    Case("keepalive-local-before-1.29.7", "E003", "upstream u {\n    server 127.0.0.1:8081;\n    keepalive 32 local;\n}",
         'invalid number of arguments in "keepalive" directive'),
    Case("keepalive-one-argument", "E003", "upstream u {\n    server 127.0.0.1:8081;\n    keepalive 32;\n}", None),
    Case("time-with-space", "E003", _server("location / {\n    proxy_read_timeout 90 s;\n}"),
         'invalid number of arguments in "proxy_read_timeout" directive'),
    Case("missing-semicolon", "E003", _server("location / {\n    proxy_set_header Host $host\n    proxy_set_header X 1;\n}"),
         'invalid number of arguments in "proxy_set_header" directive', same_line=False),
    Case("flag-yes", "E003", _server("location / {\n    proxy_buffering yes;\n}"),
         'invalid value "yes" in "proxy_buffering" directive, it must be "on" or "off"'),
    Case("flag-any-case", "E003", _server("location / {\n    proxy_buffering OFF;\n}"), None),
    Case("location-without-block", "E003", _server("location /x;"), 'directive "location" has no opening "{"'),
    Case("if-without-block", "E003", _server("if ($arg_x) return 404;"), 'directive "if" has no opening "{"'),
    Case("simple-directive-with-block", "E003", _server("location / {\n    proxy_pass http://127.0.0.1:8081 { }\n}"),
         'directive "proxy_pass" is not terminated by ";"'),
    Case("upstream-server-parameters", "E003",
         "upstream u {\n    server 127.0.0.1:8081 weight=2 max_fails=3 fail_timeout=10s;\n    server 127.0.0.1:8082 backup;\n}",
         None),
]

E004_CASES = [
    Case("regex-location-trailing-slash", "E004", UPSTREAM + _server("location ~ ^/api/ {\n    proxy_pass http://backend/;\n}"),
         '"proxy_pass" cannot have URI part'),
    Case("case-insensitive-regex", "E004", UPSTREAM + _server("location ~* \\.php$ {\n    proxy_pass http://backend/index.php;\n}"),
         '"proxy_pass" cannot have URI part'),
    Case("named-location", "E004", UPSTREAM + _server("location @app {\n    proxy_pass http://backend/app;\n}"),
         '"proxy_pass" cannot have URI part'),
    Case("inside-if", "E004", UPSTREAM + _server("location /a/ {\n    if ($arg_x) {\n        proxy_pass http://backend/;\n    }\n}"),
         '"proxy_pass" cannot have URI part'),
    Case("inside-limit-except", "E004",
         UPSTREAM + _server("location /a/ {\n    limit_except GET {\n        proxy_pass http://backend/b/;\n    }\n}"),
         '"proxy_pass" cannot have URI part'),
    Case("query-is-a-uri-part", "E004", UPSTREAM + _server("location ~ /s {\n    proxy_pass http://backend?x=1;\n}"),
         '"proxy_pass" cannot have URI part'),
    Case("unix-socket-uri", "E004", _server("location ~ /s {\n    proxy_pass http://unix:/tmp/app.sock:/s;\n}"),
         '"proxy_pass" cannot have URI part'),
    Case("include-in-if", "E004", UPSTREAM + _server("location /a/ {\n    include ws.conf;\n}"),
         '"proxy_pass" cannot have URI part',
         files={"ws.conf": "if ($http_upgrade) {\n    proxy_pass http://backend/ws/;\n}\n"}),
    Case("regex-without-uri", "E004", UPSTREAM + _server("location ~ ^/api/ {\n    proxy_pass http://backend;\n}"), None),
    Case("unix-socket-trailing-colon", "E004", _server("location ~ /s {\n    proxy_pass http://unix:/tmp/app.sock:;\n}"), None),
    Case("variables-allowed", "E004", UPSTREAM + _server("location ~ ^/u/(.*)$ {\n    proxy_pass http://backend/$1;\n}"), None),
    Case("prefix-exact-and-nested", "E004", UPSTREAM + _server(
        "location /a/ {\n    proxy_pass http://backend/b/;\n    location /a/c/ {\n        proxy_pass http://backend/c/;\n    }\n}\n"
        "location = /h {\n    proxy_pass http://backend/health;\n}\nlocation ^~ /s/ {\n    proxy_pass http://backend/;\n}"), None),
]

E005_CASES = [
    Case("unix-without-scheme", "E005", _server("location / {\n    proxy_pass unix:/tmp/app.sock;\n}"), "invalid URL prefix"),
    Case("host-without-scheme", "E005", _server("location / {\n    proxy_pass 127.0.0.1:8081;\n}"), "invalid URL prefix"),
    Case("websocket-scheme", "E005", _server("location / {\n    proxy_pass ws://127.0.0.1:8081;\n}"), "invalid URL prefix"),
    Case("unix-with-scheme", "E005", _server("location / {\n    proxy_pass http://unix:/tmp/app.sock;\n}"), None),
    Case("uppercase-scheme", "E005", _server("location / {\n    proxy_pass HTTP://127.0.0.1:8081;\n}"), None),
    Case("port-zero", "E005", _server("location / {\n    proxy_pass http://127.0.0.1:0;\n}"), 'invalid port in upstream "127.0.0.1:0"'),
    Case("port-too-big", "E005", _server("location / {\n    proxy_pass http://127.0.0.1:65536;\n}"),
         'invalid port in upstream "127.0.0.1:65536"'),
    Case("port-not-a-number", "E005", _server("location / {\n    proxy_pass http://127.0.0.1:80x/;\n}"),
         'invalid port in upstream "127.0.0.1:80x/"'),
    Case("no-host", "E005", _server("location / {\n    proxy_pass http://:8081;\n}"), 'no host in upstream ":8081"'),
    Case("ipv6-not-closed", "E005", _server("location / {\n    proxy_pass http://[::1:8081;\n}"), 'invalid host in upstream "[::1:8081"'),
    Case("ipv6-invalid", "E005", _server("location / {\n    proxy_pass http://[zz]:8081;\n}"), 'invalid IPv6 address in upstream "[zz]:8081"'),
    Case("ipv6-ok", "E005", _server("location / {\n    proxy_pass http://[::1]:8081/;\n}"), None),
    Case("unix-no-path", "E005", _server("location / {\n    fastcgi_pass unix:;\n}"), 'no path in the unix domain socket in upstream "unix:"'),
    Case("fastcgi-with-scheme", "E005", _server("location / {\n    fastcgi_pass http://127.0.0.1:9000;\n}"),
         'invalid host in upstream "http://127.0.0.1:9000"'),
    Case("fastcgi-with-uri", "E005", _server("location / {\n    fastcgi_pass 127.0.0.1:9000/index.php;\n}"),
         'invalid host in upstream "127.0.0.1:9000/index.php"'),
    Case("grpc-with-http-scheme", "E005", _server("location / {\n    grpc_pass http://127.0.0.1:50051;\n}"),
         'invalid host in upstream "http://127.0.0.1:50051"'),
    Case("grpc-ok", "E005", _server("location / {\n    grpc_pass grpcs://127.0.0.1:50051;\n}"), None),
    Case("grpc-no-port", "E005", _server("location / {\n    grpc_pass grpc://127.0.0.1;\n}"), 'no port in upstream "127.0.0.1"'),
    Case("fastcgi-name-no-port", "E005", _server("location / {\n    fastcgi_pass php;\n}"), 'no port in upstream "php"'),
    Case("uwsgi-no-port", "E005", _server("location / {\n    uwsgi_pass 127.0.0.1;\n}"), 'no port in upstream "127.0.0.1"'),
    Case("fastcgi-upstream-name", "E005", "upstream php {\n    server 127.0.0.1:9000;\n}\n" + _server(
        "location / {\n    fastcgi_pass php;\n}"), None),
    Case("port-less-entry-reused", "E005", _server(
        "location /a {\n    fastcgi_pass 127.0.0.1:9000;\n}\nlocation /b {\n    fastcgi_pass 127.0.0.1;\n}"), None),
    Case("port-less-entry-first", "E005", _server(
        "location /a {\n    fastcgi_pass 127.0.0.1;\n}\nlocation /b {\n    fastcgi_pass 127.0.0.1:9000;\n}"),
         'no port in upstream "127.0.0.1"'),
    Case("upstream-name-with-port", "E005", UPSTREAM + _server("location / {\n    proxy_pass http://Backend:8081;\n}"),
         'upstream "Backend" may not have port 8081'),
    Case("upstream-defined-after-pass", "E005",
         _server("location / {\n    proxy_pass http://later:8081;\n}") + "\nupstream later {\n    server 127.0.0.1:8081;\n}",
         'upstream "later" may not have port 8081'),
    Case("upstream-name-any-case", "E005", UPSTREAM + _server("location / {\n    proxy_pass http://BACKEND;\n}"), None),
    Case("variables-checked-at-run-time", "E005", _server("location / {\n    set $up 127.0.0.1:0;\n    proxy_pass http://$up;\n}"), None),
]

ALL_CASES = E002_CASES + E003_CASES + E004_CASES + E005_CASES


def _lint(config: Path, rule: str) -> list[Finding]:
    settings = LintSettings(nginx_version=NGINX_VERSION, version_source="test")
    result = lint_paths([str(config)], settings, registry=_REGISTRY, rule_ids=[rule])
    return [f for f in result.findings if f.rule == rule and f.severity is Severity.ERROR]


def _write(case: Case, tmp_path: Path) -> None:
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name, text in case.files.items():
        (tmp_path / name).write_text(text)


@pytest.mark.parametrize("case", ALL_CASES, ids=[f"{c.rule}-{c.name}" for c in ALL_CASES])
def test_rule_fires_exactly_when_nginx_rejects_with_its_message(case: Case, tmp_path: Path) -> None:
    require_nginx()
    _write(case, tmp_path)
    accepted, stderr = nginx_test(case.config(), tmp_path)
    emerg = _EMERG_LINE.search(stderr)
    if case.nginx_says is None:
        assert accepted, f"nginx was expected to accept the config:\n{case.config()}\n{stderr}"
    else:
        assert not accepted and emerg is not None and case.nginx_says in emerg.group(1), (
            f"nginx was expected to say {case.nginx_says!r}:\n{case.config()}\n{stderr}")

    findings = _lint(tmp_path / "nginx.conf", case.rule)

    assert bool(findings) == (not accepted), "\n".join(f"{f.file}:{f.line} {f.message}" for f in findings) or stderr
    if findings and case.same_line and emerg is not None and emerg.group(3):
        assert {f.line for f in findings} == {int(emerg.group(3))}, (stderr, [(f.line, f.message) for f in findings])
        assert {Path(f.file).name for f in findings} == {Path(emerg.group(2)).name}


def test_agreement_table_covers_both_verdicts_for_every_rule() -> None:
    for rule in ("E002", "E003", "E004", "E005"):
        verdicts = {case.nginx_says is None for case in ALL_CASES if case.rule == rule}
        assert verdicts == {True, False}, rule


BEYOND_NGINX_T = [
    ("proxy-socket-path-runs-into-uri", "location /api/ {\n    proxy_pass http://unix:/tmp/app.sock/api/;\n}"),
    ("fastcgi-socket-path-with-colon", "location / {\n    fastcgi_pass unix:/tmp/php-fpm.sock:;\n}"),
]


@pytest.mark.parametrize("body", [body for _, body in BEYOND_NGINX_T], ids=[name for name, _ in BEYOND_NGINX_T])
def test_socket_path_mistakes_nginx_accepts_are_warnings_not_errors(body: str, tmp_path: Path) -> None:
    require_nginx()
    config = "events {}\nhttp {\n" + _server(body) + "\n}\n"
    accepted, stderr = nginx_test(config, tmp_path)
    assert accepted, stderr
    settings = LintSettings(nginx_version=NGINX_VERSION)
    findings = lint_paths([str(tmp_path / "nginx.conf")], settings, registry=_REGISTRY, rule_ids=["E005"]).findings
    assert [f.severity for f in findings] == [Severity.WARNING], [f.message for f in findings]


THIRD_PARTY = """\
load_module modules/ngx_rtmp_module.so;
events {}
rtmp {
    server {
        listen 1935;
        application live { live on; }
    }
}
http {
    server {
        listen 127.0.0.1:8089;
        location / {
            more_set_headers "Server: edge";
            return 204;
        }
    }
}
"""


@pytest.mark.parametrize("declared_through", ["known_directives", "E002 option"])
def test_declared_third_party_directives_are_neither_unknown_nor_checked_inside(declared_through: str, tmp_path: Path) -> None:
    require_nginx()
    accepted, _ = nginx_test(THIRD_PARTY, tmp_path)
    assert not accepted  # a stock nginx has neither module: declaring them is the user's word
    settings = LintSettings(nginx_version=NGINX_VERSION)
    names = ["rtmp", "more_*_headers"]
    if declared_through == "known_directives":
        settings.known_directives = names
    else:
        settings.rule_options = {"E002": {"extra_directives": names}}
    result = lint_paths([str(tmp_path / "nginx.conf")], settings, registry=_REGISTRY, rule_ids=["E002", "E003"])
    assert result.findings == []


def test_undeclared_third_party_directives_are_reported_once_each_with_how_to_declare(tmp_path: Path) -> None:
    (tmp_path / "nginx.conf").write_text(THIRD_PARTY)
    settings = LintSettings(nginx_version=NGINX_VERSION)
    findings = lint_paths([str(tmp_path / "nginx.conf")], settings, registry=_REGISTRY, rule_ids=["E002", "E003"]).findings
    assert [(f.rule, f.line) for f in findings] == [("E002", 3), ("E002", 13)]
    assert all("known-directives = [" in f.message for f in findings)
    assert "ngx_rtmp_module.so" in findings[0].message
