"""The result cache: a warm run equals a cold one, and any change that matters makes it a miss."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import nginx_502lint.parse as parse
from nginx_502lint.cache import ResultCache, default_cache_dir, linter_fingerprint
from nginx_502lint.engine import LintSettings, Registry
from nginx_502lint.findings import LintResult
from nginx_502lint.lint import Input, lint

REGISTRY = Registry.default(entry_points=False)
SITE = "server {\n  location / {\n    proxy_pass http://127.0.0.1:8080;\n    proxy_read_timeout 1s;\n  }\n}\n"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "etc"
    write(root / "nginx.conf", "events {}\nhttp {\n  keepalive_time 1h;\n  include conf.d/*.conf;\n}\n")
    write(root / "conf.d" / "app.conf", SITE)
    monkeypatch.chdir(root)
    return root


def run(paths: list[str], cache: ResultCache | None, settings: LintSettings | None = None,
        registry: Registry = REGISTRY, **kwargs: object) -> LintResult:
    return lint([Input(p) for p in paths], settings or LintSettings(), registry, cache=cache, **kwargs)  # type: ignore[arg-type]


def summary(result: LintResult) -> tuple[object, ...]:
    sources = {p: (s.text, s.comments, s.analysed) for p, s in result.sources.items()}  # type: ignore[attr-defined]
    return (result.findings, result.files, sources)


class ParserCalls:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = parse.crossplane_parse_text

        def counted(name: str, text: str) -> object:
            self.count += 1
            return original(name, text)

        monkeypatch.setattr(parse, "crossplane_parse_text", counted)


def test_a_warm_run_gives_the_cold_result_without_parsing(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ResultCache(tmp_path / "cache")
    cold = run(["nginx.conf"], cache)
    assert "T102" in {f.rule for f in cold.findings}
    calls = ParserCalls(monkeypatch)
    warm = run(["nginx.conf"], cache)
    assert calls.count == 0
    assert summary(warm) == summary(cold) == summary(run(["nginx.conf"], None))


@pytest.mark.parametrize("change", ["edit an included file", "add a file the glob matches", "delete the included file",
                                    "add a BOM", "make an include unreadable"])
def test_a_change_to_the_tree_is_seen_on_the_next_run(tree: Path, tmp_path: Path, change: str) -> None:
    cache = ResultCache(tmp_path / "cache")
    run(["nginx.conf"], cache)
    if change == "edit an included file":
        write(tree / "conf.d" / "app.conf", SITE.replace("1s", "2s"))
    elif change == "add a file the glob matches":
        write(tree / "conf.d" / "zz.conf", SITE.replace("location /", "location /zz"))
    elif change == "delete the included file":
        (tree / "conf.d" / "app.conf").unlink()
    elif change == "add a BOM":
        write(tree / "conf.d" / "app.conf", b"\xef\xbb\xbf" + SITE.encode())
    else:
        (tree / "conf.d" / "app.conf").unlink()
        os.mkfifo(tree / "conf.d" / "app.conf")
    assert summary(run(["nginx.conf"], cache)) == summary(run(["nginx.conf"], None))


@pytest.mark.parametrize("settings, rule_ids", [
    (LintSettings(nginx_version=(1, 18, 0)), None),
    (LintSettings(rule_options={"T102": {"min_read_timeout": "500ms"}}), None),
    (LintSettings(), ["T101"]),
])
def test_other_settings_or_rules_do_not_reuse_an_entry(tree: Path, tmp_path: Path, settings: LintSettings,
                                                        rule_ids: list[str] | None) -> None:
    cache = ResultCache(tmp_path / "cache")
    default = summary(run(["nginx.conf"], cache))
    fresh = lint([Input("nginx.conf")], settings, REGISTRY, rule_ids)
    cached = lint([Input("nginx.conf")], settings, REGISTRY, rule_ids, cache=cache)
    assert summary(cached) == summary(fresh) != default


def test_the_working_directory_is_part_of_the_key(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ResultCache(tmp_path / "cache")
    run(["nginx.conf"], cache)
    monkeypatch.chdir(tree.parent)
    assert run(["etc/nginx.conf"], cache).files == ["etc/nginx.conf", "etc/conf.d/app.conf"]


@pytest.mark.parametrize("damage", [b"", b"\x00\xff garbage", b'{"format": 1', b"[]", b'{"format": 1, "key": "other"}',
                                    b"{}", "right key, wrong shape"])
def test_a_damaged_entry_is_a_miss_and_gets_replaced(tree: Path, tmp_path: Path, damage: bytes | str) -> None:
    cache = ResultCache(tmp_path / "cache")
    expected = summary(run(["nginx.conf"], cache))
    [entry] = list((tmp_path / "cache").rglob("*.json"))
    if damage == "right key, wrong shape":
        entry.write_text(f'{{"format": 1, "key": "{entry.stem}", "digests": 5, "findings": "x"}}')
    else:
        entry.write_bytes(damage)  # type: ignore[arg-type]
    assert summary(run(["nginx.conf"], cache)) == expected
    assert summary(run(["nginx.conf"], cache)) == expected
    assert entry.read_text().startswith('{"format":1,')


def test_an_unusable_cache_folder_only_costs_speed(tree: Path, tmp_path: Path) -> None:
    blocker = write(tmp_path / "not-a-folder", "x")
    result = run(["nginx.conf"], ResultCache(blocker / "cache"))
    assert summary(result) == summary(run(["nginx.conf"], None))


def test_the_cache_lives_in_the_user_cache_folder_and_never_in_the_tree(tree: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "nginx-502lint"
    before = sorted(tree.rglob("*"))
    run(["nginx.conf"], ResultCache())
    assert sorted(tree.rglob("*")) == before
    assert list((tmp_path / "xdg" / "nginx-502lint").rglob("*.json"))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "nginx-502lint"


def test_runs_that_read_the_host_are_not_cached(tree: Path, tmp_path: Path) -> None:
    run(["nginx.conf"], ResultCache(tmp_path / "cache"), LintSettings(host=True))
    assert not list((tmp_path / "cache").rglob("*.json"))


def test_suppressions_still_apply_on_a_warm_run(tree: Path, tmp_path: Path) -> None:
    write(tree / "conf.d" / "app.conf", SITE.replace("1s;", "1s;  # nginx-502lint: ignore T102 -- health check"))
    cache = ResultCache(tmp_path / "cache")
    cold = run(["nginx.conf"], cache)
    assert "T102" not in {f.rule for f in cold.findings}
    assert summary(run(["nginx.conf"], cache)) == summary(cold)


def test_an_edited_local_rule_is_not_served_from_the_cache(tree: Path, tmp_path: Path) -> None:
    rule = write(tmp_path / "rules" / "z901_every_pass.py", (
        '"""Every pass."""\nID = "Z901"\nSLUG = "every-pass"\nSEVERITY = "info"\n'
        "def check(ctx):\n    for site in ctx.model.pass_sites:\n        ctx.report(site.node, 'first')\n    yield from ()\n"
    ))

    def registry() -> Registry:
        local = Registry.default(entry_points=False)
        local.add_directory(str(rule.parent))
        return local

    cache = ResultCache(tmp_path / "cache")
    assert [f.message for f in run(["nginx.conf"], cache, registry=registry()).findings if f.rule == "Z901"] == ["first"]
    rule.write_text(rule.read_text().replace("'first'", "'second'"))
    os.utime(rule, ns=(1, 1))  # a different mtime even on a coarse clock
    assert [f.message for f in run(["nginx.conf"], cache, registry=registry()).findings if f.rule == "Z901"] == ["second"]


def test_the_linter_fingerprint_follows_rule_files(tmp_path: Path) -> None:
    extra = write(tmp_path / "rule.py", "x = 1\n")
    first = linter_fingerprint([str(extra)])
    assert linter_fingerprint([str(extra)]) == first
    extra.write_text("x = 22\n")
    assert linter_fingerprint([str(extra)]) != first


def test_an_input_included_by_another_is_served_from_the_cache_too(tree: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ResultCache(tmp_path / "cache")
    cold = run(["conf.d/app.conf", "nginx.conf"], cache)
    calls = ParserCalls(monkeypatch)
    warm = run(["conf.d/app.conf", "nginx.conf"], cache)
    assert calls.count == 0
    assert summary(warm) == summary(cold)


def test_a_cached_fragment_that_becomes_a_root_is_linted(tree: Path, tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "cache")
    run(["conf.d/app.conf", "nginx.conf"], cache)  # app.conf only parsed: it was included
    assert summary(run(["conf.d/app.conf"], cache)) == summary(run(["conf.d/app.conf"], None))


def test_a_config_loaded_without_digests_is_never_stored(tree: Path, tmp_path: Path) -> None:
    from nginx_502lint.parse import Loader

    cache = ResultCache(tmp_path / "cache")
    cache.prepare(LintSettings(), REGISTRY, ["T102"])
    cache.put(cache.key("nginx.conf"), Loader().load("nginx.conf"), [])
    assert not list((tmp_path / "cache").rglob("*.json"))
    cache.put(cache.key("nginx.conf"), Loader(digests=True).load("nginx.conf"), [])
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 1


def test_how_many_jobs_ran_does_not_change_the_key(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ResultCache(tmp_path / "cache")
    run(["nginx.conf"], cache, LintSettings(extras={"jobs": 1, "cache_dir": str(tmp_path / "cache")}))
    calls = ParserCalls(monkeypatch)
    run(["nginx.conf"], cache, LintSettings(extras={"jobs": 2, "cache_dir": ""}))
    assert calls.count == 0
