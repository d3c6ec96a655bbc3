"""The fast path (fastpath.py, no typer) and the typer command must be one command line.

Each argv runs through `cli.main` twice, once as the console script does and
once forced through typer, and must give the same exit code, stdout, stderr
and written files. A second test holds the fast path's options to the flags
and defaults the typer command declares.
"""
from __future__ import annotations

import enum
import io
import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from nginx_502lint.cli import FORCE_TYPER_ENV, LintOptions, main
from nginx_502lint.fastpath import PLAIN_OPTIONS, parse_plain_invocation

CLEAN = "events {}\nhttp {\n    server {\n        listen 80;\n        root /srv;\n    }\n}\n"
BAD = ("events {}\nhttp {\n    server {\n        listen 80;\n        location / {\n"
       "            proxy_pass http://127.0.0.1:8000;\n            proxy_read_timeout 30sec;\n"
       "            proxy_buffer_size 4k;\n            proxy_buffers 2 1k;\n        }\n    }\n}\n")

# (argv, stdin, taken by the fast path)
CASES: list[tuple[list[str], str, bool]] = [
    (["clean.conf"], "", True),
    (["bad.conf"], "", True),
    (["bad.conf", "clean.conf"], "", True),
    (["site"], "", True),
    (["bad.conf", "--format", "json"], "", True),
    (["--format=sarif", "bad.conf"], "", True),
    (["-f", "github", "bad.conf"], "", True),
    (["bad.conf", "-f", "gitlab"], "", True),
    (["bad.conf", "--format", "junit"], "", True),
    (["bad.conf", "--select", "T106"], "", True),
    (["bad.conf", "--select=T106,B", "--select", "T102"], "", True),
    (["bad.conf", "--ignore", "T", "--ignore=B201"], "", True),
    (["bad.conf", "--fail-on", "error"], "", True),
    (["bad.conf", "--fail-on=info"], "", True),
    (["bad.conf", "--exit-zero"], "", True),
    (["bad.conf", "--statistics", "--format", "json"], "", True),
    (["bad.conf", "--statistics"], "", True),
    (["--nginx-version", "1.18.0", "bad.conf"], "", True),
    (["--nginx-version", "abc", "bad.conf"], "", True),
    (["--prefix", ".", "bad.conf"], "", True),
    (["--config", "select-t.toml", "bad.conf"], "", True),
    (["--config", "broken.toml", "bad.conf"], "", True),
    (["--config", "missing.toml", "bad.conf"], "", True),
    (["configured/nginx.conf"], "", True),
    (["--isolated", "configured/nginx.conf"], "", True),
    (["--baseline", "missing.json", "bad.conf"], "", True),
    (["--color", "always", "bad.conf"], "", True),
    (["--color", "never", "bad.conf"], "", True),
    (["--output", "report.json", "--format", "json", "bad.conf"], "", True),
    (["-o", "report.txt", "bad.conf"], "", True),
    (["-"], BAD, True),
    (["-", "--stdin-filename", "site.conf"], BAD, True),
    (["-"], "http {\n", True),
    (["missing.conf"], "", True),
    (["--select", "NOPE", "bad.conf"], "", True),
    (["bad.conf", "--select", ""], "", True),
    # left to typer: typer against typer, but the fast path must decline them
    (["bad.conf", "--format", "bogus"], "", False),
    (["bad.conf", "--format", "JSON"], "", False),
    (["bad.conf", "--fail-on", "fatal"], "", False),
    (["bad.conf", "--frobnicate"], "", False),
    (["bad.conf", "--select"], "", False),
    (["bad.conf", "--select", "--exit-zero"], "", False),
    (["bad.conf", "--exit-zero=1"], "", False),
    (["bad.conf", "-fjson"], "", False),
    (["--", "bad.conf"], "", False),
    (["--form", "json", "bad.conf"], "", False),
    (["bad.conf", "--diff", "--select", "T106"], "", False),
    ([], "", False),
    (["--version"], "", False),
    (["-h"], "", False),
    (["--list-rules"], "", False),
]


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "clean.conf").write_text(CLEAN)
    (tmp_path / "bad.conf").write_text(BAD)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "nginx.conf").write_text(BAD)
    (tmp_path / "select-t.toml").write_text('select = ["T"]\nfail-on = "error"\n')
    (tmp_path / "broken.toml").write_text('select = "T\n')
    (tmp_path / "configured").mkdir()
    (tmp_path / "configured" / ".nginx-502lint.toml").write_text('ignore = ["B"]\n[rules.T102]\nminimum = "20s"\n')
    (tmp_path / "configured" / "nginx.conf").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    for name in ("NO_COLOR", "FORCE_COLOR", FORCE_TYPER_ENV, "_NGINX_502LINT_COMPLETE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _outcome(argv: list[str], stdin: str, workdir: Path, capsys: pytest.CaptureFixture[str],
             monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str, dict[str, str]]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    for report in ("report.json", "report.txt"):
        (workdir / report).unlink(missing_ok=True)
    code = main(list(argv))
    out, err = capsys.readouterr()
    written = {name: (workdir / name).read_text() for name in ("report.json", "report.txt") if (workdir / name).exists()}
    return code, out, err, written


@pytest.mark.parametrize(("argv", "stdin", "fast"), CASES, ids=[" ".join(c[0]) or "(none)" for c in CASES])
def test_fast_path_and_typer_give_the_same_result(argv: list[str], stdin: str, fast: bool, workdir: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert (parse_plain_invocation(argv) is not None) == fast
    direct = _outcome(argv, stdin, workdir, capsys, monkeypatch)
    monkeypatch.setenv(FORCE_TYPER_ENV, "1")
    through_typer = _outcome(argv, stdin, workdir, capsys, monkeypatch)
    assert direct == through_typer
    assert direct[0] in (0, 1, 2)


def test_shell_completion_requests_go_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_NGINX_502LINT_COMPLETE", "bash_source")
    assert parse_plain_invocation(["nginx.conf"]) is None


def test_fast_path_options_match_the_typer_command() -> None:
    from typer.main import get_command

    from nginx_502lint.cli_typer import app, lint_command

    params = {param.name: param for param in get_command(app).params}
    defaults = LintOptions.defaults()
    assert set(params) == set(defaults), "LintOptions and the typer command must have the same fields"
    for name, param in params.items():
        assert param.default == defaults[name], f"{name}: typer default {param.default!r}, LintOptions {defaults[name]!r}"
    hints = typing.get_type_hints(lint_command, include_extras=True)
    for option in PLAIN_OPTIONS:
        param = params[option.field]
        assert set(param.opts) | set(param.secondary_opts) == set(option.flags), option.field
        assert bool(param.is_flag) == (not option.takes_value), option.field
        assert bool(param.multiple) == option.repeatable, option.field
        declared = typing.get_args(hints[option.field])[0]  # Annotated[X, typer.Option(...)] -> X
        declared = next((arg for arg in typing.get_args(declared) if arg is not type(None)), declared)  # Optional[X] -> X
        is_choice = isinstance(declared, type) and issubclass(declared, enum.Enum)
        assert option.choices is (declared if is_choice else None), option.field


def test_a_plain_lint_does_not_import_typer_jsonschema_or_metadata(tmp_path: Path) -> None:
    (tmp_path / "nginx.conf").write_text(BAD)
    # against what the interpreter loaded before (a site .pth may import certifi on some machines)
    code = ("import sys\nbefore = set(sys.modules)\nfrom nginx_502lint.cli import main\n"
            "code = main(['nginx.conf', '--format', 'json'])\n"
            "heavy = sorted(m for m in ('typer', 'click', 'pydantic', 'rich', 'jsonschema', 'importlib.metadata',"
            " 'importlib.resources', 'email', 'certifi', 'ssl', 'nginx_502lint.fixes', 'nginx_502lint.diagnose')"
            " if m in sys.modules and m not in before)\n"
            "sys.stderr.write(f'exit={code} heavy={heavy}')\n")
    env = {k: v for k, v in os.environ.items() if k != FORCE_TYPER_ENV}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert result.stderr.endswith("exit=1 heavy=[]"), result.stderr
