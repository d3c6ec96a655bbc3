"""Prove the F (FastCGI, uwsgi, protocol) rules against a real nginx and php-fpm.

Each test: the bad config fails in nginx as the rule says, the linter (given the
php-fpm pool file where the rule needs it) reports the rule on the files nginx
runs, and the rule's own fix makes the same request succeed. Fixes that belong in
the php-fpm pool are display-only: the test applies the settings they name, as
written, and says so.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from .backends import PhpFpmPool, PlainHTTPBackend
from .harness import NginxInstance, server_block
from .proofs.backends import HTTPAppBackend
from .proofs.net import on_random_loopback_address, random_loopback_host
from .proofs.sandbox import require_root
from .proofs.steps import (
    Proof,
    log_message,
    pool_settings_in,
    set_pool_settings,
    template,
)

StartNginx = Callable[..., NginxInstance]
Running = Callable[[Any], Any]


@pytest.mark.proof("F401", "fastcgi_pass unix:.../php8.1-fpm.sock; the pool listens on .../php-fpm.sock")
def test_f401_stale_socket_path_gives_502_and_its_fix_names_the_pool_socket(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    pool = running(PhpFpmPool())
    stale = pool.directory / "php8.1-fpm.sock"
    proxy = nginx(template("f401-stale-versioned-socket"), values={"docroot": pool.docroot, "socket": stale})

    line = proof.failed(proxy, proxy.request("/index.php", timeout=5), 502,
                        f"connect() to unix:{stale} failed (2: No such file or directory) while connecting to upstream")
    assert "[crit]" in line
    result, finding = proof.reported(proxy, pools=[pool.config_path])
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    response = proxy.request("/index.php", timeout=5)
    assert response.text.startswith("php ok 42")
    proof.succeeded(response, "200 from PHP")


@pytest.mark.proof("F402", "pool listen.owner/group root, listen.mode 0600; nginx workers run as www-data")
def test_f402_socket_nginx_may_not_open_gives_502_and_its_pool_fix_is_advice_that_works(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    require_root("nginx's workers must run as a user other than the socket's owner")
    pool = running(PhpFpmPool(listen_owner="root", listen_group="root", listen_mode="0600"))
    proxy = nginx(template("f402-socket-owned-by-root"), values={"docroot": pool.docroot, "socket": pool.socket_path})

    proof.failed(proxy, proxy.request("/index.php", timeout=5), 502,
                 f"connect() to unix:{pool.socket_path} failed (13: Permission denied) while connecting to upstream")
    result, finding = proof.reported(proxy, pools=[pool.config_path])

    # The fix is a php-fpm pool setting: nothing for the nginx fixer to apply.
    proof.fix_not_applicable(result, finding, "display_only")
    assert finding.fix is not None
    set_pool_settings(pool.config_path, pool_settings_in(finding.fix.description))
    pool.restart()

    response = proxy.request("/index.php", timeout=5)
    assert response.text.startswith("php ok 42")
    proof.succeeded(response, "200 from PHP, with the pool settings the fix names (display-only fix, applied as written)", by_hand=True)


@pytest.mark.proof("F403", "fastcgi_pass to port 8080, where an HTTP app listens")
def test_f403_fastcgi_pass_to_http_app_gives_502_protocol_version_72_and_its_fix_proxies(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    backend = on_random_loopback_address(lambda host: HTTPAppBackend(host=host, port=8080), running)
    proxy = nginx(template("f403-fastcgi-pass-to-http-port"), values={"backend_host": backend.host})

    proof.failed(proxy, proxy.request("/", timeout=5), 502,
                 "upstream sent unsupported FastCGI protocol version: 72 while reading response header from upstream")
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    proof.succeeded(proxy.request("/", timeout=5), "200 over HTTP")


@pytest.mark.proof("F403", "uwsgi_pass to port 8080, where an HTTP app listens")
def test_f403_uwsgi_pass_to_http_app_relays_its_400_and_its_fix_proxies(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    backend = on_random_loopback_address(lambda host: HTTPAppBackend(host=host, port=8080), running)
    proxy = nginx(template("f403-uwsgi-pass-to-http-port"), values={"backend_host": backend.host})

    # uwsgi responses are parsed as HTTP: the app's own 400 reaches the client (as the rule's doc says).
    response = proxy.request("/", timeout=5)
    assert response.status == 400 and backend.rejected == 1
    proof.record.failure = "400 (the app's, relayed)"
    proof.record.log_line = "(none: the HTTP app answers the uwsgi packet with 400, relayed)"
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    proof.succeeded(proxy.request("/", timeout=5), "200 over HTTP")


@pytest.mark.proof("F403", "proxy_pass http://...:9000 in a .php location, where php-fpm listens")
def test_f403_proxy_pass_to_php_fpm_gives_502_and_its_fix_speaks_fastcgi(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    host = random_loopback_host()
    pool = running(PhpFpmPool(listen_address=f"{host}:9000"))
    proxy = nginx(template("f403-proxy-pass-to-php-fpm"), values={"docroot": pool.docroot, "backend_host": host})

    # php-fpm cannot read HTTP and drops the connection: a reset, or an EOF.
    proof.failed(proxy, proxy.request("/index.php", timeout=5), 502, (
        "recv() failed (104: Connection reset by peer) while reading response header from upstream",
        "upstream prematurely closed connection while reading response header from upstream"))
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    response = proxy.request("/index.php", timeout=5)
    assert response.text.startswith("php ok 42")
    proof.succeeded(response, "200 from PHP over FastCGI")


@pytest.mark.proof("F405", "include fastcgi_params, no SCRIPT_FILENAME")
def test_f405_missing_script_filename_gives_404_primary_script_unknown_and_its_fix_runs_php(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    pool = running(PhpFpmPool())
    proxy = nginx(template("f405-fastcgi-params-without-script-filename"),
                  values={"docroot": pool.docroot, "socket": pool.socket_path})

    # Not a 502: the rule's doc says php-fpm answers 404 "File not found.".
    proof.failed(proxy, proxy.request("/index.php", timeout=5), 404, 'FastCGI sent in stderr: "Primary script unknown"')
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    response = proxy.request("/index.php", timeout=5)
    assert response.text.startswith("php ok 42")
    proof.succeeded(response, "200 from PHP")


@pytest.mark.proof("F404", "grpc_pass in a server whose listen has no http2; a gRPC (HTTP/2 prior knowledge) client")
def test_f404_grpc_pass_without_http2_listener_refuses_grpc_clients_and_its_fix_serves_them(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    # The gRPC service: an HTTP/2 (h2c) server, here an nginx that hands each call to an echo backend.
    echo = running(PlainHTTPBackend())
    service = nginx(server_block("location / { proxy_pass http://127.0.0.1:{echo}; }", listen="127.0.0.1:{port} http2"),
                    values={"echo": echo.port})
    proxy = nginx(template("f404-grpc-pass-without-http2"), values={"backend": service.port})
    # The gRPC client: nginx's own grpc_pass speaks HTTP/2 with prior knowledge, as gRPC clients do,
    # so no HTTP/2 client library is needed; the test talks HTTP/1.1 to it.
    client = nginx(server_block("location / { grpc_pass grpc://127.0.0.1:{proxy}; }"), values={"proxy": proxy.port})

    call = client.request("/echo.Echo/Say", "POST", headers={"Content-Type": "application/grpc"}, body=b"\0" * 5)

    # The proxy answers the HTTP/2 preface with an HTTP/1.1 400, which the gRPC client reads as an
    # HTTP/2 frame header: "HTT" = a 4740180-byte frame. The call fails on the client's side.
    assert call.status == 502
    client.wait_for_error_log("upstream sent too large http2 frame: 4740180 while reading response header from upstream")
    proxy.wait_for_access_log('"PRI * HTTP/2.0" 400')
    line = proxy.wait_for_error_log("client sent invalid request while reading client request line")
    assert 'request: "PRI * HTTP/2.0"' in line
    proof.record.failure = "gRPC call fails (HTTP/1.1 400 to the HTTP/2 preface)"
    proof.record.log_line = log_message(line) + ', request: "PRI * HTTP/2.0"'
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    call = client.request("/echo.Echo/Say", "POST", headers={"Content-Type": "application/grpc"}, body=b"\0" * 5)
    seen = json.loads(call.body)
    assert (seen["path"], seen["headers"]["content-type"], seen["body_length"]) == ("/echo.Echo/Say", "application/grpc", 5)
    proof.succeeded(call, "200: the call went over HTTP/2 through grpc_pass to the gRPC service")
