"""The loader's and model's speed-ups change nothing a rule or a user sees."""
from __future__ import annotations

from pathlib import Path

import pytest

from nginx_502lint.engine import Registry
from nginx_502lint.lint import lint_paths
from nginx_502lint.model import Model
from nginx_502lint.parse import Loader, Node

REGISTRY = Registry.default(entry_points=False)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("order", ["included file first", "root first"])
def test_a_syntax_error_in_an_included_file_is_reported_whatever_the_argument_order(tmp_path: Path, order: str) -> None:
    child = write(tmp_path / "conf.d" / "app.conf", "server { location / { proxy_pass http://127.0.0.1:1 } }\n")
    root = write(tmp_path / "nginx.conf", "events {}\nhttp { include conf.d/*.conf; }\n")
    paths = [str(child), str(root)] if order == "included file first" else [str(root), str(child)]
    findings = lint_paths(paths, registry=REGISTRY, rule_ids=["E001"]).findings
    assert [(f.rule, Path(f.file).name, f.line) for f in findings] == [("E001", "app.conf", 1)]


def test_an_unreadable_include_is_reported_in_every_config_that_includes_it(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    write(tmp_path / "a.conf", "events {}\nhttp { include conf.d; }\n")
    write(tmp_path / "b.conf", "events {}\nhttp {\n include conf.d; }\n")
    loader = Loader()
    first, second = loader.load(str(tmp_path / "a.conf")), loader.load(str(tmp_path / "b.conf"))
    assert [(p.line, "Is a directory" in p.message) for p in first.problems] == [(2, True)]
    assert [(p.line, "Is a directory" in p.message) for p in second.problems] == [(3, True)]


def test_a_snippet_included_twice_gets_its_own_nodes_at_each_site(tmp_path: Path) -> None:
    write(tmp_path / "inner.conf", "proxy_set_header X-A 1;\n")
    write(tmp_path / "snippet.conf", "proxy_read_timeout 5s;\ninclude inner.conf;\nif ($x) { return 403; }\n")
    config = Loader().load(str(write(tmp_path / "nginx.conf", (
        "events {}\nhttp { server {\n"
        " location /a { include snippet.conf; }\n"
        " location /b { include snippet.conf; }\n"
        "} }\n"
    ))))
    model = Model(config)
    first, second = model.blocks("location")
    assert [(n.name, n.parent) for n in first.block] == [("include", first), ("proxy_read_timeout", first), ("include", first),
                                                       ("proxy_set_header", first), ("if", first)]
    assert [n.name for n in second.block] == [n.name for n in first.block]
    assert all(a is not b for a, b in zip(first.block, second.block))
    assert [n.parent for n in second.block[-1].block] == [second.block[-1]]


def test_effective_values_are_the_same_asked_in_any_order(tmp_path: Path) -> None:
    conf = write(tmp_path / "nginx.conf", (
        "events {}\nhttp {\n proxy_read_timeout 30s;\n proxy_set_header A 1;\n"
        " server {\n  proxy_set_header B 2;\n"
        "  location /a { proxy_read_timeout 5s; location /a/b { } }\n"
        "  location /c { deny all; }\n } }\n"
    ))
    names = ["proxy_read_timeout", "proxy_set_header", "allow", "proxy_connect_timeout"]

    def answers(reverse: bool) -> dict[tuple[str, str], tuple[tuple[str, int], ...]]:
        model = Model(Loader().load(str(conf)))
        blocks = model.blocks("location") + model.blocks("server") + model.blocks("http")
        pairs = [(b, n) for b in blocks for n in names]
        result = {}
        for block, name in reversed(pairs) if reverse else pairs:
            setting = model.effective(block, name)
            result[(" ".join([block.name, *block.args]), name)] = tuple((n.name, n.line) for n in setting.nodes)
        return result

    forward = answers(reverse=False)
    assert forward == answers(reverse=True)
    assert forward[("location /a/b", "proxy_read_timeout")] == (("proxy_read_timeout", 7),)
    assert forward[("location /c", "proxy_read_timeout")] == (("proxy_read_timeout", 3),)
    assert forward[("location /a/b", "proxy_set_header")] == (("proxy_set_header", 6),)
    assert forward[("location /c", "allow")] == ()
    assert forward[("location /a/b", "allow")] == ()


def test_effective_on_a_node_made_after_the_model_is_not_confused_with_an_old_one(tmp_path: Path) -> None:
    conf = write(tmp_path / "nginx.conf", "events {}\nhttp { proxy_read_timeout 30s; server { } }\n")
    model = Model(Loader().load(str(conf)))
    http = model.blocks("http")[0]

    def timeout_in_a_scratch_location(timeout: str | None) -> str | None:
        scratch = Node("location", ["/"], "x.conf", 1, block=[], parent=http)
        if timeout is not None:
            scratch.block.append(Node("proxy_read_timeout", [timeout], "x.conf", 2, parent=scratch))  # type: ignore[union-attr]
        return model.effective(scratch, "proxy_read_timeout").value

    # each scratch node is freed on return, so the next one may get the same id()
    asked = [None, "2s", None, "3s", None, "4s"]
    assert [timeout_in_a_scratch_location(t) for t in asked] == ["30s", "2s", "30s", "3s", "30s", "4s"]


@pytest.mark.parametrize("enabled_before", [True, False])
def test_loading_leaves_the_garbage_collector_as_it_found_it(tmp_path: Path, enabled_before: bool,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    import nginx_502lint.parse as parse

    conf = write(tmp_path / "nginx.conf", "events {}\nhttp { server { location / { proxy_pass http://a; } } }\n")
    was = gc.isenabled()
    try:
        gc.enable() if enabled_before else gc.disable()
        Model(Loader().load(str(conf)))
        assert gc.isenabled() is enabled_before
        monkeypatch.setattr(parse, "crossplane_parse_text", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            Loader().load(str(conf))
        assert gc.isenabled() is enabled_before
    finally:
        gc.enable() if was else gc.disable()
