"""U310 and hostcheck against real unix sockets, directories and modes on this machine.

The tests run as root, which bypasses permissions; nginx's workers do not, so
every verdict here is computed from owners and modes for the worker's identity.
The sockets live in a world-traversable folder under /tmp (pytest's own tmp_path
sits below a 0700 folder that no worker could enter).
"""
from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from nginx_502lint.engine import LintSettings, Registry
from nginx_502lint.findings import Finding
from nginx_502lint.hostcheck import UnknownAccount, WorkerIdentity, check_socket, default_worker_account, worker_identity
from nginx_502lint.lint import lint_paths

NOBODY = pwd.getpwnam("nobody").pw_uid
NOGROUP = grp.getgrnam("nogroup").gr_gid
WORKER = WorkerIdentity("nobody", "nogroup", NOBODY, NOGROUP, frozenset({NOGROUP}))


@pytest.fixture
def open_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="u310-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def listening() -> Iterator[list[socket.socket]]:
    sockets: list[socket.socket] = []
    yield sockets
    for sock in sockets:
        sock.close()


def make_socket(path: Path, mode: int, sockets: list[socket.socket], uid: int = 0, gid: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen()
    sockets.append(sock)
    os.chown(path, uid, gid)
    path.chmod(mode)
    return path


def lint(config: str, folder: Path, host: bool = True, options: dict[str, object] | None = None) -> list[Finding]:
    conf = folder / "nginx.conf"
    conf.write_text(config)
    settings = LintSettings(host=host, rule_options={"U310": options or {}})
    return lint_paths([str(conf)], settings, registry=Registry.default(entry_points=False), rule_ids=["U310"]).findings


# --- hostcheck ------------------------------------------------------------------------------

def test_a_reachable_socket_has_no_problem(open_dir: Path, listening: list[socket.socket]) -> None:
    sock = make_socket(open_dir / "run" / "app.sock", 0o666, listening)
    (open_dir / "run").chmod(0o755)
    assert check_socket(str(sock), WORKER) is None


def test_a_missing_socket_is_reported_as_missing(open_dir: Path) -> None:
    problem = check_socket(str(open_dir / "php8.2-fpm.sock"), WORKER)
    assert problem is not None and (problem.kind, problem.path) == ("missing", str(open_dir / "php8.2-fpm.sock"))


def test_a_missing_directory_is_named(open_dir: Path) -> None:
    problem = check_socket(str(open_dir / "php" / "sub" / "www.sock"), WORKER)
    assert problem is not None and (problem.kind, problem.path) == ("missing-dir", str(open_dir / "php"))


def test_a_regular_file_is_not_a_socket(open_dir: Path) -> None:
    (open_dir / "app.sock").write_text("stale pid file, not a socket")
    problem = check_socket(str(open_dir / "app.sock"), WORKER)
    assert problem is not None and problem.kind == "not-socket" and "regular file" in problem.detail


def test_a_directory_without_search_permission_blocks_the_worker(open_dir: Path, listening: list[socket.socket]) -> None:
    sock = make_socket(open_dir / "private" / "app.sock", 0o666, listening)
    (open_dir / "private").chmod(0o750)  # root:root, no x for others
    problem = check_socket(str(sock), WORKER)
    assert problem is not None and (problem.kind, problem.path) == ("no-search", str(open_dir / "private"))
    assert problem.detail.startswith("drwxr-x---")


def test_group_search_permission_lets_a_group_member_through(open_dir: Path, listening: list[socket.socket]) -> None:
    sock = make_socket(open_dir / "shared" / "app.sock", 0o666, listening)
    os.chown(open_dir / "shared", 0, NOGROUP)
    (open_dir / "shared").chmod(0o710)
    assert check_socket(str(sock), WORKER) is None


def test_a_socket_without_write_permission_blocks_the_worker(open_dir: Path, listening: list[socket.socket]) -> None:
    sock = make_socket(open_dir / "php.sock", 0o644, listening)
    problem = check_socket(str(sock), WORKER)
    assert problem is not None and problem.kind == "no-write" and problem.detail.startswith("srw-r--r--")


def test_group_write_on_the_socket_is_enough_for_a_member(open_dir: Path, listening: list[socket.socket]) -> None:
    sock = make_socket(open_dir / "php.sock", 0o660, listening, gid=NOGROUP)
    assert check_socket(str(sock), WORKER) is None


def test_supplementary_groups_count_like_the_primary_one(open_dir: Path, listening: list[socket.socket]) -> None:
    www_data = grp.getgrnam("www-data").gr_gid
    sock = make_socket(open_dir / "php.sock", 0o660, listening, gid=www_data)
    assert check_socket(str(sock), WORKER) is not None
    member = WorkerIdentity("nobody", "nogroup", NOBODY, NOGROUP, frozenset({NOGROUP, www_data}))
    assert check_socket(str(sock), member) is None


def test_owner_bits_win_over_group_bits_as_in_the_kernel(open_dir: Path, listening: list[socket.socket]) -> None:
    sock = make_socket(open_dir / "odd.sock", 0o066, listening, uid=NOBODY, gid=NOGROUP)
    problem = check_socket(str(sock), WORKER)
    assert problem is not None and problem.kind == "no-write"


def test_a_root_worker_is_never_denied(open_dir: Path, listening: list[socket.socket]) -> None:
    sock = make_socket(open_dir / "locked" / "app.sock", 0o600, listening)
    (open_dir / "locked").chmod(0o700)
    root = WorkerIdentity("root", "root", 0, 0, frozenset({0}))
    assert check_socket(str(sock), root) is None
    assert check_socket(str(sock), WORKER) is not None


def test_directories_behind_a_symlink_are_checked_too(open_dir: Path, listening: list[socket.socket]) -> None:
    sock = make_socket(open_dir / "real" / "app.sock", 0o666, listening)
    (open_dir / "real").chmod(0o700)
    (open_dir / "link").symlink_to(open_dir / "real")
    problem = check_socket(str(open_dir / "link" / "app.sock"), WORKER)
    assert problem is not None and (problem.kind, problem.path) == ("no-search", str(open_dir / "real"))
    assert sock.exists()


def test_without_an_identity_only_existence_and_type_are_checked(open_dir: Path, listening: list[socket.socket]) -> None:
    sock = make_socket(open_dir / "php.sock", 0o600, listening)
    assert check_socket(str(sock), None) is None
    assert check_socket(str(open_dir / "gone.sock"), None) is not None


def test_worker_group_defaults_to_the_users_name_not_its_primary_group() -> None:
    identity = worker_identity("www-data")
    assert (identity.group, identity.gid) == ("www-data", grp.getgrnam("www-data").gr_gid)
    has_nobody_group = any(g.gr_name == "nobody" for g in grp.getgrall())
    if has_nobody_group:
        assert worker_identity("nobody").group == "nobody"
    else:
        with pytest.raises(UnknownAccount, match='getgrnam\\("nobody"\\) failed'):
            worker_identity("nobody")


def test_unknown_accounts_are_named() -> None:
    with pytest.raises(UnknownAccount, match="no-such-user-u310"):
        worker_identity("no-such-user-u310")
    with pytest.raises(UnknownAccount, match="no-such-group-u310"):
        worker_identity("www-data", "no-such-group-u310")


def test_default_account_matches_nginx_build_defaults() -> None:
    user, group = default_worker_account()
    assert user == "nobody" and group in ("nobody", "nogroup")
    assert group == ("nobody" if any(g.gr_name == "nobody" for g in grp.getgrall()) else "nogroup")


# --- the rule --------------------------------------------------------------------------------

def test_u310_reports_each_unreachable_socket_on_its_line(open_dir: Path, listening: list[socket.socket]) -> None:
    ok_sock = make_socket(open_dir / "ok.sock", 0o660, listening, gid=NOGROUP)
    closed = make_socket(open_dir / "closed.sock", 0o600, listening)
    config = f"""user nobody nogroup;
events {{}}
http {{
    upstream app {{
        server unix:{ok_sock};
        server unix:{closed};
    }}
    server {{
        listen 80;
        location / {{ proxy_pass http://app; }}
        location ~ \\.php$ {{ fastcgi_pass unix:{open_dir}/php8.2-fpm.sock; }}
    }}
}}
"""
    findings = lint(config, open_dir)
    assert sorted((f.line, str(f.severity)) for f in findings) == [(6, "error"), (11, "error")]
    by_line = {f.line: f for f in findings}
    assert "nobody nogroup" in by_line[6].message and "cannot write" in by_line[6].message
    assert "(13: Permission denied)" in by_line[6].mechanism
    assert "does not exist" in by_line[11].message and "(2: No such file or directory)" in by_line[11].mechanism


def test_u310_suggests_the_socket_that_exists_next_to_a_missing_one(open_dir: Path, listening: list[socket.socket]) -> None:
    real = make_socket(open_dir / "php8.3-fpm.sock", 0o666, listening)
    config = f"""user nobody nogroup;
events {{}}
http {{ server {{ listen 80; location / {{ fastcgi_pass unix:{open_dir}/php8.2-fpm.sock; }} }} }}
"""
    findings = lint(config, open_dir)
    assert len(findings) == 1 and findings[0].fix is not None
    assert [e.text for e in findings[0].fix.edits] == [f"fastcgi_pass unix:{real};"]


def test_u310_stays_silent_off_the_host(open_dir: Path) -> None:
    config = f"""events {{}}
http {{ server {{ listen 80; location / {{ fastcgi_pass unix:{open_dir}/missing.sock; }} }} }}
"""
    assert lint(config, open_dir, host=False) == []
    assert len(lint(config, open_dir, host=True)) == 1


def test_u310_checks_permissions_of_a_site_file_only_when_told_the_worker_user(open_dir: Path, listening: list[socket.socket]) -> None:
    closed = make_socket(open_dir / "closed.sock", 0o600, listening)
    site = f"server {{ listen 80; location / {{ proxy_pass http://unix:{closed}:/; }} }}\n"
    assert lint(site, open_dir) == []
    findings = lint(site, open_dir, options={"worker_user": "nobody nogroup"})
    assert len(findings) == 1 and "option worker_user" in findings[0].message


def test_u310_says_when_the_worker_user_does_not_exist(open_dir: Path, listening: list[socket.socket]) -> None:
    closed = make_socket(open_dir / "closed.sock", 0o600, listening)
    config = f"""user no-such-user-u310;
events {{}}
http {{ server {{ listen 80; location / {{ proxy_pass http://unix:{closed}:/; }} }} }}
"""
    findings = lint(config, open_dir)
    assert [(f.line, str(f.severity)) for f in findings] == [(1, "warning")]
    assert 'getpwnam("no-such-user-u310") failed' in findings[0].message
