"""Derive the linter's compact directive table from the shared nginx-directives.json.

Usage:
    python scripts/gen_directives.py [SOURCE_JSON] [--output PATH] [--check]

SOURCE_JSON defaults to ../shared/data/nginx-directives.json next to the repository;
the output is src/nginx_502lint/data/directives.json. `--check` writes nothing and exits
with status 1 when the committed output is stale.

The source describes every nginx release since 0.1.0 and carries audit fields (C handler
names, raw flag expressions, doc syntax lines). The linter targets 1.x releases and needs
only contexts, argument rules, blocks, versions, value kinds and defaults, so everything
else is dropped and pre-1.0.0 history is folded away.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO_ROOT / ".." / "shared" / "data" / "nginx-directives.json"
DEFAULT_OUTPUT = REPO_ROOT / "src" / "nginx_502lint" / "data" / "directives.json"

FIRST_SUPPORTED = (1, 0, 0)
SCHEMA_VERSION = 1

# Directives whose repeated values live in one array that a level replaces wholesale
# (the merge function copies the parent's array only when the level set none).
# Standard setters are caught by their value kind (string_array / keyval_array); these
# use custom handlers, so the source data cannot tell. Each was checked against the
# *_merge_*conf function in the nginx source.
CUSTOM_HANDLER_ARRAYS = frozenset(
    {
        "access_log",  # log module: `if (conf->logs || conf->off) return` else parent's
        "add_header",  # headers filter: conf->headers == NULL -> parent's
        "add_trailer",
        "allow",  # access module: allow and deny share conf->rules
        "deny",
        "auth_request_set",  # ngx_conf_merge_ptr_value(conf->vars, ...)
        "error_log",  # http core: conf->error_log == NULL -> parent's
        "error_page",  # http core: conf->error_pages == NULL -> parent's
        "fastcgi_param",  # upstream params: params_source == NULL -> parent's
        "scgi_param",
        "uwsgi_param",
        "fastcgi_cache_bypass",  # predicates: ngx_conf_merge_ptr_value
        "fastcgi_no_cache",
        "fastcgi_cache_valid",
        "proxy_cache_bypass",
        "proxy_no_cache",
        "proxy_cache_valid",
        "scgi_cache_bypass",
        "scgi_no_cache",
        "scgi_cache_valid",
        "uwsgi_cache_bypass",
        "uwsgi_no_cache",
        "uwsgi_cache_valid",
        "gzip_disable",  # appends across directives, ngx_conf_merge_ptr_value
        "index",  # conf->indices == NULL -> parent's
        "limit_conn",  # conf->limits.elts == NULL -> parent's
        "limit_req",
        "mirror",  # ngx_conf_merge_ptr_value(conf->mirror, ...)
        "proxy_cookie_domain",  # ngx_conf_merge_ptr_value
        "proxy_cookie_flags",
        "proxy_cookie_path",
        "proxy_redirect",  # conf->redirects == NULL -> parent's
        "set_real_ip_from",  # conf->from == NULL -> parent's
        "sub_filter",  # conf->matches == NULL -> parent's
        "xslt_param",  # conf->params == NULL -> parent's
        "xslt_string_param",
        "xslt_stylesheet",  # conf->sheets.nelts == 0 -> parent's
    }
)

# Handlers that only warn that the directive is obsolete and ignore it.
OBSOLETE_HANDLER_MARKERS = ("_obsolete", "_deprecated", "_unsupported")

# Custom handlers that end in ngx_conf_set_flag_slot, so their single argument must be
# on/off just like a plain flag directive.
FLAG_SLOT_WRAPPERS = frozenset({"ngx_http_ssl_enable", "ngx_mail_ssl_enable"})

# doc_only_directives modules that ship outside NGINX Plus; every other doc-only module
# is part of the commercial subscription (the source's `commercial` flag is only set for
# single commercial directives inside open-source modules, e.g. proxy_cache_purge).
SEPARATE_MODULE_INFO = {
    "ngx_http_js_module": "njs module",
    "ngx_stream_js_module": "njs module",
    "ngx_http_acme_module": "nginx-acme module",
    "ngx_otel_module": "nginx-otel module",
}
NGINX_PLUS_INFO = "NGINX Plus only"


def parse_version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def is_supported(version: str | None) -> bool:
    return version is not None and parse_version(version) >= FIRST_SUPPORTED


def exists_in_1x(definition: dict[str, Any]) -> bool:
    removed = definition.get("removed")
    return removed is None or parse_version(removed) > FIRST_SUPPORTED


def compact_args(args: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in args.items() if value is not None or key == "max"}


def compact_history(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the entry in effect at 1.0.0 and every later change; [] if nothing changed in 1.x."""
    in_effect_at_1x = [entry for entry in history if not is_supported(entry["since"])][-1:]
    kept = in_effect_at_1x + [entry for entry in history if is_supported(entry["since"])]
    if len(kept) <= 1:
        return []
    compacted = []
    for entry in kept:
        item: dict[str, Any] = {
            "since": entry["since"],
            "contexts": entry["contexts"],
            "args": compact_args(entry["args"]),
        }
        if entry.get("block"):
            item["block"] = True
        compacted.append(item)
    return compacted


def compact_definition(name: str, definition: dict[str, Any], primary: dict[str, Any]) -> dict[str, Any]:
    compact: dict[str, Any] = {
        "module": definition["module"],
        "contexts": definition["contexts"],
        "args": compact_args(definition["args"]),
        "added": definition["added"],
    }
    if definition.get("removed"):
        compact["removed"] = definition["removed"]
    absent = [gap for gap in definition.get("absent_in", []) if is_supported(gap[1])]
    if absent:
        compact["absent_in"] = absent
    history = compact_history(definition.get("history", []))
    if history:
        compact["history"] = history
    if definition.get("block"):
        compact["block"] = True
        compact["block_content"] = definition.get("block_content", "directives")
    handler = definition.get("handler") or ""
    value = definition.get("value")
    if handler in FLAG_SLOT_WRAPPERS:
        value = "flag"
    if value:
        compact["value"] = value
    if definition.get("values"):
        compact["values"] = definition["values"]
    if value in ("string_array", "keyval_array") or name in CUSTOM_HANDLER_ARRAYS:
        compact["array"] = True
    if handler.endswith(OBSOLETE_HANDLER_MARKERS):
        compact["obsolete"] = True
    # Defaults and doc pages repeat the directive-level ones for most definitions:
    # store them only where a definition differs (stream/mail twins of http directives).
    if definition.get("default") != primary.get("default") and definition.get("default") is not None:
        compact["default"] = definition["default"]
    if definition.get("doc_module") != primary.get("doc_module") and definition.get("doc_module"):
        compact["doc_module"] = definition["doc_module"]
    if definition.get("optional_module"):
        compact["optional_module"] = True
    if not definition.get("default_build"):
        compact["default_build"] = False
    if definition.get("requires"):
        compact["requires"] = definition["requires"]
    return compact


def compact_directive(name: str, directive: dict[str, Any]) -> dict[str, Any] | None:
    definitions = [item for item in directive["defs"] if exists_in_1x(item)]
    if not definitions:
        return None
    entry: dict[str, Any] = {
        "added": directive["added"],
        "defs": [compact_definition(name, item, directive) for item in definitions],
    }
    if directive.get("removed"):
        entry["removed"] = directive["removed"]
    if directive.get("default") is not None:
        entry["default"] = directive["default"]
    if directive.get("doc_module"):
        entry["doc_module"] = directive["doc_module"]
    context_since = {
        context: version
        for context, version in directive.get("context_added", {}).items()
        if is_supported(version) and parse_version(version) > parse_version(directive["added"])
    }
    if context_since:
        entry["context_since"] = context_since
    context_until = {
        context: version for context, version in directive.get("context_removed", {}).items() if is_supported(version)
    }
    if context_until:
        entry["context_until"] = context_until
    return entry


def doc_only_entry(info: dict[str, Any]) -> dict[str, Any]:
    modules = info["doc_modules"]
    separate = [SEPARATE_MODULE_INFO[module] for module in modules if module in SEPARATE_MODULE_INFO]
    return {
        "modules": modules,
        "commercial": bool(info.get("commercial")),
        "info": separate[0] if separate else NGINX_PLUS_INFO,
    }


def unknown_curated_names(source: dict[str, Any]) -> list[str]:
    """Curated names the source does not know: a typo here would silently drop a flag."""
    return sorted(name for name in CUSTOM_HANDLER_ARRAYS if name not in source["directives"])


def build(source: dict[str, Any]) -> dict[str, Any]:
    directives: dict[str, Any] = {}
    removed_before_1x: dict[str, Any] = {}
    for name, directive in source["directives"].items():
        entry = compact_directive(name, directive)
        if entry is None:
            removed_before_1x[name] = {"added": directive["added"], "removed": directive["removed"]}
        else:
            directives[name] = entry
    versions = [version for version in source["versions"] if is_supported(version)]
    return {
        "schema": SCHEMA_VERSION,
        "source": {
            "nginx_commits": source.get("nginx_commits"),
            "docs_commit": source.get("docs_commit"),
        },
        "latest": versions[-1],
        "versions": versions,
        "directives": directives,
        "removed_before_1x": removed_before_1x,
        "doc_only": {name: doc_only_entry(info) for name, info in source["doc_only_directives"].items()},
    }


def render(data: dict[str, Any]) -> str:
    """Sorted, compact JSON with one directive per line so regenerations diff readably."""

    def dump(value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    lines = ["{"]
    keys = sorted(data)
    for index, key in enumerate(keys):
        comma = "," if index < len(keys) - 1 else ""
        value = data[key]
        if isinstance(value, dict) and key in ("directives", "doc_only", "removed_before_1x"):
            lines.append(f"{dump(key)}:{{")
            names = sorted(value)
            for name_index, name in enumerate(names):
                inner_comma = "," if name_index < len(names) - 1 else ""
                lines.append(f"{dump(name)}:{dump(value[name])}{inner_comma}")
            lines.append(f"}}{comma}")
        else:
            lines.append(f"{dump(key)}:{dump(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="fail if the output is out of date")
    options = parser.parse_args(argv)

    with options.source.open(encoding="utf-8") as handle:
        source = json.load(handle)
    missing = unknown_curated_names(source)
    if missing:
        print(f"array directives unknown to {options.source}: {', '.join(missing)}", file=sys.stderr)
        return 2
    text = render(build(source))
    if options.check:
        current = options.output.read_text(encoding="utf-8") if options.output.exists() else ""
        if current != text:
            print(f"{options.output} is stale: run scripts/gen_directives.py", file=sys.stderr)
            return 1
        return 0
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(text, encoding="utf-8")
    print(f"wrote {options.output} ({len(text.encode('utf-8'))} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
