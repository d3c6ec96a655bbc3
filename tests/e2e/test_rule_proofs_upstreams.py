"""Prove the U (upstream address) rules against a real nginx.

Each test: the bad config fails in nginx as the rule says, the linter reports the
rule on the files nginx runs, and the rule's own fix makes the same request
succeed; where the fix is advice with no edit, the test says so and what happens.
Name resolution and private /var/tmp are changed only inside nginx's own mount
namespace (proofs/sandbox.py), never on the host.
"""
from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .backends import PlainHTTPBackend, TLSBackend, ipv6_loopback_available
from .harness import NginxInstance, free_loopback_port
from .proofs.backends import HTTPAppBackend, LoopbackDNS
from .proofs.net import (
    app_restart,
    on_random_loopback_address,
    port_free_on_both_loopbacks,
    port_refusing,
)
from .proofs.sandbox import MountNamespace, require_mount_namespace
from .proofs.steps import Proof, private_dir, template

StartNginx = Callable[..., NginxInstance]
Running = Callable[[Any], Any]

# Debian's stock /etc/hosts: localhost is both 127.0.0.1 and ::1.
STOCK_LOCALHOST = {"localhost": ["127.0.0.1", "::1"]}
REFUSED = "connect() failed (111: Connection refused) while connecting to upstream"
NO_LIVE_UPSTREAMS = "no live upstreams while connecting to upstream"


# --- U301 ------------------------------------------------------------------------------------


@pytest.mark.skipif(not ipv6_loopback_available(), reason="this kernel has no ::1; see tests/e2e/README.md")
@pytest.mark.parametrize(
    ("config", "line_has"),
    [
        pytest.param("u301-upstream-server-localhost", "server localhost", marks=pytest.mark.proof(
            "U301", "upstream `server localhost:P`; hosts maps localhost to 127.0.0.1 and ::1; app restarts")),
        pytest.param("u301-proxy-pass-localhost", "proxy_pass", marks=pytest.mark.proof(
            "U301", "`proxy_pass http://localhost:P`; hosts maps localhost to 127.0.0.1 and ::1; app restarts")),
    ],
)
def test_u301_localhost_gives_502_no_live_upstreams_after_an_app_restart_and_its_fix_recovers_at_once(
    config: str, line_has: str, proof: Proof, nginx: StartNginx, running: Running
) -> None:
    require_mount_namespace()
    hosts = running(MountNamespace(hosts=STOCK_LOCALHOST))
    port = port_free_on_both_loopbacks()
    proxy = nginx(template(config), values={"backend": port}, launcher=hosts.launcher())

    while_down, once_back = app_restart(proxy, port)

    assert while_down.status == 502
    # localhost became two peers; the IPv4-only app refuses every try on ::1.
    assert f'upstream: "http://[::1]:{port}/"' in proxy.wait_for_error_log(REFUSED)
    proof.failed(proxy, once_back, 502, NO_LIVE_UPSTREAMS)
    result, finding = proof.reported(proxy, line_has=line_has)
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    while_down, once_back = app_restart(proxy, port)
    assert while_down.status == 502
    proof.succeeded(once_back, "200 as soon as the app is back (one peer, never disabled)")


# --- U302, U303, U304 -------------------------------------------------------------------------


@pytest.mark.proof("U302", "proxy_pass http://backnd with `upstream backend` defined")
def test_u302_upstream_name_typo_fails_nginx_t_and_its_fix_names_the_defined_upstream(
    proof: Proof, nginx_config: StartNginx, running: Running
) -> None:
    require_mount_namespace()
    # nginx looks `backnd` up with the system resolver: keep that lookup on this machine.
    no_dns = running(private_dir("nginx-502lint-resolv-")) / "resolv.conf"
    no_dns.write_text("nameserver 127.0.0.1\n")
    offline = running(MountNamespace(hosts={"localhost": ["127.0.0.1"]}, files=(
        {"/etc/resolv.conf": no_dns} if Path("/etc/resolv.conf").is_file() else {})))
    backend = running(PlainHTTPBackend())
    proxy = nginx_config(template("u302-upstream-name-typo"), values={"backend": backend.port},
                         launcher=offline.launcher())

    proof.rejected(proxy, 'host not found in upstream "backnd"')
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proof.accepted_after_fix(proxy)
    proxy.start()

    proof.succeeded(proxy.request("/", timeout=5), "nginx -t accepts; 200 through upstream backend")


@pytest.mark.proof("U303", "the only upstream server is `down`")
def test_u303_every_server_down_gives_502_no_live_upstreams_and_its_fix_serves(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    backend = running(PlainHTTPBackend())
    proxy = nginx(template("u303-every-server-down"), values={"backend": backend.port})

    proof.failed(proxy, proxy.request("/", timeout=5), 502, NO_LIVE_UPSTREAMS)
    assert backend.connections_accepted == 0
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    proof.succeeded(proxy.request("/", timeout=5), "200")


@pytest.mark.proof("U303", "the only upstream server is `backup`")
def test_u303_only_backup_servers_fail_nginx_t_and_its_fix_serves(
    proof: Proof, nginx_config: StartNginx, running: Running
) -> None:
    backend = running(PlainHTTPBackend())
    proxy = nginx_config(template("u303-only-backup-servers"), values={"backend": backend.port})

    proof.rejected(proxy, 'no servers in upstream "app"')
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proof.accepted_after_fix(proxy)
    proxy.start()

    proof.succeeded(proxy.request("/", timeout=5), "nginx -t accepts; 200")


@pytest.mark.proof("U304", "one real server plus a `down` placeholder; the app restarts")
def test_u304_placeholder_peer_gives_502_no_live_upstreams_after_an_app_restart_and_its_fix_recovers(
    proof: Proof, nginx: StartNginx
) -> None:
    port = free_loopback_port()
    proxy = nginx(template("u304-placeholder-down-server"), values={"backend": port, "spare": free_loopback_port()})

    while_down, once_back = app_restart(proxy, port)

    assert while_down.status == 502
    proxy.wait_for_error_log("upstream server temporarily disabled while connecting to upstream")
    proof.failed(proxy, once_back, 502, NO_LIVE_UPSTREAMS)
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    while_down, once_back = app_restart(proxy, port)
    assert while_down.status == 502
    proof.succeeded(once_back, "200 as soon as the app is back (max_fails=0: never disabled)")


# --- U305, U306: name resolution ----------------------------------------------------------------


@pytest.mark.proof("U305", "proxy_pass http://api.internal:P; the API moves from 127.0.0.1 to 127.0.0.2")
def test_u305_name_resolved_at_start_keeps_the_old_address_and_its_fix_is_advice_only(
    proof: Proof, nginx: StartNginx, running: Running, e2e_stack: contextlib.ExitStack
) -> None:
    require_mount_namespace()
    hosts = running(MountNamespace(hosts={"api.internal": ["127.0.0.1"]}))
    old_api = PlainHTTPBackend(host="127.0.0.1").start()
    e2e_stack.callback(old_api.stop)
    port = old_api.port
    proxy = nginx(template("u305-hostname-resolved-once"), values={"backend": port}, launcher=hosts.launcher())
    assert proxy.request("/", timeout=5).status == 200

    # The API's container restarts with a new address; DNS (here /etc/hosts) follows.
    old_api.stop()
    running(PlainHTTPBackend(host="127.0.0.2", port=port))
    hosts.set_hosts({"api.internal": ["127.0.0.2"]})

    line = proof.failed(proxy, proxy.request("/", timeout=5), 502, REFUSED)
    assert f'upstream: "http://127.0.0.1:{port}/"' in line
    result, finding = proof.reported(proxy)
    reason = proof.fix_not_applicable(result, finding, "display_only")
    assert finding.fix is not None and finding.fix.applicability == "display_only"
    proof.not_fixed(f"advice only ({reason}): "
                    "it needs a DNS server address (`resolver <your DNS server>`) only the user knows")

    proxy.reload_files()
    assert proxy.request("/", timeout=5).status == 200
    proof.note("a reload re-resolves the name: 200, as the rule says (until reload)")


@pytest.mark.proof("U306", "set $api_host api.internal; proxy_pass http://$api_host:P; no resolver")
def test_u306_variable_target_without_resolver_gives_502_and_its_advice_with_a_real_resolver_serves(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    backend = running(PlainHTTPBackend())
    proxy = nginx(template("u306-variable-target-without-resolver"), values={"backend": backend.port})

    proof.failed(proxy, proxy.request("/", timeout=5), 502, "no resolver defined to resolve api.internal")
    result, finding = proof.reported(proxy)
    reason = proof.fix_not_applicable(result, finding, "display_only")

    # The advice, followed by hand: its `resolver` line, with this host's DNS server filled in.
    assert finding.fix is not None
    (advised,) = re.findall(r"`(resolver <DNS server address>[^`]*;)`", finding.fix.description)
    dns = running(LoopbackDNS({"api.internal": "127.0.0.1"}))
    resolver = advised.replace("<DNS server address>", f"127.0.0.1:{dns.port}")
    site = proxy.site_conf_path.read_text()
    proxy.site_conf_path.write_text(site.replace("server_name e2e.test;", f"server_name e2e.test;\n    {resolver}", 1))
    proxy.reload_files()

    response = proxy.request("/", timeout=5)
    assert ("api.internal", 1) in dns.queries
    proof.succeeded(response, f"display-only ({reason}); its `{advised}` with a DNS server filled in: 200",
                    by_hand=True)


# --- U307: scheme vs port -------------------------------------------------------------------------


@pytest.mark.proof("U307", "https:// to port 8080, where the app speaks plain HTTP")
def test_u307_https_to_plain_port_gives_502_wrong_version_number_and_its_fix_serves(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    backend = on_random_loopback_address(lambda host: HTTPAppBackend(host=host, port=8080), running)
    proxy = nginx(template("u307-https-to-plain-port"), values={"backend_host": backend.host})

    proof.failed(proxy, proxy.request("/", timeout=5), 502, "wrong version number) while SSL handshaking to upstream")
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    proof.succeeded(proxy.request("/", timeout=5), "200 over plain HTTP")


@pytest.mark.proof("U307", "http:// to port 8443, where the app speaks TLS")
def test_u307_http_to_tls_port_gives_502_and_its_fix_serves(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    backend = on_random_loopback_address(
        lambda host: TLSBackend(require_sni=None, host=host, port=8443), running
    )
    proxy = nginx(template("u307-http-to-tls-port"), values={"backend_host": backend.host})

    # The TLS server drops the plain-text request: an EOF or, with unread bytes, a reset.
    proof.failed(proxy, proxy.request("/", timeout=5), 502, (
        "upstream prematurely closed connection while reading response header from upstream",
        "recv() failed (104: Connection reset by peer) while reading response header from upstream"))
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    proxy.reload_files()

    proof.succeeded(proxy.request("/", timeout=5), "200 over TLS")


# --- U308, U309, U310: where the socket or address is ----------------------------------------------


@pytest.mark.proof("U308", "socket under /var/tmp; nginx has a private /var/tmp (systemd PrivateTmp)")
def test_u308_socket_in_var_tmp_is_invisible_behind_private_tmp_and_its_fix_moves_it_to_run(
    proof: Proof, nginx: StartNginx, running: Running, e2e_stack: contextlib.ExitStack
) -> None:
    require_mount_namespace()
    socket_dir = Path(tempfile.mkdtemp(prefix="nginx-502lint-u308-", dir="/var/tmp"))
    socket_dir.chmod(0o755)
    e2e_stack.callback(shutil.rmtree, socket_dir, ignore_errors=True)
    # nginx gets an empty /var/tmp, and for /run a folder of ours, so the app can move there.
    run_dir = running(private_dir("nginx-502lint-run-"))
    private_tmp = running(MountNamespace(private_dirs=["/var/tmp"], dirs={"/run": run_dir}))
    backend = running(PlainHTTPBackend(unix_path=socket_dir / "app.sock"))
    proxy = nginx(template("u308-socket-in-var-tmp"), values={"socket": backend.path},
                  launcher=private_tmp.launcher())

    line = proof.failed(proxy, proxy.request("/", timeout=5), 502,
                        "(2: No such file or directory) while connecting to upstream")
    assert backend.path.is_socket() and f"connect() to unix:{backend.path} failed" in line
    result, finding = proof.reported(proxy)
    proof.apply_own_fix(result, finding)
    # The fix's other half: "make the backend create it there".
    (new_socket,) = re.findall(r"unix:(/run/[^\s;:]+)", proxy.site_conf_path.read_text())
    in_run_dir = run_dir / Path(new_socket).relative_to("/run")
    in_run_dir.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    running(PlainHTTPBackend(unix_path=in_run_dir))
    proxy.reload_files()

    proof.succeeded(proxy.request("/", timeout=5), f"200 once the app listens on {new_socket}, as the fix says")


@pytest.mark.proof("U309", "proxy_pass to 255.255.255.255")
def test_u309_broadcast_address_gives_502_network_unreachable_and_its_fix_is_advice_only(
    proof: Proof, nginx: StartNginx
) -> None:
    proxy = nginx(template("u309-broadcast-address"), values={"backend": free_loopback_port()})

    proof.failed(proxy, proxy.request("/", timeout=5), 502, "failed (101: Network is unreachable) while connecting to upstream")
    result, finding = proof.reported(proxy)
    reason = proof.fix_not_applicable(result, finding, "display_only")
    proof.not_fixed(f"display-only ({reason}): only the user knows the backend's real address")


@pytest.mark.proof("U310", "proxy_pass to a unix socket that does not exist (app stopped); linted with --host")
def test_u310_missing_socket_gives_502_and_following_its_advice_serves(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    socket_dir = running(private_dir("nginx-502lint-u310-"))
    socket_path = socket_dir / "app.sock"
    proxy = nginx(template("u310-socket-missing"), values={"socket": socket_path})

    proof.failed(proxy, proxy.request("/", timeout=5), 502, f"connect() to unix:{socket_path} failed (2: No such file or directory)")
    result, finding = proof.reported(proxy, host=True)
    proof.fix_not_applicable(result, finding, "display_only")
    running(PlainHTTPBackend(unix_path=socket_path))

    proof.succeeded(proxy.request("/", timeout=5),
                    "display-only advice followed (start the backend that creates the socket): 200", by_hand=True)


@pytest.mark.proof("U390", "proxy_pass to 127.0.0.1:P where nothing listens; linted with --probe")
def test_u390_probe_finds_the_refusing_port_behind_the_502_and_following_its_advice_serves(
    proof: Proof, nginx: StartNginx, running: Running
) -> None:
    port = free_loopback_port()
    proxy = nginx(template("u390-app-not-listening"), values={"backend": port})

    with port_refusing(port):
        proof.failed(proxy, proxy.request("/", timeout=5), 502, REFUSED)
        result, finding = proof.reported(proxy, probe=True)
    proof.fix_not_applicable(result, finding, "display_only")
    running(PlainHTTPBackend(port=port))

    proof.succeeded(proxy.request("/", timeout=5),
                    "display-only advice followed (start the backend on that port): 200", by_hand=True)
