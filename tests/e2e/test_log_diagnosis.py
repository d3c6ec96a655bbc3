"""Diagnose the error.log a real nginx writes, against the config it ran with.

The log lines here are nginx 1.22.1's own, produced by requests to misbehaving
loopback backends; the linking must find the rule and the file:line that explain them.
"""
from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from nginx_502lint.diagnose import Diagnosis, diagnose, lint_for_diagnosis
from nginx_502lint.diagnose_text import render_diagnosis_text
from nginx_502lint.engine import LintSettings, Registry
from nginx_502lint.lint import Input, load_inputs
from nginx_502lint.locations import find_location, logged_server_name, normalize_uri
from nginx_502lint.logread import parse_line
from nginx_502lint.logs import analyze_logs
from nginx_502lint.model import Model
from nginx_502lint.parse import Node

from .backends import BigHeaderBackend, SlowBackend
from .harness import NginxInstance, server_block

StartNginx = Callable[..., NginxInstance]
Running = Callable[[Any], Any]
REGISTRY = Registry.default(entry_points=False)


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections (bound, never listening) for as long as it is held."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


def line_of(path: Path, needle: str) -> int:
    return next(n for n, text in enumerate(path.read_text().splitlines(), start=1) if needle in text)


def linked(diagnosis: Diagnosis, path: str) -> list[tuple[str, str, int]]:
    (group,) = [g for g in diagnosis.groups if g.group.path == path]
    return [(f.rule, os.path.realpath(f.file), f.line) for f in group.findings]


FAILING_SITE = server_block(
    """
    location /big/ {
        proxy_pass http://127.0.0.1:{big};
    }
    location /small/ {
        proxy_pass http://127.0.0.1:{big};
        proxy_buffer_size 4k;
    }
    location /slow/ {
        proxy_pass http://127.0.0.1:{slow};
        proxy_read_timeout 1s;
    }
    location /down/ {
        proxy_pass http://127.0.0.1:{down};
    }"""
)


def test_real_error_log_links_each_failure_to_the_rule_and_line_that_explain_it(
    nginx: StartNginx, running: Running
) -> None:
    big = running(BigHeaderBackend(header_bytes=20_000))
    slow = running(SlowBackend(delay_s=3))
    down = running(refusing_port())
    proxy = nginx(FAILING_SITE, values={"big": big.port, "slow": slow.port, "down": down})

    statuses = [proxy.request(path, timeout=5).status
                for path in ("/big/page", "/big/page", "/small/page", "/slow/page", "/down/page")]
    proxy.wait_for_error_log("(111: Connection refused) while connecting to upstream")

    assert statuses == [502, 502, 502, 504, 502]
    site = Path(os.path.realpath(proxy.site_conf_path))
    settings = LintSettings(extras={"probe": True, "probe_timeout": 1})
    result, models = lint_for_diagnosis([Input(str(proxy.conf_path))], settings, REGISTRY)
    diagnosis = diagnose(analyze_logs([str(proxy.error_log_path)]), models, result,
                         settings=settings, registry=REGISTRY)

    signatures = {g.group.path: (g.group.signature.id, g.group.count) for g in diagnosis.groups}
    assert signatures == {
        "/big/page": ("response_header_too_big", 2),
        "/small/page": ("response_header_too_big", 1),
        "/slow/page": ("read_timed_out", 1),
        "/down/page": ("connection_refused", 1),
    }
    assert linked(diagnosis, "/big/page") == [("B201", str(site), line_of(site, f"127.0.0.1:{big.port};"))]
    assert linked(diagnosis, "/small/page") == [("B201", str(site), line_of(site, "proxy_buffer_size 4k"))]
    assert linked(diagnosis, "/slow/page") == [("T102", str(site), line_of(site, "proxy_read_timeout 1s"))]
    assert linked(diagnosis, "/down/page") == [("U390", str(site), line_of(site, f"127.0.0.1:{down};"))]
    text = render_diagnosis_text(diagnosis)
    assert f"1 × 504 upstream timed out (110: Connection timed out) from 127.0.0.1:{slow.port}" in text
    assert f"→ T102 at {proxy.site_conf_path}:{line_of(site, 'proxy_read_timeout 1s')}" in text


NAMED_SERVERS = """
server {
    listen 127.0.0.1:{port} default_server;
    location / { proxy_pass http://127.0.0.1:{down}; }
}
server {
    listen 127.0.0.1:{port};
    server_name .Example.COM www.a.test;
    location / { proxy_pass http://127.0.0.1:{down}; }
}
server {
    listen 127.0.0.1:{port};
    server_name ~^re\\d+\\.test$;
    location / { proxy_pass http://127.0.0.1:{down}; }
}
"""


def test_logged_server_field_is_the_name_diagnose_looks_servers_up_by(nginx: StartNginx, running: Running) -> None:
    down = running(refusing_port())
    proxy = nginx(NAMED_SERVERS, values={"down": down})

    for host in ("nobody.test", "example.com", "re42.test"):
        assert proxy.request("/", headers={"Host": host}, timeout=5).status == 502
    proxy.wait_for_error_log('host: "re42.test"')

    records = [parse_line(line) for line in proxy.error_log_text().splitlines()]
    logged = {r.host: r.server for r in records if r is not None and r.host is not None}
    assert logged == {'nobody.test': "", 'example.com': "example.com", 're42.test': r"~^re\d+\.test$"}
    (config,) = load_inputs([Input(str(proxy.conf_path))], LintSettings())
    model = Model(config)
    assert [logged_server_name(model, server) for server in model.http_servers()] == [
        "", "example.com", r"~^re\d+\.test$"]
    result, models = lint_for_diagnosis([Input(str(proxy.conf_path))], LintSettings(), REGISTRY)
    diagnosis = diagnose(analyze_logs([str(proxy.error_log_path)]), models, result)
    site = Path(os.path.realpath(proxy.site_conf_path))
    pass_lines = [n for n, text in enumerate(site.read_text().splitlines(), start=1) if "proxy_pass" in text]
    by_server = {g.group.server: [link.node.line for link in g.links] for g in diagnosis.groups}
    assert by_server == {"": [pass_lines[0]], "example.com": [pass_lines[1]], r"~^re\d+\.test$": [pass_lines[2]]}


LOCATIONS = r"""
location = / { return 200 "exact-root"; }
location / { return 200 "root"; }
location /documents/ { return 200 "documents"; }
location ^~ /images/ { return 200 "images"; }
location ~* \.(gif|jpg|jpeg)$ { return 200 "pictures"; }
location /a/ {
    location ~ \.php$ { return 200 "nested-php"; }
    location ^~ /a/static/ { return 200 "nested-static"; }
}
location ~ \.php$ { return 200 "outer-php"; }
location ~ \.css$ { return 200 "outer-css"; }
location =/attached { return 200 "attached"; }
location ~*^/Case/(?<id>\d+)$ { return 200 "case"; }
location @named { return 200 "named"; }
"""
URIS = [
    "/", "/index.html", "/documents/document.html", "/images/1.gif", "/documents/1.jpg", "/a/x.php", "/b/x.php",
    "/a/static/site.css", "/a/static/logo.png", "/attached", "/attached/more", "/case/42", "/CASE/7",
    "/documents/../images/x.JPG", "/api%2Fx.php", "//a//x.php", "/@named",
]


def test_location_matching_agrees_with_real_nginx(nginx: StartNginx) -> None:
    proxy = nginx(server_block(LOCATIONS))
    (config,) = load_inputs([Input(str(proxy.conf_path))], LintSettings())
    (server,) = Model(config).http_servers()

    served = {uri: proxy.request(uri, timeout=5).text for uri in URIS}
    predicted = {uri: _returned_text(find_location(server, normalize_uri(uri))) for uri in URIS}

    assert predicted == served


def _returned_text(location: Node | None) -> str | None:
    if location is None:
        return None
    return next(node.args[1] for node in location.block or () if node.name == "return")
