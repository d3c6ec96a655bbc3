"""Linting in several processes (`jobs`) reports exactly what one process reports."""
from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from nginx_502lint import batch
from nginx_502lint.cache import ResultCache
from nginx_502lint.engine import InternalRuleError, LintSettings, Registry
from nginx_502lint.findings import LintResult
from nginx_502lint.lint import Input, lint

REGISTRY = Registry.default(entry_points=False)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def site(index: int, timeout: str = "1s") -> str:
    return (f"server {{\n  server_name s{index}.test;\n  location / {{\n    proxy_pass http://127.0.0.1:{8000 + index};\n"
            f"    proxy_read_timeout {timeout};\n  }}\n}}\n")


@pytest.fixture
def sites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "nginx.conf", "events {}\nhttp {\n  include sites/*.conf;\n}\n")
    for index in range(12):
        write(tmp_path / "sites" / f"{index:02d}.conf", site(index, "1s" if index % 3 else "{broken"))
    write(tmp_path / "other" / "standalone.conf", site(99))
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.conf"))


def summary(result: LintResult) -> tuple[object, ...]:
    return (result.findings, result.files, {p: s.text for p, s in result.sources.items()})  # type: ignore[attr-defined]


def run(paths: list[str], jobs: int, registry: Registry = REGISTRY, cache: ResultCache | None = None) -> LintResult:
    return lint([Input(p) for p in paths], LintSettings(), registry, jobs=jobs, cache=cache)


@pytest.mark.parametrize("order", ["as given", "reversed"])
def test_two_workers_report_what_one_process_reports(sites: list[str], order: str) -> None:
    paths = sites if order == "as given" else sites[::-1]
    one = run(paths, jobs=1)
    assert {f.rule for f in one.findings} >= {"E001", "T102"}
    assert summary(run(paths, jobs=2)) == summary(one)


def test_files_that_only_fragments_reach_are_linted_alike(sites: list[str]) -> None:
    fragments = [p for p in sites if p != "nginx.conf"]
    assert summary(run(fragments, jobs=0)) == summary(run(fragments, jobs=1))


def crashing_registry(tmp_path: Path, crash_in: str) -> Registry:
    write(tmp_path / "rules" / "z902_crash.py", (
        '"""Crashes on one file."""\nID = "Z902"\nSLUG = "crash"\nSEVERITY = "info"\n'
        "def check(ctx):\n"
        f"    if ctx.model.config.main_file == {crash_in!r}:\n"
        "        raise ZeroDivisionError('boom')\n"
        "    yield from ()\n"
    ))
    registry = Registry.default(entry_points=False)
    registry.add_directory(str(tmp_path / "rules"))
    return registry


def test_a_rule_crash_in_a_worker_is_the_same_error_as_in_one_process(sites: list[str], tmp_path: Path) -> None:
    registry = crashing_registry(tmp_path, "other/standalone.conf")
    messages = []
    for jobs in (1, 2):
        with pytest.raises(InternalRuleError) as raised:
            run(sites, jobs, registry)
        messages.append((raised.value.spec.id, str(raised.value)))
    assert messages[0] == messages[1] == ("Z902", "rule Z902 (crash) crashed: ZeroDivisionError: boom")


def test_a_rule_crash_on_a_file_linted_only_through_its_includer_is_not_an_error(sites: list[str], tmp_path: Path) -> None:
    registry = crashing_registry(tmp_path, "sites/01.conf")  # linted standalone only by a worker
    assert summary(run(sites, jobs=2, registry=registry)) == summary(run(sites, jobs=1, registry=registry))


def test_workers_fill_the_cache_for_the_next_run(sites: list[str], tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "cache")
    cold = run(sites, jobs=2, cache=cache)
    assert len(list((tmp_path / "cache").rglob("*.json"))) == len(sites)
    assert summary(run(sites, jobs=2, cache=cache)) == summary(cold) == summary(run(sites, jobs=1))


def test_without_fork_the_run_stays_in_one_process(sites: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    monkeypatch.setattr(batch, "_lint_in_workers", lambda *args: pytest.fail("workers started"))
    assert summary(run(sites, jobs=4)) == summary(run(sites, jobs=1))


def test_a_worker_count_above_the_inputs_is_capped() -> None:
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    assert batch._workers(8, 3) == 3
    assert batch._workers(0, 100) == (os.cpu_count() or 1)
    assert batch._workers(4, 1) == 1
