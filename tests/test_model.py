"""The model's effective values follow nginx's inheritance exactly."""
from __future__ import annotations

from nginx_502lint.lint import Input, load_inputs
from nginx_502lint.engine import LintSettings
import ipaddress

import pytest

from nginx_502lint.model import Model, is_ip, parse_target


def model_of(text: str) -> Model:
    [config] = load_inputs([Input("nginx.conf", text)], LintSettings())
    return Model(config)


def only_location(model: Model, path: str):  # type: ignore[no-untyped-def]
    return next(b for b in model.blocks("location") if b.args[-1] == path)


CONFIG = """
events {}
http {
    proxy_read_timeout 30s;
    proxy_set_header Host $host;
    proxy_set_header Connection "";
    deny 10.0.0.1;
    server {
        proxy_read_timeout 40s;
        location /a {
            proxy_pass http://127.0.0.1:1;
            proxy_set_header X-Real-IP $remote_addr;
            allow 10.0.0.0/8;
            location /a/b {
                proxy_pass http://127.0.0.1:2;
                if ($arg_x) { proxy_pass http://127.0.0.1:3; }
            }
        }
        location /c { proxy_pass http://127.0.0.1:4; }
    }
}
"""


def test_scalar_comes_from_the_innermost_level_that_sets_it() -> None:
    model = model_of(CONFIG)
    assert model.effective(only_location(model, "/c"), "proxy_read_timeout").value == "40s"
    assert model.effective(model.blocks("http")[0], "proxy_read_timeout").value == "30s"


def test_array_directive_at_a_level_drops_everything_inherited() -> None:
    model = model_of(CONFIG)
    headers = model.effective(only_location(model, "/a"), "proxy_set_header").nodes
    assert [n.args[0] for n in headers] == ["X-Real-IP"]
    inherited = model.effective(only_location(model, "/c"), "proxy_set_header").nodes
    assert [n.args[0] for n in inherited] == ["Host", "Connection"]


def test_nested_location_and_if_inherit_from_their_location() -> None:
    model = model_of(CONFIG)
    sites = {s.target.port: s for s in model.pass_sites}
    assert [n.args[0] for n in sites[3].effective("proxy_set_header").nodes] == ["X-Real-IP"]
    assert sites[3].setting("read_timeout").value == "40s"
    assert model.context_of(sites[3].node) == "location_if"


def test_allow_at_a_level_drops_inherited_deny() -> None:
    model = model_of(CONFIG)
    assert model.effective(only_location(model, "/a"), "deny").nodes == ()
    assert model.effective(only_location(model, "/c"), "deny").value == "10.0.0.1"


def test_default_is_reported_when_nothing_sets_it() -> None:
    model = model_of(CONFIG)
    setting = model.effective(only_location(model, "/c"), "proxy_connect_timeout")
    assert not setting.explicit and setting.value == "60s"


def test_targets_are_split_like_nginx() -> None:
    unix = parse_target("proxy", "http://unix:/run/app.sock:/api/")
    assert (unix.unix_path, unix.uri) == ("/run/app.sock", "/api/")
    v6 = parse_target("proxy", "https://[::1]:8443/x")
    assert (v6.scheme, v6.host, v6.port, v6.uri) == ("https", "::1", 8443, "/x")
    assert parse_target("proxy", "unix:/run/app.sock").error
    assert parse_target("proxy", "http://app:70000").error
    fcgi = parse_target("fastcgi", "127.0.0.1:9000")
    assert (fcgi.host, fcgi.port) == ("127.0.0.1", 9000)
    assert parse_target("proxy", "$scheme://$host$request_uri").variables


def test_pass_target_names_its_upstream_block() -> None:
    model = model_of("events {}\nhttp { upstream app { server 127.0.0.1:1 backup; server 127.0.0.1:2 weight=3; }\n"
                     "server { location / { proxy_pass http://app; } } }\n")
    [site] = model.pass_sites
    assert site.target.upstream is model.upstreams["app"]
    first, second = model.upstreams["app"].servers
    assert first.backup and second.params == {"weight": "3"}


def test_set_directives_replaces_only_the_same_key_of_an_array_directive() -> None:
    from nginx_502lint.ruletools import set_directives

    model = model_of("events {}\nhttp { server { location / {\n proxy_set_header Host $host;\n proxy_pass http://127.0.0.1:1;\n} } }\n")
    location = model.blocks("location")[0]
    [insert] = set_directives(model, location, [("proxy_set_header", ["Connection", ""])])
    assert insert.kind == "insert" and insert.text == 'proxy_set_header Connection "";'
    [replace] = set_directives(model, location, [("proxy_set_header", ["Host", "example.com"])])
    assert replace.kind == "replace" and replace.line == 3


def test_targets_follow_nginx_url_parsing_edge_cases() -> None:
    triple = parse_target("uwsgi", "unix:///run/app/uwsgi.sock")
    assert triple.error is None and triple.unix_path == "///run/app/uwsgi.sock"
    query = parse_target("proxy", "http://backend?src=web")
    assert (query.host, query.uri) == ("backend", "?src=web")


def test_pass_target_finds_its_upstream_whatever_the_case() -> None:
    model = model_of("events {}\nhttp { upstream Backend { server 127.0.0.1:1; }\n"
                     "server { location / { proxy_pass http://backend; } } }\n")
    [site] = model.pass_sites
    assert site.target.upstream is model.upstreams["Backend"]


@pytest.mark.parametrize("host", [
    "127.0.0.1", "[::1]", "::1", "::ffff:10.0.0.1", "fe80::1%eth0", "10.0.0", "1.2.3.4.5", "256.0.0.1",
    "01.2.3.4", "localhost", "app-1", "0x7f.0.0.1", "1.2.3.4 ", "", "[", "1e3", "١٢٣.1.1.1", "..", "2001:db8::",
])
def test_is_ip_agrees_with_ipaddress_including_its_shortcut_for_names(host: str) -> None:
    try:
        ipaddress.ip_address(host.strip("[]"))
        expected = True
    except ValueError:
        expected = False
    assert is_ip(host) is expected
