from __future__ import annotations

import importlib.util
import json
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from nginx_502lint import directives
from nginx_502lint.directives import (
    CONTEXTS,
    Directives,
    added_in,
    allowed_contexts,
    check_arg_count,
    check_context,
    check_flag_value,
    context_removed_in,
    context_since,
    default_text,
    definition_for,
    doc_only_info,
    doc_url,
    has_custom_body,
    is_array_directive,
    is_block,
    is_obsolete,
    known,
    latest_version,
    parse_version,
    removed_in,
    shared_array,
    split_sections,
    suggest,
    value_kind,
    versions,
)
from nginx_tools import nginx_test, require_nginx

REPO_ROOT = Path(__file__).resolve().parent.parent
DEBIAN_NGINX = "1.22.1"


def shipped_text() -> str:
    return resources.files("nginx_502lint").joinpath("data", "directives.json").read_text(encoding="utf-8")


# -- versions -------------------------------------------------------------------


def test_parse_version_gives_comparable_tuples() -> None:
    assert parse_version("1.25.1") == (1, 25, 1)
    assert parse_version("1.9.15") < parse_version("1.10.0")  # numeric, not textual
    assert parse_version("1.25") == parse_version("1.25.0")
    assert parse_version("nginx/1.22.1") == (1, 22, 1)


@pytest.mark.parametrize("text", ["", "1.x", "one", "1.2.3.4", "1..2"])
def test_parse_version_rejects_what_is_not_a_version(text: str) -> None:
    with pytest.raises(ValueError):
        parse_version(text)


def test_latest_version_is_the_newest_scanned_release() -> None:
    assert latest_version() == "1.31.4"
    assert versions()[0] == "1.0.0"
    assert versions()[-1] == "1.31.4"
    assert all(parse_version(a) < parse_version(b) for a, b in zip(versions(), versions()[1:]))


# -- known / added / removed --------------------------------------------------------


def test_http2_directive_is_unknown_before_1_25_1() -> None:
    assert added_in("http2") == "1.25.1"
    assert not known("http2", "1.24.0")
    assert known("http2", "1.25.1")
    assert known("http2")


def test_spdy_directive_exists_only_between_its_releases() -> None:
    # From the spdy module (1.3.15), kept by the v2 module as a warning-only alias until 1.19.7.
    assert removed_in("spdy_headers_comp") == "1.19.7"
    assert not known("spdy_headers_comp", "1.3.14")
    assert known("spdy_headers_comp", "1.3.15")
    assert known("spdy_headers_comp", "1.19.6")
    assert not known("spdy_headers_comp", "1.19.7")
    assert not known("spdy_headers_comp", "1.31.4")


def test_an_old_and_a_current_definition_of_one_name_resolve_by_version() -> None:
    old = definition_for("spdy_headers_comp", "http", "1.9.4")
    new = definition_for("spdy_headers_comp", "http", "1.9.5")
    assert old is not None and old.module == "ngx_http_spdy_module"
    assert new is not None and new.module == "ngx_http_v2_module"


def test_ssl_directive_removed_in_1_25_1() -> None:
    assert known("ssl", "1.24.0")
    assert not known("ssl", "1.25.1")
    assert removed_in("ssl") == "1.25.1"


def test_stable_branch_gap_is_honoured() -> None:
    # least_conn was backported to 1.2.2 and reached mainline only in 1.3.1.
    assert not known("least_conn", "1.2.1")
    assert known("least_conn", "1.2.2")
    assert not known("least_conn", "1.3.0")
    assert known("least_conn", "1.3.1")


def test_directive_removed_before_1_0_is_not_known_but_dated() -> None:
    assert not known("proxy_upstream_max_fails")
    assert removed_in("proxy_upstream_max_fails") == "0.8.38"
    assert added_in("proxy_upstream_max_fails") == "0.3.2"


def test_typo_is_unknown_and_dates_are_none() -> None:
    assert not known("proxy_passs")
    assert added_in("proxy_passs") is None
    assert removed_in("proxy_passs") is None


def test_directive_names_are_case_sensitive_like_nginx() -> None:
    assert known("proxy_pass")
    assert not known("Proxy_Pass")


# -- contexts -----------------------------------------------------------------------


def test_proxy_read_timeout_contexts() -> None:
    assert allowed_contexts("proxy_read_timeout") == {"http", "server", "location"}
    assert check_context("proxy_read_timeout", "location")
    assert not check_context("proxy_read_timeout", "location_if")
    assert not check_context("proxy_read_timeout", "upstream")


def test_proxy_pass_allowed_in_location_if_and_limit_except_but_not_server() -> None:
    for context in ("location", "location_if", "limit_except"):
        assert check_context("proxy_pass", context), context
    for context in ("server", "http", "server_if", "upstream", "main"):
        assert not check_context("proxy_pass", context), context


def test_stream_proxy_pass_is_a_separate_definition() -> None:
    stream = definition_for("proxy_pass", "stream_server")
    http = definition_for("proxy_pass", "location")
    assert stream is not None and stream.module == "ngx_stream_proxy_module"
    assert http is not None and http.module == "ngx_http_proxy_module"
    assert not check_context("proxy_pass", "stream_server", "1.8.1")
    assert check_context("proxy_pass", "stream_server", "1.9.0")


def test_resolver_allowed_in_upstream_only_since_1_27_3() -> None:
    assert context_since("resolver", "upstream") == "1.27.3"
    assert not check_context("resolver", "upstream", "1.27.2")
    assert check_context("resolver", "upstream", "1.27.3")
    assert check_context("resolver", "upstream")
    assert context_since("resolver", "http") is None  # there from the start


def test_log_format_left_server_and_location_in_1_7_8() -> None:
    assert check_context("log_format", "server", "1.7.7")
    assert not check_context("log_format", "server", "1.7.8")
    assert not check_context("log_format", "server")  # newest state
    assert context_removed_in("log_format", "server") == "1.7.8"


def test_include_is_allowed_in_every_context() -> None:
    assert allowed_contexts("include") == set(CONTEXTS)
    assert check_context("include", "location_if")
    assert check_context("include", "limit_except")


def test_unknown_directive_is_allowed_nowhere() -> None:
    assert allowed_contexts("proxy_passs") == set()
    assert not check_context("proxy_passs", "location")
    assert definition_for("proxy_passs", "location") is None


# -- arguments ---------------------------------------------------------------------


def test_upstream_keepalive_takes_a_second_argument_only_since_1_29_7() -> None:
    assert check_arg_count("keepalive", "upstream", 1, "1.29.6")
    assert not check_arg_count("keepalive", "upstream", 2, "1.29.6")
    assert check_arg_count("keepalive", "upstream", 2, "1.29.7")
    assert not check_arg_count("keepalive", "upstream", 3, "1.29.7")
    assert not check_arg_count("keepalive", "upstream", 0, "1.29.7")


def test_arg_count_is_none_when_the_directive_does_not_fit_the_context() -> None:
    assert check_arg_count("proxy_pass", "server", 1) is None
    assert check_arg_count("proxy_passs", "location", 1) is None


def test_unbounded_arguments() -> None:
    assert check_arg_count("proxy_next_upstream", "location", 5)
    assert not check_arg_count("proxy_next_upstream", "location", 0)


def test_flag_directive_takes_exactly_one_on_or_off() -> None:
    assert check_arg_count("sendfile", "http", 1)
    assert not check_arg_count("sendfile", "http", 2)
    assert check_flag_value("sendfile", "http", "on")
    assert check_flag_value("sendfile", "http", "OFF")  # nginx compares case-insensitively
    assert check_flag_value("sendfile", "http", "yes") is False


def test_flag_check_does_not_apply_to_enums_or_scalars() -> None:
    assert check_flag_value("ssl_ocsp", "server", "leaf") is None  # on | off | leaf
    assert check_flag_value("proxy_read_timeout", "location", "on") is None


def test_ssl_directive_still_needed_on_or_off_through_its_custom_handler() -> None:
    assert check_flag_value("ssl", "server", "maybe", "1.24.0") is False
    assert check_flag_value("ssl", "server", "on", "1.24.0")


def test_arg_rule_describes_itself_for_messages() -> None:
    rule = directives.arg_rule("keepalive", "upstream", "1.29.7")
    assert rule is not None and rule.describe() == "1 to 2 arguments"
    flag = directives.arg_rule("sendfile", "http")
    assert flag is not None and flag.describe() == "on or off"


# -- blocks ------------------------------------------------------------------------


def test_block_flags_depend_on_context() -> None:
    assert is_block("location", "server") is True
    assert is_block("server", "http") is True
    assert is_block("server", "upstream") is False  # upstream's `server host;`
    assert is_block("proxy_pass", "location") is False
    assert is_block("proxy_pass", "server") is None


def test_data_blocks_have_custom_bodies() -> None:
    for name in ("map", "geo", "types", "split_clients", "charset_map"):
        assert has_custom_body(name), name
    for name in ("location", "server", "upstream", "if", "http"):
        assert not has_custom_body(name), name


# -- values, defaults, inheritance --------------------------------------------------


def test_array_directives_replace_inherited_values() -> None:
    for name in (
        "proxy_set_header",
        "fastcgi_param",
        "uwsgi_param",
        "scgi_param",
        "grpc_set_header",
        "add_header",
        "add_trailer",
        "proxy_ssl_conf_command",
        "allow",
        "deny",
        "error_page",
        "limit_req",
        "limit_conn",
        "sub_filter",
        "xslt_param",
        "proxy_hide_header",
        "proxy_pass_header",
    ):
        assert is_array_directive(name), name
    for name in ("proxy_read_timeout", "proxy_pass", "resolver", "listen", "server_name", "proxy_buffers"):
        assert not is_array_directive(name), name


def test_allow_and_deny_share_one_inherited_list() -> None:
    assert shared_array("deny") == {"allow", "deny"}
    assert shared_array("proxy_set_header") == {"proxy_set_header"}
    assert shared_array("proxy_read_timeout") == frozenset()


def test_defaults_and_value_kinds() -> None:
    assert default_text("proxy_read_timeout") == "60s"
    assert default_text("keepalive") == "32 local"
    assert default_text("proxy_passs") is None
    assert value_kind("proxy_read_timeout", "location") == "time_ms"
    assert value_kind("proxy_buffer_size", "location") == "size"
    assert value_kind("proxy_pass", "location") is None  # custom parser
    assert directives.enum_values("proxy_http_version", "location") == ("1.0", "1.1", "2")


def test_obsolete_directives_are_flagged() -> None:
    assert is_obsolete("http2_push")
    assert not is_obsolete("proxy_pass")
    assert not is_obsolete("proxy_passs")


# -- documentation -------------------------------------------------------------------


def test_doc_urls_follow_the_module_pages() -> None:
    base = "https://nginx.org/en/docs/"
    assert doc_url("proxy_read_timeout") == base + "http/ngx_http_proxy_module.html#proxy_read_timeout"
    assert doc_url("worker_connections") == base + "ngx_core_module.html#worker_connections"
    # ngx_http_upstream_keepalive_module is documented on the upstream module's page.
    assert doc_url("keepalive") == base + "http/ngx_http_upstream_module.html#keepalive"
    assert doc_url("proxy_pass", "stream_server") == base + "stream/ngx_stream_proxy_module.html#proxy_pass"
    assert doc_url("js_import") == base + "http/ngx_http_js_module.html#js_import"
    assert doc_url("post_action") == base + "dirindex.html"  # undocumented


def test_doc_only_directives_name_what_provides_them() -> None:
    assert doc_only_info("proxy_cache_purge") == "NGINX Plus only"
    assert doc_only_info("health_check") == "NGINX Plus only"
    assert doc_only_info("auth_jwt") == "NGINX Plus only"
    assert doc_only_info("js_import") == "njs module"
    assert doc_only_info("otel_trace") == "nginx-otel module"
    assert doc_only_info("proxy_pass") is None
    assert not known("proxy_cache_purge")


# -- did you mean ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "expected"),
    [
        ("proxy_passs", "proxy_pass"),
        ("proxy_read_timout", "proxy_read_timeout"),
        ("fastcgii_read_timeout", "fastcgi_read_timeout"),
        ("server_nam", "server_name"),
        ("worker_connection", "worker_connections"),
        ("Proxy_Pass", "proxy_pass"),
        ("client_max_body", "client_max_body_size"),
    ],
)
def test_suggest_puts_the_intended_name_first(typo: str, expected: str) -> None:
    assert suggest(typo)[0] == expected


def test_suggest_prefers_the_typos_own_family() -> None:
    proposals = suggest("uwsgi_read_timout", limit=3)
    assert proposals[0] == "uwsgi_read_timeout"
    assert all(name.startswith("uwsgi_") for name in proposals[:2])


def test_suggest_respects_context_and_version() -> None:
    # proxy_timeout is stream-only; in a location the http family is what was meant.
    assert suggest("proxy_timout")[0] == "proxy_timeout"
    assert "proxy_timeout" not in suggest("proxy_timout", context="location")
    assert suggest("spdy_headers_com") == []
    assert suggest("spdy_headers_com", version="1.9.0") == ["spdy_headers_comp"]


def test_suggest_gives_nothing_for_unrelated_text() -> None:
    assert suggest("zzzzqqqq") == []
    assert suggest("proxy_pass", limit=0) == []


# -- data file and loading --------------------------------------------------------------


def test_shipped_data_uses_the_lazy_layout_and_matches_a_full_decode() -> None:
    text = shipped_text()
    full = json.loads(text)
    lazy = split_sections(text)
    assert lazy is not None, "gen_directives.py layout changed: the loader fell back to a full decode"
    assert set(lazy) == set(full)
    for section in ("directives", "doc_only", "removed_before_1x"):
        assert set(lazy[section]) == set(full[section])
        for name, raw in lazy[section].items():
            assert json.loads(raw) == full[section][name], name


def test_full_decode_fallback_answers_the_same() -> None:
    # Any other layout (e.g. re-indented by hand) must still load.
    compact = json.dumps(json.loads(shipped_text()))
    assert split_sections(compact) is None
    fallback = Directives.from_text(compact)
    assert fallback.check_context("resolver", "upstream", "1.27.3")
    assert not fallback.check_context("resolver", "upstream", "1.27.2")
    assert fallback.suggest("proxy_passs")[0] == "proxy_pass"


def test_table_is_loaded_once() -> None:
    assert directives.table() is directives.table()


def test_shipped_data_is_small() -> None:
    assert len(shipped_text().encode("utf-8")) < 300_000


# -- generator -------------------------------------------------------------------------------


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_directives", REPO_ROOT / "scripts" / "gen_directives.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def synthetic_definition(**overrides: Any) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "module": "ngx_http_demo_module",
        "contexts": ["http"],
        "args": {"min": 1, "max": 1},
        "block": False,
        "added": "0.8.0",
        "removed": None,
        "handler": "ngx_conf_set_str_slot",
        "value": "string",
        "optional_module": False,
        "default_build": True,
        "default": None,
        "doc_module": "ngx_http_demo_module",
    }
    definition.update(overrides)
    return definition


def synthetic_source() -> dict[str, Any]:
    grown = synthetic_definition(
        contexts=["http", "upstream"],
        args={"min": 1, "max": None},
        value="keyval_array",
        handler="ngx_http_demo_obsolete",
        absent_in=[["0.8.2", "0.8.3"], ["1.0.5", "1.0.6"]],
        history=[
            {"since": "0.8.0", "contexts": ["http"], "args": {"min": 1, "max": 1}, "block": False},
            {"since": "0.9.0", "contexts": ["http"], "args": {"min": 1, "max": 2}, "block": False},
            {"since": "1.1.0", "contexts": ["http", "upstream"], "args": {"min": 1, "max": None}, "block": False},
        ],
    )
    steady = synthetic_definition(
        history=[
            {"since": "0.8.0", "contexts": ["http"], "args": {"min": 0, "max": 0}, "block": False},
            {"since": "0.9.0", "contexts": ["http"], "args": {"min": 1, "max": 1}, "block": False},
        ]
    )
    return {
        "nginx_commits": {},
        "docs_commit": "0" * 40,
        "versions": ["0.8.0", "0.9.0", "1.0.0", "1.1.0"],
        "directives": {
            "demo_grown": {
                "added": "0.8.0",
                "removed": None,
                "default": "x",
                "doc_module": "ngx_http_demo_module",
                "context_added": {"upstream": "1.1.0", "mail": "0.8.5"},
                "defs": [grown],
            },
            "demo_steady": {"added": "0.8.0", "removed": None, "default": None, "doc_module": None, "defs": [steady]},
            "demo_gone": {
                "added": "0.5.0",
                "removed": "0.9.0",
                "default": None,
                "doc_module": None,
                "defs": [synthetic_definition(added="0.5.0", removed="0.9.0")],
            },
        },
        "doc_only_directives": {
            "js_demo": {"doc_modules": ["ngx_http_js_module"], "commercial": False},
            "plus_demo": {"doc_modules": ["ngx_http_api_module"], "commercial": False},
        },
    }


def test_generator_keeps_only_what_matters_from_1_0_on() -> None:
    generator = load_generator()
    data = generator.build(synthetic_source())

    assert data["versions"] == ["1.0.0", "1.1.0"]
    assert data["latest"] == "1.1.0"
    assert "demo_gone" not in data["directives"]
    assert data["removed_before_1x"]["demo_gone"] == {"added": "0.5.0", "removed": "0.9.0"}

    grown = data["directives"]["demo_grown"]
    assert grown["context_since"] == {"upstream": "1.1.0"}
    definition = grown["defs"][0]
    assert [entry["since"] for entry in definition["history"]] == ["0.9.0", "1.1.0"]
    assert definition["absent_in"] == [["1.0.5", "1.0.6"]]
    assert definition["array"] is True
    assert definition["obsolete"] is True
    assert "handler" not in definition

    steady = data["directives"]["demo_steady"]["defs"][0]
    assert "history" not in steady  # its only change happened before 1.0.0

    assert data["doc_only"]["js_demo"]["info"] == "njs module"
    assert data["doc_only"]["plus_demo"]["info"] == "NGINX Plus only"


def test_generator_output_is_deterministic_and_lazily_readable() -> None:
    generator = load_generator()
    text = generator.render(generator.build(synthetic_source()))
    assert text == generator.render(generator.build(synthetic_source()))
    table = Directives.from_text(text)
    assert split_sections(text) is not None
    assert table.check_context("demo_grown", "upstream", "1.1.0")
    assert not table.check_context("demo_grown", "upstream", "1.0.0")
    assert table.check_arg_count("demo_grown", "http", 2, "1.0.0")
    assert not table.check_arg_count("demo_grown", "http", 3, "1.0.0")
    assert not table.known("demo_grown", "1.0.5")


def test_generator_reports_curated_names_missing_from_the_source() -> None:
    generator = load_generator()
    source = synthetic_source()
    assert "proxy_redirect" in generator.unknown_curated_names(source)
    source["directives"]["proxy_redirect"] = source["directives"]["demo_steady"]
    assert "proxy_redirect" not in generator.unknown_curated_names(source)


# -- agreement with the real nginx ------------------------------------------------------------

# Where each context is, as a config skeleton around one probe line.
SKELETONS = {
    "main": "{probe}\nevents {{}}\n",
    "events": "events {{\n{probe}\n}}\n",
    "http": "events {{}}\nhttp {{\n{probe}\n}}\n",
    "server": "events {{}}\nhttp {{\nserver {{\n{probe}\n}}\n}}\n",
    "location": "events {{}}\nhttp {{\nserver {{\nlocation / {{\n{probe}\n}}\n}}\n}}\n",
    "upstream": "events {{}}\nhttp {{\nupstream backend {{\nserver 127.0.0.1:9;\n{probe}\n}}\n}}\n",
    "server_if": "events {{}}\nhttp {{\nserver {{\nif ($request_method = POST) {{\n{probe}\n}}\n}}\n}}\n",
    "location_if": (
        "events {{}}\nhttp {{\nserver {{\nlocation / {{\nif ($request_method = POST) {{\n{probe}\n}}\n}}\n}}\n}}\n"
    ),
    "limit_except": "events {{}}\nhttp {{\nserver {{\nlocation / {{\nlimit_except GET {{\n{probe}\n}}\n}}\n}}\n}}\n",
}

# Directives of modules every nginx build has (core, events, proxy, fastcgi, upstream,
# rewrite, access, headers, log, ...), with arguments nginx accepts where they fit.
PROBES = {
    "worker_processes": "worker_processes 1;",
    "worker_rlimit_nofile": "worker_rlimit_nofile 1024;",
    "worker_connections": "worker_connections 512;",
    "multi_accept": "multi_accept on;",
    "error_log": "error_log stderr;",
    "include": "include no-such-file-*.conf;",
    "keepalive_timeout": "keepalive_timeout 65;",
    "keepalive_requests": "keepalive_requests 100;",
    "client_max_body_size": "client_max_body_size 1m;",
    "sendfile": "sendfile on;",
    "server_name": "server_name example.com;",
    "listen": "listen 8080;",
    "root": "root /tmp;",
    "alias": "alias /tmp/;",
    "internal": "internal;",
    "try_files": "try_files $uri =404;",
    "error_page": "error_page 502 /502.html;",
    "resolver": "resolver 127.0.0.1;",
    "resolver_timeout": "resolver_timeout 5s;",
    "location": "location /probe { }",
    "limit_except": "limit_except GET { }",
    "if": "if ($uri) { }",
    "upstream": "upstream probe { server 127.0.0.1:9; }",
    "proxy_pass": "proxy_pass http://127.0.0.1:9;",
    "proxy_read_timeout": "proxy_read_timeout 60s;",
    "proxy_connect_timeout": "proxy_connect_timeout 5s;",
    "proxy_set_header": "proxy_set_header Host $host;",
    "proxy_buffering": "proxy_buffering on;",
    "proxy_buffer_size": "proxy_buffer_size 8k;",
    "proxy_http_version": "proxy_http_version 1.1;",
    "proxy_next_upstream": "proxy_next_upstream error timeout;",
    "fastcgi_pass": "fastcgi_pass 127.0.0.1:9000;",
    "fastcgi_param": "fastcgi_param SCRIPT_FILENAME $request_filename;",
    "fastcgi_read_timeout": "fastcgi_read_timeout 60s;",
    "uwsgi_pass": "uwsgi_pass 127.0.0.1:9001;",
    "keepalive": "keepalive 16;",
    "least_conn": "least_conn;",
    "ip_hash": "ip_hash;",
    "return": "return 502;",
    "rewrite": "rewrite ^ /x;",
    "set": "set $probe 1;",
    "break": "break;",
    "add_header": "add_header X-Probe 1;",
    "allow": "allow 127.0.0.1;",
    "deny": "deny all;",
    "access_log": "access_log off;",
}


def not_allowed_here(name: str, stderr: str) -> bool:
    return f'"{name}" directive is not allowed here' in stderr


@pytest.mark.parametrize("name", sorted(PROBES))
def test_contexts_agree_with_nginx_1_22_1(name: str, tmp_path: Path) -> None:
    nginx = require_nginx()
    assert known(name, DEBIAN_NGINX), f"{name} should exist in {DEBIAN_NGINX}"
    disagreements = []
    for context, skeleton in SKELETONS.items():
        _, stderr = nginx_test(skeleton.format(probe=PROBES[name]), tmp_path / context, nginx)
        assert f'unknown directive "{name}"' not in stderr, stderr
        nginx_accepts = not not_allowed_here(name, stderr)
        if check_context(name, context, DEBIAN_NGINX) != nginx_accepts:
            disagreements.append(f"{context}: nginx {'accepts' if nginx_accepts else 'rejects'}: {stderr.strip()}")
    assert not disagreements, "\n".join(disagreements)


@pytest.mark.parametrize(
    ("context", "probe", "name", "n_args"),
    [
        ("upstream", "keepalive 16 local;", "keepalive", 2),  # second argument only since 1.29.7
        ("upstream", "keepalive 16;", "keepalive", 1),
        ("location", "proxy_read_timeout 60s 70s;", "proxy_read_timeout", 2),
        ("location", "proxy_pass;", "proxy_pass", 0),
        ("upstream", "least_conn x;", "least_conn", 1),
        ("location", "add_header X-Probe 1 always;", "add_header", 3),
        ("location", "return 302 /x extra;", "return", 3),
        ("http", "sendfile on off;", "sendfile", 2),
        ("location", "proxy_next_upstream;", "proxy_next_upstream", 0),
    ],
)
def test_argument_counts_agree_with_nginx_1_22_1(
    context: str, probe: str, name: str, n_args: int, tmp_path: Path
) -> None:
    _, stderr = nginx_test(SKELETONS[context].format(probe=probe), tmp_path, require_nginx())
    assert not not_allowed_here(name, stderr), stderr
    nginx_accepts = f'invalid number of arguments in "{name}" directive' not in stderr
    assert check_arg_count(name, context, n_args, DEBIAN_NGINX) == nginx_accepts, stderr


@pytest.mark.parametrize(("value", "accepted"), [("on", True), ("ON", True), ("yes", False), ("1", False)])
def test_flag_values_agree_with_nginx_1_22_1(value: str, accepted: bool, tmp_path: Path) -> None:
    _, stderr = nginx_test(SKELETONS["http"].format(probe=f"sendfile {value};"), tmp_path, require_nginx())
    nginx_accepts = 'in "sendfile" directive, it must be "on" or "off"' not in stderr
    assert nginx_accepts is accepted, stderr
    assert check_flag_value("sendfile", "http", value, DEBIAN_NGINX) is accepted


@pytest.mark.parametrize(
    ("name", "probe"),
    [
        ("http2", "http2 on;"),
        ("proxy_pass_trailers", "proxy_pass_trailers on;"),
        ("early_hints", "early_hints $http2;"),
    ],
)
def test_directives_newer_than_1_22_1_are_unknown_to_it(name: str, probe: str, tmp_path: Path) -> None:
    _, stderr = nginx_test(SKELETONS["server"].format(probe=probe), tmp_path, require_nginx())
    assert f'unknown directive "{name}"' in stderr, stderr
    assert not known(name, DEBIAN_NGINX)
    assert known(name)
