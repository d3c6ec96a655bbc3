"""Prove the e2e parts are real: each backend makes a real nginx fail the documented way."""
from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .backends import (
    BigHeaderBackend,
    BlackholeBackend,
    HTTPBehindFastCGI,
    IdleCloseBackend,
    IPv4OnlyBackend,
    PhpFpmPool,
    PlainHTTPBackend,
    SlowBackend,
    TLSBackend,
    ipv6_loopback_available,
)
from .harness import (
    NGINX_INSTALL_HINT,
    OPT_OUT_ENV,
    NginxInstance,
    NginxStartError,
    ToolMissing,
    child_pids,
    e2e_opt_out,
    find_php_fpm,
    is_root,
    nginx_test,
    nginx_version,
    render,
    server_block,
)

StartNginx = Callable[..., NginxInstance]
Running = Callable[[Any], Any]

PROXY_TO_BACKEND = server_block("location / { proxy_pass http://127.0.0.1:{backend}; }")
PHP_LOCATION = server_block(
    r"""
    root {docroot};
    location ~ \.php$ {
        include fastcgi_params;
        fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
        fastcgi_pass unix:{socket};
    }"""
)
KEEPALIVE_UPSTREAM = """
upstream app {
    server 127.0.0.1:{backend};
    keepalive 4;
    {upstream_extra}
}
""" + server_block(
    """
    location / {
        proxy_pass http://app;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        {location_extra}
    }"""
)


def process_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


# --- plain proxying, timeouts, buffers ------------------------------------------------


def test_proxy_to_plain_backend_returns_200_and_backend_sees_nginx_request(
    nginx: StartNginx, running: Running
) -> None:
    backend = running(PlainHTTPBackend())
    proxy = nginx(PROXY_TO_BACKEND, values={"backend": backend.port})

    response = proxy.request("/hello?x=1", timeout=5)

    assert response.status == 200
    seen = json.loads(response.body)
    assert seen["path"] == "/hello?x=1"
    assert seen["headers"]["host"] == f"127.0.0.1:{backend.port}"
    # Upstream HTTP/1.1 without `Connection: close` became the default in 1.29.7.
    if nginx_version() >= (1, 29, 7):
        assert seen["version"] == "HTTP/1.1"
        assert "connection" not in seen["headers"]
    else:
        assert seen["version"] == "HTTP/1.0"
        assert seen["headers"]["connection"] == "close"


def test_slow_backend_beyond_proxy_read_timeout_gives_504_and_timed_out_log(
    nginx: StartNginx, running: Running
) -> None:
    backend = running(SlowBackend(delay_s=3))
    proxy = nginx(
        server_block("location / { proxy_pass http://127.0.0.1:{backend}; proxy_read_timeout 1s; }"),
        values={"backend": backend.port},
    )

    started = time.monotonic()
    response = proxy.request("/", timeout=5)

    assert response.status == 504
    assert time.monotonic() - started < 2.5
    proxy.wait_for_error_log(
        "upstream timed out (110: Connection timed out) while reading response header from upstream"
    )


def test_slow_backend_within_proxy_read_timeout_answers(nginx: StartNginx, running: Running) -> None:
    backend = running(SlowBackend(delay_s=0.3))
    proxy = nginx(
        server_block("location / { proxy_pass http://127.0.0.1:{backend}; proxy_read_timeout 2s; }"),
        values={"backend": backend.port},
    )

    response = proxy.request("/", timeout=5)

    assert (response.status, response.body) == (200, b"slow ok")


def test_unanswered_connect_beyond_proxy_connect_timeout_gives_504(nginx: StartNginx, running: Running) -> None:
    backend = running(BlackholeBackend())
    proxy = nginx(
        server_block("location / { proxy_pass http://127.0.0.1:{backend}; proxy_connect_timeout 1s; }"),
        values={"backend": backend.port},
    )

    assert proxy.request("/", timeout=5).status == 504
    proxy.wait_for_error_log("upstream timed out (110: Connection timed out) while connecting to upstream")


def test_big_response_header_gives_502_until_proxy_buffers_are_raised(
    nginx: StartNginx, running: Running
) -> None:
    backend = running(BigHeaderBackend(header_bytes=20_000))
    proxy = nginx(PROXY_TO_BACKEND, values={"backend": backend.port})

    assert proxy.request("/", timeout=5).status == 502
    proxy.wait_for_error_log("upstream sent too big header while reading response header from upstream")

    proxy.reload(
        server_block(
            """
    location / {
        proxy_pass http://127.0.0.1:{backend};
        proxy_buffer_size 32k;
        proxy_buffers 8 32k;
        proxy_busy_buffers_size 64k;
    }"""
        )
    )
    fixed = proxy.request("/", timeout=5)

    assert fixed.status == 200
    assert len(fixed.headers["Set-Cookie"]) == 20_000


def test_nginx_test_rejects_raised_buffer_size_without_matching_buffers() -> None:
    accepted, stderr = nginx_test(server_block("location / {\n    proxy_buffer_size 32k;\n}"))

    assert not accepted
    assert '"proxy_busy_buffers_size" must be less than the size of all "proxy_buffers" minus one buffer' in stderr


def test_nginx_test_accepts_buffer_fix_and_cites_site_conf_lines_for_parse_errors() -> None:
    assert nginx_test(server_block("proxy_buffer_size 32k; proxy_buffers 8 32k; proxy_busy_buffers_size 64k;"))[0]

    accepted, stderr = nginx_test("# line 1\nproxy_read_timeout 30sec;\n")

    assert not accepted
    assert '"proxy_read_timeout" directive invalid value' in stderr
    assert "site.conf:2" in stderr


# --- php-fpm ----------------------------------------------------------------------------


def test_php_fpm_pool_behind_fastcgi_pass_runs_php(nginx: StartNginx, running: Running) -> None:
    pool = running(PhpFpmPool())
    proxy = nginx(PHP_LOCATION, values={"docroot": pool.docroot, "socket": pool.socket_path})

    response = proxy.request("/index.php", timeout=5)

    assert response.status == 200
    assert response.text.startswith("php ok 42 ")


def test_fastcgi_pass_to_missing_socket_gives_502_no_such_file(nginx: StartNginx, running: Running) -> None:
    pool = running(PhpFpmPool())
    stale_socket = pool.directory / "php8.1-fpm.sock"
    proxy = nginx(PHP_LOCATION, values={"docroot": pool.docroot, "socket": stale_socket})

    assert proxy.request("/index.php", timeout=5).status == 502
    line = proxy.wait_for_error_log("(2: No such file or directory) while connecting to upstream")
    assert "[crit]" in line
    assert f"connect() to unix:{stale_socket} failed" in line


@pytest.mark.skipif(not is_root(), reason="needs root: workers must run as a user other than the socket owner")
def test_socket_mode_excluding_nginx_user_gives_502_permission_denied(
    nginx: StartNginx, running: Running
) -> None:
    pool = running(PhpFpmPool(listen_owner="root", listen_group="root", listen_mode="0600"))
    proxy = nginx(PHP_LOCATION, values={"docroot": pool.docroot, "socket": pool.socket_path})

    assert proxy.request("/index.php", timeout=5).status == 502
    proxy.wait_for_error_log(f"connect() to unix:{pool.socket_path} failed (13: Permission denied)")


def test_fpm_request_terminate_timeout_below_script_time_gives_502(nginx: StartNginx, running: Running) -> None:
    pool = running(PhpFpmPool(request_terminate_timeout_s=1))
    proxy = nginx(PHP_LOCATION, values={"docroot": pool.docroot, "socket": pool.socket_path})

    assert proxy.request("/sleep.php?s=3", timeout=8).status == 502
    # php-fpm kills the child: nginx sees a reset, or an EOF if the close wins.
    log = proxy.error_log_text()
    assert (
        "recv() failed (104: Connection reset by peer) while reading response header from upstream" in log
        or "upstream prematurely closed connection while reading response header from upstream" in log
    ), log
    assert "execution timed out" in pool.log_text()


def test_http_server_behind_fastcgi_pass_gives_502_protocol_version_72(
    nginx: StartNginx, running: Running
) -> None:
    backend = running(HTTPBehindFastCGI())
    proxy = nginx(
        server_block("location / { include fastcgi_params; fastcgi_pass 127.0.0.1:{backend}; }"),
        values={"backend": backend.port},
    )

    assert proxy.request("/", timeout=5).status == 502
    proxy.wait_for_error_log("upstream sent unsupported FastCGI protocol version: 72 while reading response header")


def test_http_server_behind_uwsgi_pass_relays_its_400(nginx: StartNginx, running: Running) -> None:
    # uwsgi responses are parsed as HTTP, so the HTTP server's own error page gets through.
    backend = running(HTTPBehindFastCGI())
    proxy = nginx(
        server_block("location / { include uwsgi_params; uwsgi_pass 127.0.0.1:{backend}; }"),
        values={"backend": backend.port},
    )

    assert proxy.request("/", timeout=5).status == 400


# --- keepalive race, IPv6 localhost, TLS SNI --------------------------------------------


def keepalive_proxy(
    nginx: StartNginx, backend: IdleCloseBackend, upstream_extra: str = "", location_extra: str = ""
) -> NginxInstance:
    return nginx(
        KEEPALIVE_UPSTREAM,
        values={"backend": backend.port, "upstream_extra": upstream_extra, "location_extra": location_extra},
    )


def test_post_on_connection_backend_closed_while_idle_gives_502(nginx: StartNginx, running: Running) -> None:
    backend = running(IdleCloseBackend(idle_close_s=0.3))
    proxy = keepalive_proxy(nginx, backend)
    assert proxy.request("/", "POST", body=b"a=1", timeout=5).status == 200

    time.sleep(0.5)
    response = proxy.request("/", "POST", body=b"a=2", timeout=5)

    assert response.status == 502
    assert backend.dropped == 1
    proxy.wait_for_error_log("upstream prematurely closed connection while reading response header from upstream")


def test_reset_on_stale_connection_logs_connection_reset(nginx: StartNginx, running: Running) -> None:
    backend = running(IdleCloseBackend(idle_close_s=0.3, close_style="reset"))
    proxy = keepalive_proxy(nginx, backend)
    assert proxy.request("/", "POST", body=b"a=1", timeout=5).status == 200

    time.sleep(0.5)

    assert proxy.request("/", "POST", body=b"a=2", timeout=5).status == 502
    proxy.wait_for_error_log(
        "recv() failed (104: Connection reset by peer) while reading response header from upstream"
    )


def test_get_on_stale_connection_is_retried_silently(nginx: StartNginx, running: Running) -> None:
    backend = running(IdleCloseBackend(idle_close_s=0.3))
    proxy = keepalive_proxy(nginx, backend)
    assert proxy.request("/", timeout=5).status == 200

    time.sleep(0.5)

    assert proxy.request("/", timeout=5).status == 200
    assert backend.dropped == 1


def test_get_on_stale_connection_gives_502_with_next_upstream_off(nginx: StartNginx, running: Running) -> None:
    backend = running(IdleCloseBackend(idle_close_s=0.3))
    proxy = keepalive_proxy(nginx, backend, location_extra="proxy_next_upstream off;")
    assert proxy.request("/", timeout=5).status == 200

    time.sleep(0.5)

    assert proxy.request("/", timeout=5).status == 502
    assert backend.dropped == 1


def test_upstream_keepalive_timeout_below_backend_idle_avoids_the_race(
    nginx: StartNginx, running: Running
) -> None:
    backend = running(IdleCloseBackend(idle_close_s=0.5))
    proxy = keepalive_proxy(nginx, backend, upstream_extra="keepalive_timeout 200ms;")
    assert proxy.request("/", "POST", body=b"a=1", timeout=5).status == 200

    time.sleep(0.8)

    assert proxy.request("/", "POST", body=b"a=2", timeout=5).status == 200
    assert backend.dropped == 0
    assert backend.connections_accepted == 2


@pytest.mark.skipif(not ipv6_loopback_available(), reason="this kernel has no ::1; see README")
def test_ipv6_peer_of_ipv4_only_backend_gives_502_connection_refused(
    nginx: StartNginx, running: Running
) -> None:
    backend = running(IPv4OnlyBackend())
    proxy = nginx(server_block("location / { proxy_pass http://[::1]:{backend}; }"), values={"backend": backend.port})

    assert proxy.request("/", timeout=5).status == 502
    line = proxy.wait_for_error_log("connect() failed (111: Connection refused) while connecting to upstream")
    assert f'upstream: "http://[::1]:{backend.port}/"' in line


@pytest.mark.skipif(not ipv6_loopback_available(), reason="this kernel has no ::1; see README")
def test_localhost_style_peer_pair_retries_ipv4_and_disables_ipv6_peer(
    nginx: StartNginx, running: Running
) -> None:
    # What `localhost` becomes where /etc/hosts maps it to both ::1 and 127.0.0.1.
    backend = running(IPv4OnlyBackend())
    proxy = nginx(
        "upstream localhost_pair { server [::1]:{backend}; server 127.0.0.1:{backend}; }\n"
        + server_block("location / { proxy_pass http://localhost_pair; }"),
        values={"backend": backend.port},
    )

    assert [proxy.request("/", timeout=5).status for _ in range(3)] == [200, 200, 200]
    proxy.wait_for_access_log(f"upstream=[::1]:{backend.port}, 127.0.0.1:{backend.port} upstream_status=502, 200")
    proxy.wait_for_error_log("connect() failed (111: Connection refused) while connecting to upstream")
    proxy.wait_for_error_log("upstream server temporarily disabled while connecting to upstream")
    assert len(backend.requests) == 3


def test_https_upstream_without_sni_gives_502_until_sni_is_sent(nginx: StartNginx, running: Running) -> None:
    backend = running(TLSBackend(require_sni="backend.test"))
    proxy = nginx(
        server_block("location / { proxy_pass https://127.0.0.1:{backend}; }"), values={"backend": backend.port}
    )

    assert proxy.request("/", timeout=5).status == 502
    proxy.wait_for_error_log("alert handshake failure:SSL alert number 40) while SSL handshaking to upstream")

    proxy.reload(
        server_block(
            """
    location / {
        proxy_pass https://127.0.0.1:{backend};
        proxy_ssl_server_name on;
        proxy_ssl_name backend.test;
    }"""
        )
    )

    assert proxy.request("/", timeout=5).status == 200
    assert backend.sni_seen == [None, "backend.test"]


def test_tls_backend_cert_verifies_as_trusted_certificate(nginx: StartNginx, running: Running) -> None:
    backend = running(TLSBackend(require_sni="backend.test"))
    proxy = nginx(
        server_block(
            """
    location / {
        proxy_pass https://127.0.0.1:{backend};
        proxy_ssl_server_name on;
        proxy_ssl_name backend.test;
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate {ca};
    }"""
        ),
        values={"backend": backend.port, "ca": backend.cert_path},
    )

    assert proxy.request("/", timeout=5).status == 200


# --- the harness itself ---------------------------------------------------------------------


def test_stop_kills_master_and_workers_that_ignore_quit() -> None:
    instance = NginxInstance(server_block("location / { return 200; }"), stop_timeout_s=0.5)
    with instance:
        master = instance.master_pid
        assert master is not None
        workers = child_pids(master)
        assert workers
        # A stopped process cannot act on SIGQUIT: only the SIGKILL fallback ends it.
        os.kill(master, signal.SIGSTOP)
        for worker in workers:
            os.kill(worker, signal.SIGSTOP)

    assert all(process_gone(pid) for pid in [master, *workers])
    assert not instance.prefix.exists()


def test_context_manager_stops_nginx_when_the_body_raises() -> None:
    instance = NginxInstance(server_block("location / { return 200; }"))
    with pytest.raises(RuntimeError, match="test body failed"), instance:
        raise RuntimeError("test body failed")
    master = instance.master_pid

    assert master is not None and process_gone(master)


def test_start_reports_nginx_t_errors() -> None:
    instance = NginxInstance(server_block("location / { proxy_read_timeot 5s; }"))

    with pytest.raises(NginxStartError, match='unknown directive "proxy_read_timeot"'):
        instance.start()

    assert not instance.is_running()
    instance.cleanup()


def test_missing_nginx_binary_fails_with_install_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NGINX_502LINT_NGINX", str(tmp_path / "no-such-nginx"))

    with pytest.raises(ToolMissing) as missing:
        NginxInstance(server_block("location / { return 200; }"))

    assert str(missing.value) == "nginx not found: install it with apt-get install nginx-light"
    assert str(missing.value) == NGINX_INSTALL_HINT


def test_missing_php_fpm_binary_fails_with_install_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("NGINX_502LINT_PHP_FPM", raising=False)

    with pytest.raises(ToolMissing, match="^php-fpm not found: install it with apt-get install php-fpm$"):
        find_php_fpm(extra_dirs=[str(tmp_path)])


@pytest.mark.parametrize(
    ("environ", "skipped"),
    [
        ({}, False),
        ({OPT_OUT_ENV: "1"}, True),
        ({OPT_OUT_ENV: "0"}, False),
        ({OPT_OUT_ENV: "1", "CI": "true"}, False),
        ({OPT_OUT_ENV: "1", "CI": "false"}, True),
    ],
)
def test_opt_out_is_honoured_locally_but_never_in_ci(environ: dict[str, str], skipped: bool) -> None:
    assert e2e_opt_out(environ) is skipped


def test_render_fills_placeholders_and_keeps_nginx_braces_and_variables() -> None:
    template = 'map $uri $x { default 1; } location ~ ^/\\d{3}$ { return 200 "${host}:{port}"; }'

    assert render(template, {"port": 8080}) == (
        'map $uri $x { default 1; } location ~ ^/\\d{3}$ { return 200 "${host}:8080"; }'
    )
    with pytest.raises(KeyError, match="backend_prot"):
        render("proxy_pass http://127.0.0.1:{backend_prot};", {"backend_port": 1})
