"""The command line's --log and --probe: inputs, outputs and the exit code."""
from __future__ import annotations

import io
import json
import socket
import sys
from pathlib import Path

import pytest

from nginx_502lint.cli import main

CONFIG = """events {}
http {
    server {
        listen 80;
        server_name example.com;
        location /api/ {
            proxy_pass http://127.0.0.1:8000;
            proxy_buffer_size 4k;
        }
    }
}
"""
TOO_BIG = ('2026/11/21 10:00:01 [error] 10#10: *1 upstream sent too big header while reading response header from '
           'upstream, client: 192.0.2.1, server: example.com, request: "GET /api/x HTTP/1.1", '
           'upstream: "http://127.0.0.1:8000/api/x", host: "example.com"\n')
TRUNCATED = TOO_BIG.replace("upstream sent too big header while reading response header from upstream",
                            "upstream prematurely closed connection while reading upstream")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--select", "B201,U390", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "nginx.conf").write_text(CONFIG)
    (tmp_path / "error.log").write_text(TOO_BIG)
    return str(tmp_path / "nginx.conf"), str(tmp_path / "error.log")


def test_log_alone_prints_the_diagnosis_and_fails_on_5xx(files: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--log", files[1])

    assert code == 1
    assert out.startswith("error.log diagnosis: 1 line read")
    assert "No problems found" not in out


def test_log_with_config_links_the_finding_in_text_and_json(files: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    conf, log = files
    _, text, _ = run(capsys, "--log", log, conf)
    code, out, _ = run(capsys, "--log", log, "--format", "json", conf)

    assert f"→ B201 at {conf}:8:" in text
    group = json.loads(out)["diagnosis"]["groups"][0]
    assert (code, group["verdict"], group["links"][0]["findings"][0]["line"]) == (1, "explained", 8)


def test_log_from_stdin(files: tuple[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(TOO_BIG.encode())))

    code, out, _ = run(capsys, "--log", "-", "--format", "json", files[0])

    assert json.loads(out)["diagnosis"]["log"]["lines"] == 1
    assert code == 1


def test_sarif_carries_the_log_evidence_on_the_config_line(files: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "--log", files[1], "--format", "sarif", files[0])

    (result,) = [r for r in json.loads(out)["runs"][0]["results"] if "seen in error.log" in r["message"]["text"]]
    assert (result["ruleId"], result["level"]) == ("B201", "error")


def test_a_log_without_5xx_answers_does_not_fail_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "error.log").write_text(TRUNCATED)

    code, out, _ = run(capsys, "--log", str(tmp_path / "error.log"))

    assert code == 0
    assert "0 answered 5xx" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--log", "LOG", "--since", "yesterday"], "--since 'yesterday': expected a date and time"),
    (["--since", "1h", "CONF"], "--since needs --log"),
    (["--log", "/nonexistent/error.log", "CONF"], "--log /nonexistent/error.log: No such file or directory"),
    (["--log", "-", "-"], "stdin can carry the config or the log, not both"),
    (["--probe", "--probe-concurrency", "0", "CONF"], "--probe: probe concurrency must be 1 to 64"),
    (["--log", "LOG", "--fix", "CONF"], "--log diagnoses the config as it is: run it without --fix/--diff"),
])
def test_bad_log_and_probe_options_are_usage_errors(
    args: list[str], message: str, files: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    conf, log = files
    code, _, err = run(capsys, *(conf if a == "CONF" else log if a == "LOG" else a for a in args))

    assert code == 2
    assert message in err


def test_probe_reports_a_refused_loopback_port_as_u390(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))  # bound, never listening: refused
        port = holder.getsockname()[1]
        conf = tmp_path / "nginx.conf"
        conf.write_text(CONFIG.replace("8000", str(port)))

        code, out, _ = run(capsys, "--probe", "--probe-timeout", "1", "--format", "json", str(conf))

    payload = json.loads(out)
    assert code == 1
    assert [f["rule"] for f in payload["findings"] if f["rule"] == "U390"] == ["U390"]
    assert payload["probe"]["targets"][0]["state"] == "unreachable"


def test_without_probe_nothing_is_probed(files: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "--format", "json", files[0])

    payload = json.loads(out)
    assert "probe" not in payload
    assert all(f["rule"] != "U390" for f in payload["findings"])
