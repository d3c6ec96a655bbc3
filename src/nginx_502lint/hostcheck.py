"""Can nginx's worker process reach a unix socket on this host?

Connecting to a unix socket needs search (`x`) permission on every directory
of its path and write (`w`) permission on the socket file, for the worker's
uid, gid and supplementary groups. The answer is computed from owners and
modes, never with `os.access`: the linter often runs as root, which bypasses
permissions, and nginx's workers do not. Files with POSIX ACLs get no verdict
(the mode bits do not tell the whole story).

nginx's workers take the main-context `user USER [GROUP];` (GROUP defaults to
USER's name, not to USER's primary group) and `initgroups(USER, GROUP)` adds
every group that lists USER as a member. Without a `user` directive a root
master uses the build-time default, `nobody` with group `nogroup` (or `nobody`
where that group exists).
"""
from __future__ import annotations

import grp
import os
import posixpath
import pwd
import stat
from dataclasses import dataclass

SEARCH, WRITE = 0o1, 0o2
_ACL_XATTR = "system.posix_acl_access"


class UnknownAccount(Exception):
    """The worker user or group does not exist on this host."""


@dataclass(frozen=True)
class WorkerIdentity:
    user: str
    group: str
    uid: int
    gid: int
    groups: frozenset[int]

    def describe(self) -> str:
        return f"{self.user}:{self.group}"


def default_worker_account() -> tuple[str, str]:
    """nginx's built-in account when the config has no `user` directive."""
    try:
        grp.getgrnam("nobody")
    except KeyError:
        return "nobody", "nogroup"
    return "nobody", "nobody"


def worker_identity(user: str, group: str | None = None) -> WorkerIdentity:
    """The uid/gid/groups nginx's workers get from `user USER [GROUP];` on this host."""
    group_name = group or user
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        raise UnknownAccount(f'user "{user}" does not exist on this host (nginx: getpwnam("{user}") failed)') from None
    try:
        group_entry = grp.getgrnam(group_name)
    except KeyError:
        raise UnknownAccount(f'group "{group_name}" does not exist on this host (nginx: getgrnam("{group_name}") failed)') from None
    supplementary = {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    return WorkerIdentity(user, group_name, account.pw_uid, group_entry.gr_gid, frozenset({group_entry.gr_gid, *supplementary}))


@dataclass(frozen=True)
class SocketProblem:
    kind: str    # missing, missing-dir, not-dir, not-socket, no-search, no-write
    path: str    # the path component at fault
    detail: str  # e.g. "drwx------ root:root"


def describe_mode(st: os.stat_result) -> str:
    return f"{stat.filemode(st.st_mode)} {_user_name(st.st_uid)}:{_group_name(st.st_gid)}"


def check_socket(path: str, identity: WorkerIdentity | None) -> SocketProblem | None:
    """What stops a worker with `identity` from connecting to the unix socket `path` (None: nothing we can see).

    Without an identity only existence and file type are checked.
    """
    if not path.startswith("/"):
        return None  # relative to nginx's working directory: unknown here
    path = posixpath.normpath("/" + path.lstrip("/"))
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return _missing(path)
    except NotADirectoryError:
        return _missing(path)
    except PermissionError:
        return None  # the linter itself cannot look: no verdict
    if not stat.S_ISSOCK(st.st_mode):
        return SocketProblem("not-socket", path, f"{_kind(st)}, {describe_mode(st)}")
    if identity is None or identity.uid == 0:
        return None
    for directory in _directories(path):
        try:
            dir_st = os.stat(directory)
        except OSError:
            return None
        if not _allowed(dir_st, identity, SEARCH) and not _has_acl(directory):
            return SocketProblem("no-search", directory, describe_mode(dir_st))
    if not _allowed(st, identity, WRITE) and not _has_acl(path):
        return SocketProblem("no-write", path, describe_mode(st))
    return None


def sockets_near(path: str) -> list[str]:
    """Unix sockets in the folder where `path` should be (for "did you mean")."""
    folder = posixpath.dirname(posixpath.normpath("/" + path.lstrip("/")))
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    found = []
    for name in names:
        full = posixpath.join(folder, name)
        try:
            if stat.S_ISSOCK(os.stat(full).st_mode):
                found.append(full)
        except OSError:
            continue
    return found


def _missing(path: str) -> SocketProblem:
    """Which part is missing: the socket itself or a directory above it."""
    for directory in _directories(path):
        try:
            st = os.stat(directory)
        except FileNotFoundError:
            return SocketProblem("missing-dir", directory, "")
        except OSError:
            break
        if not stat.S_ISDIR(st.st_mode):
            return SocketProblem("not-dir", directory, f"{_kind(st)}, {describe_mode(st)}")
    return SocketProblem("missing", path, "")


def _ancestors(path: str) -> list[str]:
    """`/a/b/c` -> [`/`, `/a`, `/a/b`]."""
    chain = []
    parent = posixpath.dirname(path)
    while True:
        chain.append(parent)
        if parent == "/":
            return list(reversed(chain))
        parent = posixpath.dirname(parent)


def _directories(path: str) -> list[str]:
    """Every real directory the kernel walks to reach `path`: a symlinked one is walked where it points."""
    seen: list[str] = []
    for directory in _ancestors(path):
        real = os.path.realpath(directory)
        for step in [*_ancestors(real), real] if real != "/" else ["/"]:
            if step not in seen:
                seen.append(step)
    return seen


def _allowed(st: os.stat_result, identity: WorkerIdentity, bit: int) -> bool:
    if identity.uid == 0:
        return True
    if st.st_uid == identity.uid:
        bits = (st.st_mode >> 6) & 0o7
    elif st.st_gid in identity.groups:
        bits = (st.st_mode >> 3) & 0o7
    else:
        bits = st.st_mode & 0o7
    return bool(bits & bit)


def _has_acl(path: str) -> bool:
    try:
        return _ACL_XATTR in os.listxattr(path)
    except OSError:
        return False


def _kind(st: os.stat_result) -> str:
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISLNK(mode):
        return "a symlink"
    return "not a socket"


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
