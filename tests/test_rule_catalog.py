"""The rule pack honours the catalog contract: ids, slugs, severities, docs, option schemas, fixtures."""
from __future__ import annotations

import pytest

from nginx_502lint.engine import Registry, check_schema
from rule_fixtures import FIXTURES

# The stable public ids of ../shared/RULES.md (U390 belongs to the probe).
CATALOG = {
    "E001": ("syntax-error", "error"), "E002": ("unknown-directive", "error"),
    "E003": ("directive-not-allowed-here", "error"), "E004": ("pass-uri-not-allowed", "error"),
    "E005": ("invalid-pass-target", "error"), "E006": ("include-not-found", "info"),
    "T101": ("timeout-implicit", "info"), "T102": ("timeout-too-short", "warning"),
    "T103": ("timeout-too-long", "warning"), "T104": ("connect-timeout-ineffective", "warning"),
    "T105": ("timeout-vs-backend", "warning"), "T106": ("invalid-time-value", "error"),
    "B201": ("buffer-size-too-small", "warning"), "B202": ("buffer-constraints", "error"),
    "B203": ("invalid-size-value", "error"),
    "U301": ("localhost-ambiguous", "warning"), "U302": ("upstream-undefined", "error"),
    "U303": ("upstream-no-usable-server", "error"), "U304": ("no-live-upstreams-risk", "warning"),
    "U305": ("hostname-resolved-once", "warning"), "U306": ("variable-pass-without-resolver", "error"),
    "U307": ("scheme-port-mismatch", "warning"), "U308": ("unix-socket-in-tmp", "warning"),
    "U309": ("unroutable-address", "error"), "U310": ("unix-socket-missing", "error"),
    "U390": ("upstream-unreachable", "error"),
    "F401": ("fastcgi-socket-mismatch", "error"), "F402": ("fastcgi-socket-permission", "error"),
    "F403": ("pass-protocol-mismatch", "warning"), "F404": ("grpc-without-http2", "error"),
    "F405": ("fastcgi-script-filename-missing", "warning"),
    "K501": ("keepalive-without-http11", "warning"), "K502": ("keepalive-timeout-vs-backend", "warning"),
    "K503": ("next-upstream-off-with-keepalive", "warning"), "K504": ("fastcgi-keepalive-without-keep-conn", "info"),
    "S601": ("https-upstream-without-sni", "warning"), "S602": ("ssl-verify-misconfigured", "error"),
    "S603": ("ssl-protocols-mismatch", "warning"),
    "H701": ("array-directive-inheritance", "warning"), "H702": ("websocket-upgrade-missing", "info"),
}
SECTIONS = ("## What it does", "## Why it causes 502/504", "## Example", "## Use instead", "## When to ignore")
REGISTRY = Registry.default(entry_points=False)
SPECS = REGISTRY.all()


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_rule_matches_the_catalog(spec) -> None:  # type: ignore[no-untyped-def]
    if spec.id[0] == "X":
        return  # the linter's own meta rules are outside the 502 catalog
    assert spec.id in CATALOG, f"{spec.id} is not in RULES.md: never invent catalog ids"
    assert (spec.slug, str(spec.severity)) == CATALOG[spec.id]


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_rule_doc_page_has_every_section(spec) -> None:  # type: ignore[no-untyped-def]
    for heading in SECTIONS:
        assert heading in spec.doc, f"{spec.id} doc lacks {heading!r}"
    assert "```nginx" in spec.doc


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_rule_options_are_a_valid_json_schema_with_defaults(spec) -> None:  # type: ignore[no-untyped-def]
    check_schema(spec)
    for name, prop in spec.options_schema.get("properties", {}).items():
        assert "default" in prop, f"{spec.id} option {name} has no default"


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_rule_has_bad_and_good_fixtures(spec) -> None:  # type: ignore[no-untyped-def]
    folder = FIXTURES / spec.id
    names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    assert any(n.startswith("bad") for n in names), f"{spec.id} has no bad fixture in {folder}"
    assert any(n.startswith("good") for n in names), f"{spec.id} has no good fixture in {folder}"
