"""The configuration file: discovery, every key, command-line precedence, validation, the schema."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from nginx_502lint import hostversion
from nginx_502lint.cli import main
from nginx_502lint.config import (
    Config,
    ConfigError,
    build_schema,
    build_settings,
    find_config,
    load_config,
)
from nginx_502lint.engine import Registry
from nginx_502lint.findings import Severity

REGISTRY = Registry.default(entry_points=False)
DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

# T102 reports line 5 (2s read timeout, a warning); T101 is silent (all three timeouts are set).
SHORT_TIMEOUT = """\
upstream app { server 127.0.0.1:8080; }
server {
    listen 80;
    location /api/ {
        proxy_read_timeout 2s;
        proxy_send_timeout 60s;
        proxy_connect_timeout 5s;
        proxy_pass http://app;
    }
}
"""


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict], str]:
    code = main(["--format", "json", *args])
    captured = capsys.readouterr()
    findings = json.loads(captured.out)["findings"] if captured.out.startswith("{") else []
    return code, findings, captured.err


def rules_of(findings: list[dict]) -> list[str]:
    return sorted({f["rule"] for f in findings})


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repo with deploy/nginx/site.conf; the test writes the config files it needs."""
    site = tmp_path / "deploy" / "nginx" / "site.conf"
    site.parent.mkdir(parents=True)
    site.write_text(SHORT_TIMEOUT)
    monkeypatch.chdir(tmp_path)
    return tmp_path


SELECT_T = '[tool.nginx-502lint]\nselect = ["T"]\n'


# --- discovery -------------------------------------------------------------------

def test_pyproject_table_is_found_by_walking_up_from_the_linted_files(tree: Path) -> None:
    (tree / "pyproject.toml").write_text('[project]\nname = "x"\n\n' + SELECT_T)
    assert find_config(str(tree / "deploy" / "nginx")) == str(tree / "pyproject.toml")


def test_pyproject_without_the_table_is_passed_over(tree: Path) -> None:
    (tree / ".nginx-502lint.toml").write_text('select = ["T"]\n')
    (tree / "deploy" / "pyproject.toml").write_text('[tool.ruff]\nline-length = 100  # nginx-502lint is mentioned\n')
    assert find_config(str(tree / "deploy" / "nginx")) == str(tree / ".nginx-502lint.toml")


def test_nearest_config_wins_and_the_dedicated_file_beats_pyproject_beside_it(tree: Path) -> None:
    (tree / ".nginx-502lint.toml").write_text('select = ["B"]\n')
    (tree / "deploy" / "pyproject.toml").write_text(SELECT_T)
    assert find_config(str(tree / "deploy" / "nginx")) == str(tree / "deploy" / "pyproject.toml")
    (tree / "deploy" / ".nginx-502lint.toml").write_text('select = ["T"]\n')
    assert find_config(str(tree / "deploy" / "nginx")) == str(tree / "deploy" / ".nginx-502lint.toml")


def test_discovered_config_drives_the_run_and_isolated_ignores_it(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tree / ".nginx-502lint.toml").write_text('ignore = ["T102"]\n')
    _, findings, _ = run(["deploy/nginx/site.conf"], capsys)
    assert "T102" not in rules_of(findings)
    _, findings, _ = run(["--isolated", "deploy/nginx/site.conf"], capsys)
    assert "T102" in rules_of(findings)


def test_explicit_config_replaces_discovery(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tree / ".nginx-502lint.toml").write_text('ignore = ["T102"]\n')
    (tree / "strict.toml").write_text('select = ["T102"]\n')
    _, findings, _ = run(["--config", "strict.toml", "deploy/nginx/site.conf"], capsys)
    assert rules_of(findings) == ["T102"]


def test_stdin_finds_the_config_beside_its_stdin_filename(tree: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (tree / "deploy" / ".nginx-502lint.toml").write_text('select = ["T102"]\n')
    monkeypatch.setattr(sys, "stdin", _Stdin(SHORT_TIMEOUT.encode()))
    _, findings, _ = run(["-", "--stdin-filename", "deploy/nginx/site.conf"], capsys)
    assert rules_of(findings) == ["T102"]


class _Stdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = _Buffer(data)


class _Buffer:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self) -> bytes:
        return self.data


# --- keys ------------------------------------------------------------------------

def test_rule_options_by_id_or_slug_and_severity_overrides_apply(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tree / ".nginx-502lint.toml"
    config.write_text('select = ["T102"]\n[rules.timeout-too-short]\nmin_read_timeout = "1s"\n')
    code, findings, _ = run(["deploy/nginx/site.conf"], capsys)
    assert (code, findings) == (0, [])
    config.write_text('select = ["T102"]\nseverity = {T = "info"}\n')
    code, findings, _ = run(["deploy/nginx/site.conf"], capsys)
    assert code == 0 and [f["severity"] for f in findings] == ["info"]


def test_per_file_ignores_are_relative_to_the_config_folder(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tree / ".nginx-502lint.toml"
    config.write_text('select = ["T102"]\n[per-file-ignores]\n"nginx/*" = ["T102"]\n')
    _, findings, _ = run(["deploy/nginx/site.conf"], capsys)
    assert findings != []  # nginx/ is not at the config's folder
    config.write_text('select = ["T102"]\n[per-file-ignores]\n"deploy/nginx/*" = ["timeout-too-short"]\n')
    _, findings, _ = run(["deploy/nginx/site.conf"], capsys)
    assert findings == []


def test_fail_on_from_the_file_and_the_command_line_overriding_it(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tree / ".nginx-502lint.toml").write_text('select = ["T102"]\nfail-on = "error"\n')
    assert run(["deploy/nginx/site.conf"], capsys)[0] == 0
    assert run(["--fail-on", "warning", "deploy/nginx/site.conf"], capsys)[0] == 1


def test_command_line_select_replaces_the_files_and_ignore_adds_to_it(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tree / ".nginx-502lint.toml").write_text('select = ["B"]\nignore = ["T101"]\n')
    _, findings, _ = run(["--select", "T102,T101", "deploy/nginx/site.conf"], capsys)
    assert rules_of(findings) == ["T102"]
    _, findings, _ = run(["--select", "T", "--ignore", "T102", "deploy/nginx/site.conf"], capsys)
    assert "T102" not in rules_of(findings)


def test_paths_and_values_in_the_file_become_settings(tree: Path) -> None:
    (tree / "deploy" / ".nginx-502lint.toml").write_text(
        'nginx-version = "1.24.0"\nphp-fpm = ["php/pool.d/*.conf"]\nprefix = "nginx"\n'
        'known-directives = ["more_set_headers"]\npage-size = "16k"\n'
    )
    config = load_config(str(tree / "deploy" / ".nginx-502lint.toml"), REGISTRY)
    settings, notes = build_settings(config, REGISTRY)
    assert settings.nginx_version == (1, 24, 0) and "nginx-version in" in settings.version_source
    assert settings.php_fpm == [str(tree / "deploy" / "php" / "pool.d" / "*.conf")]
    assert settings.prefix == str(tree / "deploy" / "nginx")
    assert settings.known_directives == ["more_set_headers"]
    assert settings.page_size == 16384 and settings.rule_options["B202"]["page_size"] == 16384
    assert notes == []


def test_command_line_values_override_the_files(tree: Path) -> None:
    (tree / ".nginx-502lint.toml").write_text('nginx-version = "1.24.0"\nphp-fpm = ["a.conf"]\nprefix = "x"\n')
    config = load_config(str(tree / ".nginx-502lint.toml"), REGISTRY)
    settings, _ = build_settings(config, REGISTRY, nginx_version=(1, 26, 1), php_fpm=["b.conf"], prefix="y")
    assert (settings.nginx_version, settings.version_source) == ((1, 26, 1), "--nginx-version")
    assert (settings.php_fpm, settings.prefix) == (["b.conf"], "y")


def test_severity_by_family_expands_to_each_rule(tree: Path) -> None:
    (tree / ".nginx-502lint.toml").write_text('[severity]\nT = "error"\nT101 = "warning"\n')
    config = load_config(str(tree / ".nginx-502lint.toml"), REGISTRY)
    assert config.severity["T102"] is Severity.ERROR and config.severity["T101"] is Severity.WARNING


# --- validation ------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ('selct = ["T"]', "(top level): unknown key 'selct'"),
    ('select = "T102"', "select: 'T102' is not of type 'array'"),
    ('ignore = ["T999"]', "ignore[0]: 'T999' is invalid: expected a rule id (T102), slug"),
    ('[rules.T999]\nx = 1', "rules: unknown rule 'T999'"),
    ('[rules.T102]\nmin_read_timeout = 5', "rules.T102.min_read_timeout: 5 is not of type 'string'"),
    ('[rules.T102]\nmin_read = "5s"', "rules.T102: unknown option 'min_read'"),
    ('severity = {T101 = "fatal"}', "severity.T101: 'fatal' is invalid: expected error, warning or info"),
    ('[per-file-ignores]\n"legacy/*.conf" = ["nope"]', 'per-file-ignores."legacy/*.conf"[0]: \'nope\' is invalid'),
    ('nginx-version = "1.x"', "nginx-version: '1.x' is invalid: expected the target nginx version"),
    ('page-size = "3k"', "page-size: '3k' is invalid"),
    ('fail-on = "never"', "fail-on: 'never' is invalid"),
    ("select = [", "invalid TOML"),
])
def test_invalid_config_exits_2_with_one_line_naming_the_key_and_what_was_expected(
    tree: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    (tree / ".nginx-502lint.toml").write_text(text + "\n")
    code, _, err = run(["deploy/nginx/site.conf"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"nginx-502lint: error: {tree / '.nginx-502lint.toml'}: ")
    assert message in err


def test_pyproject_errors_name_the_full_key_path(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tree / "pyproject.toml").write_text('[tool.nginx-502lint.rules.T102]\nmin_read_timeout = 5\n')
    code, _, err = run(["deploy/nginx/site.conf"], capsys)
    assert code == 2 and "pyproject.toml: tool.nginx-502lint.rules.T102.min_read_timeout: 5 is not of type" in err


def test_explicit_pyproject_without_the_table_is_an_error(tree: Path) -> None:
    (tree / "pyproject.toml").write_text('[project]\nname = "x"\n')
    with pytest.raises(ConfigError, match=r"has no \[tool.nginx-502lint\] table"):
        load_config(str(tree / "pyproject.toml"), REGISTRY)


# --- the schema ------------------------------------------------------------------

def test_config_schema_flag_prints_one_valid_schema_holding_every_rules_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config-schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    rules = schema["properties"]["rules"]["properties"]
    for spec in REGISTRY.all():
        assert rules[spec.id] == rules[spec.slug]
        assert set(rules[spec.id].get("properties", {})) == set(spec.options_schema.get("properties", {}))
    assert rules["T102"]["properties"]["min_read_timeout"]["default"] == "5s"


def _documented_configs() -> list[tuple[str, str]]:
    text = DOCS.read_text()
    return [(block, "pyproject" if "[tool.nginx-502lint" in block else "dedicated")
            for block in re.findall(r"```toml\n(.*?)```", text, re.S)]


def test_configuration_docs_have_examples_for_both_files() -> None:
    kinds = {kind for _, kind in _documented_configs()}
    assert kinds == {"pyproject", "dedicated"}


@pytest.mark.parametrize("block", [b for b, _ in _documented_configs()])
def test_every_toml_example_in_the_configuration_docs_is_valid(tmp_path: Path, block: str) -> None:
    name = "pyproject.toml" if "[tool.nginx-502lint" in block else ".nginx-502lint.toml"
    (tmp_path / name).write_text(block)
    assert isinstance(load_config(str(tmp_path / name), REGISTRY), Config)


def test_schema_rejects_what_the_loader_would_misread() -> None:
    validator = jsonschema.Draft202012Validator(build_schema(REGISTRY))
    assert not validator.is_valid({"rules": {"T102": {"min_read_timeout": 5}}})
    assert validator.is_valid({"rules": {"timeout-too-short": {"min_read_timeout": "10s"}}})


# --- the nginx version on the host -----------------------------------------------

@pytest.mark.parametrize(("output", "version"), [
    ("nginx version: nginx/1.22.1\n", (1, 22, 1)),
    ("nginx version: nginx/1.18.0 (Ubuntu)\n", (1, 18, 0)),
    ("nginx version: openresty/1.21.4.3\n", (1, 21, 4)),
    ("nginx version: nginx/1.25\n", (1, 25)),
])
def test_nginx_v_output_gives_the_version(output: str, version: tuple[int, ...]) -> None:
    assert hostversion.parse_nginx_v(output) == version


def _fake_nginx(folder: Path, script: str) -> None:
    folder.mkdir(exist_ok=True)
    binary = folder / "nginx"
    binary.write_text(f"#!/bin/sh\n{script}\n")
    binary.chmod(0o755)


def test_host_runs_take_the_version_from_the_local_nginx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_nginx(tmp_path / "bin", 'echo "nginx version: nginx/1.20.2" >&2')
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    settings, notes = build_settings(Config(), REGISTRY, host=True)
    assert settings.nginx_version == (1, 20, 2) and notes == []
    assert settings.version_source == f"{tmp_path / 'bin' / 'nginx'} -v"


def test_a_version_given_anywhere_means_nginx_is_not_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_nginx(tmp_path / "bin", f"touch {tmp_path / 'asked'}")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    settings, _ = build_settings(Config(nginx_version="1.24.0", path="cfg"), REGISTRY, host=True)
    assert settings.nginx_version == (1, 24, 0) and not (tmp_path / "asked").exists()


def test_nginx_that_hangs_is_given_up_with_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_nginx(tmp_path / "bin", f"exec {shutil.which('sleep')} 30")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(hostversion, "TIMEOUT_SECONDS", 0.5)
    settings, notes = build_settings(Config(), REGISTRY, host=True)
    assert settings.nginx_version is None and settings.version_source == ""
    assert len(notes) == 1 and "did not answer within 0.5s" in notes[0]


def test_missing_nginx_is_a_note_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(hostversion, "_SBIN", ())
    (tmp_path / "site.conf").write_text(SHORT_TIMEOUT)
    code = main(["--host", "--select", "T102", str(tmp_path / "site.conf")])
    err = capsys.readouterr().err
    assert code == 1 and "--host: cannot detect the nginx version (no nginx binary" in err


# --- start-up cost ---------------------------------------------------------------

def test_a_run_without_config_file_imports_no_toml_schema_or_extra_format_code(tmp_path: Path) -> None:
    (tmp_path / "site.conf").write_text(SHORT_TIMEOUT)
    probe = (
        "import sys\nfrom nginx_502lint.cli import main\n"
        f"main([{str(tmp_path / 'site.conf')!r}])\n"
        "heavy = ['tomllib', 'tomli', 'jsonschema', 'nginx_502lint.reporters.sarif', 'nginx_502lint.reporters.json',\n"
        "         'nginx_502lint.reporters.junit', 'nginx_502lint.reporters.gitlab', 'nginx_502lint.baseline']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stderr
