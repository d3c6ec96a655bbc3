"""Purpose-built loopback backends that misbehave in exactly one way.

Each is a context manager: entering binds and starts it (``.port`` for TCP,
``.path`` for unix sockets), leaving stops it. Every backend also stops on its
own after ``lifetime_s`` and every connection has a socket timeout, so a
forgotten backend cannot outlive a test run by much.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from .harness import (
    default_worker_user,
    find_php_fpm,
    is_root,
    make_private_dir,
    stop_process_group,
    user_and_group,
)

_MAX_HEAD_BYTES = 64 * 1024
_MAX_BODY_BYTES = 16 * 1024 * 1024


# --- minimal HTTP/1.x --------------------------------------------------------


class PeerClosed(Exception):
    """The peer closed (or reset) the connection before a full message arrived."""


class SocketReader:
    """Buffered reads from a socket, bounded in size."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise PeerClosed()
        self.buffer += chunk

    def wait_for_data(self) -> bool:
        """Block until bytes are buffered; False on a clean close before any byte."""
        if self.buffer:
            return True
        try:
            self._fill()
        except PeerClosed:
            return False
        return True

    def read_until(self, marker: bytes, limit: int = _MAX_HEAD_BYTES) -> bytes:
        while marker not in self.buffer:
            if len(self.buffer) > limit:
                raise ValueError(f"no {marker!r} within {limit} bytes")
            self._fill()
        head, self.buffer = self.buffer.split(marker, 1)
        return head

    def read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data


@dataclass
class HttpRequest:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ", ".join(values) if values else None

    def wants_keepalive(self) -> bool:
        connection = (self.header("Connection") or "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection

    def as_json(self) -> bytes:
        headers: dict[str, str] = {}
        for key, value in self.headers:
            lower = key.lower()
            headers[lower] = f"{headers[lower]}, {value}" if lower in headers else value
        return json.dumps(
            {"method": self.method, "path": self.target, "version": self.version,
             "headers": headers, "body_length": len(self.body)},
            sort_keys=True,
        ).encode()


def read_request(reader: SocketReader) -> HttpRequest:
    head = reader.read_until(b"\r\n\r\n").decode("latin-1")
    request_line, *header_lines = head.split("\r\n")
    method, target, version = request_line.split(" ", 2)
    headers = [(k.strip(), v.strip()) for k, v in (line.split(":", 1) for line in header_lines if line)]
    request = HttpRequest(method, target, version, headers)
    if "chunked" in (request.header("Transfer-Encoding") or "").lower():
        request.body = _read_chunked(reader)
    else:
        length = int(request.header("Content-Length") or 0)
        if length > _MAX_BODY_BYTES:
            raise ValueError(f"request body of {length} bytes is over the test limit")
        request.body = reader.read_exact(length)
    return request


def _read_chunked(reader: SocketReader) -> bytes:
    body = b""
    while True:
        size = int(reader.read_until(b"\r\n").split(b";")[0], 16)
        if size == 0:
            reader.read_until(b"\r\n")
            return body
        body += reader.read_exact(size)
        reader.read_exact(2)
        if len(body) > _MAX_BODY_BYTES:
            raise ValueError("chunked request body over the test limit")


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}


def http_response(
    status: int = 200,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    keep_alive: bool = True,
    content_type: str = "text/plain",
) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"Content-Type: {content_type}",
             f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def close_gracefully(sock: socket.socket, drain_s: float = 1.0) -> None:
    """FIN our side, then drain what the peer still sends before closing.

    Closing with unread bytes makes the kernel send RST, which can reach nginx
    before it has read our response and turn the failure under test into a
    different one (`recv() failed (104: ...)`).
    """
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(drain_s)
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and sock.recv(65536):
            pass
    except OSError:
        pass
    finally:
        sock.close()


def reset_connection(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a server whose process dies or times out does."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# --- server skeleton -----------------------------------------------------------


class LoopbackServer:
    """Accept loop in a daemon thread, one daemon thread per connection."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        unix_path: str | Path | None = None,
        lifetime_s: float = 120.0,
        connection_timeout_s: float = 10.0,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.unix_path = Path(unix_path) if unix_path is not None else None
        self.lifetime_s = lifetime_s
        self.connection_timeout_s = connection_timeout_s
        self.connections_accepted = 0
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    # TCP backends

    @property
    def port(self) -> int:
        assert self._listener is not None and self.unix_path is None, "not a running TCP backend"
        return int(self._listener.getsockname()[1])

    @property
    def path(self) -> Path:
        assert self.unix_path is not None, "not a unix-socket backend"
        return self.unix_path

    def _bind(self) -> socket.socket:
        if self.unix_path is not None:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(self.unix_path))
            # An unprivileged nginx worker must be able to connect to it.
            os.chmod(self.unix_path, 0o666)
            return listener
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_INET6:
            listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if self.requested_port:
            # A backend restarted on its old port must not wait for TIME_WAIT to expire.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.requested_port))
        return listener

    def start(self) -> LoopbackServer:
        self._listener = self._bind()
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self._spawn(self._accept_loop)
        return self

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        deadline = time.monotonic() + self.lifetime_s
        while not self._stopping.is_set() and time.monotonic() < deadline:
            try:
                connection, _address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(self.connection_timeout_s)
            with self._lock:
                self.connections_accepted += 1
                self._open.add(connection)
            self._spawn(self._serve, connection)

    def _serve(self, connection: socket.socket) -> None:
        try:
            self.handle(connection)
        except (OSError, PeerClosed, ValueError):
            pass
        finally:
            with self._lock:
                self._open.discard(connection)
            with contextlib.suppress(OSError):
                connection.close()

    def handle(self, connection: socket.socket) -> None:
        raise NotImplementedError

    def sleep(self, seconds: float) -> bool:
        """Sleep unless the backend is stopping; True if the full time passed."""
        return not self._stopping.wait(seconds)

    def stop(self, join_timeout_s: float = 2.0) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            for connection in list(self._open):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            threads = list(self._threads)
        deadline = time.monotonic() + join_timeout_s
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.unix_path is not None:
            self.unix_path.unlink(missing_ok=True)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class HttpBackend(LoopbackServer):
    """Keep-alive HTTP/1.1 server; subclasses decide each response in `respond`."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.requests: list[HttpRequest] = []

    def handle(self, connection: socket.socket) -> None:
        reader = SocketReader(connection)
        while reader.wait_for_data():
            request = read_request(reader)
            with self._lock:
                self.requests.append(request)
            keep_alive = request.wants_keepalive()
            response = self.respond(request, keep_alive)
            if response is None:
                return
            connection.sendall(response)
            if not keep_alive:
                close_gracefully(connection)
                return

    def respond(self, request: HttpRequest, keep_alive: bool) -> bytes | None:
        """The response bytes, or None to drop the connection without answering."""
        raise NotImplementedError


# --- the backends ----------------------------------------------------------------


class PlainHTTPBackend(HttpBackend):
    """200 with the request (method, path, version, headers, body length) as JSON.

    Tests read the body to see what reached the backend, e.g. the Host and
    Connection headers nginx sent, and `connections_accepted` to see whether
    nginx reused upstream connections.
    """

    def __init__(self, *, host: str = "127.0.0.1", status: int = 200, **options: Any) -> None:
        super().__init__(host=host, **options)
        self.status = status

    def respond(self, request: HttpRequest, keep_alive: bool) -> bytes:
        return http_response(self.status, request.as_json(), keep_alive=keep_alive, content_type="application/json")


class BigHeaderBackend(HttpBackend):
    """Answers with one huge header (a session cookie of `header_bytes` bytes).

    nginx's default proxy_buffer_size (one page, 4k) cannot hold it:
    `upstream sent too big header while reading response header from upstream` → 502.
    """

    def __init__(self, header_bytes: int = 20_000, *, header_name: str = "Set-Cookie", **options: Any) -> None:
        super().__init__(**options)
        self.header_name = header_name
        self.header_value = "session=" + "x" * max(0, header_bytes - len("session="))

    def respond(self, request: HttpRequest, keep_alive: bool) -> bytes:
        return http_response(200, b"big header ok", {self.header_name: self.header_value}, keep_alive=keep_alive)


class SlowBackend(HttpBackend):
    """Reads the request, waits `delay_s`, then answers 200 ("slow ok").

    With a read timeout below `delay_s` nginx gives up first: `upstream timed out
    (110: Connection timed out) while reading response header from upstream` → 504.
    """

    def __init__(self, delay_s: float, **options: Any) -> None:
        super().__init__(**options)
        self.delay_s = delay_s

    def respond(self, request: HttpRequest, keep_alive: bool) -> bytes | None:
        if not self.sleep(self.delay_s):
            return None
        return http_response(200, b"slow ok", keep_alive=keep_alive)


class IdleCloseBackend(HttpBackend):
    """Keep-alive server whose idle timer always wins the race against nginx.

    It answers HTTP/1.1 without `Connection: close`, so nginx pools the
    connection. A request that arrives on a connection idle for `idle_close_s`
    or longer is treated as having crossed the server's close on the wire: the
    server drops the connection without answering. That is the losing side of
    the real race (server closes at the instant nginx reuses the connection),
    made deterministic: the server never closes idle connections on its own,
    because nginx would notice that FIN and discard the connection.

    `close_style="fin"`: read the request, then close →
    `upstream prematurely closed connection while reading response header from upstream`.
    `close_style="reset"`: close at once with RST →
    `recv() failed (104: Connection reset by peer) while reading response header from upstream`.
    nginx retries idempotent requests on a fresh connection (200), but not POST
    (502), and nothing with `proxy_next_upstream off` (502).
    """

    def __init__(
        self, idle_close_s: float = 0.5, *, close_style: Literal["fin", "reset"] = "fin", **options: Any
    ) -> None:
        super().__init__(**options)
        self.idle_close_s = idle_close_s
        self.close_style = close_style
        self.dropped = 0

    def handle(self, connection: socket.socket) -> None:
        reader = SocketReader(connection)
        answered_at: float | None = None
        while reader.wait_for_data():
            if answered_at is not None and time.monotonic() - answered_at >= self.idle_close_s:
                with self._lock:
                    self.dropped += 1
                if self.close_style == "reset":
                    reset_connection(connection)
                else:
                    read_request(reader)
                    close_gracefully(connection)
                return
            request = read_request(reader)
            with self._lock:
                self.requests.append(request)
            keep_alive = request.wants_keepalive()
            connection.sendall(http_response(200, b"idle-close ok", keep_alive=keep_alive))
            if not keep_alive:
                close_gracefully(connection)
                return
            answered_at = time.monotonic()


def ipv6_loopback_available() -> bool:
    """Whether ::1 can be bound here (no on kernels booted with ipv6.disable=1)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


class IPv4OnlyBackend(PlainHTTPBackend):
    """PlainHTTPBackend on 127.0.0.1 whose port is known to be closed on [::1].

    A pass target that resolves to ::1 (`localhost` on hosts whose /etc/hosts maps
    it to ::1, or an explicit `[::1]` peer) gets `connect() failed (111: Connection
    refused) while connecting to upstream` with `upstream: "http://[::1]:PORT/"`.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(host="127.0.0.1", **options)

    def start(self) -> IPv4OnlyBackend:
        for _attempt in range(5):
            super().start()
            if not ipv6_loopback_available() or not _tcp_connects("::1", self.port):
                return self
            # Something else serves this port on ::1; that would hide the refusal.
            self.stop()
            self._stopping.clear()
        raise RuntimeError("could not find a port that is free on ::1")


def _tcp_connects(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


class BlackholeBackend(LoopbackServer):
    """A port whose SYNs go unanswered, like a firewall DROP rule, without touching the firewall.

    It listens but never accepts, and fills its accept queue with its own
    connections; Linux then drops further SYNs, so nginx's connect timer fires:
    `upstream timed out (110: Connection timed out) while connecting to upstream` → 504.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._fillers: list[socket.socket] = []

    def start(self) -> BlackholeBackend:
        self._listener = self._bind()
        self._listener.listen(0)
        for _attempt in range(16):
            if not _tcp_connects(self.host, self.port, timeout_s=0.3):
                return self
            filler = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
            filler.setblocking(False)
            filler.connect_ex((self.host, self.port))
            self._fillers.append(filler)
        self.stop()
        raise RuntimeError("the accept queue never filled up; SYNs are not being dropped")

    def handle(self, connection: socket.socket) -> None:
        raise AssertionError("a blackhole never accepts")

    def stop(self, join_timeout_s: float = 2.0) -> None:
        for filler in self._fillers:
            filler.close()
        super().stop(join_timeout_s)


class HTTPBehindFastCGI(LoopbackServer):
    """An HTTP server where nginx expects FastCGI or uwsgi (TCP, or a unix socket with `unix_path`).

    Like any HTTP server fed binary records, it answers `400 Bad Request`.
    fastcgi_pass reads the "H" of "HTTP/1.1" as the record version:
    `upstream sent unsupported FastCGI protocol version: 72 while reading response header from upstream` → 502.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.received = b""

    def handle(self, connection: socket.socket) -> None:
        self.received = connection.recv(65536)
        page = b"<html><body><h1>400 Bad Request</h1></body></html>\n"
        connection.sendall(http_response(400, page, keep_alive=False, content_type="text/html"))
        close_gracefully(connection)


# --- TLS ---------------------------------------------------------------------------


@dataclass
class SelfSignedCert:
    cert_path: Path
    key_path: Path


def make_self_signed_cert(directory: Path, common_name: str, alt_names: list[str]) -> SelfSignedCert:
    """Throw-away EC cert with the openssl CLI (no extra Python dependency)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl not found: install it with apt-get install openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    san = ",".join(f"DNS:{name}" for name in alt_names)
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "2", "-subj", f"/CN={common_name}", "-addext", f"subjectAltName={san}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )
    return SelfSignedCert(cert, key)


class TLSBackend(PlainHTTPBackend):
    """HTTPS echo server that aborts the handshake unless the client sends SNI `require_sni`.

    nginx sends no SNI by default (`proxy_ssl_server_name off`), so `proxy_pass
    https://127.0.0.1:PORT` fails with `SSL_do_handshake() failed (SSL: error:0A000410:SSL
    routines::sslv3 alert handshake failure:SSL alert number 40) while SSL handshaking to upstream`
    → 502. `require_sni=None` accepts any SNI. `.cert_path` is the self-signed certificate
    (SAN = `require_sni`), usable as `proxy_ssl_trusted_certificate`.
    """

    def __init__(
        self,
        require_sni: str | None = "backend.test",
        *,
        alert: int = ssl.ALERT_DESCRIPTION_HANDSHAKE_FAILURE,
        certificate: SelfSignedCert | None = None,
        minimum_version: ssl.TLSVersion | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.require_sni = require_sni
        self.alert = alert
        self.sni_seen: list[str | None] = []
        self.handshakes_rejected = 0
        self._cert_dir = make_private_dir("nginx-502lint-tls-")
        name = require_sni or "backend.test"
        # `certificate` (e.g. a CertChain's leaf, whose file holds the intermediates too)
        # replaces the self-signed default; the caller owns its files.
        self.cert = certificate or make_self_signed_cert(self._cert_dir, name, [name])
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if minimum_version is not None:
            self._context.minimum_version = minimum_version
        self._context.load_cert_chain(self.cert.cert_path, self.cert.key_path)
        self._context.sni_callback = self._check_sni

    @property
    def cert_path(self) -> Path:
        return self.cert.cert_path

    def _check_sni(
        self, _sock: ssl.SSLSocket | ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext
    ) -> int | None:
        with self._lock:
            self.sni_seen.append(server_name)
            if self.require_sni is not None and server_name != self.require_sni:
                self.handshakes_rejected += 1
                return self.alert
        return None

    def handle(self, connection: socket.socket) -> None:
        try:
            tls = self._context.wrap_socket(connection, server_side=True)
        except (ssl.SSLError, OSError):
            return
        super().handle(tls)

    def stop(self, join_timeout_s: float = 2.0) -> None:
        super().stop(join_timeout_s)
        shutil.rmtree(self._cert_dir, ignore_errors=True)


# --- php-fpm -------------------------------------------------------------------------

PHP_SCRIPTS: dict[str, str] = {
    # Arithmetic in the output proves PHP ran instead of the source being served.
    "index.php": '<?php header("Content-Type: text/plain"); echo "php ok ", 6 * 7, " ", PHP_VERSION, "\\n";\n',
    "sleep.php": '<?php $s = (float)($_GET["s"] ?? 2); usleep((int)($s * 1000000)); echo "slept ", $s, "\\n";\n',
}


@dataclass
class PhpFpmPool:
    """A real php-fpm master (foreground) with one pool on a unix socket in a temp dir.

    The socket's owner/group/mode come from `listen_owner`/`listen_group`/`listen_mode`
    (default: nginx's worker user, like Debian's stock pool); `request_terminate_timeout_s`
    sets the pool's hard kill (0 = never). `.docroot` holds index.php and sleep.php
    (`sleep.php?s=3`).
    """

    listen_owner: str | None = None
    listen_group: str | None = None
    listen_mode: str = "0660"
    request_terminate_timeout_s: int = 0
    max_children: int = 2
    pool_user: str | None = None
    extra_pool_config: str = ""
    scripts: Mapping[str, str] = field(default_factory=lambda: dict(PHP_SCRIPTS))
    # A TCP address such as "127.0.0.1:9000" instead of the unix socket.
    listen_address: str | None = None
    startup_timeout_s: float = 10.0
    stop_timeout_s: float = 5.0
    directory: Path = field(init=False)
    _process: subprocess.Popen[bytes] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.binary = find_php_fpm()
        self.directory = make_private_dir("nginx-502lint-fpm-")
        self.docroot.mkdir(mode=0o755)
        for name, source in self.scripts.items():
            script = self.docroot / name
            script.write_text(source)
            script.chmod(0o644)

    @property
    def socket_path(self) -> Path:
        return self.directory / "php-fpm.sock"

    @property
    def path(self) -> Path:
        return self.socket_path

    @property
    def docroot(self) -> Path:
        return self.directory / "www"

    @property
    def log_path(self) -> Path:
        return self.directory / "php-fpm.log"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _config(self) -> str:
        lines = [
            "[global]",
            f"pid = {self.directory}/php-fpm.pid",
            f"error_log = {self.log_path}",
            "daemonize = no",
            "[e2e]",
            f"listen = {self.listen_address or self.socket_path}",
            f"listen.mode = {self.listen_mode}",
            "pm = static",
            f"pm.max_children = {self.max_children}",
            f"request_terminate_timeout = {self.request_terminate_timeout_s}",
            "catch_workers_output = yes",
        ]
        if is_root():
            worker = self.pool_user or default_worker_user() or "root"
            user, group = user_and_group(worker)
            owner = self.listen_owner or user
            lines += [f"user = {user}", f"group = {group}", f"listen.owner = {owner}",
                      f"listen.group = {self.listen_group or user_and_group(owner)[1]}"]
        return "\n".join(lines) + "\n" + self.extra_pool_config + "\n"

    @property
    def config_path(self) -> Path:
        """The php-fpm config with the pool (what the linter's --php-fpm reads)."""
        return self.directory / "php-fpm.conf"

    def start(self) -> PhpFpmPool:
        self.config_path.write_text(self._config())
        return self._launch()

    def restart(self) -> PhpFpmPool:
        """Stop and start again from config_path as it is on disk now (e.g. after a test edited it)."""
        self.stop()
        return self._launch()

    def _launch(self) -> PhpFpmPool:
        command = [self.binary, "-F", "-y", str(self.config_path)]
        if is_root():
            command.append("-R")
        log_offset = len(self.log_text())
        with open(self.directory / "stderr.log", "ab") as stderr:
            self._process = subprocess.Popen(
                command, stdout=stderr, stderr=stderr, stdin=subprocess.DEVNULL, start_new_session=True
            )
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"php-fpm exited with {self._process.returncode}:\n{self.log_text()}")
            listening = self.listen_address is not None or self.socket_path.exists()
            if listening and "ready to handle connections" in self.log_text()[log_offset:]:
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"php-fpm not ready within {self.startup_timeout_s}s:\n{self.log_text()}")

    def stop(self) -> None:
        # SIGTERM is php-fpm's immediate shutdown; SIGQUIT would wait for busy children.
        if self._process is not None:
            stop_process_group(self._process, signal.SIGTERM, self.stop_timeout_s)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PhpFpmPool:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()
