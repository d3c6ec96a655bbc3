"""Linking error.log failure groups to the config location and the findings that explain them."""
from __future__ import annotations

from pathlib import Path

from nginx_502lint.diagnose import (
    LOG_RULE,
    Diagnosis,
    diagnose,
    lint_for_diagnosis,
    with_log_evidence,
)
from nginx_502lint.engine import LintSettings, Registry
from nginx_502lint.findings import Severity
from nginx_502lint.lint import Input
from nginx_502lint.logs import analyze_logs

REGISTRY = Registry.default(entry_points=False)

CONFIG = r"""events {}
http {
    upstream app {
        server 127.0.0.1:8001;
        server 127.0.0.1:8002;
    }
    server {
        listen 80;
        server_name example.com www.example.com;
        proxy_read_timeout 2s;

        location / {
            try_files $uri $uri/ @app;
        }
        location @app {
            proxy_pass http://app;
        }
        location /api/ {
            proxy_pass http://127.0.0.1:8000;
            proxy_buffer_size 4k;
        }
        location /v2/ {
            if ($http_x_canary) {
                proxy_pass http://127.0.0.1:9001;
            }
            proxy_pass http://127.0.0.1:9000;
        }
        location /local/ {
            proxy_pass http://localhost:3000;
        }
        location /var/ {
            set $backend http://127.0.0.1:7000;
            proxy_pass $backend;
        }
        location ~ \.php$ {
            fastcgi_pass unix:/run/php/php8.2-fpm.sock;
        }
    }
    server {
        listen 80;
        server_name internal.test;
        location / {
            proxy_pass http://127.0.0.1:5000;
            proxy_read_timeout 30s;
        }
    }
}
"""


def line_of(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), start=1) if needle in line)


def log_line(message: str, *, path: str = "/", upstream: str | None = None, server: str = "example.com",
             second: int = 0) -> str:
    text = (f'2026/11/21 10:00:{second:02d} [error] 10#10: *{second + 1} {message}, client: 192.0.2.1, '
            f'server: {server}, request: "GET {path} HTTP/1.1"')
    if upstream is not None:
        text += f', upstream: "{upstream}"'
    return text + f', host: "{server}"'


TOO_BIG = "upstream sent too big header while reading response header from upstream"
READ_TIMEOUT = "upstream timed out (110: Connection timed out) while reading response header from upstream"
REFUSED = "connect() failed (111: Connection refused) while connecting to upstream"
CLOSED = "upstream prematurely closed connection while reading response header from upstream"


def run(tmp_path: Path, lines: list[str], config: str | None = CONFIG, settings: LintSettings | None = None,
        with_context: bool = False) -> tuple[Diagnosis, str]:
    log = tmp_path / "error.log"
    log.write_text("\n".join(lines) + "\n")
    report = analyze_logs([str(log)])
    if config is None:
        return diagnose(report), ""
    conf = tmp_path / "nginx.conf"
    conf.write_text(config)
    settings = settings or LintSettings()
    result, models = lint_for_diagnosis([Input(str(conf))], settings, REGISTRY)
    if with_context:
        return diagnose(report, models, result, settings=settings, registry=REGISTRY), str(conf)
    return diagnose(report, models, result), str(conf)


def test_too_big_header_links_to_b201_at_the_explicit_buffer_size_line(tmp_path: Path) -> None:
    lines = [log_line(TOO_BIG, path=f"/api/users?page={n}", upstream=f"http://127.0.0.1:8000/api/users?page={n}",
                      second=n) for n in range(3)]

    diagnosis, conf = run(tmp_path, lines)

    (group,) = diagnosis.groups
    assert group.group.count == 3
    assert group.verdict == "explained"
    (link,) = group.links
    assert (link.node.file, link.node.line, link.address_match) == (conf, line_of(CONFIG, "127.0.0.1:8000"), "exact")
    assert [(f.rule, f.line) for f in group.findings] == [("B201", line_of(CONFIG, "proxy_buffer_size 4k"))]
    assert [s.text for s in link.settings] == [f"proxy_buffer_size 4k at {conf}:{line_of(CONFIG, 'proxy_buffer_size 4k')}"]


def test_try_files_to_a_named_location_reaches_the_upstream_and_the_server_level_timeout(tmp_path: Path) -> None:
    diagnosis, conf = run(tmp_path, [log_line(READ_TIMEOUT, path="/some/page", upstream="http://127.0.0.1:8002/some/page")])

    (group,) = diagnosis.groups
    (link,) = group.links
    assert link.site.describe() == "location @app (server example.com)"
    assert link.via == (f"try_files at {conf}:{line_of(CONFIG, 'try_files')} -> @app",)
    assert link.address_match == "exact"
    assert [(f.rule, f.line) for f in group.findings] == [("T102", line_of(CONFIG, "proxy_read_timeout 2s"))]


def test_no_live_upstreams_matches_the_upstream_block_by_name(tmp_path: Path) -> None:
    diagnosis, _ = run(tmp_path, [log_line("no live upstreams while connecting to upstream", path="/x",
                                           upstream="http://app/x")])

    (group,) = diagnosis.groups
    (link,) = group.links
    assert link.address_match == "exact"
    assert link.site.target.raw == "http://app"


def test_of_two_pass_directives_in_a_location_the_one_naming_the_logged_address_is_linked(tmp_path: Path) -> None:
    diagnosis, _ = run(tmp_path, [log_line(REFUSED, path="/v2/items", upstream="http://127.0.0.1:9001/v2/items")])

    (group,) = diagnosis.groups
    assert [link.site.target.raw for link in group.links] == ["http://127.0.0.1:9001"]
    assert group.links[0].site.block.name == "if"


def test_localhost_target_matches_the_ipv6_loopback_peer_and_links_u301(tmp_path: Path) -> None:
    diagnosis, _ = run(tmp_path, [log_line(REFUSED, path="/local/", upstream="http://[::1]:3000/local/")])

    (group,) = diagnosis.groups
    assert group.group.signature.id == "connection_refused_ipv6_loopback"
    assert group.links[0].address_match == "exact"
    assert [f.rule for f in group.findings] == ["U301"]


def test_variable_target_matches_through_its_set_value(tmp_path: Path) -> None:
    diagnosis, _ = run(tmp_path, [log_line(REFUSED, path="/var/x", upstream="http://127.0.0.1:7000/var/x")])

    (link,) = diagnosis.groups[0].links
    assert (link.site.target.raw, link.address_match) == ("$backend", "exact")


def test_a_group_served_where_no_rule_fires_says_so_and_shows_the_value_in_effect(tmp_path: Path) -> None:
    diagnosis, conf = run(tmp_path, [log_line(READ_TIMEOUT, path="/", upstream="http://127.0.0.1:5000/",
                                              server="internal.test")])

    (group,) = diagnosis.groups
    assert group.verdict == "located"
    assert group.explanation.startswith("no config rule explains this: none of T101, T102, T105")
    assert "the backend sent no response header within the read timeout" in group.explanation
    assert [s.text for s in group.links[0].settings] == [f"proxy_read_timeout 30s at {conf}:{line_of(CONFIG, '30s')}"]


def test_a_timeout_rule_about_another_timer_of_the_site_does_not_explain_a_read_timeout(tmp_path: Path) -> None:
    config = CONFIG.replace("proxy_read_timeout 30s;", "proxy_connect_timeout 500ms;")
    diagnosis, conf = run(tmp_path, [log_line(READ_TIMEOUT, path="/", upstream="http://127.0.0.1:5000/",
                                              server="internal.test")], config)

    (group,) = diagnosis.groups
    assert group.verdict == "located"
    assert [s.text for s in group.links[0].settings] == ["proxy_read_timeout 60s (nginx's default)"]
    result, _ = lint_for_diagnosis([Input(conf)], LintSettings(), REGISTRY, ["T102"])
    assert line_of(config, "500ms") in [f.line for f in result.findings]  # fires, but is about connecting


def test_a_signature_without_config_rules_is_a_backend_side_cause(tmp_path: Path) -> None:
    message = 'upstream sent "Content-Length" and "Transfer-Encoding" headers at the same time while reading response header from upstream'
    diagnosis, _ = run(tmp_path, [log_line(message, path="/api/x", upstream="http://127.0.0.1:8000/api/x")])

    (group,) = diagnosis.groups
    assert group.verdict == "located"
    assert group.explanation.startswith("no config rule explains this: backend-side cause: the backend sent both")


def test_default_value_in_effect_is_shown_as_nginx_default(tmp_path: Path) -> None:
    config = CONFIG.replace("        proxy_read_timeout 2s;\n", "")
    diagnosis, _ = run(tmp_path, [log_line(READ_TIMEOUT, path="/api/", upstream="http://127.0.0.1:8000/api/")], config)

    (link,) = diagnosis.groups[0].links
    assert [s.text for s in link.settings] == ["proxy_read_timeout 60s (nginx's default)"]
    assert [f.rule for f in link.findings] == ["T101"]


def test_unknown_server_name_falls_back_to_the_logged_address_with_a_note(tmp_path: Path) -> None:
    diagnosis, _ = run(tmp_path, [log_line(CLOSED, path="/", upstream="http://127.0.0.1:8000/", server="old.example")])

    (group,) = diagnosis.groups
    assert [link.site.target.raw for link in group.links] == ["http://127.0.0.1:8000"]
    assert group.notes == ["no server block has the logged name 'old.example' (its first server_name)"]


def test_path_leading_elsewhere_than_the_logged_address_links_by_address_and_says_why(tmp_path: Path) -> None:
    diagnosis, _ = run(tmp_path, [log_line(CLOSED, path="/api/x", upstream="http://127.0.0.1:5000/api/x")])

    (group,) = diagnosis.groups
    assert [link.site.describe() for link in group.links] == ["location / (server internal.test)"]
    assert "linked by address" in group.notes[0]


def test_an_address_nothing_in_the_config_names_keeps_the_path_match_and_flags_it(tmp_path: Path) -> None:
    diagnosis, _ = run(tmp_path, [log_line(CLOSED, path="/api/x", upstream="http://10.9.9.9:80/api/x")])

    (group,) = diagnosis.groups
    assert [link.address_match for link in group.links] == ["none"]
    assert "is not named by the pass directive that serves the path" in group.notes[0]


def test_unmatched_group_without_any_link_is_unlocated(tmp_path: Path) -> None:
    diagnosis, _ = run(tmp_path, [log_line(CLOSED, path="/", upstream="http://10.9.9.9:80/", server="old.example")])

    (group,) = diagnosis.groups
    assert (group.verdict, group.links) == ("unlocated", [])
    assert group.explanation.startswith("not found in the config; likely cause:")


def test_without_config_groups_keep_cause_and_candidate_rules(tmp_path: Path) -> None:
    diagnosis, _ = run(tmp_path, [log_line(TOO_BIG, path="/x", upstream="http://127.0.0.1:8000/x")], config=None)

    (group,) = diagnosis.groups
    assert group.verdict == "no_config"
    assert "rules that can explain it: B201, B202; give the config to link them" in group.explanation


def test_rules_the_run_did_not_check_are_named_with_the_option_that_runs_them(tmp_path: Path) -> None:
    line = log_line("connect() to unix:/run/php/php8.2-fpm.sock failed (2: No such file or directory) while "
                    "connecting to upstream", path="/index.php", upstream="fastcgi://unix:/run/php/php8.2-fpm.sock:")

    diagnosis, _ = run(tmp_path, [line], with_context=True)

    (group,) = diagnosis.groups
    assert group.links[0].address_match == "exact"
    assert group.unchecked["F401"] == "needs --php-fpm"


def test_unknown_lines_are_counted_in_the_diagnosis_not_dropped(tmp_path: Path) -> None:
    lines = ["PHP message: something else", log_line(TOO_BIG, path="/api/", upstream="http://127.0.0.1:8000/api/")]

    data = run(tmp_path, lines)[0].to_dict()

    assert data["log"]["unknown"] == 1  # type: ignore[index]
    assert data["log"]["lines"] == 2  # type: ignore[index]
    assert data["failures"] == 1


def test_json_shape_carries_verdict_links_and_findings(tmp_path: Path) -> None:
    diagnosis, conf = run(tmp_path, [log_line(TOO_BIG, path="/api/", upstream="http://127.0.0.1:8000/api/")])

    group = diagnosis.to_dict()["groups"][0]  # type: ignore[index]

    assert {key: group[key] for key in ("signature", "status", "count", "verdict")} == {
        "signature": "response_header_too_big", "status": 502, "count": 1, "verdict": "explained"}
    link = group["links"][0]
    assert (link["file"], link["line"], link["directive"], link["address_match"]) == (
        conf, line_of(CONFIG, "127.0.0.1:8000"), "proxy_pass", "exact")
    assert link["findings"][0]["rule"] == "B201"


def test_finding_shaped_output_carries_the_log_evidence_on_the_config_location(tmp_path: Path) -> None:
    lines = [
        log_line(TOO_BIG, path="/api/", upstream="http://127.0.0.1:8000/api/"),
        log_line(READ_TIMEOUT, path="/", upstream="http://127.0.0.1:5000/", server="internal.test", second=1),
    ]
    conf = tmp_path / "nginx.conf"
    conf.write_text(CONFIG)
    result, models = lint_for_diagnosis([Input(str(conf))], LintSettings(), REGISTRY)
    log = tmp_path / "error.log"
    log.write_text("\n".join(lines) + "\n")
    diagnosis = diagnose(analyze_logs([str(log)]), models, result)

    merged = with_log_evidence(result.findings, diagnosis)

    assert len(merged) == len(result.findings) + 1
    (b201,) = [f for f in merged if f.rule == "B201" and f.line == line_of(CONFIG, "proxy_buffer_size 4k")]
    assert b201.severity is Severity.ERROR
    assert b201.message.endswith(f'; seen in error.log: 1 × 502 "upstream sent too big header" from 127.0.0.1:8000 '
                                 f'(server example.com, /api/), 2026-11-21 10:00:00, first at {log}:1')
    assert b201.fix is not None
    (located,) = [f for f in merged if f.rule == LOG_RULE]
    assert (located.file, located.line, located.slug) == (str(conf), line_of(CONFIG, "127.0.0.1:5000"), "read_timed_out")
    assert located.severity is Severity.WARNING
    assert "served here; no config rule explains this" in located.message
    untouched = [f for f in merged if f.rule == "T101"]
    assert untouched and all("seen in" not in f.message for f in untouched)


def test_only_5xx_groups_count_as_client_errors(tmp_path: Path) -> None:
    truncated = "upstream prematurely closed connection while reading upstream"
    lines = [log_line(truncated, path="/api/", upstream="http://127.0.0.1:8000/api/"),
             log_line(TOO_BIG, path="/api/", upstream="http://127.0.0.1:8000/api/", second=1)]

    diagnosis, _ = run(tmp_path, lines)

    assert len(diagnosis.groups) == 2
    assert [g.group.signature.id for g in diagnosis.client_errors] == ["response_header_too_big"]


def test_run_time_dns_failure_matches_the_name_of_a_variable_target(tmp_path: Path) -> None:
    config = CONFIG.replace("set $backend http://127.0.0.1:7000;", "set $backend http://backend.internal:7000;")
    line = log_line("no resolver defined to resolve backend.internal", path="/var/x")

    diagnosis, _ = run(tmp_path, [line], config)

    (group,) = diagnosis.groups
    assert (group.group.signature.id, group.group.upstream_address) == ("no_resolver", "backend.internal")
    assert [(link.site.target.raw, link.address_match) for link in group.links] == [("$backend", "name")]
