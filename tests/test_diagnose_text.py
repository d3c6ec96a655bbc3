"""What the terminal shows for a log diagnosis, and the CLI helpers around --log."""
from __future__ import annotations

import gzip
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from nginx_502lint.diagnose import diagnose, lint_for_diagnosis
from nginx_502lint.diagnose_text import render_diagnosis_text
from nginx_502lint.lint import Input
from nginx_502lint.logoptions import StderrProgress, parse_since, progress_printer
from nginx_502lint.logs import analyze_logs

CONFIG = """events {}
http {
    server {
        listen 80;
        server_name example.com;
        location /api/ {
            proxy_pass http://127.0.0.1:8000;
            proxy_buffer_size 4k;
        }
    }
}
"""
TOO_BIG = ('2026/11/21 10:00:0{n} [error] 10#10: *{n} upstream sent too big header while reading response header '
           'from upstream, client: 192.0.2.1, server: example.com, request: "GET /api/x HTTP/1.1", '
           'upstream: "http://127.0.0.1:8000/api/x", host: "example.com"')


def diagnosed_text(tmp_path: Path, log_paths: list[str] | None = None, **options: object) -> str:
    conf = tmp_path / "nginx.conf"
    conf.write_text(CONFIG)
    if log_paths is None:
        log = tmp_path / "error.log"
        log.write_text("\n".join([TOO_BIG.format(n=1), TOO_BIG.format(n=2), "not an nginx line"]) + "\n")
        log_paths = [str(log)]
    result, models = lint_for_diagnosis([Input(str(conf))])
    return render_diagnosis_text(diagnose(analyze_logs(log_paths, **options), models, result))  # type: ignore[arg-type]


def test_text_names_count_status_wording_address_request_and_the_linked_fix(tmp_path: Path) -> None:
    text = diagnosed_text(tmp_path)
    conf = tmp_path / "nginx.conf"

    assert "2 × 502 upstream sent too big header from 127.0.0.1:8000 (server example.com, /api/x)" in text
    assert f"first at {tmp_path}/error.log:1 [response_header_too_big]" in text
    assert f"served by location /api/ (server example.com): proxy_pass http://127.0.0.1:8000 at {conf}:7" in text
    assert f"→ B201 at {conf}:8: proxy_buffer_size 4k" in text
    assert "fix: At" in text and "proxy_buffer_size 16k;" in text


def test_text_summary_counts_lines_not_in_nginx_format(tmp_path: Path) -> None:
    first_line = diagnosed_text(tmp_path).splitlines()[0]

    assert first_line.startswith("error.log diagnosis: 3 lines read; 2 upstream failure lines in 1 group; 2 answered 5xx")
    assert f"1 line not in nginx's error-log format (e.g. {tmp_path}/error.log:3)" in first_line


def test_rotated_gzip_logs_and_since_feed_the_same_diagnosis(tmp_path: Path) -> None:
    rotated = tmp_path / "error.log.1.gz"
    rotated.write_bytes(gzip.compress((TOO_BIG.format(n=1) + "\n").encode()))
    current = tmp_path / "error.log"
    current.write_text(TOO_BIG.format(n=5) + "\n")

    text = diagnosed_text(tmp_path, [str(current), str(rotated)], since=datetime(2026, 11, 21, 10, 0, 3))

    assert "1 × 502 upstream sent too big header" in text
    assert "1 line before 2026-11-21 10:00:03 skipped" in text


# --- --since -------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 21, 12, 0, 0)


@pytest.mark.parametrize(("text", "expected"), [
    ("30m", NOW - timedelta(minutes=30)),
    ("2h", NOW - timedelta(hours=2)),
    ("1d", NOW - timedelta(days=1)),
    ("90s", NOW - timedelta(seconds=90)),
    ("1w", NOW - timedelta(weeks=1)),
    ("2026-11-21", datetime(2026, 11, 21)),
    ("2026-11-21 10:30", datetime(2026, 11, 21, 10, 30)),
    ("2026-11-21T10:30:05", datetime(2026, 11, 21, 10, 30, 5)),
    ("2026/11/21 10:30:05", datetime(2026, 11, 21, 10, 30, 5)),
    ("2026-11-21T10:30:00Z", datetime(2026, 11, 21, 10, 30, tzinfo=timezone.utc)),
    ("2026-11-21T10:30:00+01:00", datetime(2026, 11, 21, 10, 30, tzinfo=timezone(timedelta(hours=1)))),
])
def test_since_accepts_moments_and_spans_back_from_now(text: str, expected: datetime) -> None:
    assert parse_since(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "10 minutes", "2026-13-01", ""])
def test_since_rejects_what_it_cannot_read_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match="expected a date and time"):
        parse_since(text, now=NOW)


# --- progress ------------------------------------------------------------------------------------

class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_only_offered_on_a_terminal() -> None:
    assert progress_printer(io.StringIO()) is None
    assert isinstance(progress_printer(FakeTerminal()), StderrProgress)


def test_progress_overwrites_one_line_and_close_wipes_it() -> None:
    terminal = FakeTerminal()
    progress = StderrProgress(terminal)

    progress(512 * 1024, 2 * 1024 * 1024)
    progress(2 * 1024 * 1024, 2 * 1024 * 1024)
    progress.close()

    written = terminal.getvalue()
    widest = "reading error logs: 25% (512.0 kB of 2.0 MB)"
    assert written.startswith("\r" + widest)
    assert "\rreading error logs: 100% (2.0 MB of 2.0 MB) \r" in written  # padded over the longer line
    assert written.endswith("\r" + " " * len(widest) + "\r")


def test_a_read_that_ends_before_the_first_report_prints_nothing() -> None:
    terminal = FakeTerminal()
    progress = StderrProgress(terminal)

    progress(1000, 1000)
    progress.close()

    assert terminal.getvalue() == ""


def test_progress_without_a_known_total_shows_bytes_read() -> None:
    terminal = FakeTerminal()

    StderrProgress(terminal)(3 * 1024 * 1024, None)

    assert terminal.getvalue() == "\rreading error logs: 3.0 MB"


def test_text_shows_the_largest_groups_and_counts_the_rest(tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    log.write_text("".join(TOO_BIG.format(n=1).replace("/api/x", f"/api/{n}") + "\n" for n in range(5)))

    text = render_diagnosis_text(diagnose(analyze_logs([str(log)])), max_groups=2)

    assert text.count("× 502 upstream sent too big header") == 2
    assert text.rstrip().endswith("… and 3 smaller groups (3 lines); --format json lists every group.")
