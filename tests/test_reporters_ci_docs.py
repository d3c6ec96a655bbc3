"""docs/ci.md's snippets work: their commands run here and produce what the CI service reads."""
from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from nginx_502lint.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "ci.md").read_text()
SARIF_SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
PROBLEM = """\
upstream app { server 127.0.0.1:8080; }
server {
    listen 80;
    location / {
        proxy_read_timeout 2s;
        proxy_pass http://app;
    }
}
"""


def yaml_blocks() -> list[object]:
    blocks = DOC.split("```yaml\n")[1:]
    return [yaml.safe_load(block.split("```", 1)[0]) for block in blocks]


def steps_of(block: object) -> list[dict]:
    if isinstance(block, list):
        return block
    if isinstance(block, dict) and "jobs" in block:
        return [step for job in block["jobs"].values() for step in job["steps"]]
    return []


def linter_commands(lines: list[str]) -> list[list[str]]:
    return [shlex.split(line)[1:] for line in lines if line.startswith("nginx-502lint ")]


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """What the CI job sees: a git checkout with the config the snippets name, as the working directory."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    config = tmp_path / "deploy" / "nginx" / "nginx.conf"
    config.parent.mkdir(parents=True)
    config.write_text(PROBLEM)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_github_code_scanning_workflow_uploads_valid_sarif_with_repository_paths(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = next(b for b in yaml_blocks() if isinstance(b, dict) and "jobs" in b)
    steps = steps_of(workflow)
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@"))
    assert upload.get("if") == "always()"
    [command] = linter_commands([s.get("run", "") for s in steps])
    assert main(command) == 1  # fails the step on findings; the upload still runs
    assert "deploy/nginx/nginx.conf:5:9: warning T102" in capsys.readouterr().out
    log = json.loads((checkout / upload["with"]["sarif_file"]).read_text())
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    locations = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in log["runs"][0]["results"]]
    assert locations and all(loc == {"uri": "deploy/nginx/nginx.conf", "uriBaseId": "%SRCROOT%"} for loc in locations)
    assert workflow["jobs"]["nginx-502lint"]["permissions"]["security-events"] == "write"


def test_github_annotation_step_prints_workflow_commands(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    steps = next(b for b in yaml_blocks() if isinstance(b, list))
    [command] = linter_commands([s.get("run", "") for s in steps])
    assert main(command) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("::")
    assert any(line.startswith("::warning file=deploy/nginx/nginx.conf,line=5,col=9,title=T102 timeout-too-short::")
               for line in lines)


def test_gitlab_job_writes_the_code_quality_artifact_it_declares(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = [b for b in yaml_blocks() if isinstance(b, dict) and "jobs" not in b and "repos" not in b]
    [job] = [value for block in jobs for value in block.values()]
    assert job["artifacts"]["when"] == "always"
    [command] = linter_commands(job["script"])
    assert main(command) == 1
    issues = json.loads((checkout / job["artifacts"]["reports"]["codequality"]).read_text())
    assert issues and all(
        set(i) >= {"description", "check_name", "fingerprint", "severity", "location"}
        and i["severity"] in {"info", "minor", "major", "critical", "blocker"}
        and i["location"]["path"] == "deploy/nginx/nginx.conf"
        and isinstance(i["location"]["lines"]["begin"], int)
        for i in issues
    )


def test_pre_commit_snippet_names_the_hook_this_repository_ships() -> None:
    [config] = [b for b in yaml_blocks() if isinstance(b, dict) and "repos" in b]
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert [h["id"] for h in config["repos"][0]["hooks"]] == [hooks[0]["id"]]
