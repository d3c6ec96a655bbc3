"""Which server block and location serve a logged request: nginx's matching, step by step."""
from __future__ import annotations

from pathlib import Path

import pytest

from nginx_502lint.engine import LintSettings
from nginx_502lint.lint import Input, load_inputs
from nginx_502lint.locations import (
    find_location,
    location_spec,
    logged_server_name,
    normalize_uri,
    route,
    servers_named,
)
from nginx_502lint.model import Model
from nginx_502lint.parse import Node


def model_of(text: str, tmp_path: Path) -> Model:
    path = tmp_path / "nginx.conf"
    path.write_text(text)
    (config,) = load_inputs([Input(str(path))], LintSettings())
    return Model(config)


def only_server(model: Model) -> Node:
    (server,) = model.http_servers()
    return server


def label(location: Node | None) -> str | None:
    return " ".join(location.args) if location is not None else None


# The example of nginx's own `location` documentation, plus nested and attached-modifier cases.
DOC_EXAMPLE = r"""
events {}
http {
    server {
        server_name example.com;
        location = / { return 200 A; }
        location / { return 200 B; }
        location /documents/ { return 200 C; }
        location ^~ /images/ { return 200 D; }
        location ~* \.(gif|jpg|jpeg)$ { return 200 E; }
        location /a/ {
            location ~ \.php$ { return 200 nested-php; }
            location ^~ /a/static/ { return 200 nested-static; }
        }
        location ~ \.php$ { return 200 outer-php; }
        location ~ \.css$ { return 200 outer-css; }
        location =/exact-attached { return 200 F; }
        location ~*^/Case/(?<id>\d+)$ { return 200 G; }
        location @named { return 200 named; }
    }
}
"""


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/", "= /"),
        ("/index.html", "/"),
        ("/documents/document.html", "/documents/"),
        ("/images/1.gif", "^~ /images/"),
        ("/documents/1.jpg", r"~* \.(gif|jpg|jpeg)$"),
        ("/a/x.php", r"~ \.php$"),
        ("/b/x.php", r"~ \.php$"),
        ("/a/static/site.css", r"~ \.css$"),
        ("/a/static/logo.png", "^~ /a/static/"),
        ("/exact-attached", "=/exact-attached"),
        ("/exact-attached/more", "/"),
        ("/case/42", r"~*^/Case/(?<id>\d+)$"),
    ],
)
def test_location_matching_follows_nginx_order(uri: str, expected: str, tmp_path: Path) -> None:
    server = only_server(model_of(DOC_EXAMPLE, tmp_path))

    assert label(find_location(server, uri)) == expected


def test_nested_regex_wins_over_outer_regex_and_outer_regex_over_plain_prefix(tmp_path: Path) -> None:
    server = only_server(model_of(DOC_EXAMPLE, tmp_path))

    nested = find_location(server, "/a/x.php")
    outer = find_location(server, "/b/x.php")

    assert nested is not None and nested.parent is not None and nested.parent.args == ["/a/"]
    assert outer is not None and outer.parent is server


def test_named_locations_are_never_matched_by_path(tmp_path: Path) -> None:
    model = model_of("events {}\nhttp { server { location @app { return 200; } } }\n", tmp_path)

    assert find_location(only_server(model), "/@app") is None


def test_a_regex_python_cannot_compile_is_left_out_instead_of_guessed() -> None:
    node = Node("location", ["~", r"^/(?i:x)(*UTF8)"], "x.conf", 1, block=[])

    assert location_spec(node) is None


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("/api%2Fusers", "/api/users"),
        ("//api///users/", "/api/users/"),
        ("/static/../api/./x", "/api/x"),
        ("/../../etc/passwd", "/etc/passwd"),
        ("/", "/"),
        ("", "/"),
    ],
)
def test_request_paths_are_normalized_as_nginx_matches_them(raw: str, normalized: str) -> None:
    assert normalize_uri(raw) == normalized


SERVERS = """
events {}
http {
    server { server_name .Example.COM www.example.com; }
    server { server_name ~^(www\\.)?shop\\.test$ shop.test; }
    server { listen 8080; }
    server { listen 8081; server_name example.com; }
}
"""


def test_logged_server_name_is_the_first_name_lowercased_without_leading_dot(tmp_path: Path) -> None:
    model = model_of(SERVERS, tmp_path)

    names = [logged_server_name(model, server) for server in model.http_servers()]

    assert names == ["example.com", r"~^(www\.)?shop\.test$", "", "example.com"]


def test_servers_with_the_same_logged_name_are_all_candidates(tmp_path: Path) -> None:
    model = model_of(SERVERS, tmp_path)

    assert len(servers_named(model, "EXAMPLE.com")) == 2
    assert len(servers_named(model, "")) == 1
    assert servers_named(model, "www.example.com") == []


ROUTES = r"""
events {}
http {
    server {
        server_name example.com;
        index index.php index.html;
        location / {
            try_files $uri $uri/ @app;
        }
        location @app {
            proxy_pass http://127.0.0.1:8000;
        }
        location /blog/ {
            try_files $uri /index.php?$args;
        }
        location /shop/ {
            root /srv/shop;
        }
        location ~ \.php$ {
            fastcgi_pass unix:/run/php/php-fpm.sock;
        }
    }
}
"""


def passes(model: Model):  # type: ignore[no-untyped-def]
    return lambda location: any(site.location is location for site in model.pass_sites)


@pytest.mark.parametrize(
    ("uri", "expected", "via"),
    [
        ("/any/page", "@app", "try_files at nginx.conf:8 -> @app"),
        ("/blog/post", r"~ \.php$", "try_files at nginx.conf:14 -> /index.php"),
        ("/shop/", r"~ \.php$", "index at nginx.conf:6 -> /shop/index.php"),
        ("/x.php", r"~ \.php$", None),
    ],
)
def test_route_follows_try_files_and_index_to_the_location_that_passes_the_request(
    uri: str, expected: str, via: str | None, tmp_path: Path
) -> None:
    model = model_of(ROUTES, tmp_path)

    found = route(model, only_server(model), uri, serves=passes(model))

    assert label(found.location) == expected
    assert [step.replace(str(tmp_path) + "/", "") for step in found.via] == ([via] if via else [])
