from __future__ import annotations

import gzip
import io
import json
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from nginx_502lint.logclassify import SIGNATURES, classify
from nginx_502lint.logread import MAX_LINE_BYTES, LogLine, iter_log_lines, parse_line
from nginx_502lint.logs import aggregate, analyze_logs

FIXTURES = Path(__file__).parent / "fixtures" / "logs"
EVERY_SIGNATURE = FIXTURES / "every-signature.log"
GARBAGE_CRLF = FIXTURES / "garbage-crlf.log"
CAPTURED = FIXTURES / "nginx-1.22.1-captured.log"
NOT_IN_FIXTURE = {"upstream_timed_out"}  # the fallback for an unlogged phase, see README there

# RULES.md ids; a signature must only point at rules that exist.
CATALOG_RULE_IDS = {
    "E001", "E002", "E003", "E004", "E005", "E006",
    "T101", "T102", "T103", "T104", "T105", "T106",
    "B201", "B202", "B203",
    "U301", "U302", "U303", "U304", "U305", "U306", "U307", "U308", "U309", "U310", "U390",
    "F401", "F402", "F403", "F404", "F405",
    "K501", "K502", "K503", "K504",
    "S601", "S602", "S603",
    "H701", "H702",
}

REAL_1_22_LINE = (
    '2026/11/21 23:20:01 [error] 4242#4242: *1 upstream timed out (110: Connection timed out) while '
    'reading response header from upstream, client: 127.0.0.1, server: localhost, request: "GET /slow '
    'HTTP/1.1", upstream: "http://127.0.0.1:39001/slow", host: "127.0.0.1:38001"'
)


def line(message: str, *, upstream: str | None = "http://127.0.0.1:8000/x", level: str = "error",
         time_text: str = "2026/11/21 10:00:00", path: str = "/x") -> str:
    text = f'{time_text} [{level}] 10#10: *7 {message}, client: 192.0.2.1, server: example.com, request: "GET {path} HTTP/1.1"'
    if upstream is not None:
        text += f', upstream: "{upstream}"'
    return text + ', host: "example.com"'


def classify_text(text: str):
    record = parse_line(text)
    assert record is not None
    return classify(record)


def expected_signature(text: str) -> str | None:
    record = parse_line(text)
    assert record is not None, text
    if record.request is None or record.request.path == "/not_a_failure":
        return None
    return record.request.path.lstrip("/")


# --- the signature table -----------------------------------------------------

def test_every_fixture_line_classifies_to_the_signature_its_request_path_names() -> None:
    for source, lineno, text in iter_log_lines([str(EVERY_SIGNATURE)]):
        found = classify_text(text)
        got = found.signature.id if found is not None else None
        assert got == expected_signature(text), f"{source}:{lineno}: {text}"


# Request path in the captured log -> what its failure line must classify to.
CAPTURED_EXPECTATIONS = {
    "/refused": "connection_refused",
    "/ipv6": "connection_refused_ipv6_loopback",
    "/nosock": "unix_socket_missing",
    "/proxyunix": "unix_socket_missing",
    "/stale2": "unix_socket_refused",
    "/private": "unix_socket_permission_denied",
    "/noresolver": "no_resolver",
    "/resolvefail": "dns_resolution_failed",
    "/slow": "read_timed_out",
    "/closed": "upstream_prematurely_closed",
    "/toobig": "response_header_too_big",
    "/fcgi-to-http": "fastcgi_protocol_mismatch",
    "/https-to-plain": "ssl_wrong_version_number",
    "/tlsproto": "ssl_protocol_mismatch",
    "/sni": "ssl_sni_rejected",
    "/sni40": "ssl_sni_rejected",
    "/verify": "ssl_certificate_verify_error",
    "/http09": "no_valid_http_header",
    "/midbody": "closed_mid_response",
    "/midstall": "read_timed_out_mid_response",
    "/reset": "connection_reset",
    "/uwsgi": "connection_refused",
    "/upload": "connection_reset",  # the body fit the socket buffers; the reset came on reading
}


def test_lines_captured_from_real_nginx_classify_as_expected() -> None:
    report = analyze_logs([str(CAPTURED)])
    assert report.unknown == 0
    by_path = {group.path: group.signature.id for group in report.groups if group.path != "/pair"}
    assert by_path == CAPTURED_EXPECTATIONS
    pair = sorted((g.signature.id, g.upstream_address, g.count) for g in report.groups if g.path == "/pair")
    assert pair == [
        ("connection_refused", "127.0.0.1:1", 1),
        ("connection_refused", "127.0.0.1:2", 1),
        ("no_live_upstreams", "pair", 2),
        ("upstream_temporarily_disabled", "127.0.0.1:1", 1),
        ("upstream_temporarily_disabled", "127.0.0.1:2", 1),
    ]


def test_fixture_covers_every_signature_in_the_table() -> None:
    seen = {expected_signature(text) for _, _, text in iter_log_lines([str(EVERY_SIGNATURE)])}
    assert {signature.id for signature in SIGNATURES} - NOT_IN_FIXTURE <= seen


def test_signatures_have_unique_snake_case_ids_and_only_catalog_rules() -> None:
    ids = [signature.id for signature in SIGNATURES]
    assert len(ids) == len(set(ids))
    for signature in SIGNATURES:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", signature.id), signature.id
        assert signature.cause and "\n" not in signature.cause
        assert {rule.id for rule in signature.rules} <= CATALOG_RULE_IDS, signature.id


def test_status_follows_how_nginx_chooses_502_504_or_500() -> None:
    # 502-causes.md section 1: 504 only when nginx's own timer fired before a header was
    # relayed, 500 for descriptor/connection exhaustion, no error status once a header went out.
    by_status: dict[int | None, set[str]] = {}
    for signature in SIGNATURES:
        by_status.setdefault(signature.status, set()).add(signature.id)
    assert by_status.pop(504) == {"connect_timed_out", "send_timed_out", "read_timed_out",
                                  "ssl_handshake_timed_out", "upstream_timed_out"}
    assert by_status.pop(500) == {"too_many_open_files", "worker_connections_exhausted"}
    assert by_status.pop(200) == {"no_valid_http_header", "read_timed_out_mid_response", "closed_mid_response"}
    assert by_status.pop(101) == {"websocket_idle_timeout"}
    assert by_status.pop(None) == {"upstream_temporarily_disabled"}
    assert set(by_status) == {502}


@pytest.mark.parametrize(
    ("phase", "signature_id", "status"),
    [
        ("connecting to upstream", "connect_timed_out", 504),
        ("sending request to upstream", "send_timed_out", 504),
        ("reading response header from upstream", "read_timed_out", 504),
        ("SSL handshaking to upstream", "ssl_handshake_timed_out", 504),
        ("reading upstream", "read_timed_out_mid_response", 200),
        ("proxying upgraded connection", "websocket_idle_timeout", 101),
    ],
)
def test_timeout_status_depends_on_what_nginx_was_doing(phase: str, signature_id: str, status: int) -> None:
    found = classify_text(line(f"upstream timed out (110: Connection timed out) while {phase}"))
    assert found is not None
    assert (found.signature.id, found.signature.status) == (signature_id, status)


def test_timeout_in_an_unrecognised_phase_still_counts_as_504() -> None:
    found = classify_text(line("upstream timed out (60: Operation timed out) while talking to upstream"))
    assert found is not None
    assert (found.signature.id, found.signature.status) == ("upstream_timed_out", 504)


def test_refused_on_ipv6_loopback_points_at_localhost_rule() -> None:
    found = classify_text(line("connect() failed (111: Connection refused) while connecting to upstream",
                               upstream="http://[::1]:5000/"))
    assert found is not None
    assert found.signature.id == "connection_refused_ipv6_loopback"
    assert found.rules == ("U301",)


def test_refused_on_ipv6_loopback_is_recognised_from_the_message_address_too() -> None:
    found = classify_text(line("connect() to [::1]:5000 failed (111: Connection refused) while connecting to upstream",
                               upstream=None))
    assert found is not None
    assert found.signature.id == "connection_refused_ipv6_loopback"
    assert found.upstream_address == "[::1]:5000"


def test_refused_fastcgi_adds_the_pool_mismatch_rule_and_http_does_not() -> None:
    message = "connect() failed (111: Connection refused) while connecting to upstream"
    fastcgi = classify_text(line(message, upstream="fastcgi://127.0.0.1:9000"))
    http = classify_text(line(message, upstream="http://127.0.0.1:3000/"))
    assert fastcgi is not None and http is not None
    assert fastcgi.rules == ("U390", "F401")
    assert http.rules == ("U390",)


def test_missing_unix_socket_of_fastcgi_names_the_pool_rule_first() -> None:
    message = "connect() to unix:/run/php/php8.2-fpm.sock failed (2: No such file or directory) while connecting to upstream"
    fastcgi = classify_text(line(message, upstream="fastcgi://unix:/run/php/php8.2-fpm.sock:"))
    proxy = classify_text(line(message, upstream="http://unix:/run/php/php8.2-fpm.sock:/x"))
    assert fastcgi is not None and proxy is not None
    assert fastcgi.rules == ("F401", "U310", "U308")
    assert proxy.rules == ("U310", "U308")


def test_permission_denied_on_unix_socket_is_socket_permissions() -> None:
    found = classify_text(line(
        "connect() to unix:/var/run/php5-fpm.sock failed (13: Permission denied) while connecting to upstream",
        upstream="fastcgi://unix:/var/run/php5-fpm.sock:", level="crit"))
    assert found is not None
    assert (found.signature.id, found.rules) == ("unix_socket_permission_denied", ("F402", "U310"))


def test_permission_denied_on_tcp_is_selinux_not_socket_permissions() -> None:
    found = classify_text(line(
        "connect() to 127.0.0.1:8081 failed (13: Permission denied) while connecting to upstream",
        upstream="http://127.0.0.1:8081/", level="crit"))
    assert found is not None
    assert found.signature.id == "tcp_connect_permission_denied"
    assert "SELinux" in found.signature.cause


def test_prematurely_closed_suspects_scheme_mismatch_only_for_plain_http() -> None:
    message = "upstream prematurely closed connection while reading response header from upstream"
    http = classify_text(line(message, upstream="http://127.0.0.1:443/"))
    fastcgi = classify_text(line(message, upstream="fastcgi://127.0.0.1:9000"))
    assert http is not None and fastcgi is not None
    assert "U307" in http.rules
    assert "U307" not in fastcgi.rules
    assert {"K502", "K503", "T105", "F403"} <= set(fastcgi.rules)


def test_rules_are_not_narrowed_when_the_line_has_no_upstream_field() -> None:
    found = classify_text(line(
        "connect() to unix:/run/php/php8.2-fpm.sock failed (2: No such file or directory) while connecting to upstream",
        upstream=None))
    assert found is not None
    assert found.rules == ("F401", "U310", "U308")
    assert found.upstream_scheme is None


@pytest.mark.parametrize(
    ("message", "signature_id"),
    [
        ("connect() to 10.0.0.5:80 failed (99: Address not available) while connecting to upstream", "local_port_exhaustion"),
        ("upstream timed out (110: Operation timed out) while reading response header from upstream", "read_timed_out"),
        ("socket() failed (24: No file descriptors available) while connecting to upstream", "too_many_open_files"),
        ("connect() failed (113: Host is unreachable) while connecting to upstream", "no_route_to_host"),
        ("connect() failed (61: Connection refused) while connecting to upstream", "connection_refused"),
    ],
)
def test_musl_and_bsd_errno_texts_classify_like_glibc(message: str, signature_id: str) -> None:
    found = classify_text(line(message))
    assert found is not None
    assert found.signature.id == signature_id


@pytest.mark.parametrize(
    "message",
    [
        "recv() failed (104: Connection reset by peer) while reading client request line",
        "writev() failed (32: Broken pipe) while sending to client",
        "SSL_do_handshake() failed (SSL: error:0A00006C:SSL routines::bad key share) while SSL handshaking",
        'open() "/var/lib/nginx/proxy/1/00/0000000001" failed (13: Permission denied) while reading upstream',
        'FastCGI sent in stderr: "PHP message: connect() failed (111: Connection refused)" while reading response header from upstream',
        "send() failed (111: Connection refused) while resolving, resolver: 127.0.0.1:53",
    ],
)
def test_client_side_and_backend_quoted_errors_are_not_upstream_failures(message: str) -> None:
    assert classify_text(line(message)) is None


def test_background_resolver_failure_without_a_request_is_not_a_502() -> None:
    record = parse_line("2026/11/21 10:00:00 [error] 10#10: api.internal could not be resolved (3: Host not found)")
    assert record is not None
    assert classify(record) is None


# --- parsing -----------------------------------------------------------------

def test_real_nginx_1_22_line_parses_every_field() -> None:
    record = parse_line(REAL_1_22_LINE)
    assert record is not None
    assert record.time == datetime(2026, 11, 21, 23, 20, 1)
    assert (record.level, record.pid, record.tid, record.connection) == ("error", 4242, 4242, 1)
    assert record.message == ("upstream timed out (110: Connection timed out) while reading response "
                              "header from upstream")
    assert record.phase == "reading response header from upstream"
    assert (record.client, record.server, record.host) == ("127.0.0.1", "localhost", "127.0.0.1:38001")
    assert record.request is not None
    assert (record.request.method, record.request.uri, record.request.protocol) == ("GET", "/slow", "HTTP/1.1")
    assert record.upstream is not None
    assert (record.upstream.scheme, record.upstream.address, record.upstream.uri) == ("http", "127.0.0.1:39001", "/slow")
    assert record.referrer is None


def test_context_is_nginx_s_even_when_the_referrer_imitates_it() -> None:
    # Captured from nginx 1.22.1 with `curl -H 'Referer: http://x/a, client: "y"'`.
    record = parse_line(
        '2026/11/21 23:25:00 [error] 16080#16080: *1 connect() failed (111: Connection refused) while connecting '
        'to upstream, client: 127.0.0.1, server: localhost, request: "GET /refused?q=1 HTTP/1.1", upstream: '
        '"http://127.0.0.1:1/refused?q=1", host: "127.0.0.1:38001", referrer: "http://x/a, client: "y""'
    )
    assert record is not None
    assert record.client == "127.0.0.1"
    assert record.referrer == 'http://x/a, client: "y"'
    assert record.message.endswith("while connecting to upstream")


def test_referrer_holding_every_field_marker_stays_one_value() -> None:
    referrer = 'https://evil.example/", server: x, request: "GET /fake HTTP/1.1", upstream: "http://1.1.1.1/", host: "y'
    record = parse_line(line("upstream sent too big header while reading response header from upstream")
                        + f', referrer: "{referrer}"')
    assert record is not None and record.request is not None and record.upstream is not None
    assert record.referrer == referrer
    assert (record.server, record.request.uri, record.upstream.address, record.host) == (
        "example.com", "/x", "127.0.0.1:8000", "example.com")


def test_message_with_commas_and_quotes_is_kept_whole() -> None:
    message = ('upstream sent duplicate header line: "Transfer-Encoding: chunked", previous value: '
               '"Transfer-Encoding: chunked" while reading response header from upstream')
    record = parse_line(line(message))
    assert record is not None
    assert record.message == message
    assert record.server == "example.com"


def test_message_that_mentions_client_before_the_context_is_kept_whole() -> None:
    message = 'open() "/srv/a, client: b" failed (2: No such file or directory)'
    record = parse_line(line(message, upstream=None))
    assert record is not None
    assert record.message == message
    assert record.client == "192.0.2.1"


@pytest.mark.parametrize(
    ("field", "address", "uri", "scheme"),
    [
        ("fastcgi://unix:/run/php/php8.2-fpm.sock:", "unix:/run/php/php8.2-fpm.sock", "", "fastcgi"),
        ("http://unix:/run/app.sock:/api/v1?x=1", "unix:/run/app.sock", "/api/v1?x=1", "http"),
        ("uwsgi://unix:///run/app/uwsgi.sock:", "unix:///run/app/uwsgi.sock", "", "uwsgi"),
        ("http://[::1]:5000/a", "[::1]:5000", "/a", "http"),
        ("fastcgi://127.0.0.1:9000", "127.0.0.1:9000", "", "fastcgi"),
        ("http://backend/no_live", "backend", "/no_live", "http"),
    ],
)
def test_upstream_field_splits_scheme_address_and_uri(field: str, address: str, uri: str, scheme: str) -> None:
    record = parse_line(line("no live upstreams while connecting to upstream", upstream=field))
    assert record is not None and record.upstream is not None
    assert (record.upstream.scheme, record.upstream.address, record.upstream.uri) == (scheme, address, uri)


def test_address_comes_from_the_message_when_there_is_no_upstream_field() -> None:
    found = classify_text(line("no resolver defined to resolve xxx.aliyuncs.com", upstream=None))
    assert found is not None
    assert found.upstream_address == "xxx.aliyuncs.com"


@pytest.mark.parametrize(
    "text",
    [
        "Stack trace:",
        "",
        "Nov 21 11:00:02 web1 systemd[1]: Reloading.",
        "2026/13/40 10:00:00 [error] 1#1: *1 impossible date",
        "2026/11/21 10:00:00 error 1#1: no level brackets",
    ],
)
def test_non_nginx_lines_do_not_parse(text: str) -> None:
    assert parse_line(text) is None


def test_line_without_connection_id_or_context_parses() -> None:
    record = parse_line("2026/11/21 10:00:00 [notice] 2100#2100: start worker process 2101")
    assert record is not None
    assert (record.connection, record.client, record.message) == (None, None, "start worker process 2101")


def test_request_path_drops_query_and_absolute_form() -> None:
    assert parse_line(line("x", path="/cart/add?item=7&q=a,b")).request.path == "/cart/add"  # type: ignore[union-attr]
    absolute = parse_line(line("x").replace("GET /x HTTP/1.1", "GET http://example.com/api?x=1 HTTP/1.1"))
    assert absolute is not None and absolute.request is not None
    assert absolute.request.path == "/api"


# --- reading -----------------------------------------------------------------

def gzip_copy(source: Path, target: Path) -> Path:
    target.write_bytes(gzip.compress(source.read_bytes()))
    return target


def test_gzip_rotated_copy_reads_the_same_lines_as_the_plain_file(tmp_path: Path) -> None:
    rotated = gzip_copy(EVERY_SIGNATURE, tmp_path / "error.log.1.gz")
    plain = [(lineno, text) for _, lineno, text in iter_log_lines([str(EVERY_SIGNATURE)])]
    unzipped = [(lineno, text) for _, lineno, text in iter_log_lines([str(rotated)])]
    assert unzipped == plain
    assert len(plain) == len(EVERY_SIGNATURE.read_text().splitlines())


def test_gzip_is_detected_by_magic_bytes_not_by_suffix(tmp_path: Path) -> None:
    disguised = gzip_copy(EVERY_SIGNATURE, tmp_path / "error.log.1")
    first = next(iter_log_lines([str(disguised)]))
    assert first.text == EVERY_SIGNATURE.read_text().splitlines()[0]


def test_dash_reads_stdin_plain_or_gzip() -> None:
    data = EVERY_SIGNATURE.read_bytes()
    expected = data.decode().splitlines()
    for stream in (io.BytesIO(data), io.BytesIO(gzip.compress(data))):
        lines = list(iter_log_lines(["-"], stdin=stream))
        assert [text for _, _, text in lines] == expected
        assert lines[0].source == "<stdin>"


def test_truncated_gzip_yields_what_it_holds_and_warns(tmp_path: Path) -> None:
    whole = gzip.compress(("2026/11/21 10:00:00 [notice] 1#1: hello\n" * 20000).encode())
    cut = tmp_path / "error.log.2.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    warnings: list[str] = []
    lines = list(iter_log_lines([str(cut)], on_warning=warnings.append))
    assert 0 < len(lines) < 20000
    assert len(warnings) == 1 and str(cut) in warnings[0]


def test_missing_file_raises() -> None:
    with pytest.raises(FileNotFoundError):
        list(iter_log_lines(["/nonexistent/error.log"]))


def test_crlf_and_invalid_utf8_are_tolerated() -> None:
    assert b"\r\n" in GARBAGE_CRLF.read_bytes(), "fixture lost its CRLF line endings"
    texts = [text for _, _, text in iter_log_lines([str(GARBAGE_CRLF)])]
    assert not any(text.endswith("\r") for text in texts)
    assert any("\ufffd" in text for text in texts)
    assert len(texts) == GARBAGE_CRLF.read_bytes().count(b"\n")


def test_overlong_line_keeps_its_head_and_the_next_line_intact(tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    log.write_bytes(b"x" * (MAX_LINE_BYTES * 3 + 5) + b"\n" + REAL_1_22_LINE.encode() + b"\n")
    lines = list(iter_log_lines([str(log)]))
    assert [lineno for _, lineno, _ in lines] == [1, 2]
    assert len(lines[0].text) == MAX_LINE_BYTES
    assert lines[1].text == REAL_1_22_LINE


def test_lines_are_numbered_per_file(tmp_path: Path) -> None:
    rotated = gzip_copy(GARBAGE_CRLF, tmp_path / "error.log.1.gz")
    lines = list(iter_log_lines([str(EVERY_SIGNATURE), str(rotated)]))
    sources = [source for source, _, _ in lines]
    assert sources.index(str(rotated)) == len(EVERY_SIGNATURE.read_text().splitlines())
    assert lines[sources.index(str(rotated))].lineno == 1


class FakeClock:
    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_progress_is_reported_at_most_every_half_second_and_ends_at_the_total(tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    log.write_text((REAL_1_22_LINE + "\n") * 1000)
    reports: list[tuple[int, int | None]] = []
    # Every line read advances the clock by 0.1 s: 1000 lines = 100 s = at most 200 reports.
    list(iter_log_lines([str(log)], progress=lambda done, total: reports.append((done, total)), clock=FakeClock(0.1)))
    size = log.stat().st_size
    assert 150 <= len(reports) <= 201
    assert reports[-1] == (size, size)
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)


def test_progress_total_is_unknown_for_stdin() -> None:
    reports: list[tuple[int, int | None]] = []
    data = (REAL_1_22_LINE + "\n").encode() * 10
    list(iter_log_lines(["-"], stdin=io.BytesIO(data), progress=lambda d, t: reports.append((d, t))))
    assert reports and all(total is None for _, total in reports)


# --- aggregation -------------------------------------------------------------

def test_every_line_lands_in_exactly_one_bucket_even_garbage() -> None:
    report = analyze_logs([str(GARBAGE_CRLF)])
    assert report.lines == 12
    assert (report.classified, report.non_upstream, report.unknown, report.skipped) == (4, 2, 6, 0)
    assert sum(group.count for group in report.groups) == report.classified
    assert report.unknown_samples[0] == f"{GARBAGE_CRLF}:3"


def test_copytruncate_nul_hole_does_not_hide_the_line_after_it() -> None:
    report = analyze_logs([str(GARBAGE_CRLF)])
    too_big = [group for group in report.groups if group.signature.id == "response_header_too_big"]
    assert [(group.path, group.sample) for group in too_big] == [("/login/callback", f"{GARBAGE_CRLF}:9")]


def test_failures_group_by_signature_upstream_server_and_path_without_query() -> None:
    texts = [
        line("connect() failed (111: Connection refused) while connecting to upstream", path="/api?a=1",
             time_text="2026/11/21 10:00:05"),
        line("connect() failed (111: Connection refused) while connecting to upstream", path="/api?a=2",
             time_text="2026/11/21 10:00:01"),
        line("connect() failed (111: Connection refused) while connecting to upstream", path="/other"),
        line("connect() failed (111: Connection refused) while connecting to upstream", path="/api",
             upstream="http://127.0.0.1:8001/api"),
        line("upstream timed out (110: Connection timed out) while reading response header from upstream",
             path="/api"),
    ]
    report = aggregate(LogLine("mem", n, text) for n, text in enumerate(texts, start=1))
    keys = [(g.signature.id, g.upstream_address, g.path, g.count) for g in report.groups]
    assert keys[0] == ("connection_refused", "127.0.0.1:8000", "/api", 2)
    assert sorted(keys[1:]) == [
        ("connection_refused", "127.0.0.1:8000", "/other", 1),
        ("connection_refused", "127.0.0.1:8001", "/api", 1),
        ("read_timed_out", "127.0.0.1:8000", "/api", 1),
    ]
    top = report.groups[0]
    assert (top.first_time, top.last_time) == (datetime(2026, 11, 21, 10, 0, 1), datetime(2026, 11, 21, 10, 0, 5))
    assert top.sample == "mem:1"
    assert top.server == "example.com"


def test_since_skips_older_lines_but_counts_them() -> None:
    since = datetime(2026, 11, 21, 10, 5, 0)
    every = analyze_logs([str(EVERY_SIGNATURE)])
    recent = analyze_logs([str(EVERY_SIGNATURE)], since=since)
    older = sum(1 for _, _, text in iter_log_lines([str(EVERY_SIGNATURE)])
                if (record := parse_line(text)) is not None and record.time < since)
    assert 0 < older < every.lines
    assert recent.skipped == older
    assert recent.lines == every.lines
    assert recent.classified + recent.non_upstream + recent.skipped + recent.unknown == recent.lines
    assert all(group.first_time >= since for group in recent.groups)
    assert recent.classified < every.classified


def test_aware_since_is_compared_in_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(time, "tzset"):
        pytest.skip("needs time.tzset")
    monkeypatch.setenv("TZ", "UTC+02")  # POSIX sign: two hours behind UTC
    time.tzset()
    try:
        text = line("upstream sent too big header while reading response header from upstream",
                    time_text="2026/11/21 10:00:00")
        just_after = datetime(2026, 11, 21, 12, 0, 1, tzinfo=timezone.utc)  # 10:00:01 local
        just_before = datetime(2026, 11, 21, 11, 59, 59, tzinfo=timezone.utc)
        assert aggregate([LogLine("mem", 1, text)], since=just_after).skipped == 1
        assert aggregate([LogLine("mem", 1, text)], since=just_before).classified == 1
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_report_to_dict_is_plain_json() -> None:
    report = analyze_logs([str(EVERY_SIGNATURE)], since=datetime(2026, 11, 21, 10, 1, 0))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["lines"] == report.lines and data["skipped"] == report.skipped
    assert data["since"] == "2026-11-21T10:01:00"
    group = data["groups"][0]
    assert set(group) >= {"signature", "status", "cause", "rules", "upstream_address", "server", "path",
                          "count", "first_time", "last_time", "sample"}
    assert sum(g["count"] for g in data["groups"]) == report.classified


def test_analyze_reads_rotated_and_current_logs_together(tmp_path: Path) -> None:
    rotated = gzip_copy(EVERY_SIGNATURE, tmp_path / "error.log.1.gz")
    single = analyze_logs([str(EVERY_SIGNATURE)])
    both = analyze_logs([str(EVERY_SIGNATURE), str(rotated)])
    assert both.classified == 2 * single.classified
    assert [g.count for g in both.groups] == [2 * g.count for g in single.groups]


# --- scale -------------------------------------------------------------------

def generated_log(target: Path, minimum_bytes: int) -> dict[str, int]:
    """Write a realistic mix of lines until `minimum_bytes`; return how many of each were written."""
    tracking = "&".join(f"utm_{n}=campaign-{n}-" + "x" * 40 for n in range(8))
    kinds = {
        "refused": line("connect() failed (111: Connection refused) while connecting to upstream",
                        path=f"/api/orders?page=3&{tracking}"),
        "timeout": REAL_1_22_LINE,
        "client": "2026/11/21 10:00:00 [info] 10#10: *9 client 192.0.2.1 closed keepalive connection",
        "garbage": "#1 /var/www/vendor/laravel/framework/src/Illuminate/Pipeline/Pipeline.php(167): "
                   + "Illuminate\\Pipeline\\Pipeline->Illuminate\\Pipeline\\{closure}(Object(Request)) " * 4,
    }
    counts = dict.fromkeys(kinds, 0)
    written = 0
    with target.open("w") as out:
        while written < minimum_bytes:
            for kind, text in kinds.items():
                out.write(text + "\n")
                written += len(text) + 1
                counts[kind] += 1
    return counts


def test_streams_a_50_megabyte_log_and_counts_every_line(tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    counts = generated_log(log, 50 * 1024 * 1024)
    assert log.stat().st_size >= 50 * 1024 * 1024
    report = analyze_logs([str(log)])
    assert report.lines == sum(counts.values())
    assert report.unknown == counts["garbage"]
    assert report.non_upstream == counts["client"]
    assert [(g.signature.id, g.count) for g in report.groups] == [
        ("connection_refused", counts["refused"]),
        ("read_timed_out", counts["timeout"]),
    ]
