"""The shipped pre-commit hook, run by the real `pre-commit try-repo` on throwaway nginx repositories.

try-repo installs the hook the way users get it: pip builds this project into a
fresh virtualenv (so a wheel without rules/ would show here), then pre-commit
selects files with the manifest's `files`/`types` and runs the entry.
try-repo on a local path takes HEAD plus tracked changes only, so the hook
repository is a snapshot of the working tree committed into a temporary git
repo: the test sees the code under test, committed or not.
Each try-repo run installs into its own temporary store (a minute or more on a
busy machine), so the clean and the failing run go in parallel.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOOK_FILES = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "src", "rules")
TIMEOUT_SECONDS = 900

# Narrowed to families with settled rules so that rule work elsewhere cannot break this test;
# the severity override shows that the hook finds the repository's config file.
CONFIG = 'select = ["E", "T", "B"]\n[severity]\nT104 = "error"\n'
NGINX_CONF = """\
events {{}}
http {{
    proxy_connect_timeout 5s;
    proxy_read_timeout {read_timeout};
    proxy_send_timeout 60s;
    proxy_buffer_size 16k;
    proxy_busy_buffers_size 24k;
    include conf.d/*.conf;
}}
"""
SHOP = """\
upstream shop { server 127.0.0.1:8080; }
server {
    listen 80;
    server_name shop.example.com;
    location / {
        proxy_pass http://shop;
    }
}
"""
ADMIN_FRAGMENT = """\
server {{
    listen 8081;
    server_name admin.example.com;
    location / {{
        proxy_connect_timeout {connect_timeout};
        proxy_read_timeout 60s;
        proxy_send_timeout 60s;
        proxy_buffer_size 16k;
        proxy_busy_buffers_size 24k;
        proxy_pass http://127.0.0.1:9000;
    }}
}}
"""
NOT_NGINX_LAYOUT = "proxy_read_timeout 1s;\n"


@dataclass
class HookRun:
    code: int
    output: str


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
                   cwd=cwd, check=True, capture_output=True, timeout=60)


def snapshot_hook_repository(dest: Path) -> Path:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", *HOOK_FILES],
                            cwd=ROOT, check=True, capture_output=True, timeout=60).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "snapshot of the working tree")
    return dest


def nginx_repository(dest: Path, *, read_timeout: str, connect_timeout: str) -> Path:
    files = {
        ".nginx-502lint.toml": CONFIG,
        "nginx.conf": NGINX_CONF.format(read_timeout=read_timeout),
        "conf.d/shop.conf": SHOP,
        "sites-available/admin.conf": ADMIN_FRAGMENT.format(connect_timeout=connect_timeout),
        "docs/example.conf": NOT_NGINX_LAYOUT,
    }
    for name, text in files.items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_text(text)
    (dest / "sites-enabled").mkdir()
    (dest / "sites-enabled" / "admin.conf").symlink_to("../sites-available/admin.conf")
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    return dest


@pytest.fixture(scope="module")
def hook_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, HookRun]:
    executable = shutil.which("pre-commit")
    assert executable, "pre-commit is missing: pip install -e '.[test]'"
    hook = snapshot_hook_repository(tmp_path_factory.mktemp("hook"))
    repos = {
        "clean": nginx_repository(tmp_path_factory.mktemp("clean"), read_timeout="60s", connect_timeout="5s"),
        "failing": nginx_repository(tmp_path_factory.mktemp("failing"), read_timeout="2s", connect_timeout="300s"),
    }
    env = {**os.environ, "PRE_COMMIT_COLOR": "never", "NO_COLOR": "1"}
    started = {
        name: subprocess.Popen([executable, "try-repo", str(hook), "nginx-502lint", "--all-files"], cwd=repo, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        for name, repo in repos.items()
    }
    runs: dict[str, HookRun] = {}
    try:
        for name, process in started.items():
            output, _ = process.communicate(timeout=TIMEOUT_SECONDS)
            runs[name] = HookRun(process.returncode, output)
    finally:
        for process in started.values():
            if process.poll() is None:
                os.killpg(process.pid, 9)
                process.wait()
    return runs


def test_hook_passes_on_a_clean_tree_of_root_include_and_fragment(hook_runs: dict[str, HookRun]) -> None:
    run = hook_runs["clean"]
    assert run.code == 0, run.output
    assert "nginx-502lint" in run.output and "Passed" in run.output


def test_hook_fails_on_a_502_prone_tree(hook_runs: dict[str, HookRun]) -> None:
    run = hook_runs["failing"]
    assert run.code == 1, run.output
    assert "Failed" in run.output and "- exit code: 1" in run.output


def test_hook_follows_includes_between_the_files_it_is_given(hook_runs: dict[str, HookRun]) -> None:
    # The 2s read timeout is set in nginx.conf and bites in conf.d/shop.conf's location, which
    # nginx.conf includes: one process saw both, and the included file was linted once, from the root.
    output = hook_runs["failing"].output
    assert "nginx.conf:4:5: warning T102 [timeout-too-short] proxy_read_timeout 2s at nginx.conf:4 applies to location / (server shop.example.com)" in output
    assert output.count("T102") == 1


def test_hook_reads_a_lone_server_fragment_in_its_context(hook_runs: dict[str, HookRun]) -> None:
    output = hook_runs["failing"].output
    assert "sites-available/admin.conf:5:9: error T104 [connect-timeout-ineffective]" in output
    assert "E00" not in output  # neither a syntax error nor a context error for the bare server {}


def test_hook_skips_files_outside_the_nginx_layout_and_symlinks(hook_runs: dict[str, HookRun]) -> None:
    output = hook_runs["failing"].output
    assert "docs/example.conf" not in output
    assert "sites-enabled" not in output
    assert "in 4 files" not in output and "in 3 files." in output
