"""The shortcuts that keep E002-E005 cheap on big trees judge exactly what a full walk would.

E002/E003 look only at the directives of names that can be wrong, and E003 only at the
shapes (context, block, argument count) of a name that nginx may reject; the checks
below pin that this finds the same directives as walking every node, and that the same
name is still judged per context.
"""
from __future__ import annotations

import ipaddress
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nginx_502lint import directives
from nginx_502lint.addresses import ip_of
from nginx_502lint.directive_scope import CheckedScope, checked_named, has_data_body
from nginx_502lint.engine import LintSettings, Registry
from nginx_502lint.lint import Input, lint_paths, load_inputs
from nginx_502lint.model import PASS_MODULES, Model, context_of_node
from nginx_502lint.parse import Node
from nginx_502lint.pass_url import has_script, http_pass_targets, parse_pass

_REGISTRY = Registry.default(entry_points=False)
FIXTURES = Path(__file__).parent / "fixtures"

# Blocks of every kind the walk must look into or skip: data bodies, an unknown and a
# declared-looking third-party block, Lua, a simple directive given a block, and the
# same names in several contexts.
MIXED = """
events {}
http {
    map $a $b { default 1; proxy_pass x; }
    types { text/html html; }
    upstream app { server 127.0.0.1:8000; keepalive 16; resolver 1.1.1.1; }
    rtmp_thing { server { listen 1935; proxy_pass http://app; bogus_x 1; } }
    server {
        listen 80;
        proxy_pass http://app;
        proxy_buffering yes;
        server 127.0.0.1;
        content_by_lua_block { ngx.say("hi") }
        location / {
            proxy_pass http://app;
            proxy_buffering On;
            proxy_read_timout 5s;
            keepalive_timeout { inner_x 1; }
            if ($x) { proxy_buffering yes; listen 81; }
            limit_except GET { deny all; proxy_buffering maybe; }
        }
    }
}
stream {
    upstream s { server 127.0.0.1:9000; }
    server { listen 9000; proxy_pass s; proxy_read_timeout 5s; proxy_buffering on; }
}
"""


def _reference_walk(model: Model, opaque: Callable[[str], bool]) -> Iterator[tuple[Node, str]]:
    """The walk E002/E003 made over every node before, kept as the definition to compare with."""
    stack: list[Node] = list(reversed(model.root.block or ()))
    while stack:
        node = stack.pop()
        if not node.synthetic:
            yield node, model.context_of(node)
        if not node.block:
            continue
        if not node.synthetic and (has_data_body(node) or opaque(node.name)):
            continue
        stack.extend(reversed(node.block))


def _model(path: Path) -> Model:
    [config] = load_inputs([Input(str(path))], LintSettings())
    return Model(config)


def _unknown(name: str) -> bool:
    return not directives.known(name)


def _sample_paths(tmp_path: Path) -> list[Path]:
    mixed = tmp_path / "mixed.conf"
    mixed.write_text(MIXED)
    fragment = tmp_path / "site.conf"
    fragment.write_text("server { listen 80; location / { proxy_pass http://a/; retrun 1; } }\nproxy_pass http://b;\n")
    return [mixed, fragment, *sorted(FIXTURES.glob("rules/E00*/**/*.conf"))]


def test_checked_directives_by_name_match_the_full_walk(tmp_path: Path) -> None:
    for path in _sample_paths(tmp_path):
        model = _model(path)
        scope = CheckedScope(_unknown)
        by_name = [pair for name in model.names() for pair in checked_named(model, name, scope)]
        walked = list(_reference_walk(model, _unknown))
        key = lambda pair: (id(pair[0]), pair[1])  # noqa: E731
        assert sorted(by_name, key=key) == sorted(walked, key=key), path


def test_every_body_the_model_skips_is_one_the_rules_skip() -> None:
    # model.nodes leaves out what is inside custom bodies; E002/E003 must never need those.
    for name in directives.names():
        block = Node(name, [], "x.conf", 1, block=[])
        inside = Node("x", [], "x.conf", 2, parent=block)
        if context_of_node(inside) == "custom":
            assert has_data_body(block), name


def _findings(tmp_path: Path, text: str, rule: str, version: str | None = None) -> list[tuple[int, str]]:
    path = tmp_path / "nginx.conf"
    path.write_text(textwrap.dedent(text))
    settings = LintSettings(nginx_version=directives.parse_version(version) if version else None)
    result = lint_paths([str(path)], settings, registry=_REGISTRY, rule_ids=[rule])
    return [(finding.line, finding.message) for finding in result.findings]


def test_same_name_is_judged_per_context(tmp_path: Path) -> None:
    found = _findings(tmp_path, """\
        events {}
        http {
            upstream app { server 127.0.0.1:8000; }
            server {
                listen 80;
                proxy_pass http://app;
                location / { proxy_pass http://app; }
            }
        }
        """, "E003")
    assert [line for line, _ in found] == [6]
    assert '"proxy_pass" directive is not allowed here' in found[0][1]


def test_same_shape_is_judged_per_block_and_argument_count(tmp_path: Path) -> None:
    found = _findings(tmp_path, """\
        events {}
        http {
            server {
                listen 80;
                location / {
                    proxy_read_timeout 5s;
                    proxy_read_timeout 5 s;
                    proxy_read_timeout { x; }
                    proxy_buffering on;
                    proxy_buffering yes;
                }
            }
        }
        """, "E003")
    assert [line for line, _ in found] == [7, 8, 10]


def test_version_note_only_where_the_verdict_varies(tmp_path: Path) -> None:
    config = """\
        events {}
        http {
            upstream app { server 127.0.0.1:8000; keepalive 32 local; resolver 1.1.1.1; }
            server { listen 80; keepalive 16; proxy_buffering yes; }
        }
        """
    unversioned = _findings(tmp_path, config, "E003")
    assert [(line, "no --nginx-version given" in message) for line, message in unversioned] == [
        (4, True),  # keepalive's arguments changed over releases
        (4, False),  # proxy_buffering was always on/off
    ]
    older = _findings(tmp_path, config, "E003", "1.24.0")
    assert [line for line, _ in older] == [3, 3, 4, 4]
    assert not any("no --nginx-version given" in message for _, message in older)


def _reference_pass_targets(model: Model) -> list[tuple[int, str, str]]:
    """What http_pass_targets gave when it walked the whole tree."""
    found = []
    for node in model.root.walk():
        module = PASS_MODULES.get(node.name)
        if module is None or node.block is not None or len(node.args) != 1 or has_script(node.args[0]):
            continue
        if node.synthetic or model.context_of(node) not in ("location", "location_if", "limit_except"):
            continue
        found.append((id(node), module, node.args[0]))
    return found


def test_pass_targets_by_name_match_the_full_walk(tmp_path: Path) -> None:
    hidden = tmp_path / "hidden.conf"
    hidden.write_text("events {}\nhttp { map $a $b { if ($x) { proxy_pass http://in-map/x; } } }\n")
    for path in [hidden, *_sample_paths(tmp_path)]:
        model = _model(path)
        targets = [(id(target.node), target.module, target.url.raw) for target in http_pass_targets(model)]
        reference = _reference_pass_targets(model)
        assert sorted(targets) == sorted(reference), path
        for module in set(PASS_MODULES.values()):  # each directive still in config order
            assert [t for t in targets if t[1] == module] == [t for t in reference if t[1] == module], path
        assert all(target.url == parse_pass.__wrapped__(target.module, target.url.raw)  # type: ignore[attr-defined]
                   for target in http_pass_targets(model))


@pytest.mark.parametrize("portless_first", [True, False])
def test_upstream_list_follows_config_order_across_directives_and_includes(tmp_path: Path, portless_first: bool) -> None:
    # nginx folds a port-less target into an earlier entry of the same host, whatever the
    # module; only the port-less entry coming first leaves it without a port.
    (tmp_path / "portless.conf").write_text("location /a/ { fastcgi_pass 127.0.0.1; }\n")
    ported = "location /b/ { uwsgi_pass 127.0.0.1:9000; }"
    include = "include portless.conf;"
    body = f"{include}\n{ported}" if portless_first else f"{ported}\n{include}"
    found = _findings(tmp_path, f"events {{}}\nhttp {{\n server {{\n listen 80;\n {body}\n }}\n}}\n", "E005")
    assert [message.split(": ")[-1].split(",")[0] for _, message in found] == (
        ["`127.0.0.1` has no port"] if portless_first else [])


TRICKY_HOSTS = ["", "1.2.3.4", "01.2.3.4", "1.2.3", "256.1.1.1", "1.2.3.4.", "1.2.3.4 ", "[1.2.3.4]", "0", "4294967295",
                "::1", "[::1]", "fe80::1%eth0", "[fe80::1%eth0]", "::ffff:1.2.3.4", "1:2", "g::1", "abc:def::1",
                "app", "app_1.internal", "localhost", "١.٢.٣.٤"]


@pytest.mark.parametrize("host", TRICKY_HOSTS)
def test_memoised_address_parsing_agrees_with_ipaddress(host: str) -> None:
    try:
        expected: object = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        expected = None
    assert ip_of(host) == expected
    assert ip_of(host) == expected  # the cached answer too
    url = parse_pass.__wrapped__("proxy", f"http://{host}:80/")  # type: ignore[attr-defined]
    if url.error is None and not host.startswith("["):
        assert url.literal_address == isinstance(expected, ipaddress.IPv4Address)
