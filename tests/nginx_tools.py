"""Run the real nginx in tests: find the binary and `nginx -t` a config in a scratch prefix."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

_NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")


def nginx_binary() -> str | None:
    """Path of the nginx to test against ($NGINX_502LINT_NGINX first), or None if there is none."""
    override = os.environ.get("NGINX_502LINT_NGINX")
    if override:
        return override if os.access(override, os.X_OK) else None
    for candidate in _NGINX_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("nginx")


def require_binary(path: str | None, what: str, opt_out_env: str) -> str:
    """The binary, or end the test: fail in CI or by default, skip only on an explicit local opt-out.

    A missing binary must never turn an agreement test into a silent pass in CI.
    """
    if path is not None:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI but was not found")
    if os.environ.get(opt_out_env) == "1":
        pytest.skip(f"{what} not installed and {opt_out_env}=1")
    pytest.fail(f"{what} not found; install it or set {opt_out_env}=1 to skip locally")


def require_nginx() -> str:
    return require_binary(nginx_binary(), "nginx", "NGINX_502LINT_NO_NGINX")


def nginx_test(config_text: str, tmp_path: Path, binary: str | None = None) -> tuple[bool, str]:
    """`nginx -t` on config_text, confined to tmp_path; returns (accepted, stderr)."""
    nginx = binary or require_nginx()
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "nginx.conf"
    config.write_text(config_text)
    result = subprocess.run(
        [
            nginx, "-t", "-q",
            "-p", str(tmp_path),
            "-c", str(config),
            "-e", str(tmp_path / "error.log"),
            "-g", f"pid {tmp_path / 'nginx.pid'};",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.returncode == 0, result.stderr
