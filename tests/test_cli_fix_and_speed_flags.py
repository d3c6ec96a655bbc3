"""--diff, --fix, --jobs and --cache through the real command line."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BAD = "events {}\nhttp {\n    server {\n        listen 80;\n        location / {\n            proxy_pass http://127.0.0.1:8000;\n            proxy_read_timeout 30sec;\n        }\n    }\n}\n"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nginx_502lint", *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_diff_prints_the_fix_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "nginx.conf").write_text(BAD)
    result = cli("nginx.conf", "--select", "T106", "--diff", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "-            proxy_read_timeout 30sec;" in result.stdout
    assert "+            proxy_read_timeout 30s;" in result.stdout
    assert (tmp_path / "nginx.conf").read_text() == BAD


def test_fix_writes_the_safe_fix_and_exits_by_what_remains(tmp_path: Path) -> None:
    (tmp_path / "nginx.conf").write_text(BAD)
    result = cli("nginx.conf", "--select", "T106", "--fix", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "proxy_read_timeout 30s;" in (tmp_path / "nginx.conf").read_text()
    again = cli("nginx.conf", "--select", "T106", "--fix", cwd=tmp_path)
    assert again.returncode == 0 and "proxy_read_timeout 30s;" in (tmp_path / "nginx.conf").read_text()


def test_jobs_and_cache_give_the_same_findings_as_a_plain_run(tmp_path: Path) -> None:
    for name in ("a.conf", "b.conf", "c.conf"):
        (tmp_path / name).write_text(BAD)
    plain = cli("a.conf", "b.conf", "c.conf", "--format", "json", cwd=tmp_path)
    parallel = cli("a.conf", "b.conf", "c.conf", "--format", "json", "-j", "2", cwd=tmp_path)
    cache = tmp_path / "cache"
    cold = cli("a.conf", "b.conf", "c.conf", "--format", "json", "--cache-dir", str(cache), cwd=tmp_path)
    warm = cli("a.conf", "b.conf", "c.conf", "--format", "json", "--cache-dir", str(cache), cwd=tmp_path)
    assert plain.returncode == parallel.returncode == cold.returncode == warm.returncode == 1
    assert plain.stdout == parallel.stdout == cold.stdout == warm.stdout
    assert any(cache.rglob("*")), "the cache folder holds entries after a run"
