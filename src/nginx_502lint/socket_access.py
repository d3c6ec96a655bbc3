"""Can nginx's worker process connect to a php-fpm unix socket?

Connecting to a unix socket needs write permission on the socket file. nginx's workers
run as the main-context `user` (default `nobody`), with the group named there or, when
omitted, the group of the same name, plus the user's supplementary groups
(initgroups). php-fpm creates the socket as the user that starts it (root under
systemd/Docker), then applies `listen.owner`/`listen.group` (group defaults to the
owner's primary group) and `listen.mode` (default 0660). With `listen.acl_users` or
`listen.acl_groups`, owner and group are ignored (php-fpm warns) but the mode still
applies, and each listed user/group gets rw through a POSIX ACL.

Without --host only names are known: the worker's own group is certain (nginx's rule),
its supplementary groups are not, so a denial that depends on them is stated as an
assumption.
"""
from __future__ import annotations

from dataclasses import dataclass

from .model import Model
from .parse import Node
from .phpfpm import Pool

# php-fpm's master runs as root under the distributions' systemd units and in Docker images.
PHP_FPM_MASTER_USER = "root"
FRAGMENT_CANDIDATES = ("www-data", "nginx", "nobody")


@dataclass(frozen=True)
class Worker:
    user: str
    group: str
    groups: frozenset[str]
    groups_complete: bool      # True when read from this host's group database
    source: str                # how we know: "user www-data; at nginx.conf:2"
    node: Node | None = None


@dataclass(frozen=True)
class SocketPermissions:
    owner: str
    owner_source: str
    group: str
    group_source: str
    mode: int
    acl_users: tuple[str, ...]
    acl_groups: tuple[str, ...]
    mode_source: str
    assumptions: tuple[str, ...] = ()

    @property
    def uses_acl(self) -> bool:
        return bool(self.acl_users or self.acl_groups)

    def describe(self) -> str:
        text = f"socket {self.owner}:{self.group} {self.mode:04o}"
        if self.uses_acl:
            acl = ", ".join([*(f"user {u}" for u in self.acl_users), *(f"group {g}" for g in self.acl_groups)])
            text += f" + ACL rw for {acl}"
        return f"{text} ({self.owner_source}; {self.group_source}; {self.mode_source})"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str
    assumptions: tuple[str, ...] = ()


# --- nginx's side -----------------------------------------------------------------

def nginx_workers(model: Model, host: bool) -> tuple[list[Worker], bool]:
    """The worker identity, or (fragment without main context) the usual candidates.

    The flag says whether the identity is known from the config (False: candidates).
    """
    if model.config.fragment_context is not None:
        return [_worker(name, name, f"assumed {name}", host) for name in FRAGMENT_CANDIDATES], False
    nodes = [n for n in model.nodes("user") if model.context_of(n) == "main" and n.args]
    if not nodes:
        # nginx's compiled-in default; the group is nogroup or nobody depending on the build host.
        worker = _worker("nobody", "nogroup", "nginx's default user nobody (no `user` directive)", host)
        return [Worker(worker.user, worker.group, worker.groups | {"nobody"}, worker.groups_complete, worker.source)], True
    node = nodes[0]
    user = node.args[0]
    group = node.args[1] if len(node.args) > 1 else user
    return [_worker(user, group, f"`{node.text()}` at {node.where}", host, node)], True


def _worker(user: str, group: str, source: str, host: bool, node: Node | None = None) -> Worker:
    if not host:
        return Worker(user, group, frozenset({group}), False, source, node)
    import grp

    groups = {group} | {entry.gr_name for entry in grp.getgrall() if user in entry.gr_mem}
    return Worker(user, group, frozenset(groups), True, source, node)


# --- php-fpm's side ---------------------------------------------------------------

def socket_permissions(pool: Pool, host: bool, where: dict[str, str]) -> SocketPermissions | None:
    """What php-fpm makes of the pool's listen.* settings; None when ${VAR}s hide them."""
    keys = ("listen.owner", "listen.group", "listen.mode", "listen.acl_users", "listen.acl_groups")
    if any(key in pool.env_refs for key in keys):
        return None
    assumptions: list[str] = []
    acl_users = tuple(pool.listen_acl_users)
    acl_groups = tuple(pool.listen_acl_groups)
    if acl_users or acl_groups or not pool.listen_owner:
        owner = PHP_FPM_MASTER_USER
        owner_source = "ACL set, so php-fpm's own user" if acl_users or acl_groups else "no listen.owner: php-fpm's own user"
        assumptions.append("php-fpm is started as root")
    else:
        owner = pool.listen_owner
        owner_source = f"listen.owner at {where['listen.owner']}"
    if acl_users or acl_groups:
        group, group_source = PHP_FPM_MASTER_USER, "listen.owner/listen.group ignored"
    elif pool.listen_group:
        group, group_source = pool.listen_group, f"listen.group at {where['listen.group']}"
    elif pool.listen_owner:
        group, assumed = _primary_group(pool.listen_owner, host)
        group_source = "no listen.group: listen.owner's primary group"
        if assumed:
            assumptions.append(f"{pool.listen_owner}'s primary group is {group}")
    else:
        group, group_source = PHP_FPM_MASTER_USER, "no listen.group: php-fpm's own group"
    mode_source = f"listen.mode at {where['listen.mode']}" if "listen.mode" in pool.settings else "default mode"
    return SocketPermissions(owner, owner_source, group, group_source, pool.listen_mode,
                             acl_users, acl_groups, mode_source, tuple(assumptions))


def _primary_group(user: str, host: bool) -> tuple[str, bool]:
    if host:
        import grp
        import pwd

        try:
            return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name, False
        except KeyError:
            pass
    return user, True


def untrimmed_acl_entries(pool: Pool) -> list[tuple[str, str]]:
    """ACL names with blanks around them: php-fpm looks them up as written and fails to start."""
    return [
        (key, entry)
        for key, entries in (("listen.acl_users", pool.listen_acl_users), ("listen.acl_groups", pool.listen_acl_groups))
        for entry in entries
        if entry != entry.strip()
    ]


# --- the check --------------------------------------------------------------------

def can_connect(worker: Worker, socket: SocketPermissions) -> Verdict:
    """The kernel's write-permission check for connect(), as far as names allow."""
    mode = socket.mode
    if worker.user == "root":
        return Verdict(True, "nginx's workers run as root")
    if worker.user == socket.owner:
        return Verdict(bool(mode & 0o200), f"the owner {'may' if mode & 0o200 else 'may not'} write")
    if worker.user in socket.acl_users:
        return Verdict(True, f"listen.acl_users grants {worker.user}")
    grants = {socket.group: bool(mode & 0o020)}
    for group in socket.acl_groups:
        grants[group] = True
    matched = [group for group in grants if group in worker.groups]
    if matched:
        allowed = any(grants[group] for group in matched)
        verb = "grants" if allowed else "denies"
        return Verdict(allowed, f"its group {', '.join(matched)} {verb} write")
    if mode & 0o002:
        return Verdict(True, "the socket is writable by everyone")
    helpful = [group for group, grant in grants.items() if grant]
    assumptions: tuple[str, ...] = ()
    if helpful and not worker.groups_complete:
        assumptions = (f"{worker.user} is not in group {' or '.join(helpful)}; --host reads supplementary groups",)
    return Verdict(False, "not the owner, not in a group that may write, and others may not write", assumptions)
