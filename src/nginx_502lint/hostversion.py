"""The nginx version installed on this host, from `nginx -v`, for --host runs."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

# nginx -v prints to stderr: "nginx version: nginx/1.22.1" (or openresty/1.21.4.3, "(Ubuntu)" suffixes)
_VERSION = re.compile(r"version:\s*[\w.-]*/(\d+)\.(\d+)(?:\.(\d+))?")
_SBIN = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
TIMEOUT_SECONDS = 5.0


class VersionNotDetected(Exception):
    pass


def find_nginx() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    # sbin is often missing from a non-root PATH
    return next((path for path in _SBIN if os.access(path, os.X_OK)), None)


def parse_nginx_v(output: str) -> tuple[int, ...]:
    match = _VERSION.search(output)
    if not match:
        first = output.strip().splitlines()[0] if output.strip() else "no output"
        raise VersionNotDetected(f"unexpected output {first!r}")
    return tuple(int(part) for part in match.groups() if part is not None)


def detect_nginx_version(timeout: float | None = None) -> tuple[tuple[int, ...], str]:
    """(version, binary) of the local nginx; VersionNotDetected says why not."""
    timeout = TIMEOUT_SECONDS if timeout is None else timeout
    binary = find_nginx()
    if binary is None:
        raise VersionNotDetected("no nginx binary on PATH or in /usr/sbin")
    try:
        done = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, errors="replace")
    except subprocess.TimeoutExpired:
        raise VersionNotDetected(f"{binary} -v did not answer within {timeout:g}s") from None
    except OSError as error:
        raise VersionNotDetected(f"cannot run {binary} -v: {error.strerror or error}") from None
    return parse_nginx_v(done.stderr + done.stdout), binary
