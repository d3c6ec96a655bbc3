"""The parser's traps become clean E001/E006 findings or one-line errors: never a traceback, never a hang."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nginx_502lint.engine import LintSettings, Registry
from nginx_502lint.lint import Input, lint, lint_paths
from nginx_502lint.parse import FileSystem, Loader

REGISTRY = Registry.default(entry_points=False)


def problems(path: Path, **loader_args: object) -> list[tuple[str, int, str]]:
    config = Loader(**loader_args).load(str(path))  # type: ignore[arg-type]
    return [(p.rule, p.line, p.message) for p in config.problems]


def run_cli(*args: str, stdin: bytes = b"", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nginx_502lint", *args],
        input=stdin.decode("latin-1") if stdin else "", capture_output=True, text=True, timeout=60, cwd=cwd,
    )


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_missing_semicolon_at_end_of_file_has_a_message_and_line(tmp_path: Path) -> None:
    conf = write(tmp_path / "nginx.conf", "events {}\nuser nginx")
    [(rule, line, message)] = problems(conf)
    assert rule == "E001" and line == 2 and "unexpected end of file" in message


def test_utf8_bom_is_reported_and_the_rest_still_analysed(tmp_path: Path) -> None:
    conf = write(tmp_path / "nginx.conf", b"\xef\xbb\xbfevents {}\nhttp { server { location / { proxy_pass http://127.0.0.1:1; proxy_read_timeout 1s; } } }\n")
    result = lint_paths([str(conf)], registry=REGISTRY)
    rules = {f.rule for f in result.findings}
    assert "E001" in rules and "T102" in rules


@pytest.mark.parametrize("data, words", [
    ("events {}\n".encode("utf-16"), "UTF-16"),
    (b"events {}\n\x00\x01\x02", "NUL byte"),
])
def test_binary_and_utf16_files_are_not_analysed(tmp_path: Path, data: bytes, words: str) -> None:
    conf = write(tmp_path / "nginx.conf", data)
    [(rule, _, message)] = problems(conf)
    assert rule == "E001" and words in message


def test_crlf_keeps_nginx_line_numbers(tmp_path: Path) -> None:
    conf = write(tmp_path / "nginx.conf", "events {}\r\nhttp {\r\n  server {\r\n    location / { proxy_pass http://127.0.0.1:1; proxy_read_timeout 1s; }\r\n  }\r\n}\r\n")
    [finding] = lint_paths([str(conf)], registry=REGISTRY, rule_ids=["T102"]).findings
    assert finding.line == 4


def test_invalid_utf8_in_a_comment_is_harmless(tmp_path: Path) -> None:
    conf = write(tmp_path / "nginx.conf", b"# caf\xe9\nevents {}\nhttp {}\n")
    assert problems(conf) == []


def test_include_loop_through_a_glob_ends_with_a_finding(tmp_path: Path) -> None:
    conf = write(tmp_path / "nginx.conf", "events {}\nhttp { include conf.d/*.conf; }\n")
    write(tmp_path / "conf.d" / "a.conf", "include conf.d/*.conf;\n")
    found = problems(conf)
    assert any(rule == "E001" and "include loop" in message for rule, _, message in found)


def test_include_of_a_fifo_does_not_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.conf")
    conf = write(tmp_path / "nginx.conf", "events {}\nhttp { include pipe.conf; }\n")
    [(rule, line, message)] = problems(conf)
    assert rule == "E001" and line == 2 and "not a regular file" in message


def test_include_of_an_endless_device_does_not_read_it(tmp_path: Path) -> None:
    conf = write(tmp_path / "nginx.conf", "events {}\nhttp { include /dev/zero; }\n")
    [(rule, _, message)] = problems(conf, host=True)
    assert rule == "E001" and "not a regular file" in message


def test_include_of_a_directory_is_reported(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    conf = write(tmp_path / "nginx.conf", "events {}\nhttp { include conf.d; }\n")
    [(rule, _, message)] = problems(conf)
    assert rule == "E001" and "Is a directory" in message


def test_unreadable_include_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = write(tmp_path / "secret.conf", "user root;\n")
    conf = write(tmp_path / "nginx.conf", "events {}\ninclude secret.conf;\n")
    real_read = FileSystem.read

    def deny(self: FileSystem, path: str, max_size: int) -> str:
        if path == str(secret):
            raise PermissionError(13, "Permission denied", path)
        return real_read(self, path, max_size)

    monkeypatch.setattr(FileSystem, "read", deny)
    [(rule, line, message)] = problems(conf)
    assert rule == "E001" and line == 2 and "Permission denied" in message


def test_file_over_the_size_cap_is_not_read(tmp_path: Path) -> None:
    conf = write(tmp_path / "nginx.conf", "events {}\n" + "# padding\n" * 2000)
    [(rule, _, message)] = problems(conf, max_file_size=1024)
    assert rule == "E001" and "larger than" in message


def test_very_deep_nesting_is_reported_not_crashed(tmp_path: Path) -> None:
    depth = 5000
    conf = write(tmp_path / "nginx.conf", "http {\n" + "location / {\n" * depth + "}\n" * depth + "}\n")
    found = problems(conf)
    assert found and found[0][0] == "E001" and "nested" in found[0][2]


@pytest.mark.parametrize("text, words", [
    ("events {}\n{ worker_processes 1; }\n", 'unexpected "{"'),
    ("events {}\nhttp { server { location / { proxy_pass http://a:1 } } }\n", 'not terminated by ";"'),
    ("events {}\nhttp { server { ssl_client_hello_by_lua_block { ngx.say(1) } } }\n", "Lua"),
    ("events {}\nhttp { server { location / { exit_worker_by_lua_block { } } } }\n", "Lua"),
])
def test_parser_traps_become_findings(tmp_path: Path, text: str, words: str) -> None:
    conf = write(tmp_path / "nginx.conf", text)
    assert any(words in message for _, _, message in problems(conf))


def test_known_lua_block_body_is_not_parsed_as_nginx(tmp_path: Path) -> None:
    conf = write(tmp_path / "nginx.conf", 'events {}\nhttp { server { location / { content_by_lua_block { ngx.say("}") } } } }\n')
    assert problems(conf) == []


def test_snippet_included_from_two_contexts_is_checked_in_both(tmp_path: Path) -> None:
    write(tmp_path / "t.conf", "proxy_read_timeout 1s;\n")
    conf = write(tmp_path / "nginx.conf", "events {}\nhttp {\n server { location /a { proxy_pass http://127.0.0.1:1; include t.conf; } }\n server { location /b { proxy_pass http://127.0.0.1:2; include t.conf; } }\n}\n")
    findings = lint_paths([str(conf)], registry=REGISTRY, rule_ids=["T102"]).findings
    assert {f.context for f in findings} >= set() and len(findings) == 2


def test_absolute_etc_nginx_include_maps_into_the_linted_tree(tmp_path: Path) -> None:
    write(tmp_path / "conf.d" / "app.conf", "server { location / { proxy_pass http://127.0.0.1:1; proxy_read_timeout 1s; } }\n")
    conf = write(tmp_path / "nginx.conf", "events {}\nhttp { include /etc/nginx/conf.d/*.conf; }\n")
    [finding] = lint_paths([str(conf)], registry=REGISTRY, rule_ids=["T102"]).findings
    assert finding.file.endswith(os.path.join("conf.d", "app.conf"))


def test_given_files_that_include_each_other_are_linted_once_from_the_root(tmp_path: Path) -> None:
    child = write(tmp_path / "conf.d" / "app.conf", "server { location / { proxy_pass http://127.0.0.1:1; proxy_read_timeout 1s; } }\n")
    root = write(tmp_path / "nginx.conf", "events {}\nhttp { proxy_connect_timeout 2s; include conf.d/*.conf; }\n")
    findings = lint_paths([str(child), str(root)], registry=REGISTRY, rule_ids=["T102"]).findings
    assert len(findings) == 1


def test_fragment_with_bare_server_block_is_read_in_http_context(tmp_path: Path) -> None:
    site = write(tmp_path / "sites-available" / "app.conf", "server {\n  listen 80;\n  location / { proxy_pass http://127.0.0.1:1; proxy_read_timeout 1s; }\n}\n")
    [finding] = lint_paths([str(site)], registry=REGISTRY, rule_ids=["T102"]).findings
    assert finding.line == 3


def test_nginx_T_dump_with_stderr_noise_is_split_into_its_files() -> None:
    dump = (
        "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n"
        "nginx: configuration file /etc/nginx/nginx.conf test is successful\n"
        "# configuration file /etc/nginx/nginx.conf:\n"
        "events {}\nhttp {\n    include /etc/nginx/conf.d/*.conf;\n}\n\n"
        "# configuration file /etc/nginx/conf.d/app.conf:\n"
        "server {\n    location / {\n        proxy_pass http://127.0.0.1:1;\n        proxy_read_timeout 1s;\n    }\n}\n\n"
    )
    [finding] = lint([Input("<stdin>", dump)], LintSettings(), REGISTRY, ["T102"]).findings
    assert (finding.file, finding.line) == ("/etc/nginx/conf.d/app.conf", 4)


@pytest.mark.parametrize("stdin, code", [
    (b"events {}\nhttp { server { listen 80; } }\n", 0),
    (b"events {\n", 1),
    ("events {}\n".encode("utf-16"), 2),
    (b"", 0),
])
def test_cli_reads_stdin_and_exits_with_the_documented_code(stdin: bytes, code: int) -> None:
    result = run_cli("-", stdin=stdin)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_cli_reports_a_missing_path_as_a_usage_error() -> None:
    result = run_cli("/nonexistent/nginx.conf")
    assert result.returncode == 2
    assert result.stderr.strip() == "nginx-502lint: error: /nonexistent/nginx.conf: no such file or directory"
