"""Property-based: whatever the config, the linter answers, in bounded time, without a traceback.

Inputs are generated two ways: configs built from nginx's grammar with
realistic and broken values, and real configs (rule fixtures, the clean
corpus) mutated byte by byte (cut, duplicated, truncated, stray braces,
quotes, NUL, BOM, UTF-16, CRLF). In-process, `lint` must return a result
(every rule runs) within ALARM seconds; as a whole process, the CLI must exit
0, 1 or 2 with a message. Examples are bounded for a 2-core CI (the whole
file runs in well under a minute); in CI (CI set) the examples are fixed.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nginx_502lint.engine import Registry
from nginx_502lint.lint import lint_paths

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("NGINX_502LINT_CORPUS", REPO.parent / "shared" / "corpus" / "clean"))
REGISTRY = Registry.default(entry_points=False)
ALARM = 20  # seconds per input; a lint of these small configs takes well under one
FAST = settings(deadline=None, database=None, derandomize=bool(os.environ.get("CI")),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])


def seed_texts() -> list[bytes]:
    roots = [REPO / "tests" / "fixtures" / "rules", CORPUS]
    files = sorted(p for root in roots if root.is_dir() for p in root.rglob("*.conf") if p.stat().st_size <= 16_000)
    return [p.read_bytes() for p in files]


SEEDS = seed_texts()


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def hung(signum: int, frame: object) -> None:
        raise TimeoutError(f"linting took more than {seconds}s: treat as a hang")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def lint_bytes(folder: Path, data: bytes) -> None:
    """Lint `data` as nginx.conf next to a few files its includes may name."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "snippet.conf").write_text("proxy_read_timeout 30s;\n")
    (folder / "conf.d").mkdir(exist_ok=True)
    (folder / "conf.d" / "a.conf").write_text("server { listen 8080; location / { proxy_pass http://127.0.0.1:9; } }\n")
    conf = folder / "nginx.conf"
    conf.write_bytes(data)
    with time_limit(ALARM):
        result = lint_paths([str(conf)], registry=REGISTRY)
    for finding in result.findings:
        assert finding.rule and finding.message and finding.line >= 1


# --- generated configs ---------------------------------------------------------------

TIMES = st.sampled_from(["60s", "5s", "1s", "500ms", "1h", "0", "75", "1.5s", "30sec", "-1s", "1m30s", "$t"])
SIZES = st.sampled_from(["4k", "16k", "1m", "0", "8", "16kb", "1.5k", "64K", "$s"])
TARGETS = st.sampled_from([
    "http://backend", "http://127.0.0.1:8080", "http://[::1]:80/api/", "https://app.internal", "http://unix:/run/a.sock:/",
    "http://$host", "backend", "http://backend:99999", "grpc://127.0.0.1:50051", "http://", "http://up$1",
])
SIMPLE = st.one_of(
    st.tuples(st.sampled_from(["proxy_read_timeout", "proxy_connect_timeout", "proxy_send_timeout", "fastcgi_read_timeout",
                               "keepalive_timeout", "send_timeout", "resolver_timeout"]), TIMES),
    st.tuples(st.sampled_from(["proxy_buffer_size", "proxy_busy_buffers_size", "client_max_body_size", "fastcgi_buffer_size"]), SIZES),
    st.tuples(st.just("proxy_buffers"), st.tuples(st.sampled_from(["8", "4", "x", "0"]), SIZES).map(" ".join)),
    st.tuples(st.just("proxy_pass"), TARGETS),
    st.tuples(st.just("fastcgi_pass"), st.sampled_from(["unix:/run/php/php8.2-fpm.sock", "127.0.0.1:9000", "php", "$upstream"])),
    st.tuples(st.just("proxy_set_header"), st.sampled_from(["Host $host", "Connection \"\"", "Upgrade $http_upgrade", "X"])),
    st.tuples(st.sampled_from(["proxy_http_version", "proxy_next_upstream", "resolver", "include", "set", "return", "listen",
                               "server_name", "proxy_ssl_server_name", "unknown_directive", "proxy_passs"]),
              st.sampled_from(["1.1", "off", "error timeout", "127.0.0.1", "snippet.conf", "conf.d/*.conf", "$a 1", "200",
                               "80", "example.com", "on", ""])),
)


def directive(pair: tuple[str, str]) -> str:
    return f"{pair[0]} {pair[1]};" if pair[1] else f"{pair[0]};"


def block(name: str, children: st.SearchStrategy[list[str]]) -> st.SearchStrategy[str]:
    return children.map(lambda body: f"{name} {{\n" + "\n".join(body) + "\n}")


LOCATION = st.recursive(
    block("location /", st.lists(SIMPLE.map(directive), max_size=6)),
    lambda inner: st.tuples(st.sampled_from(["location /a", "location ~ \\.php$", "location @named", "if ($x)",
                                             "location = /x", 'location ~* "^/(a{2,3})/"']),
                            st.lists(st.one_of(SIMPLE.map(directive), inner), max_size=4))
    .map(lambda pair: f"{pair[0]} {{\n" + "\n".join(pair[1]) + "\n}"),
    max_leaves=6,
)
UPSTREAM = st.tuples(st.sampled_from(["backend", "php", "app.internal"]),
                     st.lists(st.sampled_from(["server 127.0.0.1:8080;", "server unix:/run/a.sock;", "keepalive 32;",
                                               "server 10.0.0.1 max_fails=0;", "server b.internal backup;",
                                               "keepalive_timeout 60s;", "server 127.0.0.1:1 down;"]), max_size=4)) \
    .map(lambda pair: f"upstream {pair[0]} {{\n" + "\n".join(pair[1]) + "\n}")
SERVER = st.lists(st.one_of(SIMPLE.map(directive), LOCATION), max_size=5).map(lambda body: "server {\n" + "\n".join(body) + "\n}")
CONFIG = st.tuples(st.lists(st.one_of(SIMPLE.map(directive), UPSTREAM, SERVER), max_size=6), st.booleans()).map(
    lambda pair: ("events {}\nhttp {\n" + "\n".join(pair[0]) + "\n}\n") if pair[1] else "\n".join(pair[0]) + "\n")


@settings(FAST, max_examples=150)
@given(CONFIG)
def test_generated_configs_always_get_an_answer(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    lint_bytes(tmp_path_factory.mktemp("generated"), text.encode())


# --- mutated real configs ------------------------------------------------------------

PIECES = st.sampled_from([
    b"{", b"}", b";", b'"', b"'", b"\\", b"#", b"\n", b"\x00", b"\xef\xbb\xbf", b"\r", b"\r\n", b"${", b"$", b"\xff\xfe",
    b"include snippet.conf;", b"include conf.d/*.conf;", b"include nginx.conf;", b"include /dev/zero;", b"location ~ ^/(a{2,3})/ {",
    b"if (", b"proxy_pass http://[::1", b"proxy_read_timeout 1.5s;", b"upstream u {", b"server ", b"content_by_lua_block {",
    b"\xc3\xa9", b"\xe9", b"\t", b" ", b"http {", b"}}}}", b"{{{{",
])
OPERATION = st.one_of(
    st.tuples(st.just("cut"), st.integers(0, 1 << 16), st.integers(1, 200)),
    st.tuples(st.just("duplicate"), st.integers(0, 1 << 16), st.integers(1, 400)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 16), PIECES),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 16), st.just(0)),
)
ENCODING = st.sampled_from(["as is", "utf-16", "crlf", "cr", "bom", "latin-1 noise"])


def mutate(data: bytes, operations: list[tuple[str, int, object]], encoding: str) -> bytes:
    for kind, where, what in operations:
        at = where % (len(data) + 1)
        if kind == "cut":
            data = data[:at] + data[at + int(what):]  # type: ignore[call-overload]
        elif kind == "duplicate":
            data = data[:at] + data[at:at + int(what)] + data[at:]  # type: ignore[call-overload]
        elif kind == "insert":
            data = data[:at] + what + data[at:]  # type: ignore[operator]
        else:
            data = data[:at]
    if encoding == "utf-16":
        return data.decode("utf-8", errors="replace").encode("utf-16")
    if encoding == "crlf":
        return data.replace(b"\n", b"\r\n")
    if encoding == "cr":
        return data.replace(b"\n", b"\r")
    if encoding == "bom":
        return b"\xef\xbb\xbf" + data
    if encoding == "latin-1 noise":
        return data.replace(b"e", b"\xe9", 3)
    return data


@settings(FAST, max_examples=250)
@given(st.sampled_from(SEEDS), st.lists(OPERATION, max_size=4), ENCODING)
def test_mutated_real_configs_always_get_an_answer(tmp_path_factory: pytest.TempPathFactory, seed: bytes,
                                                   operations: list[tuple[str, int, object]], encoding: str) -> None:
    lint_bytes(tmp_path_factory.mktemp("mutated"), mutate(seed, operations, encoding))


# --- whole process -------------------------------------------------------------------

@settings(FAST, max_examples=10)
@given(st.sampled_from(SEEDS), st.lists(OPERATION, min_size=1, max_size=3), ENCODING, st.booleans())
def test_the_cli_exits_0_1_or_2_with_a_message(tmp_path_factory: pytest.TempPathFactory, seed: bytes,
                                               operations: list[tuple[str, int, object]], encoding: str,
                                               from_stdin: bool) -> None:
    folder = tmp_path_factory.mktemp("cli")
    data = mutate(seed, operations, encoding)
    (folder / "nginx.conf").write_bytes(data)
    args = ["-"] if from_stdin else ["nginx.conf"]
    result = subprocess.run([sys.executable, "-m", "nginx_502lint", *args], cwd=folder, input=data if from_stdin else b"",
                            capture_output=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})
    output = (result.stdout + result.stderr).decode("utf-8", errors="replace")
    assert result.returncode in (0, 1, 2), output[-2000:]
    assert output.strip(), "no message at all"
    assert "Traceback" not in output, output[-2000:]
    if result.returncode == 2:
        assert result.stderr.startswith(b"nginx-502lint: "), output[-2000:]
