"""Backends the rule proofs add to tests/e2e/backends.py: each misbehaves (or behaves) in one way.

Like those, each is a context manager, bounded in lifetime, on loopback only.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends import (
    HttpBackend,
    HttpRequest,
    PlainHTTPBackend,
    SelfSignedCert,
    SocketReader,
    close_gracefully,
    http_response,
    read_request,
)

if TYPE_CHECKING:
    from typing_extensions import Self


class HTTPAppBackend(PlainHTTPBackend):
    """PlainHTTPBackend that rejects non-HTTP bytes the way real HTTP servers do.

    An HTTP app server (Node, gunicorn, Go) answers `400 Bad Request` and closes as
    soon as the first line is not an HTTP request line, e.g. when nginx speaks
    FastCGI or uwsgi to it. HTTP requests get the usual 200 JSON echo, so the
    same backend shows both the failure and the fixed config.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.rejected = 0

    def handle(self, connection: socket.socket) -> None:
        reader = SocketReader(connection)
        if not reader.wait_for_data():
            return
        if not _HTTP_REQUEST_START.match(reader.buffer):
            with self._lock:
                self.rejected += 1
            page = b"<html><body><h1>400 Bad Request</h1></body></html>\n"
            connection.sendall(http_response(400, page, keep_alive=False, content_type="text/html"))
            close_gracefully(connection)
            return
        # Hand the buffered bytes on to the ordinary keep-alive loop.
        self._serve_buffered(connection, reader)

    def _serve_buffered(self, connection: socket.socket, reader: SocketReader) -> None:
        while True:
            request = read_request(reader)
            with self._lock:
                self.requests.append(request)
            keep_alive = request.wants_keepalive()
            connection.sendall(self.respond(request, keep_alive))
            if not keep_alive or not reader.wait_for_data():
                close_gracefully(connection)
                return


_HTTP_REQUEST_START = re.compile(rb"^[A-Z]{1,16} ")


class LingeringCloseBackend(PlainHTTPBackend):
    """Answers `Connection: close` requests but leaves the closing to the client.

    Which side of a TCP connection closes first keeps the TIME_WAIT socket. A
    backend that closes at once takes it; one that is slower than nginx (busy,
    a lingering close) leaves it on nginx's side, on one of nginx's local ports.
    This backend always loses that race: after answering it waits (up to
    `linger_s`) for nginx to close, so each upstream connection nginx does not
    keep alive costs nginx a local port for the kernel's 60s TIME_WAIT.
    """

    def __init__(self, *, linger_s: float = 5.0, **options: Any) -> None:
        super().__init__(**options)
        self.linger_s = linger_s

    def handle(self, connection: socket.socket) -> None:
        reader = SocketReader(connection)
        while reader.wait_for_data():
            request = read_request(reader)
            with self._lock:
                self.requests.append(request)
            keep_alive = request.wants_keepalive()
            connection.sendall(self.respond(request, keep_alive))
            if not keep_alive:
                connection.settimeout(self.linger_s)
                with contextlib.suppress(OSError):
                    while connection.recv(65536):
                        pass
                return


class VirtualHostBackend(PlainHTTPBackend):
    """A name-based backend: 421 Misdirected Request unless `Host` is `server_name`.

    Like a virtual host behind a shared listener (or a CDN): a request that
    reaches it with nginx's default `Host: $proxy_host` (the upstream name or
    address) is not for any site it serves. 200 (the request as JSON) otherwise.
    """

    def __init__(self, server_name: str = "app.test", **options: Any) -> None:
        super().__init__(**options)
        self.server_name = server_name

    def respond(self, request: HttpRequest, keep_alive: bool) -> bytes:
        if (request.header("Host") or "").lower() != self.server_name:
            body = f"no site {request.header('Host')!r} here; this server is {self.server_name}\n".encode()
            return http_response(421, body, keep_alive=keep_alive)
        return super().respond(request, keep_alive)


class WebSocketBackend(HttpBackend):
    """Completes a WebSocket handshake (101) only when it arrives as one, else 400.

    A handshake needs HTTP/1.1, `Upgrade: websocket` and `Connection: upgrade`;
    nginx drops hop-by-hop `Upgrade`/`Connection` unless told to pass them, so the
    backend refuses what reaches it, as Node's ws or Django Channels do. After
    the 101 it closes: tests only need the handshake.
    """

    def respond(self, request: HttpRequest, keep_alive: bool) -> bytes | None:
        connection = [token.strip().lower() for token in (request.header("Connection") or "").split(",")]
        upgrade = (request.header("Upgrade") or "").lower()
        key = request.header("Sec-WebSocket-Key")
        if request.version != "HTTP/1.1" or upgrade != "websocket" or "upgrade" not in connection or not key:
            return http_response(400, b"not a websocket handshake\n", keep_alive=False)
        accept = base64.b64encode(hashlib.sha1((key + _WEBSOCKET_GUID).encode()).digest()).decode()
        head = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\n\r\n")
        return head.encode("latin-1")

    def handle(self, connection: socket.socket) -> None:
        reader = SocketReader(connection)
        if not reader.wait_for_data():
            return
        request = read_request(reader)
        with self._lock:
            self.requests.append(request)
        response = self.respond(request, keep_alive=False)
        if response is not None:
            connection.sendall(response)
        close_gracefully(connection)


_WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass
class CertChain:
    """A private CA (`root_path`) and a leaf it signed through `intermediates` CAs.

    `leaf.cert_path` holds the leaf followed by the intermediates, as a server sends them.
    """

    root_path: Path
    leaf: SelfSignedCert
    intermediates: int


def make_cert_chain(directory: Path, name: str, intermediates: int = 0) -> CertChain:
    """root -> intermediates -> leaf for `name` (SAN), with the openssl CLI."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl not found: install it with apt-get install openssl")
    ca_ext, leaf_ext = directory / "ca.ext", directory / "leaf.ext"
    ca_ext.write_text("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
    leaf_ext.write_text(f"basicConstraints=CA:FALSE\nsubjectAltName=DNS:{name}\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, timeout=30)

    root, root_key = directory / "root.pem", directory / "root.key"
    run("req", "-x509", *ec, "-days", "2", "-subj", "/CN=nginx-502lint e2e root CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", str(root_key), "-out", str(root))
    issuer, issuer_key = root, root_key
    chain_parts: list[Path] = []
    for index in range(intermediates + 1):
        is_leaf = index == intermediates
        stem = "leaf" if is_leaf else f"int{index + 1}"
        cert, key, request = directory / f"{stem}.pem", directory / f"{stem}.key", directory / f"{stem}.csr"
        subject = f"/CN={name}" if is_leaf else f"/CN=nginx-502lint e2e intermediate {index + 1}"
        run("req", "-new", *ec, "-subj", subject, "-keyout", str(key), "-out", str(request))
        run("x509", "-req", "-in", str(request), "-CA", str(issuer), "-CAkey", str(issuer_key),
            "-CAcreateserial", "-days", "2", "-extfile", str(leaf_ext if is_leaf else ca_ext), "-out", str(cert))
        chain_parts.insert(0, cert)
        issuer, issuer_key = cert, key
    fullchain = directory / "fullchain.pem"
    fullchain.write_text("".join(part.read_text() for part in chain_parts))
    return CertChain(root, SelfSignedCert(fullchain, directory / "leaf.key"), intermediates)


class LoopbackDNS:
    """A tiny authoritative DNS server on 127.0.0.1 (UDP) for nginx's `resolver 127.0.0.1:PORT`.

    Answers A queries for the names in `records` (name -> IPv4 address) with
    `ttl_s`; AAAA for those names gets an empty answer, any other name NXDOMAIN.
    `.queries` lists the (name, type) pairs asked, so a test sees nginx resolving.
    """

    def __init__(self, records: Mapping[str, str], *, ttl_s: int = 30, lifetime_s: float = 120.0) -> None:
        self.records = {name.lower().rstrip("."): address for name, address in records.items()}
        self.ttl_s = ttl_s
        self.lifetime_s = lifetime_s
        self.queries: list[tuple[str, int]] = []
        self._socket: socket.socket | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._socket is not None, "not running"
        return int(self._socket.getsockname()[1])

    def start(self) -> LoopbackDNS:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._socket is not None
        deadline = time.monotonic() + self.lifetime_s
        while not self._stopping.is_set() and time.monotonic() < deadline:
            try:
                query, client = self._socket.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            with contextlib.suppress(ValueError, IndexError, struct.error, OSError):
                self._socket.sendto(self.answer(query), client)

    def answer(self, query: bytes) -> bytes:
        (query_id,) = struct.unpack("!H", query[:2])
        labels, offset = [], 12
        while query[offset]:
            length = query[offset]
            labels.append(query[offset + 1:offset + 1 + length].decode("ascii").lower())
            offset += 1 + length
        qtype, _qclass = struct.unpack("!HH", query[offset + 1:offset + 5])
        question = query[12:offset + 5]
        name = ".".join(labels)
        self.queries.append((name, qtype))
        address = self.records.get(name)
        if address is None:
            return struct.pack("!HHHHHH", query_id, 0x8583, 1, 0, 0, 0) + question  # NXDOMAIN
        answers = b""
        if qtype == 1:  # A
            answers = struct.pack("!HHHIH", 0xC00C, 1, 1, self.ttl_s, 4) + socket.inet_aton(address)
        return struct.pack("!HHHHHH", query_id, 0x8580, 1, 1 if answers else 0, 0, 0) + question + answers

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(1.0)
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
