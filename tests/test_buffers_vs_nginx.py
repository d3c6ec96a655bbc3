"""B202 must agree with the real `nginx -t` on every buffer combination, and its fixes must load."""
from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from nginx_502lint.engine import LintSettings, Registry
from nginx_502lint.lint import Input, lint
from nginx_502lint.parse import format_directive
from nginx_tools import nginx_test, require_nginx

BUFFER_SIZES = [None, "4k", "16k", "64k"]
BUFFERS = [None, ("1", "4k"), ("2", "4k"), ("8", "4k"), ("4", "8k"), ("4", "256k")]
BUSY = [None, "4k", "12k", "16k", "28k", "32k", "768k"]
TEMP_WRITE = [None, "4k", "64k"]
MAX_TEMP = [None, "0", "8k"]


def _combos() -> list[dict[str, object]]:
    combos = []
    for size, bufs, busy in itertools.product(BUFFER_SIZES, BUFFERS, BUSY):
        combos.append({"buffer_size": size, "buffers": bufs, "busy_buffers_size": busy})
    for temp, max_temp, size in itertools.product(TEMP_WRITE, MAX_TEMP, ["16k", "64k"]):
        combos.append({"buffer_size": size, "buffers": ("8", "16k"), "busy_buffers_size": "32k" if size == "16k" else "128k",
                       "temp_file_write_size": temp, "max_temp_file_size": max_temp})
    return combos


def _directives(module: str, combo: dict[str, object]) -> list[str]:
    lines = []
    for key, value in combo.items():
        if value is None:
            continue
        args = list(value) if isinstance(value, tuple) else [str(value)]
        lines.append(format_directive(f"{module}_{key}", args))
    return lines


def _config(location_lines: list[str], http_lines: list[str] = ()) -> str:  # type: ignore[assignment]
    inner = "\n".join(f"            {line}" for line in location_lines)
    outer = "\n".join(f"    {line}" for line in http_lines)
    return (
        "events {}\nhttp {\n" + outer + "\n    server {\n        listen 127.0.0.1:8080;\n"
        "        location / {\n            proxy_pass http://127.0.0.1:9;\n" + inner + "\n        }\n    }\n}\n"
    )


def _b202(text: str) -> list:
    registry = Registry.default(entry_points=False)
    return lint([Input("nginx.conf", text)], LintSettings(), registry, ["B202"]).findings


COMBOS = _combos()


@pytest.mark.parametrize("combo", COMBOS, ids=[str(i) for i in range(len(COMBOS))])
def test_b202_fires_exactly_when_nginx_rejects_the_buffers(combo: dict[str, object], tmp_path: Path) -> None:
    require_nginx()
    text = _config(_directives("proxy", combo))
    accepted, stderr = nginx_test(text, tmp_path)
    findings = _b202(text)
    assert bool(findings) == (not accepted), f"nginx: {stderr.strip()}\nlinter: {[f.message for f in findings]}"
    if findings:
        nginx_message = stderr.split("[emerg] ", 1)[1].split(" in /", 1)[0]
        assert nginx_message in findings[0].message


@pytest.mark.parametrize("combo", [c for c in COMBOS if c.get("buffers") != ("1", "4k")][::3], ids=lambda c: str(COMBOS.index(c)))
def test_b202_fix_is_accepted_by_nginx(combo: dict[str, object], tmp_path: Path) -> None:
    require_nginx()
    text = _config(_directives("proxy", combo))
    findings = _b202(text)
    if not findings:
        return
    fixed_lines = {line.split()[0]: line for line in _directives("proxy", combo)}
    for edit in findings[0].fix.edits:
        for directive in edit.text.split(";"):
            if directive.strip():
                fixed_lines[directive.split()[0]] = directive.strip() + ";"
    fixed = _config(list(fixed_lines.values()))
    accepted, stderr = nginx_test(fixed, tmp_path)
    assert accepted, f"fix {findings[0].fix.description!r} rejected: {stderr}"
    assert not _b202(fixed)


def test_inherited_explicit_busy_size_is_rechecked_in_each_location(tmp_path: Path) -> None:
    text = _config(["proxy_buffers 4 4k;"], ["proxy_busy_buffers_size 16k;"])
    accepted, stderr = nginx_test(text, tmp_path)
    findings = _b202(text)
    assert not accepted and "minus one buffer" in stderr
    assert findings and "minus one buffer" in findings[0].message
    assert findings[0].line == 3  # the http-level directive that breaks the location


def test_fastcgi_module_checks_match_nginx(tmp_path: Path) -> None:
    text = _config([]).replace("proxy_pass http://127.0.0.1:9;", "fastcgi_pass 127.0.0.1:9000; fastcgi_buffer_size 32k;")
    accepted, stderr = nginx_test(text, tmp_path)
    findings = _b202(text)
    assert not accepted and '"fastcgi_busy_buffers_size"' in stderr
    assert findings and '"fastcgi_busy_buffers_size"' in findings[0].message
