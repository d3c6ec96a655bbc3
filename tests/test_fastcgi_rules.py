"""F401-F405 and T105 beyond their fixtures: real php-fpm and nginx agree, fixes really fix, pools load once."""
from __future__ import annotations

import glob
import grp
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nginx_tools
import pytest
from e2e.backends import PhpFpmPool
from e2e.harness import (
    NginxInstance,
    ToolMissing,
    find_php_fpm,
    is_root,
    server_block,
    user_and_group,
)
from rule_fixtures import Case, discover, run, settings_for

from nginx_502lint import pools
from nginx_502lint.engine import LintSettings, Registry
from nginx_502lint.findings import Edit, Finding, Fix
from nginx_502lint.lint import lint_paths
from nginx_502lint.phpfpm import Pool

OWN_RULES = ("F401", "F402", "F403", "F404", "F405", "T105")
CASES = {case.id: case for case in discover() if case.rule in OWN_RULES}
DEBIAN_FILES = Path("/etc/nginx")


def require_php_fpm() -> str:
    try:
        found: str | None = find_php_fpm()
    except ToolMissing:
        found = None
    return nginx_tools.require_binary(found, "php-fpm", "NGINX_502LINT_NO_PHP_FPM")


def fix_of(finding: Finding) -> Fix:
    assert finding.fix is not None, finding
    return finding.fix


def lint_case(case_id: str, **changes: object) -> list[Finding]:
    case = CASES[case_id]
    settings = settings_for(case)
    for name, value in changes.items():
        setattr(settings, name, value)
    registry = Registry.default(entry_points=False)
    return lint_paths([str(case.entry)], settings, registry=registry, rule_ids=[case.rule]).findings


# --- applying a fix the way an editor would ---------------------------------------

def apply_edits(edits: tuple[Edit, ...] | list[Edit]) -> None:
    """Apply replace/insert edits of single-line directives to the files on disk."""
    by_file: dict[str, list[Edit]] = {}
    for edit in edits:
        by_file.setdefault(edit.file, []).append(edit)
    for file, file_edits in by_file.items():
        lines = Path(file).read_text().split("\n")
        for edit in sorted(file_edits, key=lambda e: e.line, reverse=True):
            text = lines[edit.line - 1]
            if edit.kind == "replace":
                start = re.search(rf"\b{re.escape(edit.directive)}\b", text)
                assert start is not None, (edit, text)
                end = text.index(";", start.start())
                lines[edit.line - 1] = text[:start.start()] + edit.text + text[end + 1:]
            elif edit.kind == "insert" and not edit.after:
                brace = text.rindex("{")
                lines[edit.line - 1] = text[:brace + 1] + " " + edit.text + text[brace + 1:]
            else:
                raise AssertionError(f"edit kind not used by these rules: {edit}")
        Path(file).write_text("\n".join(lines))


def copy_case(case_id: str, tmp_path: Path) -> Case:
    case = CASES[case_id]
    tmp_path.mkdir(parents=True, exist_ok=True)
    if case.path.is_dir():
        target = tmp_path / case.path.name
        shutil.copytree(case.path, target)
        return Case(case.rule, target, target / "nginx.conf", case.header)
    target = tmp_path / case.path.name
    shutil.copy(case.path, target)
    return Case(case.rule, target, target, case.header)


def fix_and_relint(case_id: str, tmp_path: Path) -> tuple[Case, list[Finding], list[Finding]]:
    case = copy_case(case_id, tmp_path)
    before = run(case)
    assert before, f"{case_id} must produce a finding to fix"
    for finding in before:
        assert fix_of(finding).edits, finding
        apply_edits(fix_of(finding).edits)
    return case, before, run(case)


def without_lint_header(text: str) -> str:
    return text.split("\n", 1)[1] if text.startswith("# lint:") else text


def stage_stock_includes(folder: Path) -> None:
    for name in ("fastcgi_params", "fastcgi.conf", "uwsgi_params", "snippets"):
        source = DEBIAN_FILES / name
        if (folder / name).exists() or not source.exists():
            continue
        (shutil.copytree if source.is_dir() else shutil.copy)(source, folder / name)


# --- the real php-fpm accepts every fixture pool ---------------------------------------

def _pool_roots() -> list[tuple[str, Path]]:
    roots: list[tuple[str, Path]] = []
    for case in CASES.values():
        base = case.path if case.path.is_dir() else case.path.parent
        for entry in case.header.get("php_fpm", []):
            for path in sorted(glob.glob(str(base / entry))):
                roots.append((f"{case.id}/{Path(path).relative_to(base)}", Path(path)))
    return roots


POOL_ROOTS = _pool_roots()


def php_fpm_test(php_fpm: str, root: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`php-fpm -t` on a pool file as shipped, with logs and pid moved into tmp_path."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    wrapper = tmp_path / "php-fpm-test.conf"
    # Later [global] values win, so the fixture's own error_log/pid do not need root.
    wrapper.write_text(f"include = {root.resolve()}\n[global]\nerror_log = {tmp_path / 'fpm.log'}\npid = {tmp_path / 'fpm.pid'}\n")
    return subprocess.run([php_fpm, "-t", "-p", str(root.resolve().parent), "-y", str(wrapper)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_there_are_pool_fixtures_to_validate() -> None:
    assert len(POOL_ROOTS) >= 10


@pytest.mark.parametrize("name, root", POOL_ROOTS, ids=[name for name, _ in POOL_ROOTS])
def test_fixture_pool_is_accepted_by_the_real_php_fpm(name: str, root: Path, tmp_path: Path) -> None:
    result = php_fpm_test(require_php_fpm(), root, tmp_path)
    log = (tmp_path / "fpm.log").read_text() if (tmp_path / "fpm.log").exists() else ""
    assert result.returncode == 0, f"{name}: {result.stderr}{log}"


def test_php_fpm_and_the_linter_both_refuse_a_malformed_pool(tmp_path: Path) -> None:
    pool = tmp_path / "www.conf"
    pool.write_text("[www]\nuser = www-data\nlisten /run/php/php8.2-fpm.sock\npm = static\npm.max_children = 2\n")
    assert php_fpm_test(require_php_fpm(), pool, tmp_path / "fpm").returncode != 0
    with pytest.raises(Exception, match=r"www\.conf:3: expected 'name = value'"):
        pools.pools_for(LintSettings(php_fpm=[str(pool)]))


# --- pool input -------------------------------------------------------------------

def test_malformed_pool_ends_the_run_with_exit_2_and_a_one_line_message(tmp_path: Path) -> None:
    pool = tmp_path / "www.conf"
    pool.write_text("[www]\nlisten = /run/php/php8.2-fpm.sock\n# not a php-fpm comment\n")
    config = tmp_path / "nginx.conf"
    config.write_text("events {}\nhttp { server { location ~ \\.php$ { fastcgi_pass unix:/run/php/php8.2-fpm.sock; } } }\n")
    result = subprocess.run(
        [sys.executable, "-m", "nginx_502lint", str(config), "--php-fpm", str(pool), "--select", "F401"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{pool}:3:" in lines[0] and "';'" in lines[0]
    assert result.stdout == ""


def test_pool_files_are_read_once_per_run_for_all_pool_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    real = pools.load_pools
    def counting(paths: list[str]) -> list[Pool]:
        calls.append(paths)
        return real(paths)

    monkeypatch.setattr(pools, "load_pools", counting)
    case = CASES["T105/bad-kill-before-nginx"]
    registry = Registry.default(entry_points=False)
    findings = lint_paths([str(case.entry)], settings_for(case), registry=registry,
                          rule_ids=["F401", "F402", "T105"]).findings
    assert [f.rule for f in findings] == ["T105"]
    assert len(calls) == 1


def test_pool_rules_stay_silent_without_pool_input() -> None:
    assert lint_case("F401/bad-versioned-socket", php_fpm=[]) == []
    assert lint_case("T105/bad-kill-before-nginx", php_fpm=[]) == []


def test_with_host_and_no_php_fpm_the_default_pool_locations_are_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pool_dir = tmp_path / "etc" / "php" / "8.3" / "fpm" / "pool.d"
    pool_dir.mkdir(parents=True)
    shutil.copy(CASES["F401/bad-versioned-socket"].path / "www.conf", pool_dir / "www.conf")
    monkeypatch.setattr(pools, "default_pool_locations",
                        lambda: [str(tmp_path / "etc/php-fpm.conf"), str(tmp_path / "etc/php/*/fpm/pool.d/*.conf")])
    findings = lint_case("F401/bad-versioned-socket", php_fpm=[], host=True)
    assert [fix_of(f).edits[0].text for f in findings] == ["fastcgi_pass unix:/run/php/php8.3-fpm.sock;"]


# --- exact fixes, and fixes that really fix ----------------------------------------

def test_f401_fix_names_the_pools_real_socket_and_removes_the_finding(tmp_path: Path) -> None:
    _, before, after = fix_and_relint("F401/bad-versioned-socket", tmp_path)
    assert [e.text for e in fix_of(before[0]).edits] == ["fastcgi_pass unix:/run/php/php8.3-fpm.sock;"]
    assert fix_of(before[0]).applicability == "safe"
    assert after == []


def test_f401_fix_in_an_upstream_keeps_the_server_and_lists_every_pool(tmp_path: Path) -> None:
    [finding] = lint_case("F401/bad-upstream-tcp-vs-unix")
    assert "[shop] listen = /run/php/shop.sock" in finding.message
    assert "[www] listen = /run/php/php8.2-fpm.sock" in finding.message
    assert [e.text for e in fix_of(finding).edits] == ["server unix:/run/php/php8.2-fpm.sock;"]
    assert fix_of(finding).applicability == "unsafe"


def test_f401_debian_alternatives_socket_reaches_the_versioned_pool(tmp_path: Path) -> None:
    case = copy_case("F401/bad-versioned-socket", tmp_path)
    text = case.entry.read_text().replace("unix:/run/php/php8.2-fpm.sock;  # expect: F401", "unix:/var/run/php/php-fpm.sock;")
    case.entry.write_text(text)
    assert run(case) == []


def test_f402_fix_gives_the_socket_to_nginxs_user_in_the_pool_file() -> None:
    [finding] = lint_case("F402/bad-nginx-org-user-debian-pool")
    assert fix_of(finding).applicability == "display_only"
    assert "`listen.owner = nginx`, `listen.group = nginx`, `listen.mode = 0660`" in fix_of(finding).description
    assert "www.conf:5" in fix_of(finding).description
    assert "assuming nginx is not in group www-data" in finding.message


def test_f402_with_host_reads_supplementary_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    def groups(members: list[str]) -> list[grp.struct_group]:
        return [grp.struct_group(("www-data", "x", 33, members))]

    monkeypatch.setattr(grp, "getgrall", lambda: groups(["nginx"]))
    assert lint_case("F402/bad-nginx-org-user-debian-pool", host=True) == []
    monkeypatch.setattr(grp, "getgrall", lambda: groups([]))
    [finding] = lint_case("F402/bad-nginx-org-user-debian-pool", host=True)
    assert "assuming" not in finding.message


def test_f402_acl_keeps_the_mode_so_a_world_writable_acl_socket_is_reachable(tmp_path: Path) -> None:
    case = copy_case("F402/bad-acl-without-nginx", tmp_path)
    pool = case.path / "www.conf"
    pool.write_text(pool.read_text().replace("listen.acl_users = apache\n", "listen.acl_users = apache\nlisten.mode = 0666\n"))
    assert run(case) == []


def test_t105_kill_before_nginx_fix_puts_the_hard_limit_just_above_nginx() -> None:
    [finding] = lint_case("T105/bad-kill-before-nginx")
    assert "`request_terminate_timeout = 305s`" in fix_of(finding).description
    assert "recv() failed (104" in finding.mechanism


def test_t105_margin_option_sets_how_far_above() -> None:
    case = CASES["T105/bad-kill-before-nginx"]
    settings = settings_for(case)
    settings.rule_options = {"T105": {"margin": "30s"}}
    findings = lint_paths([str(case.entry)], settings, registry=Registry.default(entry_points=False),
                          rule_ids=["T105"]).findings
    assert "`request_terminate_timeout = 330s`" in fix_of(findings[0]).description


def test_t105_504_fix_raises_nginx_to_phps_limit_and_removes_the_finding(tmp_path: Path) -> None:
    _, before, after = fix_and_relint("T105/bad-default-vs-max-execution-time", tmp_path)
    assert [e.text for e in fix_of(before[0]).edits] == ["fastcgi_read_timeout 5m;"]
    assert after == []


def test_t105_long_gap_fix_keeps_the_kill_slightly_above_nginx(tmp_path: Path) -> None:
    _, before, after = fix_and_relint("T105/bad-long-kill-gap", tmp_path)
    assert [e.text for e in fix_of(before[0]).edits] == ["fastcgi_read_timeout 595s;"]
    assert after == []


def test_f405_fix_adds_script_filename_where_the_params_are_defined(tmp_path: Path) -> None:
    _, before, after = fix_and_relint("F405/bad-location-drops-inherited", tmp_path)
    assert [e.text for e in fix_of(before[0]).edits] == ["fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;"]
    assert "fastcgi.conf:2" in before[0].message
    assert after == []


def test_f405_fix_without_any_param_adds_the_stock_set_too(tmp_path: Path) -> None:
    _, before, after = fix_and_relint("F405/bad-no-params-at-all.conf", tmp_path)
    assert fix_of(before[0]).edits[0].text.startswith("include fastcgi_params; fastcgi_param SCRIPT_FILENAME")
    assert after == []


# --- real nginx accepts the fixes ----------------------------------------------------

def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "grpc.crt", tmp_path / "grpc.key"
    openssl = shutil.which("openssl")
    assert openssl, "the openssl CLI is needed to make a test certificate (apt-get install openssl)"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=grpc.test",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


def _with_test_certificates(text: str, tmp_path: Path) -> str:
    cert, key = _self_signed(tmp_path)
    text = re.sub(r"ssl_certificate \S+;", f"ssl_certificate {cert};", text)
    return re.sub(r"ssl_certificate_key \S+;", f"ssl_certificate_key {key};", text)


@pytest.mark.parametrize("case_id", ["F404/bad-tls-listen-without-http2.conf", "F404/bad-no-listen.conf"])
def test_f404_fix_for_nginx_before_1_25_1_is_accepted_by_nginx_1_22(case_id: str, tmp_path: Path) -> None:
    nginx = nginx_tools.require_nginx()
    case, before, after = fix_and_relint(case_id, tmp_path / "case")
    assert after == []
    assert all("http2" in e.text and e.text.startswith("listen ") for f in before for e in fix_of(f).edits)
    text = _with_test_certificates(without_lint_header(case.entry.read_text()), tmp_path)
    accepted, stderr = nginx_tools.nginx_test(text.replace("listen 80 http2;", "listen 127.0.0.1:18099 http2;"),
                                              tmp_path / "nginx", nginx)
    assert accepted, stderr


def test_f404_http2_directive_fix_agrees_with_the_real_nginx_on_its_version(tmp_path: Path) -> None:
    nginx = nginx_tools.require_nginx()
    banner = subprocess.run([nginx, "-v"], capture_output=True, text=True, timeout=60, check=False).stderr
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", banner)
    assert match, banner
    case = copy_case("F404/bad-tls-listen-without-http2.conf", tmp_path / "case")
    settings = settings_for(case)
    settings.nginx_version = (1, 25, 1)
    [finding] = lint_paths([str(case.entry)], settings, registry=Registry.default(entry_points=False),
                           rule_ids=["F404"]).findings
    assert [e.text for e in fix_of(finding).edits] == ["http2 on;"]
    apply_edits(fix_of(finding).edits)
    text = _with_test_certificates(without_lint_header(case.entry.read_text()), tmp_path)
    accepted, stderr = nginx_tools.nginx_test(text, tmp_path / "nginx", nginx)
    if tuple(map(int, match.groups())) >= (1, 25, 1):
        assert accepted, stderr
    else:
        assert not accepted and 'unknown directive "http2"' in stderr


@pytest.mark.parametrize("case_id", [
    "F403/bad-proxy-to-php-fpm.conf",
    "F403/bad-fastcgi-to-gunicorn.conf",
    "F403/bad-uwsgi-to-gunicorn.conf",
    "F403/bad-proxy-to-grpc.conf",
])
def test_f403_fixes_are_accepted_by_nginx_and_silence_the_rule(case_id: str, tmp_path: Path) -> None:
    nginx = nginx_tools.require_nginx()
    case, _, after = fix_and_relint(case_id, tmp_path / "case")
    assert after == []
    work = tmp_path / "nginx"
    work.mkdir()
    stage_stock_includes(work)
    text = _with_test_certificates(case.entry.read_text(), tmp_path)
    accepted, stderr = nginx_tools.nginx_test(text, work, nginx)
    assert accepted, stderr


def test_f403_proxy_to_php_fpm_fix_is_fastcgi_with_its_params() -> None:
    tcp, unix = lint_case("F403/bad-proxy-to-php-fpm.conf")
    params = "include fastcgi_params; fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;"
    assert [e.text for e in fix_of(tcp).edits] == ["fastcgi_pass 127.0.0.1:9000;", params]
    assert [e.text for e in fix_of(unix).edits] == ["fastcgi_pass unix:/run/php/php8.2-fpm.sock;", params]


def test_every_heuristic_rule_says_so_and_stays_at_most_a_warning() -> None:
    registry = Registry.default(entry_points=False)
    for case in CASES.values():
        if case.kind != "bad" or case.rule != "F403":
            continue
        for finding in run(case, registry):
            assert "heuristic" in finding.message and str(finding.severity) == "warning", finding


def test_every_pool_rule_fixture_names_its_pool_files() -> None:
    for case in CASES.values():
        if case.rule in ("F401", "F402", "T105"):
            assert case.header.get("php_fpm"), f"{case.id}: without pool input the rule never runs"


# --- end to end: the real nginx and php-fpm fail as the message says, and the fix works ---

def lint_instance(instance: NginxInstance, pool: PhpFpmPool | None, rule: str, options: dict | None = None) -> list[Finding]:
    settings = LintSettings(php_fpm=[str(pool.directory / "php-fpm.conf")] if pool else [])
    settings.rule_options = {rule: options or {}}
    return lint_paths([str(instance.conf_path)], settings, registry=Registry.default(entry_points=False),
                      rule_ids=[rule]).findings


def php_site(body: str) -> str:
    return server_block("root {docroot};\n" + body)


@pytest.mark.e2e
def test_e2e_f401_wrong_socket_gives_502_and_the_fix_gives_200() -> None:
    with PhpFpmPool() as pool, NginxInstance(
        php_site("location ~ \\.php$ { include fastcgi.conf; fastcgi_pass unix:{socket}.old; }"),
        values={"docroot": pool.docroot, "socket": pool.socket_path},
    ) as nginx:
        assert nginx.request("/index.php").status == 502
        nginx.wait_for_error_log(f"connect() to unix:{pool.socket_path}.old failed (2: No such file or directory)")
        [finding] = lint_instance(nginx, pool, "F401")
        apply_edits(fix_of(finding).edits)
        nginx.reload(nginx.site_conf_path.read_text())
        response = nginx.request("/index.php")
        assert (response.status, response.body[:9]) == (200, b"php ok 42")
        assert lint_instance(nginx, pool, "F401") == []


@pytest.mark.e2e
def test_e2e_f402_root_owned_socket_gives_502_and_the_pool_fix_gives_200() -> None:
    if not is_root():
        pytest.skip("workers run as another user than the socket's owner only when the suite runs as root")
    with PhpFpmPool(listen_owner="root", listen_group="root", listen_mode="0660") as pool, NginxInstance(
        php_site("location ~ \\.php$ { include fastcgi.conf; fastcgi_pass unix:{socket}; }"),
        values={"docroot": pool.docroot, "socket": pool.socket_path},
    ) as nginx:
        assert nginx.request("/index.php").status == 502
        nginx.wait_for_error_log(f"connect() to unix:{pool.socket_path} failed (13: Permission denied)")
        [finding] = lint_instance(nginx, pool, "F402")
        assert nginx.worker_user is not None
        user, group = user_and_group(nginx.worker_user)
        assert f"`listen.owner = {user}`, `listen.group = {group}`, `listen.mode = 0660`" in fix_of(finding).description
        pool.stop()
        pool.listen_owner, pool.listen_group = user, group
        pool.start()
        assert nginx.request("/index.php").status == 200
        assert lint_instance(nginx, pool, "F402") == []


@pytest.mark.e2e
def test_e2e_t105_hard_kill_below_nginx_gives_502_and_the_fix_turns_it_into_nginxs_504() -> None:
    with PhpFpmPool(request_terminate_timeout_s=1) as pool, NginxInstance(
        php_site("location ~ \\.php$ { include fastcgi.conf; fastcgi_pass unix:{socket}; fastcgi_read_timeout 4s; }"),
        values={"docroot": pool.docroot, "socket": pool.socket_path},
    ) as nginx:
        assert nginx.request("/sleep.php?s=3").status == 502
        nginx.wait_for_error_log("recv() failed (104: Connection reset by peer) while reading response header")
        [finding] = lint_instance(nginx, pool, "T105", {"margin": "1s"})
        assert "`request_terminate_timeout = 5s`" in fix_of(finding).description
        pool.stop()
        pool.request_terminate_timeout_s = 5
        pool.start()
        assert lint_instance(nginx, pool, "T105", {"margin": "1s"}) == []
        assert nginx.request("/sleep.php?s=1").status == 200
        assert nginx.request("/sleep.php?s=6").status == 504
        nginx.wait_for_error_log("upstream timed out (110: Connection timed out) while reading response header")


@pytest.mark.e2e
def test_e2e_f403_proxy_pass_to_php_fpm_gives_502_and_the_fix_gives_200() -> None:
    with PhpFpmPool() as pool, NginxInstance(
        php_site("location ~ \\.php$ { proxy_pass http://unix:{socket}:; }"),
        values={"docroot": pool.docroot, "socket": pool.socket_path},
    ) as nginx:
        assert nginx.request("/index.php").status == 502
        [finding] = lint_instance(nginx, None, "F403")
        apply_edits(fix_of(finding).edits)
        nginx.reload(nginx.site_conf_path.read_text())
        assert nginx.request("/index.php").status == 200


@pytest.mark.e2e
def test_e2e_f405_fastcgi_params_alone_gives_primary_script_unknown_and_the_fix_gives_200() -> None:
    with PhpFpmPool() as pool, NginxInstance(
        php_site("location ~ \\.php$ { include fastcgi_params; fastcgi_pass unix:{socket}; }"),
        values={"docroot": pool.docroot, "socket": pool.socket_path},
    ) as nginx:
        assert nginx.request("/index.php").status == 404
        nginx.wait_for_error_log('FastCGI sent in stderr: "Primary script unknown"')
        [finding] = lint_instance(nginx, None, "F405")
        apply_edits(fix_of(finding).edits)
        nginx.reload(nginx.site_conf_path.read_text())
        assert nginx.request("/index.php").status == 200
