"""Run a real, throw-away nginx on loopback and talk to it.

An `NginxInstance` owns a temporary prefix: its config, pid, logs and every
*_temp_path live there, so instances never touch /etc/nginx or /var/lib/nginx
and several can run side by side. The harness sets only paths, logs and process
settings; every proxy/fastcgi/upstream directive keeps nginx's own default, because
those defaults are exactly what the rules are about.
"""
from __future__ import annotations

import contextlib
import functools
import glob
import grp
import http.client
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

# tests/conftest.py puts tests/ on sys.path; nginx_tools is the suite-wide nginx lookup.
import nginx_tools

NGINX_INSTALL_HINT = "nginx not found: install it with apt-get install nginx-light"
PHP_FPM_INSTALL_HINT = "php-fpm not found: install it with apt-get install php-fpm"
OPT_OUT_ENV = "NGINX_502LINT_SKIP_E2E"

# Root's PATH has sbin, a developer's often not: look there too.
_SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
# Snippets real configs include by relative path (`include fastcgi_params;`).
_STOCK_INCLUDES = (
    "fastcgi_params", "fastcgi.conf", "uwsgi_params", "scgi_params",
    "proxy_params", "mime.types", "snippets",
)
_STOCK_INCLUDE_DIRS = (Path("/etc/nginx"), Path("/usr/local/nginx/conf"))
_LOG_FORMAT_NAME = "nginx_502lint_e2e"
_PLACEHOLDER = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ToolMissing(RuntimeError):
    """A binary the e2e suite drives (nginx, php-fpm) is not installed."""


class NginxStartError(RuntimeError):
    """nginx refused the config or did not come up in time."""


class Response(NamedTuple):
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


# --- binaries and environment -------------------------------------------------


def _find_binary(names: Iterable[str], extra_dirs: Iterable[str], hint: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
        for directory in extra_dirs:
            for candidate in sorted(glob.glob(os.path.join(directory, name)), reverse=True):
                if os.access(candidate, os.X_OK):
                    return candidate
    raise ToolMissing(hint)


def find_nginx() -> str:
    """Path of the nginx binary (NGINX_502LINT_NGINX first), found the way every test finds it."""
    found = nginx_tools.nginx_binary()
    if found is None:
        raise ToolMissing(NGINX_INSTALL_HINT)
    return found


def find_php_fpm(extra_dirs: Iterable[str] = _SBIN_DIRS) -> str:
    """Path of a php-fpm binary (unversioned name first, then the newest phpX.Y-fpm)."""
    override = os.environ.get("NGINX_502LINT_PHP_FPM")
    if override:
        return _find_binary([override], (), PHP_FPM_INSTALL_HINT)
    return _find_binary(["php-fpm", "php-fpm[0-9]*"], extra_dirs, PHP_FPM_INSTALL_HINT)


@functools.cache
def nginx_version(binary: str | None = None) -> tuple[int, int, int]:
    """Version of the nginx the suite drives, e.g. (1, 22, 1), for version-dependent proofs."""
    result = subprocess.run([binary or find_nginx(), "-v"], capture_output=True, text=True, timeout=10, check=False)
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", result.stderr)
    if match is None:
        raise RuntimeError(f"cannot read the nginx version from {result.stderr!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def running_in_ci(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def e2e_opt_out(environ: Mapping[str, str] = os.environ) -> bool:
    """True when a developer asked to skip the e2e suite; never true in CI."""
    if running_in_ci(environ):
        return False
    return environ.get(OPT_OUT_ENV, "").strip() not in ("", "0")


def is_root() -> bool:
    return os.geteuid() == 0


def default_worker_user() -> str | None:
    """The unprivileged user worker processes run as when the suite runs as root.

    Root workers would bypass file and socket permissions, hiding the very
    `(13: Permission denied)` failures some rules are about.
    """
    if not is_root():
        return None
    for name in ("www-data", "nginx", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    return "root"


def user_and_group(user: str) -> tuple[str, str]:
    entry = pwd.getpwnam(user)
    return user, grp.getgrgid(entry.pw_gid).gr_name


def make_private_dir(prefix: str) -> Path:
    """A fresh temp dir that an unprivileged worker user can traverse."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    blocked = [p for p in path.parents if not os.stat(p).st_mode & 0o001]
    if is_root() and blocked:
        shutil.rmtree(path, ignore_errors=True)
        raise RuntimeError(
            f"{blocked[0]} is not traversable by other users; point TMPDIR at a world-traversable dir"
        )
    return path


# --- ports and processes -------------------------------------------------------


def free_loopback_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def accepts_connections(host: str, port: int, timeout_s: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def is_listening(port: int, pid: int | None = None) -> bool:
    """Whether some socket listens on TCP `port`, read from /proc instead of connecting,
    so readiness checks leave no "client closed connection" lines in error.log.
    With `pid`, as that process sees it (its network namespace may be another one)."""
    listen_state = "0A"
    proc_net = f"/proc/{pid}/net" if pid is not None else "/proc/net"
    for table in (f"{proc_net}/tcp", f"{proc_net}/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == listen_state and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def child_pids(parent_pid: int) -> set[int]:
    children: set[int] = set()
    for stat_path in glob.glob("/proc/[0-9]*/stat"):
        try:
            stat = Path(stat_path).read_text()
        except OSError:
            continue
        # Field 4 is the ppid; the command name (field 2) may contain spaces.
        fields_after_name = stat.rsplit(")", 1)[1].split()
        if int(fields_after_name[1]) == parent_pid:
            children.add(int(stat.split(" ", 1)[0]))
    return children


def stop_process_group(process: subprocess.Popen[bytes], first_signal: int, grace_s: float) -> None:
    """Signal a process started with start_new_session, then SIGKILL its whole group."""
    if process.poll() is None:
        try:
            process.send_signal(first_signal)
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
        except ProcessLookupError:
            pass
    # Workers of a killed master keep running unless their group is killed too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)


# --- config rendering ----------------------------------------------------------


def render(template: str, values: Mapping[str, object]) -> str:
    """Fill `{name}` placeholders; nginx braces and `${var}` are left alone."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"config placeholder {{{name}}} has no value; known: {sorted(values)}")
        return str(values[name])

    return _PLACEHOLDER.sub(substitute, template)


def server_block(body: str, *, server_name: str = "e2e.test", listen: str = "127.0.0.1:{port}") -> str:
    """A server listening on the instance's port, around location/server-level `body`."""
    return f"server {{\n    listen {listen};\n    server_name {server_name};\n{body}\n}}\n"


def _copy_stock_includes(conf_dir: Path) -> None:
    for name in _STOCK_INCLUDES:
        for source_dir in _STOCK_INCLUDE_DIRS:
            source = source_dir / name
            if source.is_dir():
                shutil.copytree(source, conf_dir / name, dirs_exist_ok=True)
                break
            if source.is_file():
                shutil.copy(source, conf_dir / name)
                break


class NginxInstance:
    """One nginx master + one worker, with its own prefix, on a free loopback port.

    `http` is the body of the `http {}` block (upstreams, servers, http-level
    directives); `main` goes to the top level, `events` inside `events {}`.
    Placeholders: `{port}` (the instance's port), `{prefix}` (its temp dir) and
    any names given in `values` (e.g. backend ports or socket paths).
    The http body is stored as conf/site.conf, so parse errors cite
    `site.conf:LINE` with the line of the text you passed; errors nginx finds
    while merging levels (the buffer-size checks) cite the end of the harness's
    http block in nginx.conf instead.
    """

    def __init__(
        self,
        http: str,
        *,
        main: str = "",
        events: str = "",
        values: Mapping[str, object] | None = None,
        worker_user: str | None = None,
        error_log_level: str = "info",
        startup_timeout_s: float = 10.0,
        stop_timeout_s: float = 5.0,
        launcher: Sequence[str] = (),
    ) -> None:
        self.binary = find_nginx()
        # Prepended to every nginx command (-t included), e.g. to run nginx in its own
        # mount namespace with a private /etc/hosts; it must exec nginx in place.
        self.launcher = list(launcher)
        if worker_user is None:
            worker_user = default_worker_user()
        elif not is_root():
            raise ValueError("worker_user needs root: nginx ignores `user` otherwise")
        self.worker_user = worker_user
        self.error_log_level = error_log_level
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._http = http
        self._main = main
        self._events = events
        self._values = dict(values or {})
        self.prefix = make_private_dir("nginx-502lint-e2e-")
        self.conf_dir = self.prefix / "conf"
        self.logs_dir = self.prefix / "logs"
        self.conf_dir.mkdir()
        self.logs_dir.mkdir()
        self.conf_path = self.conf_dir / "nginx.conf"
        self.error_log_path = self.logs_dir / "error.log"
        self.access_log_path = self.logs_dir / "access.log"
        self._stdout_path = self.logs_dir / "stdout.log"
        self._stderr_path = self.logs_dir / "stderr.log"
        _copy_stock_includes(self.conf_dir)
        self.port = free_loopback_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._write_config()

    # -- config ---------------------------------------------------------------

    def _placeholder_values(self) -> dict[str, object]:
        return {**self._values, "port": self.port, "prefix": self.prefix}

    def _main_config(self) -> str:
        temp = self.prefix / "temp"
        user_line = ""
        if self.worker_user is not None:
            user, group = user_and_group(self.worker_user)
            user_line = f"user {user} {group};"
        return f"""# written by tests/e2e/harness.py; the test's own text is in main.conf and site.conf
{user_line}
worker_processes 1;
daemon off;
master_process on;
pid {self.prefix}/nginx.pid;
error_log {self.error_log_path} {self.error_log_level};
include {self.conf_dir}/main.conf;
events {{
    include {self.conf_dir}/events.conf;
}}
http {{
    log_format {_LOG_FORMAT_NAME} '$remote_addr "$request" $status upstream=$upstream_addr '
                                  'upstream_status=$upstream_status upstream_time=$upstream_response_time';
    access_log {self.access_log_path} {_LOG_FORMAT_NAME};
    client_body_temp_path {temp}/client_body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {self.conf_dir}/site.conf;
}}
"""

    def _write_config(self) -> None:
        values = self._placeholder_values()
        (self.prefix / "temp").mkdir(exist_ok=True)
        (self.conf_dir / "main.conf").write_text(render(self._main, values))
        (self.conf_dir / "events.conf").write_text(render(self._events, values))
        (self.conf_dir / "site.conf").write_text(render(self._http, values))
        self.conf_path.write_text(self._main_config())

    def _nginx_command(self, *extra: str) -> list[str]:
        command = [self.binary, "-p", f"{self.prefix}/", "-c", str(self.conf_path)]
        # -e (1.19.5+) keeps even pre-config startup errors out of /var/log/nginx.
        if nginx_version(self.binary) >= (1, 19, 5):
            command += ["-e", str(self.error_log_path)]
        return [*self.launcher, *command, *extra]

    def test_config(self, timeout_s: float = 10.0) -> tuple[bool, str]:
        """`nginx -t` on the current config: (accepted, nginx's stderr)."""
        result = subprocess.run(
            self._nginx_command("-t"), capture_output=True, text=True, timeout=timeout_s, check=False
        )
        return result.returncode == 0, result.stderr

    @property
    def site_conf_path(self) -> Path:
        return self.conf_dir / "site.conf"

    # -- lifecycle ------------------------------------------------------------

    @property
    def master_pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> NginxInstance:
        ok, stderr = self.test_config()
        if not ok:
            raise NginxStartError(f"nginx -t rejected the config:\n{stderr}")
        for _attempt in range(3):
            if self._start_once():
                return self
            # Another process took the port between our probe and nginx's bind().
            self.port = free_loopback_port()
            self._write_config()
        raise NginxStartError(f"nginx could not bind a free port:\n{self.error_log_text()}")

    def _start_once(self) -> bool:
        """Start nginx; False only when the port was taken meanwhile."""
        with open(self._stdout_path, "ab") as stdout, open(self._stderr_path, "ab") as stderr:
            self._process = subprocess.Popen(
                self._nginx_command(), stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                log = self.error_log_text() + self._stderr_path.read_text(errors="replace")
                if "Address already in use" in log:
                    return False
                raise NginxStartError(f"nginx exited with {self._process.returncode}:\n{log}")
            if is_listening(self.port, self._process.pid) and child_pids(self._process.pid):
                return True
            time.sleep(0.02)
        self.stop()
        raise NginxStartError(f"nginx did not accept on port {self.port} within {self.startup_timeout_s}s")

    def reload(self, http: str | None = None, *, main: str | None = None, timeout_s: float = 10.0) -> None:
        """Swap in a new config with SIGHUP and wait until fresh workers serve it."""
        if http is not None:
            self._http = http
        if main is not None:
            self._main = main
        self._write_config()
        self.reload_files(timeout_s=timeout_s)

    def reload_files(self, *, timeout_s: float = 10.0) -> None:
        """SIGHUP with the config files as they are on disk now (e.g. after a fixer edited them)."""
        ok, stderr = self.test_config()
        if not ok:
            raise NginxStartError(f"nginx -t rejected the new config:\n{stderr}")
        assert self._process is not None and self.is_running(), "reload() needs a running nginx"
        old_workers = child_pids(self._process.pid)
        self._process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            workers = child_pids(self._process.pid)
            if workers and not workers & old_workers:
                return
            time.sleep(0.02)
        raise NginxStartError(f"nginx did not finish reloading within {timeout_s}s:\n{self.error_log_text()}")

    def stop(self) -> None:
        """Graceful QUIT, then SIGKILL for the whole process group after a bound."""
        if self._process is not None:
            stop_process_group(self._process, signal.SIGQUIT, self.stop_timeout_s)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.prefix, ignore_errors=True)

    def __enter__(self) -> NginxInstance:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()

    # -- talking to it --------------------------------------------------------

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def request(
        self,
        path: str = "/",
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = None,
        timeout: float = 10.0,
    ) -> Response:
        """One request on a fresh client connection; `timeout` bounds each socket operation."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            return Response(response.status, response.headers, response.read())
        finally:
            connection.close()

    def error_log_text(self) -> str:
        try:
            return self.error_log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def access_log_text(self) -> str:
        try:
            return self.access_log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_error_log(self, needle: str, timeout_s: float = 3.0) -> str:
        """The first error.log line containing `needle`, waiting up to `timeout_s`."""
        return _wait_for_line(self.error_log_text, needle, timeout_s, "error.log")

    def wait_for_access_log(self, needle: str, timeout_s: float = 3.0) -> str:
        """Like wait_for_error_log; needed because nginx writes the access log after
        the response has gone out, so a client can read it before the line exists."""
        return _wait_for_line(self.access_log_text, needle, timeout_s, "access.log")


def _wait_for_line(read_log: Callable[[], str], needle: str, timeout_s: float, log_name: str) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        text = read_log()
        for line in text.splitlines():
            if needle in line:
                return line
        if time.monotonic() >= deadline:
            raise AssertionError(f"{needle!r} not in {log_name} after {timeout_s}s:\n{text}")
        time.sleep(0.02)


def nginx_test(
    http: str, *, main: str = "", events: str = "", values: Mapping[str, object] | None = None
) -> tuple[bool, str]:
    """One-shot `nginx -t` of an http-block body: (accepted, nginx's stderr)."""
    instance = NginxInstance(http, main=main, events=events, values=values)
    try:
        return instance.test_config()
    finally:
        instance.cleanup()
