"""Prove the E rules (configs nginx refuses) against a real `nginx -t`.

A refused config never reaches the workers: a reload keeps the old config, a
restart leaves nginx down. Each test: `nginx -t` refuses the bad config with the
message the rule cites, the linter reports the rule on the files nginx would run,
and the rule's own fix gives a config `nginx -t` accepts and that serves the request.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from .backends import PlainHTTPBackend
from .harness import NginxInstance
from .proofs.steps import Proof, private_dir, template

StartNginx = Callable[..., NginxInstance]
Running = Callable[[Any], Any]


def backend_values(running: Running, on_unix_socket: bool) -> dict[str, object]:
    if not on_unix_socket:
        return {"backend": running(PlainHTTPBackend()).port}
    socket_dir = running(private_dir("nginx-502lint-e005-"))
    backend = running(PlainHTTPBackend(unix_path=socket_dir / "app.sock"))
    return {"socket": backend.path}


@pytest.mark.parametrize(
    ("config", "nginx_says", "path", "on_unix_socket"),
    [
        pytest.param("e002-directive-typo", 'unknown directive "proxy_read_timeot"', "/", False,
                     marks=pytest.mark.proof("E002", "proxy_read_timeot 30s (typo)")),
        pytest.param("e004-uri-in-regex-location", '"proxy_pass" cannot have URI part in location given by regular expression',
                     "/api/orders", False,
                     marks=pytest.mark.proof("E004", "proxy_pass http://127.0.0.1:P/ in location ~ ^/api/")),
        pytest.param("e005-missing-scheme", "invalid URL prefix", "/", False,
                     marks=pytest.mark.proof("E005", "proxy_pass 127.0.0.1:P (no scheme)")),
        pytest.param("e005-unix-socket-without-scheme", "invalid URL prefix", "/", True,
                     marks=pytest.mark.proof("E005", "proxy_pass unix:/path/app.sock (no http://)")),
        pytest.param("e005-upstream-name-with-port", 'upstream "app" may not have port', "/", False,
                     marks=pytest.mark.proof("E005", "proxy_pass http://app:P with `upstream app` defined")),
    ],
)
def test_refused_config_is_reported_and_its_fix_is_accepted_and_serves(
    config: str, nginx_says: str, path: str, on_unix_socket: bool,
    proof: Proof, nginx_config: StartNginx, running: Running,
) -> None:
    proxy = nginx_config(template(config), values=backend_values(running, on_unix_socket))

    proof.rejected(proxy, nginx_says)
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proof.accepted_after_fix(proxy)
    proxy.start()

    response = proxy.request(path, timeout=5)
    assert json.loads(response.body)["path"] == path
    proof.succeeded(response, f"nginx -t accepts; 200, the backend got {path}")


@pytest.mark.parametrize(
    ("config", "nginx_says"),
    [
        pytest.param("e001-missing-semicolon", 'unexpected "}"',
                     marks=pytest.mark.proof("E001", "proxy_pass without its `;` before `}`")),
        pytest.param("e003-proxy-pass-in-server", '"proxy_pass" directive is not allowed here',
                     marks=pytest.mark.proof("E003", "proxy_pass at server level")),
        pytest.param("e006-include-not-found", "snippets/proxy-defaults.conf\" failed (2: No such file or directory)",
                     marks=pytest.mark.proof("E006", "include snippets/proxy-defaults.conf, never deployed")),
    ],
)
def test_refused_config_is_reported_and_its_fix_is_advice_only(
    config: str, nginx_says: str, proof: Proof, nginx_config: StartNginx, running: Running
) -> None:
    proxy = nginx_config(template(config), values=backend_values(running, on_unix_socket=False))

    proof.rejected(proxy, nginx_says)
    result, finding = proof.reported(proxy)
    reason = proof.fix_not_applicable(result, finding, "display_only")
    assert finding.fix is not None
    proof.not_fixed(f"display-only ({reason}): {finding.fix.description}")
