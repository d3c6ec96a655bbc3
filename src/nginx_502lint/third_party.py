"""Directives that come from outside open-source nginx: declared ones, and the clues a config gives.

Users declare third-party directives by name or glob (`lua_*`, `*_by_lua*`,
`more_set_headers`). Undeclared ones are still reported, but the config often says
where they come from: a `load_module` line, or OpenResty's `*_by_lua*` directives.
`FAMILIES` knows the common modules well enough to name them and to propose the
globs to declare; it never accepts a directive by itself, because only the user
knows what their nginx build really contains. Its globs stay clear of nginx's own
name prefixes (no `set_*`), so a typo of an nginx directive is never taken for a
module's.
"""
from __future__ import annotations

import fnmatch
import os
from typing import Iterable, NamedTuple

from .engine import LintSettings
from .model import Model
from .parse import Node


class Family(NamedTuple):  # not a dataclass, as every lint imports this: see findings.py
    title: str
    module_files: tuple[str, ...]  # load_module file names without ".so"
    patterns: tuple[str, ...]  # the globs a user declares for it

    def claims(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.patterns)


LUA = Family(
    "the OpenResty lua-nginx-module",
    ("ngx_http_lua_module", "ngx_stream_lua_module"),
    ("lua_*", "*_by_lua*"),
)

FAMILIES: tuple[Family, ...] = (
    LUA,
    Family("the njs module (nginx JavaScript)", ("ngx_http_js_module", "ngx_stream_js_module"), ("js_*",)),
    Family("the headers-more module", ("ngx_http_headers_more_filter_module",), ("more_*_headers",)),
    Family("the brotli module", ("ngx_http_brotli_filter_module", "ngx_http_brotli_static_module"), ("brotli", "brotli_*")),
    Family("the zstd module", ("ngx_http_zstd_filter_module", "ngx_http_zstd_static_module"), ("zstd", "zstd_*")),
    Family("the echo module", ("ngx_http_echo_module",), ("echo", "echo_*")),
    Family("the GeoIP2 module", ("ngx_http_geoip2_module", "ngx_stream_geoip2_module"), ("geoip2", "geoip2_*")),
    Family("the ModSecurity connector", ("ngx_http_modsecurity_module",), ("modsecurity", "modsecurity_*")),
    Family("the traffic status module", ("ngx_http_vhost_traffic_status_module",), ("vhost_traffic_status*",)),
    Family("the cache purge module", ("ngx_http_cache_purge_module",),
           ("proxy_cache_purge", "fastcgi_cache_purge", "uwsgi_cache_purge", "scgi_cache_purge")),
    Family("the substitutions filter module", ("ngx_http_subs_filter_module",), ("subs_filter", "subs_filter_types")),
    Family("the fancyindex module", ("ngx_http_fancyindex_module",), ("fancyindex", "fancyindex_*")),
    Family("the auth PAM module", ("ngx_http_auth_pam_module",), ("auth_pam", "auth_pam_*")),
    Family("the WebDAV ext module", ("ngx_http_dav_ext_module",), ("dav_ext_*",)),
    Family("the nchan module", ("ngx_nchan_module",), ("nchan_*",)),
    Family("the RTMP module", ("ngx_rtmp_module",), ("rtmp", "rtmp_*")),
    Family("the srcache module", ("ngx_http_srcache_filter_module",), ("srcache_*",)),
    Family("the upload progress module", ("ngx_http_uploadprogress_module",),
           ("upload_progress", "upload_progress_*", "track_uploads", "report_uploads")),
    Family("the PageSpeed module", ("ngx_pagespeed",), ("pagespeed",)),
    Family("the nginx-otel module", ("ngx_otel_module",), ("otel_*",)),
    Family("the nginx-acme module", ("ngx_http_acme_module",), ("acme_*",)),
)


def module_file(node: Node) -> str:
    """`modules/ngx_http_brotli_filter_module.so` -> `ngx_http_brotli_filter_module`."""
    base = os.path.basename(node.args[0]) if node.args else ""
    return base.removesuffix(".so")


class ThirdParty:
    """The run's declarations and the config's clues about modules from outside nginx."""

    __slots__ = ("declared_patterns", "load_modules", "lua_evidence")

    def __init__(self, declared_patterns: tuple[str, ...], load_modules: tuple[Node, ...],
                 lua_evidence: Node | None) -> None:
        self.declared_patterns = declared_patterns
        self.load_modules = load_modules
        self.lua_evidence = lua_evidence

    @classmethod
    def from_config(cls, model: Model, declared: Iterable[str]) -> ThirdParty:
        lua = next((node for name in model.names() if LUA.claims(name) for node in model.nodes(name)), None)
        return cls(tuple(declared), tuple(model.nodes("load_module")), lua)

    def declared(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.declared_patterns)

    def family_of(self, name: str) -> Family | None:
        return next((family for family in FAMILIES if family.claims(name)), None)

    def loader_of(self, family: Family) -> Node | None:
        return next((node for node in self.load_modules if module_file(node) in family.module_files), None)

    def hint(self, name: str, other_reason: bool = False) -> str | None:
        """Where an undeclared name most likely comes from, and how to declare it; None if no clue.

        With `other_reason` (a typo, a version, NGINX Plus) only a known family is worth a word:
        a `load_module` line elsewhere says nothing about this name.
        """
        family = self.family_of(name)
        if family is not None:
            loader = self.loader_of(family)
            if loader is not None:
                source = f" (loaded by `{loader.text()}` at {loader.where})"
            elif family is LUA and self.lua_evidence is not None and self.lua_evidence.name != name:
                source = f" (this config also uses `{self.lua_evidence.name}` at {self.lua_evidence.where})"
            else:
                source = ""
            return f"`{name}` belongs to {family.title}{source}; {declare_advice(family.patterns)}"
        if other_reason:
            return None
        if self.load_modules:
            loaded = ", ".join(f"{module_file(node)} ({node.where})" for node in self.load_modules[:3])
            more = ", …" if len(self.load_modules) > 3 else ""
            return f"if it comes from a loaded module ({loaded}{more}), {declare_advice((name,))}"
        if self.lua_evidence is not None:
            return (f"this config uses OpenResty (`{self.lua_evidence.name}` at {self.lua_evidence.where}); "
                    f"if `{name}` comes from an OpenResty module, {declare_advice((name,))}")
        return None


def declared_patterns(settings: LintSettings) -> list[str]:
    """What the run declares: the `known_directives` setting plus E002's `extra_directives` option.

    Every rule that must not judge third-party directives reads the same list, so users
    declare a module once.
    """
    options = settings.rule_options.get("E002") or settings.rule_options.get("unknown-directive") or {}
    return [*settings.known_directives, *options.get("extra_directives", ())]


def declare_advice(patterns: Iterable[str]) -> str:
    """How to declare: the config file's `known-directives` (E002's `extra_directives` option works too)."""
    listed = ", ".join(f'"{pattern}"' for pattern in patterns)
    return f"declare it in .nginx-502lint.toml: known-directives = [{listed}]"
