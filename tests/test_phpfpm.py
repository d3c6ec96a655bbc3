from __future__ import annotations

import fnmatch
import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nginx_502lint.phpfpm import (
    DEFAULT_LISTEN_MODE,
    ListenAddress,
    Pool,
    PoolConfigError,
    default_pool_locations,
    load_pools,
)
from nginx_tools import require_binary

FIXTURES = Path(__file__).parent / "fixtures" / "phpfpm"


def _pools_by_name(pools: list[Pool]) -> dict[str, Pool]:
    return {pool.name: pool for pool in pools}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _one_pool(tmp_path: Path, body: str) -> Pool:
    config = _write(tmp_path / "pool.conf", "[www]\nuser = www-data\n" + body + "\n")
    (pool,) = load_pools([str(config)])
    return pool


# --- stock and realistic layouts -------------------------------------------------------


def test_debian_main_config_brings_in_the_stock_www_pool_through_its_include() -> None:
    main = FIXTURES / "debian" / "php-fpm.conf"
    (pool,) = load_pools([str(main)])
    assert pool.name == "www"
    assert pool.file == str(FIXTURES / "debian" / "pool.d" / "www.conf")
    assert pool.line == 4
    assert pool.root_file == str(main)
    assert pool.listen == ListenAddress(kind="unix", raw="/run/php/php8.2-fpm.sock", path="/run/php/php8.2-fpm.sock")
    assert (pool.listen_owner, pool.listen_group, pool.listen_mode) == ("www-data", "www-data", 0o660)
    assert (pool.user, pool.group, pool.pm, pool.max_children) == ("www-data", "www-data", "dynamic", 5)
    assert pool.request_terminate_timeout_s is None
    assert pool.max_execution_time_s is None
    assert pool.listen_acl_users == [] and pool.allowed_clients == []


def test_rhel_tcp_pool_reads_address_clients_and_timeouts() -> None:
    (pool,) = load_pools([str(FIXTURES / "rhel" / "www.conf")])
    assert pool.listen is not None
    assert (pool.listen.kind, pool.listen.host, pool.listen.port) == ("tcp", "127.0.0.1", 9000)
    assert pool.allowed_clients == ["127.0.0.1"]
    assert (pool.user, pool.group) == ("apache", "apache")
    assert pool.request_terminate_timeout_s == 300
    assert pool.max_execution_time_s == 120
    assert pool.php_admin_values["log_errors"] == "1"
    assert pool.php_values["session.save_path"] == "/var/lib/php/session"
    assert pool.listen_owner is None and pool.listen_mode == DEFAULT_LISTEN_MODE


def test_multi_pool_file_expands_pool_names_and_keeps_each_pool_apart() -> None:
    pools = _pools_by_name(load_pools([str(FIXTURES / "multi" / "pools.conf")]))
    assert list(pools) == ["shop", "api", "reports", "acl"]
    shop, api, reports, acl = pools["shop"], pools["api"], pools["reports"], pools["acl"]

    assert shop.line == 4 and api.line == 18 and reports.line == 28
    assert shop.listen is not None and shop.listen.path == "/run/php/shop.sock"
    assert shop.php_admin_values["error_log"] == "/var/log/php/shop.error.log"
    assert shop.listen_mode == 0o600
    assert (shop.request_terminate_timeout_s, shop.max_execution_time_s, shop.max_children) == (90, 300, 20)

    assert api.listen == ListenAddress(kind="tcp", raw="[::1]:9001", host="::1", port=9001)
    assert api.allowed_clients == ["::1", "127.0.0.1"]
    assert (api.request_terminate_timeout_s, api.max_execution_time_s) == (120, 45)

    assert reports.listen is not None and reports.listen.host is None and reports.listen.all_interfaces
    assert reports.request_terminate_timeout_s == 3600

    assert acl.listen is not None and acl.listen.path == "/run/php/php-acl.sock"
    assert (acl.listen_acl_users, acl.listen_acl_groups) == (["www-data", "nobody"], ["www-data"])


def test_include_glob_loads_matching_files_in_sorted_order() -> None:
    pools = load_pools([str(FIXTURES / "include" / "main.conf")])
    assert [pool.name for pool in pools] == ["blog", "wiki"]
    assert pools[0].file.endswith("10-blog.conf") and pools[0].listen is not None
    assert pools[0].listen.path == "/run/php/blog.sock"
    assert pools[1].listen == ListenAddress(kind="tcp", raw="127.0.0.1:9010", host="127.0.0.1", port=9010)


def test_env_references_stay_as_written_and_are_reported() -> None:
    (pool,) = load_pools([str(FIXTURES / "env" / "pool.conf")])
    assert pool.listen is not None and pool.listen.raw == "${FPM_LISTEN}"
    assert pool.listen.has_env_reference
    assert pool.env_refs == {"listen": ["FPM_LISTEN"], "pm.max_children": ["FPM_CHILDREN"]}
    assert pool.max_children is None
    assert pool.env["DATABASE_URL"] == "${DATABASE_URL}"
    assert pool.request_terminate_timeout_s == 60


# --- malformed input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "where", "message"),
    [
        ("unterminated_section.conf", "unterminated_section.conf:2", "unterminated section header"),
        ("missing_equals.conf", "missing_equals.conf:3", "expected 'name = value'"),
        ("hash_comment.conf", "hash_comment.conf:3", "'#' comments are refused"),
        ("bad_time_suffix.conf", "bad_time_suffix.conf:4", "unknown suffix"),
        ("pool_outside_pool.conf", "pool_outside_pool.conf:2", "'$pool' cannot be used outside a pool section"),
        ("include_directory.conf", "include_directory.conf:3", "matches only directories"),
        ("loop_a.conf", "loop_b.conf:3", "include loop"),
    ],
)
def test_malformed_files_raise_an_error_located_at_file_and_line(fixture: str, where: str, message: str) -> None:
    with pytest.raises(PoolConfigError) as caught:
        load_pools([str(FIXTURES / "malformed" / fixture)])
    error = caught.value
    assert f"{Path(error.file).name}:{error.line}" == where
    assert message in error.message
    assert str(error) == f"{error.file}:{error.line}: {error.message}"


def test_include_loop_names_every_file_of_the_cycle() -> None:
    with pytest.raises(PoolConfigError, match=r"loop_a\.conf -> .*loop_b\.conf -> .*loop_a\.conf"):
        load_pools([str(FIXTURES / "malformed" / "loop_a.conf")])


def test_missing_file_is_an_error_not_an_empty_result(tmp_path: Path) -> None:
    with pytest.raises(PoolConfigError, match="cannot read"):
        load_pools([str(tmp_path / "absent.conf")])


def test_a_directory_named_as_a_top_level_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PoolConfigError, match="is a directory"):
        load_pools([str(tmp_path)])


def test_include_of_a_missing_file_is_only_what_php_fpm_warns_about(tmp_path: Path) -> None:
    main = _write(tmp_path / "main.conf", "include = pool.d/*.conf\ninclude = gone.conf\n")
    (tmp_path / "pool.d").mkdir()
    assert load_pools([str(main)]) == []


def test_include_wildcard_under_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    main = _write(tmp_path / "main.conf", "include = missing/*.conf\n")
    with pytest.raises(PoolConfigError, match="does not exist"):
        load_pools([str(main)])


def test_include_skips_directories_among_the_files_it_matches(tmp_path: Path) -> None:
    main = _write(tmp_path / "main.conf", "include = pool.d/*.conf\n")
    _write(tmp_path / "pool.d" / "a.conf", "[a]\nlisten = 9001\n")
    _write(tmp_path / "pool.d" / "old.conf" / "README", "not a pool\n")
    assert [pool.name for pool in load_pools([str(main)])] == ["a"]


def test_include_chains_stop_after_five_files_like_php_fpm(tmp_path: Path) -> None:
    def chain(length: int) -> Path:
        folder = tmp_path / f"chain{length}"
        for index in range(length - 1):
            _write(folder / f"f{index}.conf", f"include = f{index + 1}.conf\n")
        _write(folder / f"f{length - 1}.conf", "[deep]\nlisten = 9000\n")
        return folder / "f0.conf"

    assert [pool.name for pool in load_pools([str(chain(5))])] == ["deep"]
    with pytest.raises(PoolConfigError, match="at most 5 files"):
        load_pools([str(chain(6))])


def test_relative_include_follows_the_prefix_when_one_is_given(tmp_path: Path) -> None:
    main = _write(tmp_path / "etc" / "main.conf", "include = etc/pools/*.conf\n")
    _write(tmp_path / "etc" / "pools" / "p.conf", "[p]\nlisten = 9000\n")
    assert [pool.name for pool in load_pools([str(main)], prefix=str(tmp_path))] == ["p"]
    with pytest.raises(PoolConfigError, match="etc/etc/pools does not exist"):
        load_pools([str(main)])


# --- php-fpm's ini dialect ---------------------------------------------------------------


def test_a_reopened_section_merges_into_the_pool_case_insensitively(tmp_path: Path) -> None:
    config = _write(tmp_path / "p.conf", "[www]\nlisten = 9000\n[other]\nlisten = 9001\n[WWW]\nlisten = 9005\n")
    pools = _pools_by_name(load_pools([str(config)]))
    assert list(pools) == ["www", "other"]
    assert pools["www"].listen is not None and pools["www"].listen.port == 9005
    assert pools["www"].line == 1


def test_the_current_section_carries_on_after_an_include(tmp_path: Path) -> None:
    main = _write(tmp_path / "main.conf", "[www]\nlisten = 9000\ninclude = extra.conf\nlisten = 9200\n")
    _write(tmp_path / "extra.conf", "[extra]\nlisten = 9100\n")
    pools = _pools_by_name(load_pools([str(main)]))
    assert pools["www"].listen is not None and pools["www"].listen.port == 9000
    assert pools["extra"].listen is not None and pools["extra"].listen.port == 9200


def test_each_top_level_config_is_its_own_instance_and_included_files_are_read_once(tmp_path: Path) -> None:
    for version, socket in (("8.1", "php8.1-fpm.sock"), ("8.2", "php8.2-fpm.sock")):
        _write(tmp_path / version / "php-fpm.conf", "[global]\ninclude = pool.d/*.conf\n")
        _write(tmp_path / version / "pool.d" / "www.conf", f"[www]\nlisten = /run/php/{socket}\n")
    pool_files = str(tmp_path / "*" / "pool.d" / "*.conf")
    main_files = str(tmp_path / "*" / "php-fpm.conf")
    for order in ([main_files, pool_files], [pool_files, main_files]):
        pools = load_pools(order)
        listens = sorted(pool.listen.path for pool in pools if pool.listen is not None and pool.listen.path)
        assert listens == ["/run/php/php8.1-fpm.sock", "/run/php/php8.2-fpm.sock"]
        assert all(pool.root_file.endswith("php-fpm.conf") for pool in pools)


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("/run/php/fpm.sock ; a comment", "/run/php/fpm.sock"),
        ('"/run/php/a;b.sock"', "/run/php/a;b.sock"),
        ("/run/a b.sock", "/run/a b.sock"),
        ('"a" "b"', "ab"),
        ('/x/"a b"/c', "/x/a b/c"),
        (r'"x\"y\\z\$w\n"', r'x"y\z$w\n'),
        (r"'raw\"${HOME}'", r'raw\"${HOME}'),
        ("9001 # not a comment", "9001 # not a comment"),
    ],
)
def test_values_are_unquoted_and_trimmed_like_the_php_ini_scanner(tmp_path: Path, written: str, value: str) -> None:
    assert _one_pool(tmp_path, f"listen = {written}").settings["listen"] == value


@pytest.mark.parametrize(("written", "value"), [("yes", "1"), ("On", "1"), ("true", "1"), ("off", ""), ("None", ""), ("null", "")])
def test_bare_boolean_words_become_one_or_empty(tmp_path: Path, written: str, value: str) -> None:
    assert _one_pool(tmp_path, f"catch_workers_output = {written}").settings["catch_workers_output"] == value


def test_a_quoted_boolean_word_stays_a_word(tmp_path: Path) -> None:
    assert _one_pool(tmp_path, 'listen.owner = "yes"').listen_owner == "yes"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("listen = /run/a=b.sock", "'=' inside a value must be quoted"),
        ('listen = "/run/php.sock', "unterminated"),
        ("listen = /run/php.sock'", "unterminated"),
        ("php_value[] = 1", "needs a key"),
        ("php_value[memory_limit = 1", "unterminated '['"),
        ("PHP_VALUE[memory_limit] = 1", "unknown array setting"),
        ("php_flag[display_errors] = maybe", "invalid boolean value"),
        ("pm.max_children = 1e3", "not a valid number"),
        ("pm = sometimes", "static, dynamic or ondemand"),
        ("env[EMPTY] = ", "empty value"),
        (" = 5", "missing setting name"),
        ("[ww;w]", "invalid section name"),
        ("[www] listen = 9000", "unexpected text after section header"),
    ],
)
def test_lines_php_fpm_refuses_raise(tmp_path: Path, line: str, message: str) -> None:
    config = _write(tmp_path / "p.conf", f"[www]\n{line}\n")
    with pytest.raises(PoolConfigError, match=re.escape(message)) as caught:
        load_pools([str(config)])
    assert caught.value.line == 2


def test_arrays_are_refused_in_the_global_section(tmp_path: Path) -> None:
    config = _write(tmp_path / "p.conf", "[global]\nphp_value[memory_limit] = 1\n")
    with pytest.raises(PoolConfigError, match="not allowed in the \\[global\\] section"):
        load_pools([str(config)])


# Each pair checked against `php-fpm8.2 -tt` (its dump prints the seconds it stored).
@pytest.mark.parametrize(
    ("written", "seconds"),
    [
        ("30", 30),
        ("30s", 30),
        ("5m", 300),
        ("2h", 7200),
        ("1d", 86400),
        ("0", 0),
        ('"45"', 45),
        ("1.5m", 60),
        ("1.5", 1),
        ("30 s", 30),
        ("-5", -5),
        ("99999999999", 1215752191),
    ],
)
def test_request_terminate_timeout_reads_like_fpm_conf_set_time(tmp_path: Path, written: str, seconds: int) -> None:
    assert _one_pool(tmp_path, f"request_terminate_timeout = {written}").request_terminate_timeout_s == seconds


@pytest.mark.parametrize("written", ["30x", "1w", "abc", "30sec", '""'])
def test_request_terminate_timeout_refuses_what_php_fpm_refuses(tmp_path: Path, written: str) -> None:
    config = _write(tmp_path / "p.conf", f"[www]\nrequest_terminate_timeout = {written}\n")
    with pytest.raises(PoolConfigError, match="request_terminate_timeout"):
        load_pools([str(config)])


@pytest.mark.parametrize(("written", "mode"), [("0660", 0o660), ("660", 0o660), ("0600", 0o600), ("0666", 0o666), ("0o660", 0)])
def test_listen_mode_is_read_as_octal_like_strtoul(tmp_path: Path, written: str, mode: int) -> None:
    assert _one_pool(tmp_path, f"listen.mode = {written}").listen_mode == mode


def test_max_execution_time_prefers_php_admin_value_and_the_first_definition(tmp_path: Path) -> None:
    # Checked with a live php-fpm 8.2 and ini_get(): admin beats php_value in any order, and
    # of two php_admin_value lines for one key the first is what PHP ends up with.
    pool = _one_pool(
        tmp_path,
        "php_value[max_execution_time] = 30\n"
        "php_admin_value[max_execution_time] = 300\n"
        "php_admin_value[max_execution_time] = 30\n",
    )
    assert pool.max_execution_time_s == 300
    assert pool.php_admin_values["max_execution_time"] == "300"


def test_php_value_alone_sets_max_execution_time(tmp_path: Path) -> None:
    assert _one_pool(tmp_path, "php_value[max_execution_time] = 75").max_execution_time_s == 75


def test_acl_and_client_lists_keep_the_spaces_php_fpm_keeps(tmp_path: Path) -> None:
    pool = _one_pool(tmp_path, "listen.acl_users = www-data, nginx\nlisten.allowed_clients = 127.0.0.1, ::1")
    assert pool.listen_acl_users == ["www-data", " nginx"]
    assert pool.allowed_clients == ["127.0.0.1", " ::1"]


def test_a_pool_without_listen_has_none(tmp_path: Path) -> None:
    assert _one_pool(tmp_path, "pm = static").listen is None


# --- listen addresses against nginx targets ------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind", "host", "port", "path"),
    [
        ("/run/php/php8.2-fpm.sock", "unix", None, None, "/run/php/php8.2-fpm.sock"),
        ("php.sock", "unix", None, None, "php.sock"),
        ("9000", "tcp", None, 9000, None),
        ("127.0.0.1:9000", "tcp", "127.0.0.1", 9000, None),
        ("[::]:9000", "tcp", "::", 9000, None),
        ("[::1]:9000", "tcp", "::1", 9000, None),
        ("localhost:9000", "tcp", "localhost", 9000, None),
    ],
)
def test_listen_is_classified_like_fpm_sockets(raw: str, kind: str, host: str | None, port: int | None, path: str | None) -> None:
    address = ListenAddress.parse(raw)
    assert (address.kind, address.host, address.port, address.path) == (kind, host, port, path)


@pytest.mark.parametrize(
    ("listen", "target", "reaches"),
    [
        ("/run/php/php8.2-fpm.sock", ("unix", None, None, "unix:/run/php/php8.2-fpm.sock"), True),
        ("/run/php/php8.2-fpm.sock", ("unix", None, None, "/run/php//php8.2-fpm.sock"), True),
        ("/run/php/php8.2-fpm.sock", ("unix", None, None, "unix:/run/php/php8.1-fpm.sock"), False),
        ("/run/php/php8.2-fpm.sock", ("tcp", "127.0.0.1", 9000, None), False),
        ("9000", ("tcp", "127.0.0.1", 9000, None), True),
        ("9000", ("tcp", "localhost", 9000, None), True),
        ("9000", ("tcp", "[::1]", 9000, None), True),
        ("9000", ("tcp", "127.0.0.1", 9001, None), False),
        ("0.0.0.0:9000", ("tcp", "127.0.0.1", 9000, None), True),
        ("0.0.0.0:9000", ("tcp", "[::1]", 9000, None), False),
        ("[::]:9000", ("tcp", "127.0.0.1", 9000, None), True),
        ("127.0.0.1:9000", ("tcp", "127.0.0.1", 9000, None), True),
        ("127.0.0.1:9000", ("tcp", "localhost", 9000, None), True),
        ("127.0.0.1:9000", ("tcp", "::1", 9000, None), False),
        ("127.0.0.1:9000", ("tcp", "10.0.0.5", 9000, None), False),
        ("127.0.0.1:9000", ("tcp", "php-fpm", 9000, None), False),
        ("[::1]:9000", ("tcp", "[::1]", 9000, None), True),
        ("[::1]:9000", ("tcp", "localhost", 9000, None), True),
        ("[::1]:9000", ("tcp", "127.0.0.1", 9000, None), False),
        ("localhost:9000", ("tcp", "127.0.0.1", 9000, None), True),
        ("10.0.0.5:9000", ("tcp", "app.internal", 9000, None), True),
        ("10.0.0.5:9000", ("tcp", "localhost", 9000, None), False),
        ("${FPM_LISTEN}", ("tcp", "127.0.0.1", 9000, None), True),
    ],
)
def test_matches_nginx_target_decides_whether_fastcgi_pass_reaches_the_pool(
    listen: str, target: tuple[str, str | None, int | None, str | None], reaches: bool
) -> None:
    kind, host, port, path = target
    assert ListenAddress.parse(listen).matches_nginx_target(kind, host, port, path) is reaches


# --- default locations ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/etc/php/8.2/fpm/pool.d/www.conf",
        "/etc/php/8.2/fpm/php-fpm.conf",
        "/etc/php-fpm.d/www.conf",
        "/etc/php-fpm.conf",
        "/etc/php81/php-fpm.d/www.conf",
        "/etc/php83/php-fpm.conf",
    ],
)
def test_default_pool_locations_cover_debian_rhel_and_alpine(path: str) -> None:
    assert any(fnmatch.fnmatchcase(path, pattern) for pattern in default_pool_locations())


def test_default_pool_locations_only_lists_globs_and_reads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_filesystem(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("default_pool_locations() touched the filesystem")

    monkeypatch.setattr(os, "stat", no_filesystem)
    monkeypatch.setattr(glob, "glob", no_filesystem)
    locations = default_pool_locations()
    assert locations and all(location.startswith("/") for location in locations)


# --- agreement with the real php-fpm --------------------------------------------------------


def _php_fpm_binary() -> str | None:
    override = os.environ.get("NGINX_502LINT_PHP_FPM")
    if override:
        return override if os.access(override, os.X_OK) else None
    candidates = sorted(glob.glob("/usr/sbin/php-fpm*"), reverse=True)
    found = [candidate for candidate in candidates if os.access(candidate, os.X_OK)]
    return found[0] if found else shutil.which("php-fpm")


def _require_php_fpm() -> str:
    return require_binary(_php_fpm_binary(), "php-fpm", "NGINX_502LINT_NO_PHPFPM")


def _php_fpm_dump(main: Path, prefix: Path) -> tuple[int, str]:
    result = subprocess.run(
        [_require_php_fpm(), "-tt", "-p", str(prefix), "-y", str(main)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.returncode, result.stdout + result.stderr


def _wrapped(pool_file: Path, tmp_path: Path) -> Path:
    """A main config that includes pool_file and keeps php-fpm's log and pid inside tmp_path."""
    return _write(
        tmp_path / "wrapper.conf",
        f"[global]\nerror_log = {tmp_path / 'fpm.log'}\npid = {tmp_path / 'fpm.pid'}\ninclude = {pool_file}\n",
    )


def _copied_tree(name: str, main: str, tmp_path: Path) -> Path:
    tree = tmp_path / name
    shutil.copytree(FIXTURES / name, tree)
    text = (tree / main).read_text()
    text = re.sub(r"(?m)^pid = .*$", f"pid = {tmp_path / 'fpm.pid'}", text)
    text = re.sub(r"(?m)^error_log = .*$", f"error_log = {tmp_path / 'fpm.log'}", text)
    (tree / main).write_text(text)
    return tree / main


_DUMP_LINE = re.compile(r"NOTICE: \t([^=]+?) = (.*)$")
_DUMP_POOL = re.compile(r"NOTICE: \[(.+)\]$")


def _parse_dump(output: str) -> dict[str, dict[str, str]]:
    """Pool name -> option -> value from `php-fpm -tt`; array lines keep the last one printed."""
    pools: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in output.splitlines():
        if (header := _DUMP_POOL.search(line)) is not None:
            current = None if header.group(1) == "global" else pools.setdefault(header.group(1), {})
        elif current is not None and (option := _DUMP_LINE.search(line)) is not None:
            current[option.group(1)] = option.group(2)
    return pools


def _undefined_as_none(value: str | None) -> str | None:
    return None if value in (None, "undefined") else value


def _assert_pool_agrees_with_dump(pool: Pool, dump: dict[str, str]) -> None:
    assert pool.listen is not None and pool.listen.raw == dump["listen"]
    assert pool.user == _undefined_as_none(dump["user"])
    assert pool.group == _undefined_as_none(dump["group"])
    assert pool.listen_owner == _undefined_as_none(dump["listen.owner"])
    assert pool.listen_group == _undefined_as_none(dump["listen.group"])
    dumped_mode = _undefined_as_none(dump["listen.mode"])
    assert pool.listen_mode == (int(dumped_mode, 8) if dumped_mode else 0o660)
    assert ",".join(pool.listen_acl_users) == (_undefined_as_none(dump.get("listen.acl_users")) or "")
    assert ",".join(pool.allowed_clients) == (_undefined_as_none(dump["listen.allowed_clients"]) or "")
    assert str(pool.max_children) == dump["pm.max_children"]
    assert f"{pool.request_terminate_timeout_s or 0}s" == dump["request_terminate_timeout"]
    for key, value in pool.php_admin_values.items():
        assert dump[f"php_admin_value[{key}]"] == value
    for key, value in pool.php_values.items():
        assert dump[f"php_value[{key}]"] == value


def test_real_php_fpm_accepts_the_debian_tree_and_reads_it_as_we_do(tmp_path: Path) -> None:
    main = _copied_tree("debian", "php-fpm.conf", tmp_path)
    status, output = _php_fpm_dump(main, prefix=main.parent)
    assert status == 0, output
    dumped = _parse_dump(output)
    ours = load_pools([str(main)])
    assert [pool.name for pool in ours] == list(dumped)
    for pool in ours:
        _assert_pool_agrees_with_dump(pool, dumped[pool.name])


def test_real_php_fpm_accepts_the_include_tree_and_reads_it_as_we_do(tmp_path: Path) -> None:
    main = _copied_tree("include", "main.conf", tmp_path)
    status, output = _php_fpm_dump(main, prefix=main.parent)
    assert status == 0, output
    dumped = _parse_dump(output)
    ours = load_pools([str(main)])
    assert [pool.name for pool in ours] == list(dumped)
    for pool in ours:
        _assert_pool_agrees_with_dump(pool, dumped[pool.name])


def test_real_php_fpm_accepts_the_multi_pool_file_and_reads_it_as_we_do(tmp_path: Path) -> None:
    pool_file = FIXTURES / "multi" / "pools.conf"
    status, output = _php_fpm_dump(_wrapped(pool_file, tmp_path), prefix=tmp_path)
    assert status == 0, output
    dumped = _parse_dump(output)
    ours = load_pools([str(pool_file)])
    assert [pool.name for pool in ours] == list(dumped)
    for pool in ours:
        _assert_pool_agrees_with_dump(pool, dumped[pool.name])


@pytest.mark.parametrize(
    "fixture",
    ["unterminated_section.conf", "missing_equals.conf", "hash_comment.conf", "bad_time_suffix.conf", "pool_outside_pool.conf"],
)
def test_real_php_fpm_also_refuses_each_malformed_fixture(fixture: str, tmp_path: Path) -> None:
    pool_file = FIXTURES / "malformed" / fixture
    status, output = _php_fpm_dump(_wrapped(pool_file, tmp_path), prefix=tmp_path)
    assert status != 0, output
    with pytest.raises(PoolConfigError):
        load_pools([str(pool_file)])
