"""Prove the K (upstream keepalive), S (upstream TLS) and H (header) rules against a real nginx.

Each test: the bad config fails in nginx as the rule says, the linter reports the
rule on the files nginx runs, and the rule's own fix makes the same request
succeed. Host names and the system CA bundle are changed only inside nginx's own
mount namespace (proofs/sandbox.py).
"""
from __future__ import annotations

import base64
import http.client
import os
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .backends import IdleCloseBackend, TLSBackend
from .harness import NginxInstance, Response
from .proofs.backends import (
    CertChain,
    LingeringCloseBackend,
    VirtualHostBackend,
    WebSocketBackend,
    make_cert_chain,
)
from .proofs.netns import NetworkNamespace
from .proofs.sandbox import MountNamespace, require_mount_namespace, require_root
from .proofs.steps import Proof, private_dir, template

StartNginx = Callable[..., NginxInstance]
Running = Callable[[Any], Any]

BACKEND_TEST = {"backend.test": ["127.0.0.1"]}
PREMATURELY_CLOSED = "upstream prematurely closed connection while reading response header from upstream"
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def cert_chain(running: Running, intermediates: int) -> CertChain:
    return make_cert_chain(running(private_dir("nginx-502lint-chain-")), "backend.test", intermediates)


# --- K: upstream keepalive ----------------------------------------------------------------------


def requests_on_one_connection(nginx: NginxInstance, count: int, source_port: int) -> list[Response]:
    """`count` GETs on one client keep-alive connection from a fixed port, so the client spends
    none of the ephemeral ports nginx needs for its upstream connections."""
    client = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=5, source_address=("127.0.0.1", source_port))
    responses = []
    try:
        for _ in range(count):
            client.request("GET", "/")
            answer = client.getresponse()
            responses.append(Response(answer.status, answer.headers, answer.read()))
    finally:
        client.close()
    return responses


def upstream_ports_namespace(running: Running) -> NetworkNamespace:
    """A private network namespace whose ephemeral port range is 4 ports (not the host's ~28,000)."""
    require_root("a private network namespace (unshare --net, setns)")
    return running(NetworkNamespace(local_ports=(20000, 20003)))


@pytest.mark.proof("K501", "upstream keepalive, HTTP/1.0 + Connection: close; 4 local ports (private netns); the app closes after nginx")
def test_k501_keepalive_over_http10_runs_out_of_local_ports_and_its_fix_reuses_one_connection(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    ports = upstream_ports_namespace(running)
    backend = ports.run(running, LingeringCloseBackend(port=8080))
    proxy = nginx(template("k501-keepalive-over-http10"), values={"backend": 8080}, launcher=ports.launcher())

    responses = ports.run(requests_on_one_connection, proxy, 6, source_port=30000)

    # Each request took a new upstream connection and left its local port in TIME_WAIT.
    assert [r.status for r in responses[:4]] == [200] * 4
    assert backend.connections_accepted == 4
    assert (backend.requests[0].version, backend.requests[0].header("Connection")) == ("HTTP/1.0", "close")
    proof.failed(proxy, responses[4], 502, "(99: Cannot assign requested address) while connecting to upstream")
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)

    # The TIME_WAIT sockets hold all 4 ports for 60s whatever the config, so the fixed
    # config runs in a fresh namespace with the same 4-port budget.
    proxy.stop()
    ports = upstream_ports_namespace(running)
    backend = ports.run(running, LingeringCloseBackend(port=8080))
    proxy.launcher = ports.launcher()
    proxy.start()
    responses = ports.run(requests_on_one_connection, proxy, 6, source_port=30000)

    assert [r.status for r in responses] == [200] * 6
    assert backend.connections_accepted == 1
    assert backend.requests[-1].version == "HTTP/1.1"
    proof.succeeded(responses[-1], "restarted with the same 4 local ports: 6 requests, all 200, over 1 pooled HTTP/1.1 connection")


@pytest.mark.proof("K502", "keepalive_timeout 60s (default); the app closes idle connections after 5s; POST after 5.3s idle")
def test_k502_post_on_a_connection_idle_past_the_app_timeout_gives_502_and_its_fix_avoids_the_race(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    backend = running(IdleCloseBackend(idle_close_s=5.0))
    proxy = nginx(template("k502-keepalive-timeout-default"), values={"backend": backend.port})

    assert proxy.request("/api/orders", "POST", body=b"n=1", timeout=5).status == 200
    time.sleep(5.3)
    proof.failed(proxy, proxy.request("/api/orders", "POST", body=b"n=2", timeout=5), 502, PREMATURELY_CLOSED)
    assert backend.dropped == 1
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    assert proxy.request("/api/orders", "POST", body=b"n=3", timeout=5).status == 200
    time.sleep(5.3)
    response = proxy.request("/api/orders", "POST", body=b"n=4", timeout=5)
    assert backend.dropped == 1
    proof.succeeded(response, "200: nginx closed the idle connection first (4s), the POST went on a fresh one")


@pytest.mark.proof("K503", "proxy_next_upstream off with upstream keepalive; GET on a connection the app dropped")
def test_k503_get_on_a_stale_pooled_connection_gives_502_and_its_fix_retries_it(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    backend = running(IdleCloseBackend(idle_close_s=0.3))
    proxy = nginx(template("k503-next-upstream-off"), values={"backend": backend.port})

    assert proxy.request("/", timeout=5).status == 200
    time.sleep(0.5)
    proof.failed(proxy, proxy.request("/", timeout=5), 502, PREMATURELY_CLOSED)
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    assert proxy.request("/", timeout=5).status == 200
    time.sleep(0.5)
    response = proxy.request("/", timeout=5)
    assert backend.dropped == 2
    proof.succeeded(response, "200: the GET was retried on a fresh connection")


# --- S: TLS to the backend -------------------------------------------------------------------------


@pytest.mark.proof("S601", "proxy_pass https://backend.test:P; the TLS front end requires SNI backend.test")
def test_s601_https_to_a_hostname_without_sni_gives_502_and_its_fix_sends_it(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    require_mount_namespace()
    hosts = running(MountNamespace(hosts=BACKEND_TEST))
    backend = running(TLSBackend(require_sni="backend.test"))
    proxy = nginx(template("s601-https-hostname-without-sni"), values={"backend": backend.port},
                  launcher=hosts.launcher())

    proof.failed(proxy, proxy.request("/", timeout=5), 502,
                 "alert handshake failure:SSL alert number 40) while SSL handshaking to upstream")
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    response = proxy.request("/", timeout=5)
    assert backend.sni_seen == [None, "backend.test"]
    proof.succeeded(response, "200 with SNI backend.test")


@pytest.mark.proof("S602", "proxy_ssl_verify on without proxy_ssl_trusted_certificate")
def test_s602_verify_without_trusted_certificate_fails_nginx_t_and_its_fix_verifies_against_the_system_bundle(
    proof: Proof, nginx_config: StartNginx, running: Running
) -> None:
    require_mount_namespace()
    chain = cert_chain(running, intermediates=0)
    # A backend whose CA is in the system bundle: nginx's own bundle is the host's plus that CA.
    bundle = chain.root_path.parent / "ca-certificates.crt"
    system = SYSTEM_CA_BUNDLE.read_text() if SYSTEM_CA_BUNDLE.is_file() else ""
    bundle.write_text(system + chain.root_path.read_text())
    sandbox = running(MountNamespace(hosts=BACKEND_TEST, private_dirs=["/etc/ssl/certs"],
                                     files={str(SYSTEM_CA_BUNDLE): bundle}))
    backend = running(TLSBackend(require_sni=None, certificate=chain.leaf))
    proxy = nginx_config(template("s602-verify-without-trusted-certificate"), values={"backend": backend.port},
                         launcher=sandbox.launcher())

    proof.rejected(proxy, "no proxy_ssl_trusted_certificate for proxy_ssl_verify")
    result, finding = proof.reported(proxy, line_has="proxy_ssl_verify on")
    proof.apply_own_fix(result, finding)
    assert str(SYSTEM_CA_BUNDLE) in proxy.site_conf_path.read_text()
    proof.accepted_after_fix(proxy)
    proxy.start()

    proof.succeeded(proxy.request("/", timeout=5),
                    "nginx -t accepts; 200, the certificate verified against the system bundle the fix names")
    proof.note("the system bundle nginx sees holds the test CA (bind-mounted in nginx's namespace only)")


@pytest.mark.proof("S602", "proxy_ssl_verify on with the default depth 1; the chain has 2 intermediate CAs")
def test_s602_default_verify_depth_rejects_a_two_intermediate_chain_and_its_fix_accepts_it(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    require_mount_namespace()
    chain = cert_chain(running, intermediates=2)
    hosts = running(MountNamespace(hosts=BACKEND_TEST))
    backend = running(TLSBackend(require_sni=None, certificate=chain.leaf))
    proxy = nginx(template("s602-verify-depth-default"), values={"backend": backend.port, "ca": chain.root_path},
                  launcher=hosts.launcher())

    # OpenSSL 3 reports the depth limit as error 20, not the (22:certificate chain too long)
    # the rule's doc quotes: the chain is cut before the trusted root is reached.
    proof.failed(proxy, proxy.request("/", timeout=5), 502,
                 "upstream SSL certificate verify error: (20:unable to get local issuer certificate) while SSL handshaking to upstream")
    result, finding = proof.reported(proxy, line_has="proxy_ssl_verify on")
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    proof.succeeded(proxy.request("/", timeout=5), "200, the chain verified with depth 3")


@pytest.mark.proof("S602", "proxy_pass https://backend (an upstream block) with proxy_ssl_verify on; cert for backend.test")
def test_s602_verify_against_the_upstream_block_name_gives_502_and_its_fix_is_advice_only(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    chain = cert_chain(running, intermediates=0)
    backend = running(TLSBackend(require_sni=None, certificate=chain.leaf))
    proxy = nginx(template("s602-verify-upstream-name"), values={"backend": backend.port, "ca": chain.root_path})

    proof.failed(proxy, proxy.request("/", timeout=5), 502,
                 'upstream SSL certificate does not match "backend" while SSL handshaking to upstream')
    result, finding = proof.reported(proxy, line_has="proxy_pass")
    reason = proof.fix_not_applicable(result, finding, "display_only")
    assert finding.fix is not None and finding.fix.applicability == "display_only"
    proof.not_fixed(f"advice only ({reason}): "
                    "it names a placeholder (`proxy_ssl_name api.internal.example.com`), not the certificate's name")


@pytest.mark.proof("S603", "proxy_ssl_protocols TLSv1 TLSv1.1; the backend speaks TLSv1.2+")
def test_s603_legacy_only_protocols_give_502_and_its_fix_adds_current_ones(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    backend = running(TLSBackend(require_sni=None, minimum_version=ssl.TLSVersion.TLSv1_2))
    proxy = nginx(template("s603-legacy-protocols-only"), values={"backend": backend.port})

    proof.failed(proxy, proxy.request("/", timeout=5), 502, "while SSL handshaking to upstream")
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    proof.succeeded(proxy.request("/", timeout=5), "200 over TLSv1.2+")


# --- H: headers ---------------------------------------------------------------------------------------


@pytest.mark.proof("H701", "server-level proxy_set_header Host app.test; the location sets X-Request-Id only")
def test_h701_location_header_drops_the_server_host_so_the_vhost_refuses_and_its_fix_restores_it(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    backend = running(VirtualHostBackend(server_name="app.test"))
    proxy = nginx(template("h701-location-drops-server-host"), values={"backend": backend.port})

    # Not a 502: the rule's doc says a lost Host gets 404/421/400 from the backend.
    response = proxy.request("/", timeout=5)
    assert response.status == 421
    assert backend.requests[-1].header("Host") == f"127.0.0.1:{backend.port}"
    proof.record.failure = "421 (the backend's, relayed)"
    proof.record.log_line = f"(none: nginx sent Host: 127.0.0.1:{backend.port}, the app serves app.test)"
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    response = proxy.request("/", timeout=5)
    assert backend.requests[-1].header("Host") == "app.test"
    assert backend.requests[-1].header("X-Request-Id")
    proof.succeeded(response, "200 with Host: app.test and X-Request-Id both sent")


WEBSOCKET_HANDSHAKE = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
}


@pytest.mark.proof("H702", "location /ws/ proxied without Upgrade/Connection headers and HTTP/1.1")
def test_h702_websocket_handshake_through_a_plain_location_gets_400_and_its_fix_upgrades(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    backend = running(WebSocketBackend())
    proxy = nginx(template("h702-websocket-location-plain"), values={"backend": backend.port})

    # Not a 502: the rule's doc says the backend refuses the handshake, usually with 400.
    response = proxy.request("/ws/chat", headers=WEBSOCKET_HANDSHAKE, timeout=5)
    assert response.status == 400
    seen = backend.requests[-1]
    assert seen.version == "HTTP/1.0" and seen.header("Upgrade") is None
    proof.record.failure = "400 (the backend's, relayed)"
    proof.record.log_line = "(none: the backend got HTTP/1.0 without Upgrade and refused the handshake)"
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    response = proxy.request("/ws/chat", headers=WEBSOCKET_HANDSHAKE, timeout=5)
    assert response.headers["Upgrade"] == "websocket"
    proof.succeeded(response, "101 Switching Protocols", status=101)
