"""Suppression comments and per-file ignores, and the X901/X902 findings about them."""
from __future__ import annotations

from pathlib import Path

import pytest

from nginx_502lint.engine import LintSettings, Registry
from nginx_502lint.lint import lint_paths

REGISTRY = Registry.default(entry_points=False)
RULES = ("T102", "T103", "X901", "X902")

# T102 reports lines 5 (read timeout 2s) and 6 (send timeout 3s).
CONFIG = """\
upstream app {{ server 127.0.0.1:8080; }}
server {{
    listen 80;
    location /api/ {{
        proxy_read_timeout 2s;{read_comment}
        proxy_send_timeout 3s;{send_comment}
        proxy_pass http://app;
    }}
}}
"""


def config(read_comment: str = "", send_comment: str = "") -> str:
    return CONFIG.format(read_comment=read_comment, send_comment=send_comment)


def findings(tmp_path: Path, text: str, rules: tuple[str, ...] = RULES, *, registry: Registry = REGISTRY,
             settings: LintSettings | None = None, name: str = "nginx.conf") -> list[tuple[int, str]]:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    result = lint_paths([str(path)], settings or LintSettings(), registry=registry, rule_ids=list(rules))
    return [(f.line, f.rule) for f in result.findings]


def test_without_suppressions_both_timeouts_are_reported(tmp_path: Path) -> None:
    assert findings(tmp_path, config()) == [(5, "T102"), (6, "T102")]


def test_trailing_suppression_hides_the_finding_on_its_own_line_only(tmp_path: Path) -> None:
    text = config(read_comment="  # nginx-502lint: ignore T102 -- health probe must fail fast")
    assert findings(tmp_path, text) == [(6, "T102")]


def test_standalone_suppression_covers_the_next_directive_past_blank_and_comment_lines(tmp_path: Path) -> None:
    text = config().replace(
        "        proxy_send_timeout",
        "        # nginx-502lint: ignore T102 -- uploads are streamed\n\n        # ticket OPS-12\n        proxy_send_timeout",
    )
    assert findings(tmp_path, text) == [(5, "T102")]


@pytest.mark.parametrize("name", ["T102", "timeout-too-short", "T", "T1", "T103,T102", "T103 T102"])
def test_suppression_names_rules_by_id_slug_family_or_list(tmp_path: Path, name: str) -> None:
    text = config(read_comment=f"  # nginx-502lint: ignore {name} -- fail fast")
    assert (5, "T102") not in findings(tmp_path, text, ("T102", "X901"))


def test_ignore_file_covers_every_line_of_its_file_but_not_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "snippets").mkdir()
    (tmp_path / "snippets" / "timeouts.conf").write_text(
        "# nginx-502lint: ignore-file T102 -- vendored snippet, owned by the CDN team\n"
        "proxy_read_timeout 2s;\n"
    )
    text = config().replace("        proxy_read_timeout 2s;\n", "        include snippets/timeouts.conf;\n")
    assert findings(tmp_path, text) == [(6, "T102")]


def test_suppression_inside_an_included_file_applies_there(tmp_path: Path) -> None:
    (tmp_path / "snippets").mkdir()
    (tmp_path / "snippets" / "timeouts.conf").write_text(
        "proxy_read_timeout 2s;  # nginx-502lint: ignore T102 -- probe\nproxy_connect_timeout 100ms;\n"
    )
    text = config().replace("        proxy_read_timeout 2s;\n", "        include snippets/timeouts.conf;\n")
    (tmp_path / "nginx.conf").write_text(text)
    result = lint_paths([str(tmp_path / "nginx.conf")], registry=REGISTRY, rule_ids=list(RULES))
    assert sorted((Path(f.file).name, f.line, f.rule) for f in result.findings) == [
        ("nginx.conf", 6, "T102"), ("timeouts.conf", 2, "T102"),
    ]


def test_suppression_without_reason_still_suppresses_and_is_reported_as_x901(tmp_path: Path) -> None:
    text = config(read_comment="  # nginx-502lint: ignore T102")
    assert findings(tmp_path, text) == [(5, "X901"), (6, "T102")]


def test_reason_written_without_the_separator_counts_as_missing(tmp_path: Path) -> None:
    text = config(read_comment="  # nginx-502lint: ignore T102 probe must fail fast")
    path = tmp_path / "nginx.conf"
    path.write_text(text)
    result = lint_paths([str(path)], registry=REGISTRY, rule_ids=list(RULES))
    meta = [f for f in result.findings if f.rule == "X901"]
    assert [f.line for f in meta] == [5]
    assert "'probe must fail fast' without the separator" in meta[0].message
    assert "ignore T102 -- probe must fail fast" in meta[0].fix.description  # type: ignore[union-attr]


def test_unused_suppression_is_reported_when_its_rule_ran_and_found_nothing_there(tmp_path: Path) -> None:
    text = config().replace("        proxy_pass", "        proxy_connect_timeout 5s;  # nginx-502lint: ignore T102 -- old\n        proxy_pass")
    assert findings(tmp_path, text) == [(5, "T102"), (6, "T102"), (7, "X902")]


def test_only_the_unused_rule_of_a_suppression_is_reported(tmp_path: Path) -> None:
    text = config(read_comment="  # nginx-502lint: ignore T102,T103 -- probe")
    path = tmp_path / "nginx.conf"
    path.write_text(text)
    result = lint_paths([str(path)], registry=REGISTRY, rule_ids=list(RULES))
    assert [(f.line, f.rule) for f in result.findings] == [(5, "X902"), (6, "T102")]
    assert "suppression of T103 is unused" in result.findings[0].message


def test_unused_suppression_is_not_judged_when_its_rule_was_not_selected(tmp_path: Path) -> None:
    text = config().replace("        proxy_pass", "        proxy_connect_timeout 5s;  # nginx-502lint: ignore T103 -- old\n        proxy_pass")
    assert findings(tmp_path, text, ("T102", "X902")) == [(5, "T102"), (6, "T102")]


def test_unused_suppression_is_not_judged_when_its_rule_lacks_its_input(tmp_path: Path) -> None:
    rules_dir = tmp_path / "pack"
    rules_dir.mkdir()
    (rules_dir / "p999_pool_rule.py").write_text(
        '"""Fires only with a php-fpm pool."""\n'
        'ID, SLUG, SEVERITY, NEEDS = "P999", "pool-rule", "warning", ("pool",)\n'
        "def check(ctx):\n    yield from ()\n"
    )
    registry = Registry.default([str(rules_dir)], entry_points=False)
    text = config(read_comment="  # nginx-502lint: ignore T102, P999 -- pool socket is checked on the host")
    assert findings(tmp_path, text, ("T102", "P999", "X902"), registry=registry) == [(6, "T102")]
    with_pool = LintSettings(php_fpm=[str(tmp_path / "www.conf")])
    assert findings(tmp_path, text, ("T102", "P999", "X902"), registry=registry, settings=with_pool) == [
        (5, "X902"), (6, "T102"),
    ]


def test_unknown_rule_name_is_reported_even_when_nothing_else_ran(tmp_path: Path) -> None:
    text = config(read_comment="  # nginx-502lint: ignore T012 -- typo of T102")
    assert findings(tmp_path, text, ("X902",)) == [(5, "X902")]


@pytest.mark.parametrize("comment", [
    "# nginx-502lint: disable T102 -- another linter's verb",
    "# nginx-502lint: ignore -- names no rule",
])
def test_marker_that_cannot_suppress_anything_is_reported(tmp_path: Path, comment: str) -> None:
    text = config(read_comment=f"  {comment}")
    assert findings(tmp_path, text) == [(5, "T102"), (5, "X902"), (6, "T102")]


def test_suppression_with_no_directive_after_it_in_the_block_is_reported(tmp_path: Path) -> None:
    text = config().replace("        proxy_pass http://app;\n", "        proxy_pass http://app;\n        # nginx-502lint: ignore T102 -- gone\n")
    assert findings(tmp_path, text, ("X902",)) == [(8, "X902")]


def test_meta_findings_can_themselves_be_suppressed_file_wide(tmp_path: Path) -> None:
    text = "# nginx-502lint: ignore-file X901 -- this team records reasons in git blame\n" + config(
        read_comment="  # nginx-502lint: ignore T102"
    )
    assert findings(tmp_path, text) == [(7, "T102")]


def test_suppression_on_a_last_line_without_newline_is_read(tmp_path: Path) -> None:
    text = config() + "# nginx-502lint: ignore-file T102 -- legacy backend"
    assert findings(tmp_path, text) == []


def test_suppressions_in_a_file_that_does_not_parse_are_not_judged(tmp_path: Path) -> None:
    text = config(read_comment="  # nginx-502lint: ignore T103 -- x").rstrip().rstrip("}")  # unclosed server {
    assert [rule for _, rule in findings(tmp_path, text, ("E001", *RULES))] == ["E001"]


def test_per_file_ignores_drop_matching_files_by_name_or_anchored_glob(tmp_path: Path) -> None:
    text = config()
    by_name = LintSettings(per_file_ignores={"*.conf": ["T102"]})
    assert findings(tmp_path, text, settings=by_name) == []
    anchored_elsewhere = LintSettings(per_file_ignores={str(tmp_path / "legacy" / "*"): ["T102"]})
    assert findings(tmp_path, text, settings=anchored_elsewhere) == [(5, "T102"), (6, "T102")]
    assert findings(tmp_path, text, settings=anchored_elsewhere, name="legacy/site.conf") == []
