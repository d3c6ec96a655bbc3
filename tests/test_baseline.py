"""Baselines: record today's findings, then fail only on new ones, across edits that move lines."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nginx_502lint.cli import main

SERVER = """\
server {{
    listen {port};
    location /api/ {{
        proxy_read_timeout 2s;
        proxy_pass http://app;
    }}
}}
"""
UPSTREAM = "upstream app { server 127.0.0.1:8080; }\n"


def write(tmp_path: Path, *ports: int, before: str = "") -> Path:
    path = tmp_path / "conf" / "nginx.conf"
    path.parent.mkdir(exist_ok=True)
    path.write_text(before + UPSTREAM + "".join(SERVER.format(port=p) for p in ports))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[tuple[int, str]], str]:
    code = main(["--select", "T102,E001", "--format", "json", *args])
    captured = capsys.readouterr()
    findings = json.loads(captured.out)["findings"]
    return code, [(f["line"], f["rule"]) for f in findings], captured.err


@pytest.fixture
def adopted(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tree with two T102 findings (ports 80 and 81), and its baseline."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, 80, 81)
    assert run(capsys, "conf/nginx.conf")[:2] == (1, [(5, "T102"), (12, "T102")])
    code, findings, err = run(capsys, "--write-baseline", "baseline.json", "conf/nginx.conf")
    assert (code, findings) == (0, [])
    assert "Baseline baseline.json written: 2 findings in 2 entries." in err
    return tmp_path / "baseline.json"


def test_written_baseline_silences_every_current_finding(adopted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, findings, err = run(capsys, "--baseline", str(adopted), "conf/nginx.conf")
    assert (code, findings) == (0, [])
    assert "2 known findings not shown" in err


def test_baseline_survives_edits_that_shift_every_line(adopted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(adopted.parent, 80, 81, before="# reformatted\nworker_processes auto;\n\n\n")
    assert run(capsys, "--baseline", str(adopted), "conf/nginx.conf")[:2] == (0, [])


def test_a_new_finding_is_reported_beside_the_baselined_ones(adopted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(adopted.parent, 80, 81, 82)
    assert run(capsys, "--baseline", str(adopted), "conf/nginx.conf")[:2] == (1, [(19, "T102")])


def test_a_changed_directive_is_new_and_its_old_entry_stale(adopted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = adopted.parent / "conf" / "nginx.conf"
    path.write_text(path.read_text().replace("2s", "3s", 1))
    code, findings, err = run(capsys, "--baseline", str(adopted), "conf/nginx.conf")
    assert (code, findings) == (1, [(5, "T102")])
    assert "1 baseline entry stale" in err and "proxy_read_timeout 2s;" in err


def test_more_identical_findings_than_recorded_reports_the_extra_one(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, 80)
    run(capsys, "--write-baseline", "baseline.json", "conf/nginx.conf")
    write(tmp_path, 80, 80)  # a copy-pasted server: same directive, same block description
    assert run(capsys, "--baseline", "baseline.json", "conf/nginx.conf")[:2] == (1, [(12, "T102")])


def test_fixed_findings_leave_stale_entries_in_the_text_summary_without_failing(
    adopted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(adopted.parent, 80)
    code = main(["--select", "T102", "--baseline", str(adopted), "conf/nginx.conf"])
    out = capsys.readouterr().out
    assert code == 0
    assert "1 baseline entry stale (fixed or changed since); drop them with --write-baseline" in out
    assert "conf/nginx.conf: T102 x1 proxy_read_timeout 2s; in location /api/ (server listening on 81)" in out


def test_baseline_matches_when_run_from_another_folder(adopted: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(adopted.parent / "conf")
    assert run(capsys, "--baseline", "../baseline.json", "nginx.conf")[:2] == (0, [])


def test_baseline_file_is_readable_and_keyed_by_relative_file_and_rule(adopted: Path) -> None:
    payload = json.loads(adopted.read_text())
    assert payload["version"] == 1 and list(payload["findings"]) == ["conf/nginx.conf"]
    entries = payload["findings"]["conf/nginx.conf"]["T102"]
    assert [e["count"] for e in entries] == [1, 1]
    assert all("line" not in e and e["text"].startswith("proxy_read_timeout 2s;") for e in entries)


def test_syntax_errors_are_never_baselined(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, 80)
    path.write_text(path.read_text() + "server {\n")
    code, findings, err = run(capsys, "--write-baseline", "baseline.json", "conf/nginx.conf")
    assert code == 1 and [rule for _, rule in findings] == ["E001"]
    assert "syntax error not baselined" in err
    assert run(capsys, "--baseline", "baseline.json", "conf/nginx.conf")[0] == 1


@pytest.mark.parametrize(("content", "message"), [
    (None, "not found (create it with --write-baseline"),
    ("{not json", "is unreadable"),
    ('{"version": 1, "findings": {"a.conf": {"T102": [{"count": 1}]}}}', "is malformed"),
    ('{"version": 99, "findings": {}}', "version 99 is not 1"),
])
def test_missing_or_malformed_baseline_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        content: str | None, message: str) -> None:
    path = write(tmp_path, 80)
    if content is not None:
        (tmp_path / "baseline.json").write_text(content)
    assert main(["--baseline", str(tmp_path / "baseline.json"), str(path)]) == 2
    assert message in capsys.readouterr().err


def test_baseline_and_write_baseline_together_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, 80)
    assert main(["--baseline", "a.json", "--write-baseline", "b.json", str(path)]) == 2
    assert "exclude each other" in capsys.readouterr().err
