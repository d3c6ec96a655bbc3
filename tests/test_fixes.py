"""Planning and applying fixes: what is applied, what is refused, and how files are written."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from nginx_502lint.engine import LintSettings, Registry
from nginx_502lint.findings import Edit, Finding, Fix, LintResult, Severity
from nginx_502lint.fixes import (
    FixError,
    SkippedFix,
    apply_fixes,
    describe_outcome,
    fix_until_stable,
    plan_fixes,
    render_diff,
)
from nginx_502lint.lint import Input, lint, lint_paths

REGISTRY = Registry.default(entry_points=False)

LOCATION = """events {}
http {
    server {
        listen 127.0.0.1:8080;
        location / {
            proxy_pass http://127.0.0.1:8000;
            proxy_read_timeout 2s;
        }
    }
}
"""


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _lint(path: Path, rules: list[str]) -> LintResult:
    return lint_paths([str(path)], LintSettings(), registry=REGISTRY, rule_ids=rules)


def _untouched(path: Path) -> tuple[int, int, bytes]:
    status = path.stat()
    return status.st_ino, status.st_mtime_ns, path.read_bytes()


def _finding(file: Path, line: int, edits: tuple[Edit, ...], *, rule: str = "X001",
             severity: Severity = Severity.WARNING, applicability: str = "safe") -> Finding:
    return Finding(rule, "test", severity, str(file), line, "message", fix=Fix("fix", edits, applicability))  # type: ignore[arg-type]


def _replace(file: Path, line: int, text: str) -> Edit:
    return Edit("replace", str(file), line, text=text, directive=text.split()[0])


# --- choosing fixes -------------------------------------------------------------------

def test_unsafe_fixes_are_not_applied_without_include_unsafe(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION)
    before = _untouched(conf)
    result = _lint(conf, ["T102"])
    assert [f.fix.applicability for f in result.findings if f.fix] == ["unsafe"]
    plan = plan_fixes(result.findings, result.sources, include_unsafe=False)
    assert plan.changes == [] and plan.applied == []
    assert [s.kind for s in plan.skipped] == ["unsafe"]
    assert apply_fixes(plan) == []
    run = fix_until_stable([str(conf)], LintSettings(), REGISTRY, ["T102"], include_unsafe=False)
    assert run.changed == [] and [s.kind for s in run.skipped] == ["unsafe"]
    assert _untouched(conf) == before


def test_unsafe_fixes_are_applied_with_include_unsafe(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION)
    run = fix_until_stable([str(conf)], LintSettings(), REGISTRY, ["T102"], include_unsafe=True)
    assert run.changed == [str(conf)]
    assert "proxy_read_timeout 60s;" in conf.read_text()
    assert [f.rule for f in run.result.findings] == []


def test_display_only_fixes_are_never_applied(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION)
    finding = _finding(conf, 7, (_replace(conf, 7, "proxy_read_timeout 9s;"),), applicability="display_only")
    plan = plan_fixes([finding], _lint(conf, []).sources, include_unsafe=True)
    assert plan.changes == [] and [s.kind for s in plan.skipped] == ["display_only"]


def test_fix_writes_nothing_when_no_fix_applies(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION.replace("2s", "60s"))
    before = _untouched(conf)
    run = fix_until_stable([str(conf)], LintSettings(), REGISTRY, None, include_unsafe=False)
    assert run.result.findings, "the config must have findings whose fixes are not applicable"
    assert {s.kind for s in run.skipped} == {"unsafe"}
    assert run.rounds == 0 and run.changed == [] and run.stable
    assert _untouched(conf) == before
    assert sorted(os.listdir(tmp_path)) == ["nginx.conf"]


# --- refusing to write outside what was linted ------------------------------------------

def test_edit_to_a_file_that_was_not_linted_is_refused(tmp_path: Path) -> None:
    conf = _write(tmp_path / "tree" / "nginx.conf", LOCATION)
    outside = _write(tmp_path / "elsewhere.conf", "proxy_read_timeout 2s;\n")
    before = _untouched(outside)
    sources = _lint(conf, []).sources
    finding = _finding(outside, 1, (_replace(outside, 1, "proxy_read_timeout 60s;"),))
    plan = plan_fixes([finding], sources, include_unsafe=True)
    assert plan.changes == []
    assert [s.kind for s in plan.skipped] == ["refused"]
    assert "not one of the linted files" in plan.skipped[0].reason
    assert apply_fixes(plan) == []
    assert _untouched(outside) == before


def test_edit_to_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION)
    ghost = tmp_path / "ghost.conf"
    finding = _finding(ghost, 1, (_replace(ghost, 1, "proxy_read_timeout 60s;"),))
    plan = plan_fixes([finding], _lint(conf, []).sources, include_unsafe=True)
    assert [s.kind for s in plan.skipped] == ["refused"]
    apply_fixes(plan)
    assert not ghost.exists()


def test_a_fix_with_one_refused_edit_is_not_applied_at_all(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION)
    outside = _write(tmp_path / "other" / "x.conf", "proxy_read_timeout 2s;\n")
    finding = _finding(conf, 7, (_replace(conf, 7, "proxy_read_timeout 60s;"), _replace(outside, 1, "proxy_read_timeout 60s;")))
    plan = plan_fixes([finding], _lint(conf, []).sources, include_unsafe=True)
    assert plan.changes == [] and plan.applied == []


def test_file_changed_since_lint_is_refused(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION)
    result = _lint(conf, ["T102"])
    _write(conf, LOCATION.replace("2s;", "3s; # edited meanwhile"))
    plan = plan_fixes(result.findings, result.sources, include_unsafe=True)
    assert plan.changes == [] and "not the text that was linted" in plan.skipped[0].reason


def test_apply_stops_before_any_write_when_a_file_changed_after_planning(tmp_path: Path) -> None:
    first = _write(tmp_path / "a" / "nginx.conf", LOCATION)
    second = _write(tmp_path / "b" / "nginx.conf", LOCATION)
    results = [_lint(first, ["T102"]), _lint(second, ["T102"])]
    plan = plan_fixes([f for r in results for f in r.findings], {**results[0].sources, **results[1].sources}, True)
    assert len(plan.changes) == 2
    _write(second, LOCATION + "# edited meanwhile\n")
    untouched = _untouched(first)
    with pytest.raises(FixError, match="changed since it was linted"):
        apply_fixes(plan)
    assert _untouched(first) == untouched
    assert sorted(os.listdir(first.parent)) == ["nginx.conf"]


def test_text_from_stdin_can_be_shown_but_not_written(tmp_path: Path) -> None:
    result = lint([Input("nginx.conf", LOCATION)], LintSettings(), REGISTRY, ["T102"])
    disk_plan = plan_fixes(result.findings, result.sources, include_unsafe=True)
    assert disk_plan.changes == [] and disk_plan.skipped[0].kind == "refused"
    shown = plan_fixes(result.findings, result.sources, include_unsafe=True, from_disk=False)
    assert "+            proxy_read_timeout 60s;" in render_diff(shown)
    with pytest.raises(FixError, match="not read from disk"):
        apply_fixes(shown)
    with pytest.raises(FixError, match="stdin"):
        fix_until_stable(["-"], LintSettings(), REGISTRY, ["T102"], True)


# --- conflicts ------------------------------------------------------------------------------

def test_conflicting_replacements_keep_the_higher_severity_in_any_input_order(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION)
    sources = _lint(conf, []).sources
    warning = _finding(conf, 7, (_replace(conf, 7, "proxy_read_timeout 30s;"),), rule="A001")
    error = _finding(conf, 7, (_replace(conf, 7, "proxy_read_timeout 90s;"),), rule="Z001", severity=Severity.ERROR)
    for order in ([warning, error], [error, warning]):
        plan = plan_fixes(order, sources, include_unsafe=True)
        assert plan.applied == [error]
        assert [(s.finding, s.kind) for s in plan.skipped] == [(warning, "conflict")]
        assert "Z001" in plan.skipped[0].reason
        assert b"proxy_read_timeout 90s;" in plan.changes[0].after


def test_equal_severity_conflicts_resolve_by_rule_id(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION)
    sources = _lint(conf, []).sources
    later = _finding(conf, 7, (_replace(conf, 7, "proxy_read_timeout 30s;"),), rule="T200")
    earlier = _finding(conf, 7, (_replace(conf, 7, "proxy_read_timeout 90s;"),), rule="T100")
    plan = plan_fixes([later, earlier], sources, include_unsafe=True)
    assert plan.applied == [earlier] and plan.skipped[0].finding == later


def test_two_inserts_of_one_directive_into_one_block_conflict(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION.replace("            proxy_read_timeout 2s;\n", ""))
    sources = _lint(conf, []).sources
    first = _finding(conf, 6, (Edit("insert", str(conf), 5, "proxy_read_timeout 30s;", "location"),), rule="A001")
    second = _finding(conf, 6, (Edit("insert", str(conf), 5, "proxy_read_timeout 90s; proxy_send_timeout 90s;", "location"),), rule="B001")
    plan = plan_fixes([second, first], sources, include_unsafe=True)
    assert plan.applied == [first]
    assert plan.skipped[0].kind == "conflict" and "proxy_read_timeout" in plan.skipped[0].reason
    assert plan.changes[0].after.count(b"proxy_read_timeout") == 1


def test_inserts_of_different_directives_into_one_block_both_apply(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION)
    sources = _lint(conf, []).sources
    first = _finding(conf, 6, (Edit("insert", str(conf), 5, "proxy_send_timeout 30s;", "location"),), rule="A001")
    second = _finding(conf, 6, (Edit("insert", str(conf), 5, "proxy_connect_timeout 5s;", "location"),), rule="B001")
    plan = plan_fixes([second, first], sources, include_unsafe=True)
    assert plan.applied == [first, second]
    assert b"            proxy_send_timeout 30s;\n            proxy_connect_timeout 5s;\n" in plan.changes[0].after


def test_the_same_edit_from_two_findings_is_applied_once(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION)
    sources = _lint(conf, []).sources
    edit = Edit("insert", str(conf), 5, "proxy_busy_buffers_size 16k;", "location")
    one, two = _finding(conf, 6, (edit,), rule="B202"), _finding(conf, 7, (edit,), rule="B202")
    plan = plan_fixes([one, two], sources, include_unsafe=False)
    assert len(plan.applied) == 2 and plan.skipped == []
    assert plan.changes[0].after.count(b"proxy_busy_buffers_size") == 1


def test_a_fix_without_edits_counts_as_advice(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION)
    finding = _finding(conf, 7, (), applicability="unsafe")
    plan = plan_fixes([finding], _lint(conf, []).sources, include_unsafe=True)
    assert [s.kind for s in plan.skipped] == ["display_only"]


# --- refusing edits that would break the config -----------------------------------------------

IF_IN_LOCATION = """events {}
http {
    server {
        listen 127.0.0.1:8080;
        location / {
            if ($arg_x) {
                proxy_pass http://127.0.0.1:8000;
            }
        }
    }
}
"""


def test_an_insert_of_timeouts_into_if_is_refused_where_nginx_forbids_them(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", IF_IN_LOCATION)
    finding = _finding(conf, 7, (Edit("insert", str(conf), 6, "proxy_read_timeout 60s;", "if"),))
    plan = plan_fixes([finding], _lint(conf, []).sources, include_unsafe=True)
    assert plan.changes == []
    assert "does not allow" in plan.skipped[0].reason and "location_if" in plan.skipped[0].reason


def test_t101_puts_timeouts_for_a_pass_inside_if_into_the_enclosing_location(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", IF_IN_LOCATION)
    result = _lint(conf, ["T101"])
    plan = plan_fixes(result.findings, result.sources, include_unsafe=True)
    [change] = plan.changes
    lines = change.after.decode().splitlines()
    assert lines.index("            proxy_read_timeout 60s;") < lines.index("            if ($arg_x) {")


def test_an_insert_that_would_duplicate_a_directive_is_refused(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION)
    finding = _finding(conf, 6, (Edit("insert", str(conf), 5, "proxy_read_timeout 60s;", "location"),))
    plan = plan_fixes([finding], _lint(conf, []).sources, include_unsafe=True)
    assert plan.changes == [] and "twice" in plan.skipped[0].reason


def test_an_included_file_may_sit_in_any_context_so_a_stream_server_is_not_refused(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", "events {}\nstream {\n    include stream.d/*.conf;\n}\n")
    snippet = _write(tmp_path / "stream.d" / "db.conf", "server {\n    listen 5432;\n    proxy_pass 10.0.0.5:5432;\n}\n")
    finding = _finding(snippet, 3, (Edit("insert", str(snippet), 1, "proxy_timeout 10m;", "server"),))
    plan = plan_fixes([finding], _lint(conf, []).sources, include_unsafe=True)
    assert plan.skipped == []
    assert plan.changes[0].after == b"server {\n    proxy_timeout 10m;\n    listen 5432;\n    proxy_pass 10.0.0.5:5432;\n}\n"


def test_a_directive_with_an_argument_count_nginx_rejects_is_not_inserted(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION)
    unquoted = Edit("insert", str(conf), 5, "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for, $x;", "location")
    plan = plan_fixes([_finding(conf, 6, (unquoted,))], _lint(conf, []).sources, include_unsafe=True)
    assert plan.changes == [] and "3 argument(s)" in plan.skipped[0].reason


def test_a_directive_missing_from_the_target_version_is_not_inserted(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION)
    finding = _finding(conf, 3, (Edit("insert", str(conf), 3, "http2 on;", "server"),))
    sources = _lint(conf, []).sources
    refused = plan_fixes([finding], sources, include_unsafe=True, nginx_version=(1, 22, 1))
    assert refused.changes == [] and "does not exist in nginx 1.22.1" in refused.skipped[0].reason
    assert plan_fixes([finding], sources, include_unsafe=True, nginx_version=(1, 25, 1)).changes


def test_a_block_can_be_inserted_and_repeatable_directives_may_repeat(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION.replace("http {\n", "http {\n    upstream app { server 127.0.0.1:8000; }\n"))
    sources = _lint(conf, []).sources
    add_map = _finding(conf, 2, (Edit("insert", str(conf), 2, "map $http_upgrade $connection_upgrade { default upgrade; '' close; }", "http"),))
    add_server = _finding(conf, 3, (Edit("insert", str(conf), 3, "server 127.0.0.1:8001;", "upstream"),), rule="X002")
    plan = plan_fixes([add_map, add_server], sources, include_unsafe=True)
    assert plan.skipped == []
    text = plan.changes[0].after.decode()
    assert "http {\n    map $http_upgrade $connection_upgrade { default upgrade; '' close; }\n" in text
    assert "upstream app { server 127.0.0.1:8001; server 127.0.0.1:8000; }" in text


def test_an_insert_may_name_the_line_of_an_allman_brace(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION.replace("location / {", "location /\n        {"))
    finding = _finding(conf, 7, (Edit("insert", str(conf), 6, "proxy_send_timeout 30s;", "location"),))
    plan = plan_fixes([finding], _lint(conf, []).sources, include_unsafe=True)
    assert b"        {\n            proxy_send_timeout 30s;\n            proxy_pass" in plan.changes[0].after


@pytest.mark.parametrize("text", ["proxy_read_timeout 60s", "location / { }", "proxy_read_timeout 60s; # why", ""])
def test_edit_text_that_is_not_complete_simple_directives_is_refused(tmp_path: Path, text: str) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION)
    finding = _finding(conf, 7, (Edit("replace", str(conf), 7, text, "proxy_read_timeout"),))
    plan = plan_fixes([finding], _lint(conf, []).sources, include_unsafe=True)
    assert plan.changes == [] and plan.skipped[0].kind == "refused"


def test_edit_pointing_at_a_line_without_that_directive_is_refused(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION)
    finding = _finding(conf, 6, (_replace(conf, 6, "proxy_read_timeout 60s;"),))
    plan = plan_fixes([finding], _lint(conf, []).sources, include_unsafe=True)
    assert plan.changes == [] and "is not at" in plan.skipped[0].reason


def test_files_with_lua_blocks_are_not_edited(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION.replace(
        "            proxy_read_timeout 2s;\n",
        "            proxy_read_timeout 2s;\n            access_by_lua_block { ngx.var.x = '}' }\n"))
    result = _lint(conf, ["T102"])
    plan = plan_fixes(result.findings, result.sources, include_unsafe=True)
    assert plan.changes == [] and "Lua" in plan.skipped[0].reason


# --- writing -----------------------------------------------------------------------------------

def test_crlf_bom_mode_and_untouched_bytes_survive_a_fix(tmp_path: Path) -> None:
    original = b"\xef\xbb\xbf" + LOCATION.replace("\n", "\r\n").encode() + b"# caf\xc3\xa9 \xff\r\n"
    conf = _write(tmp_path / "nginx.conf", original)
    conf.chmod(0o640)
    run = fix_until_stable([str(conf)], LintSettings(), REGISTRY, ["T102"], include_unsafe=True)
    assert run.changed == [str(conf)]
    assert conf.read_bytes() == original.replace(b"proxy_read_timeout 2s;", b"proxy_read_timeout 60s;")
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["nginx.conf"]


def test_a_symlinked_include_is_fixed_in_its_target_and_stays_a_link(tmp_path: Path) -> None:
    target = _write(tmp_path / "shared" / "timeouts.conf", "proxy_read_timeout 2s;\n")
    conf = _write(tmp_path / "tree" / "nginx.conf", LOCATION.replace(
        "            proxy_read_timeout 2s;\n", "            include timeouts.conf;\n"))
    (tmp_path / "tree" / "timeouts.conf").symlink_to(target)
    fix_until_stable([str(conf)], LintSettings(), REGISTRY, ["T102"], include_unsafe=True)
    assert (tmp_path / "tree" / "timeouts.conf").is_symlink()
    assert target.read_text() == "proxy_read_timeout 60s;\n"


def test_a_hard_linked_file_is_not_replaced(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION)
    os.link(conf, tmp_path / "backup.conf")
    result = _lint(conf, ["T102"])
    plan = plan_fixes(result.findings, result.sources, include_unsafe=True)
    assert plan.changes == [] and "hard links" in plan.skipped[0].reason


def test_render_diff_shows_unified_diff_and_writes_nothing(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION)
    before = _untouched(conf)
    result = _lint(conf, ["T102"])
    diff = render_diff(plan_fixes(result.findings, result.sources, include_unsafe=True))
    name = str(conf).lstrip("/")
    assert diff.startswith(f"--- a/{name}\n+++ b/{name}\n@@ ")
    assert "-            proxy_read_timeout 2s;\n+            proxy_read_timeout 60s;\n" in diff
    assert _untouched(conf) == before


def test_render_diff_marks_a_missing_final_newline(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", "events {}\nhttp { server { listen 127.0.0.1:8080;\n"
                  "location / { proxy_pass http://127.0.0.1:8000; proxy_read_timeout 2s; } } }")
    result = _lint(conf, ["T102"])
    diff = render_diff(plan_fixes(result.findings, result.sources, include_unsafe=True))
    assert diff.endswith("proxy_read_timeout 60s; } } }\n\\ No newline at end of file\n")


def test_fix_until_stable_stops_after_max_rounds(tmp_path: Path) -> None:
    conf = _write(tmp_path / "nginx.conf", LOCATION)
    run = fix_until_stable([str(conf)], LintSettings(), REGISTRY, ["T102"], include_unsafe=True, max_rounds=0)
    assert run.rounds == 0 and not run.stable and run.changed == []
    assert "proxy_read_timeout 2s;" in conf.read_text()


def test_outcome_says_what_was_fixed_what_was_not_and_what_unsafe_fixes_wait(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    fixed = _finding(conf, 1, ())
    skipped = [SkippedFix(_finding(conf, 2, (), rule="B202"), "conflict", "conflicts with T102"),
               SkippedFix(_finding(conf, 3, ()), "unsafe", "unsafe"),
               SkippedFix(_finding(conf, 4, ()), "display_only", "advice")]
    text = describe_outcome([fixed], skipped)
    assert text.splitlines() == [
        "Fixed 1 finding.",
        f"Not fixed: B202 at {conf}:2: conflicts with T102",
        "1 more fix available with --unsafe-fixes (they change behaviour: review them with --diff).",
    ]
    assert describe_outcome([fixed, fixed], [], dry_run=True, stable=False).splitlines() == [
        "Would fix 2 findings.",
        "Fixes were still applicable after the last round; run --fix again and review the result.",
    ]
    assert describe_outcome([], []) == ""
