"""Prove the T (timeout) and B (buffer) rules against a real nginx and php-fpm.

Each test: the bad config fails in nginx as the rule says, the linter reports the
rule on the files nginx runs, and the rule's own fix makes the same request succeed.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


from .backends import (
    PHP_SCRIPTS,
    BigHeaderBackend,
    PhpFpmPool,
    PlainHTTPBackend,
    SlowBackend,
)
from .harness import NginxInstance
from .proofs.steps import (
    Proof,
    pool_settings_in,
    set_pool_settings,
    template,
)

StartNginx = Callable[..., NginxInstance]
Running = Callable[[Any], Any]

TIMED_OUT_READING = "upstream timed out (110: Connection timed out) while reading response header from upstream"
TOO_BIG_HEADER = "upstream sent too big header while reading response header from upstream"


def timed_request(nginx: NginxInstance, path: str, timeout: float = 10.0) -> tuple[Any, float]:
    started = time.monotonic()
    response = nginx.request(path, timeout=timeout)
    return response, time.monotonic() - started


# --- T: timeouts --------------------------------------------------------------------------


@pytest.mark.proof("T102", "proxy_read_timeout 1s; the backend answers after 2s")
def test_t102_short_read_timeout_gives_504_and_its_fix_lets_the_slow_answer_through(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    backend = running(SlowBackend(delay_s=2))
    proxy = nginx(template("t102-short-read-timeout"), values={"backend": backend.port})

    proof.failed(proxy, proxy.request("/api/report", timeout=10), 504, TIMED_OUT_READING)
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    response, took = timed_request(proxy, "/api/report")
    assert response.body == b"slow ok"
    proof.succeeded(response, f"200 after {took:.1f}s")


@pytest.mark.proof("T105", "504: fastcgi_read_timeout 1s, pool request_terminate_timeout = 60, script runs 2s")
def test_t105_nginx_timeout_far_below_php_fpm_kill_gives_504_and_its_fix_waits_for_php(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    pool = running(PhpFpmPool(request_terminate_timeout_s=60))
    proxy = nginx(template("t105-nginx-gives-up-first"), values={"docroot": pool.docroot, "socket": pool.socket_path})

    proof.failed(proxy, proxy.request("/sleep.php?s=2", timeout=10), 504, TIMED_OUT_READING)
    result, finding = proof.reported(proxy, pools=[pool.config_path])
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    response, took = timed_request(proxy, "/sleep.php?s=2")
    assert response.text.startswith("slept 2")
    proof.succeeded(response, f"200 from PHP after {took:.1f}s")


@pytest.mark.proof("T105", "502: default fastcgi_read_timeout 60s, pool request_terminate_timeout = 1, script runs 3s")
def test_t105_php_fpm_kill_below_nginx_timeout_gives_502_and_its_pool_fix_is_advice_that_works(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    pool = running(PhpFpmPool(request_terminate_timeout_s=1))
    proxy = nginx(template("t105-php-fpm-kills-first"), values={"docroot": pool.docroot, "socket": pool.socket_path})

    response = proxy.request("/sleep.php?s=3", timeout=10)
    # php-fpm kills the child: nginx sees a reset, or an EOF when the close wins the race.
    needle = ("recv() failed (104: Connection reset by peer) while reading response header from upstream"
              if "recv() failed (104" in proxy.error_log_text() else "upstream prematurely closed connection")
    proof.failed(proxy, response, 502, needle)
    assert "execution timed out" in pool.log_text()
    result, finding = proof.reported(proxy, pools=[pool.config_path])

    # The fix is a php-fpm pool setting: nothing for the nginx fixer to apply.
    proof.fix_not_applicable(result, finding, "display_only")
    assert finding.fix is not None
    set_pool_settings(pool.config_path, pool_settings_in(finding.fix.description))
    pool.restart()

    response, took = timed_request(proxy, "/sleep.php?s=3")
    assert response.text.startswith("slept 3")
    proof.succeeded(response, f"200 after {took:.1f}s, with the pool setting the fix names (display-only fix, applied as written)",
                    by_hand=True)


# --- B: buffers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        pytest.param("b201-default-buffer-size", marks=pytest.mark.proof(
            "B201", "default proxy_buffer_size (4k page); the backend sends a 10k Set-Cookie")),
        pytest.param("b201-explicit-small-buffer", marks=pytest.mark.proof(
            "B201", "proxy_buffer_size 4k in server; the backend sends a 10k Set-Cookie")),
    ],
)
def test_b201_small_header_buffer_gives_502_on_a_big_cookie_and_its_fix_fits_it(
    config: str, proof: Proof, nginx: StartNginx, running: Running
) -> None:
    backend = running(BigHeaderBackend(header_bytes=10_000))
    proxy = nginx(template(config), values={"backend": backend.port})

    proof.failed(proxy, proxy.request("/login/callback", timeout=5), 502, TOO_BIG_HEADER)
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    response = proxy.request("/login/callback", timeout=5)
    assert len(response.headers["Set-Cookie"]) == 10_000
    proof.succeeded(response, "200 with the 10k cookie intact")


BIG_COOKIE_PHP = '<?php setcookie("session", str_repeat("x", 10000)); echo "logged in\\n";\n'


@pytest.mark.proof("B201", "default fastcgi_buffer_size (4k page); PHP sends a 10k Set-Cookie")
def test_b201_php_big_cookie_gives_502_with_default_fastcgi_buffer_and_its_fix_fits_it(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    pool = running(PhpFpmPool(scripts={**PHP_SCRIPTS, "login.php": BIG_COOKIE_PHP}))
    proxy = nginx(template("t105-php-fpm-kills-first"), values={"docroot": pool.docroot, "socket": pool.socket_path})

    proof.failed(proxy, proxy.request("/login.php", timeout=5), 502, TOO_BIG_HEADER)
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    response = proxy.request("/login.php", timeout=5)
    assert response.text == "logged in\n"
    proof.succeeded(response, "200 from PHP with the 10k cookie")


@pytest.mark.proof("B202", "proxy_buffer_size 32k alone, with the default proxy_buffers 8 4k")
def test_b202_buffer_size_raised_alone_fails_nginx_t_and_its_fix_serves_the_big_header(
    proof: Proof, nginx_config: StartNginx, running: Running
) -> None:
    backend = running(BigHeaderBackend(header_bytes=20_000))
    proxy = nginx_config(template("b202-buffer-size-raised-alone"), values={"backend": backend.port})

    proof.rejected(proxy, '"proxy_busy_buffers_size" must be less than the size of all "proxy_buffers" minus one buffer')
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proof.accepted_after_fix(proxy)
    proxy.start()

    response = proxy.request("/", timeout=5)
    assert len(response.headers["Set-Cookie"]) == 20_000
    proof.succeeded(response, "nginx -t accepts; 200 with the 20k header the 32k buffer was raised for")


@pytest.mark.proof("T106", "proxy_read_timeout 30sec")
def test_t106_unparsable_time_fails_nginx_t_and_its_fix_is_accepted_and_serves(
    proof: Proof, nginx_config: StartNginx, running: Running
) -> None:
    backend = running(PlainHTTPBackend())
    proxy = nginx_config(template("t106-time-unit-spelled-out"), values={"backend": backend.port})

    proof.rejected(proxy, '"proxy_read_timeout" directive invalid value')
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proof.accepted_after_fix(proxy)
    proxy.start()

    proof.succeeded(proxy.request("/", timeout=5), "nginx -t accepts; 200")




@pytest.mark.proof("B203", "proxy_buffer_size 16kb, with the default proxy_buffers 8 4k")
def test_b203_fix_respells_16kb_and_keeps_the_buffers_valid_so_nginx_accepts_and_serves(
    proof: Proof, nginx_config: StartNginx, running: Running
) -> None:
    backend = running(PlainHTTPBackend())
    proxy = nginx_config(template("b203-size-unit-kb"), values={"backend": backend.port})

    proof.rejected(proxy, '"proxy_buffer_size" directive invalid value')
    result, finding = proof.reported(proxy)
    # 16k alone would break the default 8 4k buffers (busy size 32k > 7 x 4k):
    # the fix carries the busy size that keeps the combination valid.
    assert "proxy_busy_buffers_size" in finding.fix.description
    proof.apply_own_fix(result, finding)
    proof.accepted_after_fix(proxy)
    proxy.start()
    proof.succeeded(proxy.request("/", timeout=5), "nginx -t accepts the respelled size with a valid busy size; 200")
