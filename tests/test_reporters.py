"""Every --format: SARIF valid for code scanning, GitHub annotations within limits, GitLab Code Quality, JUnit."""
from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from nginx_502lint.cli import main
from nginx_502lint.reporters.github import escape_data, escape_property

SARIF_SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
RULES = "T102,T103,T101,E001"

# T102 (warning) at line 5, T103 (warning) at line 6, T101 (info) at line 11 (location /plain).
CONFIG = """\
upstream app { server 127.0.0.1:8080; }
server {
    listen 80;
    location /api/ {
        proxy_read_timeout 2s;
        proxy_send_timeout 3600s;
        proxy_connect_timeout 5s;
        proxy_pass http://app;
    }
    location /plain {
        proxy_pass http://app;
    }
}
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git work tree with deploy/nginx/nginx.conf and a clean deploy/nginx/clean.conf; cwd is deploy/."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    nginx = tmp_path / "deploy" / "nginx"
    nginx.mkdir(parents=True)
    (nginx / "nginx.conf").write_text(CONFIG)
    (nginx / "clean.conf").write_text("events {}\n")
    monkeypatch.chdir(tmp_path / "deploy")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--select", RULES, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- SARIF -----------------------------------------------------------------------

def sarif(capsys: pytest.CaptureFixture[str], *paths: str) -> dict:
    code, out, _ = run(capsys, "--format", "sarif", *(paths or ("nginx/nginx.conf",)))
    assert code == 1
    return json.loads(out)


def test_sarif_validates_against_the_official_2_1_0_schema(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = sarif(capsys)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")


def test_sarif_paths_are_relative_to_the_repository_root(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_ = sarif(capsys)["runs"][0]
    assert run_["originalUriBaseIds"]["%SRCROOT%"]["uri"] == repo.as_uri() + "/"
    locations = [r["locations"][0]["physicalLocation"] for r in run_["results"]]
    assert {(p["artifactLocation"]["uri"], p["artifactLocation"]["uriBaseId"]) for p in locations} == {
        ("deploy/nginx/nginx.conf", "%SRCROOT%")
    }
    assert [(p["region"]["startLine"], p["region"]["startColumn"]) for p in locations] == [(5, 9), (6, 9), (11, 9)]


def test_sarif_results_point_at_rules_described_for_code_scanning(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_ = sarif(capsys)["runs"][0]
    rules = run_["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["E001", "T101", "T102", "T103"]
    for result in run_["results"]:
        rule = rules[result["ruleIndex"]]
        assert rule["id"] == result["ruleId"]
    t102 = rules[2]
    assert t102["name"] == "timeout-too-short"
    assert t102["helpUri"] == "https://github.com/nginx-502lint/nginx-502lint/blob/main/docs/rules/T102.md"
    assert t102["defaultConfiguration"] == {"level": "warning"}
    assert "## Why it causes 502/504" in t102["help"]["markdown"] and t102["help"]["text"]
    assert t102["shortDescription"]["text"] and len(t102["fullDescription"]["text"]) <= 1024
    assert [(r["ruleId"], r["level"]) for r in run_["results"]] == [("T102", "warning"), ("T103", "warning"), ("T101", "note")]
    assert "Fix: " in run_["results"][0]["message"]["text"]


def _line_hashes(log: dict) -> list[tuple[str, str]]:
    return [(r["ruleId"], r["partialFingerprints"]["primaryLocationLineHash"]) for r in log["runs"][0]["results"]]


def test_sarif_fingerprints_survive_edits_that_move_lines(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _line_hashes(sarif(capsys))
    path = repo / "deploy" / "nginx" / "nginx.conf"
    path.write_text("# moved down\n\n" + CONFIG.replace("        proxy_read_timeout 2s;", "        proxy_read_timeout   2s;  # short"))
    after = sarif(capsys)
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in after["runs"][0]["results"]] == [7, 8, 13]
    assert _line_hashes(after) == before


def test_sarif_fingerprints_stay_unique_for_identical_lines(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = repo / "deploy" / "nginx" / "nginx.conf"
    path.write_text(CONFIG + CONFIG.replace("upstream app { server 127.0.0.1:8080; }\n", "").replace("listen 80", "listen 81"))
    hashes = [h for rule, h in _line_hashes(sarif(capsys)) if rule == "T102"]
    assert len(hashes) == 2 and len(set(hashes)) == 2


def test_sarif_is_never_coloured(repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    _, out, _ = run(capsys, "--format", "sarif", "--color", "always", "nginx/nginx.conf")
    assert "\x1b[" not in out


# --- GitHub annotations ----------------------------------------------------------

def test_workflow_command_escaping_follows_github() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"


def test_github_format_annotates_each_finding_then_prints_the_text_report(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--format", "github", "nginx/nginx.conf")
    lines = out.splitlines()
    assert code == 1
    assert lines[0].startswith("::warning file=deploy/nginx/nginx.conf,line=5,col=9,title=T102 timeout-too-short::proxy_read_timeout 2s at nginx/nginx.conf:5")
    assert "%0Afix: " in lines[0]
    assert lines[2].startswith("::notice file=deploy/nginx/nginx.conf,line=11,col=9,title=T101 timeout-implicit::")
    assert "nginx/nginx.conf:5:9: warning T102 [timeout-too-short]" in out
    assert "::notice title=nginx-502lint" not in out


def test_github_format_keeps_within_the_per_level_limit_and_says_what_was_cut(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    servers = "".join(
        CONFIG.replace("upstream app { server 127.0.0.1:8080; }\n", "").replace("listen 80", f"listen {8000 + i}")
        for i in range(12)
    )
    (repo / "deploy" / "nginx" / "nginx.conf").write_text("upstream app { server 127.0.0.1:8080; }\n" + servers)
    _, out, _ = run(capsys, "--format", "github", "nginx/nginx.conf")
    commands = [line.split(" ", 1)[0] for line in out.splitlines() if line.startswith("::")]
    assert commands.count("::warning") == 10 and commands.count("::notice") == 10  # 9 findings + the cut notice
    assert "24 warnings" in out and "36 findings, 19 shown as annotations" in out
    assert out.count(": warning T10") == 24  # the text report still lists every finding


# --- GitLab Code Quality ---------------------------------------------------------

def gitlab(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return json.loads(run(capsys, "--format", "gitlab", "nginx/nginx.conf")[1])


def test_gitlab_report_has_the_documented_shape(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    issues = gitlab(capsys)
    assert [set(i) for i in issues] == [{"description", "check_name", "fingerprint", "severity", "location"}] * 3
    assert [(i["check_name"], i["severity"], i["location"]) for i in issues] == [
        ("T102", "minor", {"path": "deploy/nginx/nginx.conf", "lines": {"begin": 5}}),
        ("T103", "minor", {"path": "deploy/nginx/nginx.conf", "lines": {"begin": 6}}),
        ("T101", "info", {"path": "deploy/nginx/nginx.conf", "lines": {"begin": 11}}),
    ]
    assert issues[0]["description"].startswith("T102 [timeout-too-short] proxy_read_timeout 2s")


def test_gitlab_maps_errors_to_major(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "deploy" / "nginx" / "nginx.conf").write_text("server {\n")
    assert [(i["check_name"], i["severity"]) for i in gitlab(capsys)] == [("E001", "major")]


def test_gitlab_fingerprints_are_unique_and_survive_edits_that_move_lines(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = repo / "deploy" / "nginx" / "nginx.conf"
    path.write_text(CONFIG + CONFIG.replace("upstream app { server 127.0.0.1:8080; }\n", ""))  # the same server twice
    before = [i["fingerprint"] for i in gitlab(capsys)]
    assert len(before) == 6 and len(set(before)) == 6
    path.write_text("# comment\n" + path.read_text())
    assert [i["fingerprint"] for i in gitlab(capsys)] == before


# --- JUnit -----------------------------------------------------------------------

def test_junit_has_a_suite_per_file_a_failure_per_finding_and_a_pass_for_clean_files(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "--format", "junit", "nginx/nginx.conf", "nginx/clean.conf")
    root = ET.fromstring(out)
    assert (root.tag, root.get("tests"), root.get("failures")) == ("testsuites", "4", "3")
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"deploy/nginx/nginx.conf", "deploy/nginx/clean.conf"}
    failing = suites["deploy/nginx/nginx.conf"].findall("testcase")
    assert [c.get("name") for c in failing] == ["T102 timeout-too-short at line 5", "T103 timeout-too-long at line 6",
                                                "T101 timeout-implicit at line 11"]
    assert all(c.find("failure") is not None for c in failing)
    assert "fix: " in (failing[0].find("failure").text or "")  # type: ignore[union-attr]
    clean = suites["deploy/nginx/clean.conf"].findall("testcase")
    assert len(clean) == 1 and clean[0].find("failure") is None


def test_junit_survives_control_characters_in_messages(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "deploy" / "nginx" / "nginx.conf").write_text('server {\n    return 200 "\x01\x02;\n')
    _, out, _ = run(capsys, "--format", "junit", "nginx/nginx.conf")
    assert ET.fromstring(out).get("failures") == "1"


# --- --output, --statistics ------------------------------------------------------

def test_output_file_gets_the_report_and_stdout_the_text_report(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--format", "sarif", "--output", "report.sarif", "nginx/nginx.conf")
    assert code == 1
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(json.loads((repo / "deploy" / "report.sarif").read_text()))
    assert "nginx/nginx.conf:5:9: warning T102" in out and out.endswith("sarif report written to report.sarif\n")


def test_text_output_file_leaves_only_the_summary_on_stdout(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "--output", "report.txt", "nginx/nginx.conf")
    assert out == "Found 3 problems (0 errors, 2 warnings, 1 info) in 1 file.\ntext report written to report.txt\n"
    assert "nginx/nginx.conf:5:9: warning T102" in (repo / "deploy" / "report.txt").read_text()


def test_unwritable_output_is_a_usage_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--format", "json", "--output", "missing/dir/report.json", "nginx/nginx.conf")
    assert code == 2 and "--output missing/dir/report.json" in err


def test_statistics_count_findings_per_rule(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "deploy" / "nginx" / "nginx.conf").write_text(CONFIG + CONFIG.replace("upstream app { server 127.0.0.1:8080; }\n", "").replace("listen 80", "listen 81"))
    _, out, _ = run(capsys, "--statistics", "nginx/nginx.conf")
    assert out.splitlines()[-3:] == [
        "     2  T101  timeout-implicit                   info",
        "     2  T102  timeout-too-short                  warning",
        "     2  T103  timeout-too-long                   warning",
    ]


def test_statistics_stay_off_stdout_when_it_carries_a_machine_report(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, err = run(capsys, "--format", "json", "--statistics", "nginx/nginx.conf")
    assert json.loads(out)["summary"] == {"error": 0, "warning": 2, "info": 1}
    assert "     1  T102  timeout-too-short" in err
